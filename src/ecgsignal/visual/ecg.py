"""Median beats on paper: 12 stacked leads, ground-truth masks, class bands, maps over the beat.

Every function draws on a matplotlib ``ax`` (a new one if ``None``) and returns it; the gallery
functions return the figure. Time runs in seconds from the R peak; amplitudes in mV, leads
stacked top (I) to bottom (V6) with a fixed spacing, so shapes are comparable across panels.

- :func:`plot_beat` — one beat, optionally with the 2.5–97.5 % band of its class, the criteria
  mask (blue boxes: the leads × window the diagnostic criterion inspects) and the difference mask
  (orange trace: where the beat differs from its counterfactual), and an overlay (e.g. the
  counterfactual, dashed);
- :func:`plot_class_gallery` — one panel per class with :func:`plot_beat`;
- :func:`plot_map_over_beat` — an attribution map (|a| scaled to its maximum, or signed) as a
  heatmap behind the traces;
- :func:`class_band` — the percentile band of a set of beats.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure

from ecgsignal.data.leads import LEAD_NAMES
from ecgsignal.errors import DataError

__all__ = ["class_band", "plot_beat", "plot_class_gallery", "plot_map_over_beat"]

DIFF_COLOR = "#e66101"
CRITERIA_COLOR = "#92c5de"
BAND_COLOR = "0.82"


def _beat(a: np.ndarray, name: str, n_leads: int | None = None) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim != 2 or (n_leads is not None and a.shape[0] != n_leads):
        want = f"({n_leads}, T)" if n_leads is not None else "(leads, T)"
        raise DataError(f"{name} must be a {want} array, got shape {a.shape}")
    return a


def _time(T: int, fs: float, r_offset: float) -> np.ndarray:
    if not np.isfinite(fs) or fs <= 0:
        raise DataError(f"fs must be a positive sampling rate in Hz, got {fs!r}")
    return np.arange(T) / fs - r_offset


def class_band(signals: np.ndarray, q: tuple[float, float] = (2.5, 97.5)) -> np.ndarray:
    """``(2, 12, T)`` lower and upper percentiles over beats of ``signals`` ``(n, 12, T)``."""
    x = np.asarray(signals)
    if x.ndim != 3 or x.shape[0] < 1:
        raise DataError(f"signals must be (n, leads, T) with n ≥ 1, got shape {x.shape}")
    return np.percentile(x, q, axis=0)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Start/stop (exclusive) sample indices of the True runs of a 1-D bool array."""
    m = np.concatenate([[False], np.asarray(mask, bool), [False]])
    d = np.diff(m.astype(np.int8))
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)))


