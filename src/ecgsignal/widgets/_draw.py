"""Matplotlib drawing shared by the live explorers (each function takes an ``ax``, returns it)."""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure


def map_over_beat(ax: Axes, beat: np.ndarray, amap: np.ndarray, fs: float, leads: Sequence[str],
                  original: np.ndarray | None = None, mask: np.ndarray | None = None) -> Axes:
    """``|amap|`` (scaled to its maximum) as a heatmap, the 12 leads of ``beat`` drawn over it.

    ``beat`` and ``amap`` are ``(12, T)``; ``original`` (optional) is drawn dotted for the leads in
    ``mask``; the vertical scale of the traces is fixed by ``original`` (or ``beat``).
    """
    T = beat.shape[-1]
    t = np.arange(T) / fs
    a = np.abs(amap)
    mx = a.max()
    ax.imshow(a / mx if mx > 0 else a, aspect="auto", cmap="YlOrRd", vmin=0, vmax=1,
              extent=(0, T / fs, len(leads) - 0.5, -0.5), interpolation="nearest")
    ref = original if original is not None else beat
    top = np.abs(ref).max()
    k = 0.45 / top if top > 0 else 0.0
    for i in range(len(leads)):
        if original is not None and mask is not None and mask[i]:
            ax.plot(t, i - k * original[i], color="0.4", lw=0.8, ls=":")
        ax.plot(t, i - k * beat[i], color="black", lw=0.8)
    ax.set_yticks(range(len(leads)), list(leads))
    ax.set_ylim(len(leads) - 0.4, -0.6)
    ax.set_xlabel("time (s)")
    return ax


def probabilities(ax: Axes, probs: np.ndarray, class_names: Sequence[str], target: int,
                  reference: np.ndarray | None = None) -> Axes:
    """Bars of class probabilities (the explained class in red), ``reference`` as black ticks."""
    pos = np.arange(len(class_names))
    colors = ["crimson" if i == target else "slategray" for i in pos]
    ax.bar(pos, probs, color=colors)
    if reference is not None:
        ax.scatter(pos, reference, marker="_", s=300, color="black", linewidths=2,
                   label="unperturbed", zorder=3)
        ax.legend(loc="upper right", fontsize=8)
    ax.set_xticks(pos, list(class_names), rotation=45, ha="right")
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("class probability")
    return ax


def similarity_curve(ax: Axes, sims: np.ndarray, current: int, stage_names: Sequence[str]) -> Axes:
    """Spearman(|a|) to the trained map per randomisation stage, the shown stage marked."""
    k = np.arange(len(sims))
    ax.axhline(0, color="0.7", lw=0.8)
    ax.plot(k, sims, "o-", color="black")
    if np.isfinite(sims[current]):
        ax.plot([current], [sims[current]], "D", color="crimson", ms=9)
    ax.set_xticks(k, [str(i) for i in k])
    ax.set_ylim(-0.35, 1.05)
    ax.set_xlabel("stages randomised (" + " → ".join(stage_names[1:3]) + " …)")
    ax.set_ylabel("Spearman |a| vs trained")
    return ax


def png(fig: Figure) -> bytes:
    """PNG bytes of ``fig`` (independent of the notebook's matplotlib backend)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return buf.getvalue()
