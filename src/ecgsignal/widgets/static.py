"""Static explorers: a precomputed cube drawn as one plotly figure that works with no kernel.

The figure's sliders and buttons use plotly's ``"skip"`` method; a small script
(``widgets/static/explorer.js``, inlined with the figure) listens to their events and restyles the
figure with the chosen slice of the cube. Everything the page needs is inside the HTML fragment
except plotly.js itself, which the book serves from ``_static/vendor`` (see
:mod:`ecgsignal.visual.plotly_html`).

How the cube is encoded for the browser (the ``data`` dict handed to the script):

* beats (and the perturbation noise ``ε``) as base64 float32, ``(B, 12, T)`` mV, C order;
* attribution maps as base64 uint8: ``|a|`` averaged over time bins of ``time_bin`` samples
  (so that at most ``max_columns`` columns remain), divided by that map's own maximum and
  scaled to 0–255; the map's true maximum ``|a|`` travels beside it (``scale``);
* similarities and probabilities as plain JSON numbers (4 decimals; ``null`` for NaN).

Sizes: a map costs ``12 × W`` bytes (≈ 1.8 kB at ``W = 150``) before base64 (+33 %). A
randomisation cube of 7 methods × 7 stages × 4 beats is ≈ 0.5 MB of HTML; a perturbation cube of
2 beats × 15 lead sets × 4 kinds × 5 strengths at ``W = 100`` ≈ 1 MB.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ecgsignal.errors import ConfigError
from ecgsignal.visual.plotly_html import figure_html, json_for_script
from ecgsignal.widgets.cubes import check_cube

__all__ = [
    "StaticExplorer",
    "bin_abs",
    "perturbation_figure",
    "quantize_maps",
    "randomization_figure",
    "runtime_script",
]

_HEAT_COLORS = "YlOrRd"
_TARGET, _OTHER = "crimson", "slategray"


@lru_cache(maxsize=1)
def _runtime_js() -> str:
    return resources.files("ecgsignal.widgets").joinpath("static/explorer.js").read_text("utf-8")


def runtime_script() -> str:
    """``<script>`` defining ``window.ECGX``, the explorers' browser-side logic (idempotent)."""
    return "<script type=\"text/javascript\">\n" + _runtime_js() + "\n</script>\n"


@dataclass
class StaticExplorer:
    """A plotly figure plus the data its inline script needs.

    Attributes
    ----------
    kind:
        ``"randomization"`` or ``"perturbation"`` (the ``ECGX`` function that drives it).
    figure:
        The figure in its initial state (it renders even without the script).
    data:
        JSON-able dict passed to ``ECGX.<kind>(div, data)``.
    """

    kind: str
    figure: go.Figure
    data: dict[str, Any] = field(repr=False)

    def post_script(self) -> str:
        """JavaScript that attaches the explorer to the drawn figure (``{plot_id}`` placeholder)."""
        return (f"ECGX.{self.kind}(document.getElementById('{{plot_id}}'), "
                f"{json_for_script(self.data)});")

    def to_html(self, mode: str | None = None) -> str:
        """HTML fragment: the runtime script, the figure, and its wiring.

        ``mode`` is plotly.js' source, see :func:`ecgsignal.visual.plotly_html.figure_html`.
        """
        return runtime_script() + figure_html(self.figure, post_script=self.post_script(), mode=mode)

    def _repr_html_(self) -> str:
        return self.to_html()

    def show(self, mode: str | None = None) -> None:
        """Display in the running notebook (static site or live kernel)."""
        from IPython.display import HTML, display

        display(HTML(self.to_html(mode)))


# ----------------------------------------------------------------------------- encoding helpers
def bin_abs(maps: np.ndarray, time_bin: int) -> np.ndarray:
    """Mean ``|a|`` over consecutive bins of ``time_bin`` samples along the last axis.

    The last bin may be shorter. ``(..., T)`` → ``(..., ceil(T / time_bin))`` float32.
    """
    if time_bin < 1:
        raise ConfigError(f"time_bin must be >= 1, got {time_bin}")
    a = np.abs(np.asarray(maps, np.float32))
    T = a.shape[-1]
    starts = np.arange(0, T, time_bin)
    sums = np.add.reduceat(a, starts, axis=-1)
    counts = np.diff(np.append(starts, T)).astype(np.float32)
    return (sums / counts).astype(np.float32)