def plot_beat(beat: np.ndarray, fs: float, ax: Axes | None = None, *,
              lead_names: Sequence[str] = LEAD_NAMES, r_offset: float = 0.4,
              band: np.ndarray | None = None, diff_mask: np.ndarray | None = None,
              criteria_mask: np.ndarray | None = None, overlay: np.ndarray | None = None,
              spacing: float = 2.0, color: str = "black", title: str | None = None,
              lw: float = 0.9) -> Axes:
    """Draw one median beat as 12 stacked leads.

    Parameters
    ----------
    beat:
        ``(12, T)`` mV.
    fs:
        Sampling rate, Hz.
    ax:
        Axes to draw on (default: a new figure).
    lead_names:
        Names of the rows, top to bottom.
    r_offset:
        Time of the R peak in the window, s (time axis = s from R).
    band:
        ``(2, 12, T)`` lower/upper band (e.g. :func:`class_band` of the beat's class), grey.
    diff_mask, criteria_mask:
        ``(12, T)`` bool ground truth: the difference mask colours the trace orange, the
        criteria mask draws light-blue boxes over its leads and window.
    overlay:
        ``(12, T)`` a second trace drawn dashed (e.g. the counterfactual).
    spacing:
        Vertical distance between leads, mV.
    color, lw:
        Trace colour and width.
    title:
        Axes title.

    Returns
    -------
    matplotlib.axes.Axes
    """
    b = _beat(beat, "beat")
    L, T = b.shape
    if len(lead_names) != L:
        raise DataError(f"{len(lead_names)} lead names for {L} leads")
    t = _time(T, fs, r_offset)
    for name, arr, shape in (("band", band, (2, L, T)), ("diff_mask", diff_mask, (L, T)),
                             ("criteria_mask", criteria_mask, (L, T)),
                             ("overlay", overlay, (L, T))):
        if arr is not None and np.shape(arr) != shape:
            raise DataError(f"{name} must have shape {shape}, got {np.shape(arr)}")
    if ax is None:
        _, ax = plt.subplots(figsize=(4.0, 6.0))
    dt = 1.0 / fs
    for i in range(L):
        off = -i * spacing
        if criteria_mask is not None:
            for a, z in _runs(criteria_mask[i]):
                ax.add_patch(plt.Rectangle((t[a] - dt / 2, off - spacing / 2), (z - a) * dt,
                                           spacing, color=CRITERIA_COLOR, alpha=0.55, lw=0,
                                           zorder=0))
        if band is not None:
            ax.fill_between(t, off + band[0, i], off + band[1, i], color=BAND_COLOR, lw=0,
                            zorder=1)
        if overlay is not None:
            ax.plot(t, off + overlay[i], color="0.35", lw=lw * 0.9, ls="--", zorder=2)
        ax.plot(t, off + b[i], color=color, lw=lw, zorder=3)
        if diff_mask is not None and np.any(diff_mask[i]):
            y = np.where(diff_mask[i], off + b[i], np.nan)
            ax.plot(t, y, color=DIFF_COLOR, lw=lw * 2.2, zorder=4, solid_capstyle="butt")
    ax.set_yticks([-i * spacing for i in range(L)], list(lead_names))
    ax.set_ylim(-(L - 1) * spacing - spacing * 0.8, spacing * 0.8)
    ax.set_xlim(t[0], t[-1])
    ax.axvline(0.0, color="0.6", lw=0.5, ls=":", zorder=0)
    ax.set_xlabel("time from R (s)")
    ax.tick_params(axis="y", length=0, labelsize=7)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def plot_class_gallery(signals: np.ndarray, labels: np.ndarray, class_names: Sequence[str],
                       fs: float, *, index: Sequence[int] | None = None,
                       diff_mask: np.ndarray | None = None,
                       criteria_mask: np.ndarray | None = None, r_offset: float = 0.4,
                       lead_names: Sequence[str] = LEAD_NAMES, ncols: int = 3,
                       band_q: tuple[float, float] = (2.5, 97.5),
                       panel_size: tuple[float, float] = (3.4, 5.2)) -> Figure:
    """One panel per class: an example beat over its class's percentile band, masks shaded.

    Parameters
    ----------
    signals:
        ``(n, 12, T)`` beats, mV.
    labels:
        ``(n,)`` class indices (``(n, C)`` multi-hot: the first positive class).
    class_names:
        The class names; one panel per class with at least one beat.
    fs:
        Sampling rate, Hz.
    index:
        The example beat of each class, in class order (default: its first beat).
    diff_mask, criteria_mask:
        ``(n, 12, T)`` bool ground truth (optional; synthetic data only).
    band_q:
        Percentiles of the grey band over the class's beats (the spread of the class).

    Returns
    -------
    matplotlib.figure.Figure
    """
    x = np.asarray(signals)
    if x.ndim != 3:
        raise DataError(f"signals must be (n, 12, T), got shape {x.shape}")
    y = np.asarray(labels)
    y = y.argmax(1) if y.ndim == 2 else y
    if y.shape != (x.shape[0],):
        raise DataError(f"labels must give one class per beat ({x.shape[0]}), got {y.shape}")
    present = [c for c in range(len(class_names)) if np.any(y == c)]
    if not present:
        raise DataError("no beats to draw")
    if index is not None and len(index) != len(class_names):
        raise DataError(f"index must give one beat per class ({len(class_names)}), got {len(index)}")
    ncols = max(1, min(ncols, len(present)))
    nrows = -(-len(present) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel_size[0] * ncols, panel_size[1] * nrows),
                             squeeze=False, sharex=True, sharey=True)
    for ax, c in zip(axes.flat, present):
        members = np.flatnonzero(y == c)
        i = int(index[c]) if index is not None else int(members[0])
        if y[i] != c:
            raise DataError(f"example beat {i} is not of class {class_names[c]!r}")
        plot_beat(x[i], fs, ax, lead_names=lead_names, r_offset=r_offset,
                  band=class_band(x[members], band_q),
                  diff_mask=None if diff_mask is None else diff_mask[i],
                  criteria_mask=None if criteria_mask is None else criteria_mask[i],
                  title=f"{class_names[c]} (beat {i}; band: {len(members)} beats)")
    for ax in list(axes.flat)[len(present):]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