def quantize_maps(binned: np.ndarray, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-map uint8 codes of ``binned`` ``(..., 12, W)`` and each raw map's max ``|a|``.

    Each ``(12, W)`` map is divided by its own maximum (0 → all zeros) and scaled to 0–255.
    """
    mx = binned.max(axis=(-2, -1), keepdims=True)
    safe = np.where(mx > 0, mx, 1.0)
    codes = np.rint(np.clip(binned / safe, 0, 1) * 255).astype(np.uint8)
    scale = np.abs(np.asarray(raw, np.float32)).max(axis=(-2, -1))
    return codes, scale


def _b64(a: np.ndarray, dtype: str) -> str:
    return base64.b64encode(np.ascontiguousarray(a, dtype=np.dtype(dtype).newbyteorder("<")).tobytes()).decode()


def _nums(a: np.ndarray, decimals: int = 4) -> list[float | None]:
    flat = np.asarray(a, np.float64).ravel()
    return [None if not math.isfinite(v) else round(float(v), decimals) for v in flat]


def _sig(a: np.ndarray, digits: int = 6) -> list[float | None]:
    """Numbers rounded to ``digits`` significant digits (magnitudes vary over decades)."""
    flat = np.asarray(a, np.float64).ravel()
    return [None if not math.isfinite(v) else float(f"{v:.{digits}g}") for v in flat]


def _time_bin(T: int, time_bin: int | None, max_columns: int) -> int:
    if time_bin is not None:
        return int(time_bin)
    if max_columns < 1:
        raise ConfigError(f"max_columns must be >= 1, got {max_columns}")
    return max(1, math.ceil(T / max_columns))


def _axes(T: int, fs: float, tb: int) -> tuple[np.ndarray, np.ndarray]:
    t = np.arange(T) / fs
    starts = np.arange(0, T, tb)
    ends = np.minimum(starts + tb, T)
    return t, (starts + ends - 1) / 2.0 / fs


def _line_scale(signals: np.ndarray) -> np.ndarray:
    mx = np.abs(signals).max(axis=(1, 2))
    return np.where(mx > 0, 0.45 / np.where(mx > 0, mx, 1.0), 0.0)


def _beat_lines(x: np.ndarray, t: np.ndarray, k: float, mask: np.ndarray | None = None
                ) -> tuple[list, list]:
    xs: list = []
    ys: list = []
    for i in range(x.shape[0]):
        if mask is not None and not mask[i]:
            continue
        xs += t.tolist() + [None]
        ys += (i - k * x[i]).tolist() + [None]
    return xs, ys


def _lead_axis(fig: go.Figure, leads: Sequence[str]) -> None:
    fig.update_yaxes(tickvals=list(range(len(leads))), ticktext=list(leads),
                     range=[len(leads) - 0.4, -0.6], title_text="lead", row=1, col=1,
                     showgrid=False, zeroline=False)
    fig.update_xaxes(title_text="time (s) · colour: |a| / max", row=1, col=1)


def _labels(cube: Mapping[str, np.ndarray], beat_labels: Sequence[str] | None) -> list[str]:
    names = [str(c) for c in cube["class_names"]]
    n = len(cube["signals"])
    if beat_labels is None:
        return [f"beat {i + 1} ({names[int(t)]})" for i, t in enumerate(cube["targets"])]
    if len(beat_labels) != n:
        raise ConfigError(f"{len(beat_labels)} beat labels for {n} beats")
    return [str(b) for b in beat_labels]


def _skip_buttons(labels: Sequence[str]) -> list[dict]:
    return [dict(label=str(lab), method="skip", args=[None]) for lab in labels]


# ----------------------------------------------------------------------------- randomisation
def randomization_figure(cube: Mapping[str, np.ndarray], *, beat_labels: Sequence[str] | None = None,
                         time_bin: int | None = None, max_columns: int = 150,
                         height: int = 640) -> StaticExplorer:
    """The layer-randomisation explorer from a :func:`~.cubes.randomization_cube`.

    Controls: a method menu, a beat menu, and a slider for how many stages are randomised
    (top-down). Left: ``|a|`` over the beat (each map scaled to its own maximum). Right: the
    Spearman(|a|) similarity to the trained model's map per stage, for the chosen beat (line),
    the mean over the cube's beats (dashed) and their range (band).

    Parameters
    ----------
    cube:
        From :func:`~ecgsignal.widgets.cubes.randomization_cube` (or :func:`~.cubes.load_cube`).
    beat_labels:
        One label per beat (default ``"beat i (class)"``).
    time_bin, max_columns:
        Samples averaged per heatmap column (default: just enough for ``max_columns``).
    height:
        Figure height in px.
    """
    if check_cube(cube) != "randomization":
        raise ConfigError("randomization_figure needs a randomization cube")
    x = np.asarray(cube["signals"], np.float32)
    maps = np.asarray(cube["maps"], np.float32)
    sim = np.asarray(cube["similarity"], np.float32)
    probs = np.asarray(cube["probs"], np.float32)
    targets = np.asarray(cube["targets"], np.int64)
    methods = [str(m) for m in cube["methods"]]
    stages = [str(s) for s in cube["stages"]]
    names = [str(c) for c in cube["class_names"]]
    leads = [str(v) for v in cube.get("lead_names", np.array(
        ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]))]
    fs = float(cube["fs"])
    n_b, T = x.shape[0], x.shape[2]
    tb = _time_bin(T, time_bin, max_columns)
    t, t_bins = _axes(T, fs, tb)
    codes, scale = quantize_maps(bin_abs(maps, tb), maps)
    line_scale = _line_scale(x)
    labels = _labels(cube, beat_labels)
    probs_target = probs[:, np.arange(n_b), targets]          # (S, B)

    fig = make_subplots(rows=1, cols=2, column_widths=[0.62, 0.38], horizontal_spacing=0.14)
    fig.add_trace(go.Heatmap(x=t_bins, y=list(range(12)), z=codes[0, 0, 0] / 255.0, zmin=0, zmax=1,
                             colorscale=_HEAT_COLORS, showscale=False,
                             hovertemplate="t=%{x:.3f} s<br>|a|/max=%{z:.2f}<extra></extra>",
                             name="attribution"), row=1, col=1)
    lx, ly = _beat_lines(x[0], t, float(line_scale[0]))
    fig.add_trace(go.Scatter(x=lx, y=ly, mode="lines", line=dict(color="black", width=1),
                             hoverinfo="skip", name="beat", showlegend=False), row=1, col=1)
    steps = list(range(len(stages)))
    fin = np.where(np.isfinite(sim[0]), sim[0], np.nan)
    with np.errstate(all="ignore"):
        hi, lo, mean = np.nanmax(fin, 1), np.nanmin(fin, 1), np.nanmean(fin, 1)
    band = dict(mode="lines", line=dict(width=0), hoverinfo="skip", showlegend=False)
    fig.add_trace(go.Scatter(x=steps, y=_nums(hi), name="max over beats", **band), row=1, col=2)
    fig.add_trace(go.Scatter(x=steps, y=_nums(lo), name="range over beats", fill="tonexty",
                             fillcolor="rgba(70,130,180,0.2)",
                             **{**band, "showlegend": True}), row=1, col=2)
    fig.add_trace(go.Scatter(x=steps, y=_nums(mean), mode="lines", name="mean over beats",
                             line=dict(color="steelblue", dash="dash")), row=1, col=2)
    fig.add_trace(go.Scatter(x=steps, y=_nums(sim[0, :, 0]), mode="lines+markers",
                             name="this beat", line=dict(color="black")), row=1, col=2)
    fig.add_trace(go.Scatter(x=[0], y=_nums(sim[0, :1, 0]), mode="markers", name="shown",
                             marker=dict(color="crimson", size=13, symbol="diamond")), row=1, col=2)
    _lead_axis(fig, leads)
    fig.update_xaxes(tickvals=steps, ticktext=[str(k) for k in steps], row=1, col=2,
                     title_text="stages randomised")
    fig.update_yaxes(range=[-0.35, 1.05], title_text="Spearman |a| to trained", row=1, col=2,
                     zeroline=True, title_standoff=4)
    fig.update_layout(
        height=height, margin=dict(t=130, b=90, l=60, r=20), template="plotly_white",
        title=dict(text=methods[0], x=0.01, y=0.97, font=dict(size=14)),
        legend=dict(x=1.0, y=1.0, xanchor="right", yanchor="top", font=dict(size=9),
                    bgcolor="rgba(255,255,255,0.7)"),
        updatemenus=[
            dict(type="dropdown", buttons=_skip_buttons(methods), active=0, x=0.0, y=1.2,
                 xanchor="left", yanchor="top", name="method", showactive=True),
            dict(type="dropdown", buttons=_skip_buttons(labels), active=0, x=0.42, y=1.2,
                 xanchor="left", yanchor="top", name="beat", showactive=True),
        ],
        sliders=[dict(
            active=0, name="stage", x=0.0, len=0.53, y=-0.08, yanchor="top",
            currentvalue=dict(prefix="stages randomised: ", font=dict(size=12)),
            steps=[dict(label=str(k), method="skip", args=[None], value=str(k))
                   for k in range(len(stages))],
        )],
    )
    data = {
        "methods": methods, "stages": stages, "n_beats": int(n_b), "leads": leads,
        "class_names": names, "targets": targets.tolist(), "beat_labels": labels,
        "t": _nums(t, 5), "tb": _nums(t_bins, 5), "line_scale": _sig(line_scale),
        "signals": _b64(x, "f4"), "maps": _b64(codes, "u1"), "scale": _sig(scale),
        "similarity": _nums(sim), "probs_target": _nums(probs_target),
        "tr": {"heatmap": 0, "beat": 1, "hi": 2, "lo": 3, "mean": 4, "cur": 5, "marker": 6},
        "ctl": {"method": 0, "beat": 1, "stage": 0},
    }
    return StaticExplorer("randomization", fig, data)


# ----------------------------------------------------------------------------- perturbation
def perturbation_figure(cube: Mapping[str, np.ndarray], *, beat_labels: Sequence[str] | None = None,
                        initial_lead_set: int | str = 0, initial_kind: int | str = "zero",
                        initial_strength: int = -1, time_bin: int | None = None,
                        max_columns: int = 100, height: int = 660) -> StaticExplorer:
    """The lead-perturbation explorer from a :func:`~.cubes.perturbation_cube`.

    Controls: buttons choosing the perturbed leads, a perturbation-kind menu, a beat menu and a
    strength slider. Left: the perturbed beat (black; the original of the perturbed leads in grey)
    over ``|a|`` of the perturbed beat. Right: class probabilities of the perturbed beat (bars; the
    explained class in red) against the unperturbed ones (black ticks).

    Parameters
    ----------
    cube:
        From :func:`~ecgsignal.widgets.cubes.perturbation_cube`.
    beat_labels:
        One label per beat.
    initial_lead_set, initial_kind, initial_strength:
        The state shown first (index or name; strength index, ``-1`` = strongest).
    time_bin, max_columns, height:
        As in :func:`randomization_figure`.
    """
    if check_cube(cube) != "perturbation":
        raise ConfigError("perturbation_figure needs a perturbation cube")
    x = np.asarray(cube["signals"], np.float32)
    eps = np.asarray(cube["noise"], np.float32)
    maps = np.asarray(cube["maps"], np.float32)
    probs = np.asarray(cube["probs"], np.float32)
    ref = np.asarray(cube["reference_probs"], np.float32)
    targets = np.asarray(cube["targets"], np.int64)
    set_names = [str(s) for s in cube["lead_set_names"]]
    sets = np.asarray(cube["lead_sets"], bool)
    kinds = [str(k) for k in cube["kinds"]]
    units = [str(u) for u in cube["units"]]
    strengths = np.asarray(cube["strengths"], np.float32)
    coefs = np.asarray(cube["coefficients"], np.float32)
    names = [str(c) for c in cube["class_names"]]
    leads = [str(v) for v in cube["lead_names"]] if "lead_names" in cube else [
        "I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]
    fs = float(cube["fs"])
    method = str(cube["method"])
    n_b, T = x.shape[0], x.shape[2]
    G = strengths.shape[1]

    def pick(v: int | str, options: list[str], what: str) -> int:
        if isinstance(v, str):
            if v not in options:
                raise ConfigError(f"unknown {what} {v!r}; valid: {', '.join(options)}")
            return options.index(v)
        if not -len(options) <= int(v) < len(options):
            raise ConfigError(f"{what} index {v} out of range for {len(options)} options")
        return int(v) % len(options)

    l0 = pick(initial_lead_set, set_names, "lead set")
    k0 = pick(initial_kind, kinds, "perturbation kind")
    g0 = pick(initial_strength, [str(s) for s in range(G)], "strength")
    tb = _time_bin(T, time_bin, max_columns)
    t, t_bins = _axes(T, fs, tb)
    codes, scale = quantize_maps(bin_abs(maps, tb), maps)
    line_scale = _line_scale(x)
    labels = _labels(cube, beat_labels)

    gain, off, sd = coefs[k0, g0]
    x0 = x[0].copy()
    x0[sets[l0]] = gain * x[0][sets[l0]] + off + sd * eps[0][sets[l0]]
    fig = make_subplots(rows=1, cols=2, column_widths=[0.62, 0.38], horizontal_spacing=0.14)
    fig.add_trace(go.Heatmap(x=t_bins, y=list(range(12)), z=codes[0, l0, k0, g0] / 255.0, zmin=0,
                             zmax=1, colorscale=_HEAT_COLORS, showscale=False,
                             hovertemplate="t=%{x:.3f} s<br>|a|/max=%{z:.2f}<extra></extra>",
                             name="attribution"), row=1, col=1)
    px, py = _beat_lines(x0, t, float(line_scale[0]))
    fig.add_trace(go.Scatter(x=px, y=py, mode="lines", line=dict(color="black", width=1),
                             hoverinfo="skip", name="perturbed beat"), row=1, col=1)
    ox, oy = _beat_lines(x[0], t, float(line_scale[0]), sets[l0])
    fig.add_trace(go.Scatter(x=ox, y=oy, mode="lines", hoverinfo="skip", name="original lead",
                             line=dict(color="rgba(90,90,90,0.7)", width=1, dash="dot")),
                  row=1, col=1)
    colors = [_TARGET if i == targets[0] else _OTHER for i in range(len(names))]
    fig.add_trace(go.Bar(x=names, y=_nums(probs[0, l0, k0, g0]), marker_color=colors,
                         name="perturbed", hovertemplate="%{x}: %{y:.3f}<extra></extra>"),
                  row=1, col=2)
    fig.add_trace(go.Scatter(x=names, y=_nums(ref[0]), mode="markers", name="unperturbed",
                             marker=dict(symbol="line-ew-open", size=26, color="black",
                                         line=dict(width=2))), row=1, col=2)
    _lead_axis(fig, leads)
    fig.update_yaxes(range=[0, 1.02], title_text="class probability", row=1, col=2,
                     title_standoff=4)
    fig.update_xaxes(tickangle=-45, row=1, col=2)
    fig.update_layout(
        height=height, margin=dict(t=170, b=90, l=60, r=20), template="plotly_white",
        title=dict(text=method, x=0.01, y=0.98, font=dict(size=14)),
        legend=dict(orientation="h", x=1.0, y=1.02, xanchor="right", yanchor="bottom",
                    font=dict(size=10)),
        updatemenus=[
            dict(type="buttons", direction="right", buttons=_skip_buttons(set_names), active=l0,
                 x=0.0, y=1.3, xanchor="left", yanchor="top", name="lead_set", showactive=True,
                 pad=dict(r=2, t=2), font=dict(size=11)),
            dict(type="dropdown", buttons=_skip_buttons(kinds), active=k0, x=0.0, y=1.16,
                 xanchor="left", yanchor="top", name="kind", showactive=True),
            dict(type="dropdown", buttons=_skip_buttons(labels), active=0, x=0.22, y=1.16,
                 xanchor="left", yanchor="top", name="beat", showactive=True),
        ],
        sliders=[dict(
            active=g0, name="strength", x=0.0, len=0.53, y=-0.08, yanchor="top",
            currentvalue=dict(prefix=f"{kinds[k0]} strength ({units[k0]}): ", font=dict(size=12)),
            steps=[dict(label=f"{strengths[k0, g]:g}", method="skip", args=[None], value=str(g))
                   for g in range(G)],
        )],
    )
    data = {
        "method": method, "n_beats": int(n_b), "leads": leads, "class_names": names,
        "targets": targets.tolist(), "beat_labels": labels,
        "lead_set_names": set_names, "lead_sets": sets.astype(int).tolist(), "kinds": kinds,
        "units": units, "strengths": [[float(f"{v:g}") for v in row] for row in strengths],
        "coefficients": np.round(coefs.astype(np.float64), 6).tolist(),
        "t": _nums(t, 5), "tb": _nums(t_bins, 5), "line_scale": _sig(line_scale),
        "signals": _b64(x, "f4"), "noise": _b64(eps, "f4"), "maps": _b64(codes, "u1"),
        "scale": _sig(scale), "probs": _nums(probs), "reference_probs": _nums(ref),
        "initial": {"lead_set": l0, "kind": k0, "strength": g0},
        "tr": {"heatmap": 0, "beat": 1, "orig": 2, "bars": 3, "ref": 4},
        "ctl": {"lead_set": 0, "kind": 1, "beat": 2, "strength": 0},
        "colors": {"target": _TARGET, "other": _OTHER},
    }
    return StaticExplorer("perturbation", fig, data)