def plot_map_over_beat(beat: np.ndarray, amap: np.ndarray, fs: float, ax: Axes | None = None, *,
                       lead_names: Sequence[str] = LEAD_NAMES, r_offset: float = 0.4,
                       signed: bool = False, spacing: float = 2.0, title: str | None = None,
                       criteria_mask: np.ndarray | None = None, cmap: str | None = None,
                       colorbar: bool = False) -> Axes:
    """An attribution map as a heatmap (one row per lead) behind the beat's 12 traces.

    Parameters
    ----------
    beat, amap:
        ``(12, T)`` beat (mV) and its map (any unit).
    signed:
        ``False`` (default): ``|a| / max |a|`` in [0, 1] (what rank-of-|a| similarities see).
        ``True``: ``a / max |a|`` in [−1, 1], diverging colours centred at 0.
    criteria_mask:
        ``(12, T)`` bool: outlines the criteria window of each lead (optional).
    colorbar:
        Add a colour bar.

    Returns
    -------
    matplotlib.axes.Axes
    """
    b = _beat(beat, "beat")
    a = _beat(amap, "amap")
    if a.shape != b.shape:
        raise DataError(f"map shape {a.shape} differs from beat shape {b.shape}")
    L, T = b.shape
    t = _time(T, fs, r_offset)
    peak = np.abs(a).max()
    scaled = (a if signed else np.abs(a)) / (peak if peak > 0 else 1.0)
    if ax is None:
        _, ax = plt.subplots(figsize=(4.0, 6.0))
    half = 0.5 / fs
    extent = (t[0] - half, t[-1] + half, -(L - 0.5) * spacing, 0.5 * spacing)
    if signed:
        im = ax.imshow(scaled, aspect="auto", extent=extent, cmap=cmap or "RdBu_r",
                       norm=TwoSlopeNorm(0.0, -1.0, 1.0), interpolation="nearest", zorder=0)
    else:
        im = ax.imshow(scaled, aspect="auto", extent=extent, cmap=cmap or "YlOrRd", vmin=0,
                       vmax=1, interpolation="nearest", zorder=0)
    plot_beat(b, fs, ax, lead_names=lead_names, r_offset=r_offset, spacing=spacing, lw=0.7)
    if criteria_mask is not None:
        cm = _beat(criteria_mask, "criteria_mask", L)
        for i in range(L):
            for s, e in _runs(cm[i]):
                ax.add_patch(plt.Rectangle((t[s] - half, -i * spacing - spacing / 2),
                                           (e - s) / fs, spacing, fill=False, ec="#2166ac",
                                           lw=0.9, zorder=5))
    ax.set_ylim(extent[2], extent[3])
    if colorbar:
        plt.colorbar(im, ax=ax, fraction=0.05, pad=0.02,
                     label="a / max|a|" if signed else "|a| / max|a|")
    if title:
        ax.set_title(title, fontsize=9)
    return ax
