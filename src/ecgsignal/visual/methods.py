"""Figures of the method gallery: maps of many methods on one beat, costs, where maps put weight.

- :func:`plot_method_gallery` — one panel per method, the map over the beat
  (:func:`~ecgsignal.visual.ecg.plot_map_over_beat`);
- :func:`plot_method_timings` — milliseconds per beat per method, median of the repeats with the
  min–max range as an error bar, log scale;
- :func:`plot_method_bars` — a value per method (e.g. a similarity), grouped by a second column,
  with 95 % CI error bars;
- :func:`plot_lead_shares` — the share of each lead in a method's total |attribution|, mean over
  beats with its 95 % bootstrap CI (from :func:`ecgsignal.evaluation.lead_shares.lead_share_table`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ecgsignal.data.leads import LEAD_NAMES
from ecgsignal.errors import DataError
from ecgsignal.tables import require_columns
from ecgsignal.visual.ecg import plot_map_over_beat

__all__ = ["plot_lead_shares", "plot_method_bars", "plot_method_gallery", "plot_method_timings"]


def plot_method_gallery(beat: np.ndarray, maps: Mapping[str, np.ndarray], fs: float, *,
                        ncols: int = 5, r_offset: float = 0.4, signed: bool = False,
                        lead_names: Sequence[str] = LEAD_NAMES,
                        criteria_mask: np.ndarray | None = None,
                        labels: Mapping[str, str] | None = None, suptitle: str | None = None,
                        panel_size: tuple[float, float] = (2.6, 4.2)) -> Figure:
    """The maps of several methods on the same beat, one panel each (in ``maps`` order).

    Parameters
    ----------
    beat:
        ``(12, T)`` mV.
    maps:
        ``{method: (12, T) map}``.
    fs, r_offset, signed, lead_names, criteria_mask:
        As for :func:`~ecgsignal.visual.ecg.plot_map_over_beat`.
    labels:
        Optional panel titles per method (default: the method name).
    suptitle:
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not maps:
        raise DataError("no maps to draw")
    names = list(maps)
    ncols = max(1, min(ncols, len(names)))
    nrows = -(-len(names) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel_size[0] * ncols, panel_size[1] * nrows),
                             squeeze=False, sharex=True, sharey=True)
    for ax, m in zip(axes.flat, names):
        plot_map_over_beat(beat, maps[m], fs, ax, lead_names=lead_names, r_offset=r_offset,
                           signed=signed, criteria_mask=criteria_mask,
                           title=(labels or {}).get(m, m))
        ax.set_xlabel("")
    for ax in list(axes.flat)[len(names):]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("time from R (s)")
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    return fig


def plot_method_timings(df: pd.DataFrame, ax: Axes | None = None, *,
                        kinds: Mapping[str, str] | None = None) -> Axes:
    """Milliseconds per beat of each method: median of the repeats, min–max as error bars.

    Parameters
    ----------
    df:
        :func:`ecgsignal.attribution.describe.time_methods`' table (``method``, ``ms_per_beat``).
    kinds:
        Optional ``{method: kind}`` to colour bars by kind (gradient / perturbation / control).

    Returns
    -------
    matplotlib.axes.Axes
    """
    if not {"method", "ms_per_beat"} <= set(df.columns):
        raise DataError("expected time_methods' table (columns method, ms_per_beat)")
    if df.empty:
        raise DataError("no timings to draw")
    g = df.groupby("method", sort=False)["ms_per_beat"]
    med, lo, hi = g.median(), g.min(), g.max()
    order = list(med.sort_values().index)
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 0.32 * len(order) + 1.2))
    palette = {"gradient": "#4477aa", "perturbation": "#ee6677", "control": "#999999"}
    colors = [palette.get((kinds or {}).get(m, ""), "#4477aa") for m in order]
    y = np.arange(len(order))
    m_ = med[order].to_numpy()
    ax.barh(y, m_, color=colors)
    ax.errorbar(m_, y, xerr=[m_ - lo[order].to_numpy(), hi[order].to_numpy() - m_], fmt="none",
                ecolor="black", capsize=2, lw=0.8)
    ax.set_yticks(y, order)
    ax.set_xscale("log")
    n_rep = int(df.groupby("method").size().max())
    ax.set_xlabel(f"ms per beat (median of {n_rep} runs, bar: min–max; log scale)")
    if kinds:
        for k, c in palette.items():
            if k in set(kinds.values()):
                ax.barh([np.nan], [np.nan], color=c, label=k)
        ax.legend(frameon=False, fontsize=8, loc="lower right")
    return ax


def plot_lead_shares(df: pd.DataFrame, ax: Axes | None = None, *,
                     methods: Sequence[str] | None = None,
                     lead_names: Sequence[str] = LEAD_NAMES) -> Axes:
    """Share of each lead in the total |attribution| per method, with 95 % CIs over beats.

    Parameters
    ----------
    df:
        :func:`ecgsignal.evaluation.lead_shares.lead_share_table` (``method``, ``lead``,
        ``value``, ``ci_low``, ``ci_high``).
    methods:
        Methods to draw, in order (default: all in the table).

    Returns
    -------
    matplotlib.axes.Axes
        A dashed line marks 1/12 (a map spread evenly over the leads).
    """
    need = {"method", "lead", "value", "ci_low", "ci_high"}
    if not need <= set(df.columns):
        raise DataError(f"expected lead_share_table's table (columns {sorted(need)})")
    names = list(methods) if methods is not None else list(dict.fromkeys(df["method"]))
    if not names:
        raise DataError("no methods to draw")
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 3.8))
    width = 0.8 / len(names)
    x = np.arange(len(lead_names))
    colors = plt.get_cmap("tab20")(np.linspace(0, 1, max(len(names), 2)))
    for j, m in enumerate(names):
        d = df[df["method"] == m].set_index("lead").reindex(list(lead_names))
        v = d["value"].to_numpy(float)
        pos = x - 0.4 + width * (j + 0.5)
        ax.bar(pos, v, width=width, color=colors[j], label=m)
        ax.errorbar(pos, v, yerr=[v - d["ci_low"].to_numpy(float), d["ci_high"].to_numpy(float) - v],
                    fmt="none", ecolor="black", lw=0.6, capsize=1)
    ax.axhline(1 / len(lead_names), color="0.3", ls="--", lw=0.8)
    ax.set_xticks(x, list(lead_names))
    ax.set_ylabel("share of total |a|\n(mean over beats, 95 % CI)")
    ax.legend(frameon=False, fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return ax


def plot_method_bars(df: pd.DataFrame, ax: Axes | None = None, *, hue: str | None = None,
                     methods: Sequence[str] | None = None, hue_order: Sequence[str] | None = None,
                     ylabel: str = "value (mean, 95 % CI)",
                     highlight: Sequence[str] | None = None) -> Axes:
    """Bars of ``value`` per method (grouped by ``hue``), with ``ci_low``–``ci_high`` error bars.

    Parameters
    ----------
    df:
        Rows ``method``, ``value``, ``ci_low``, ``ci_high`` (and the ``hue`` column), one per
        method × hue (e.g. :func:`ecgsignal.evaluation.compare.compare_maps`, filtered).
    hue:
        Column whose levels become side-by-side bars (default: one bar per method).
    methods, hue_order:
        Orders (default: order of appearance).
    highlight:
        Methods whose tick labels are drawn bold (e.g. the input-multiplying ones).

    Returns
    -------
    matplotlib.axes.Axes
        A dashed line marks 0.
    """
    need = {"method", "value", "ci_low", "ci_high"} | ({hue} if hue else set())
    require_columns(df, sorted(need))
    names = list(methods) if methods is not None else list(dict.fromkeys(df["method"]))
    levels = ([None] if hue is None else
              list(hue_order) if hue_order is not None else list(dict.fromkeys(df[hue])))
    if not names:
        raise DataError("no methods to draw")
    if ax is None:
        _, ax = plt.subplots(figsize=(max(5.0, 0.55 * len(names) * max(len(levels), 1)), 3.6))
    width = 0.8 / len(levels)
    x = np.arange(len(names))
    for j, lev in enumerate(levels):
        d = df if lev is None else df[df[hue] == lev]
        d = d.drop_duplicates("method").set_index("method").reindex(names)
        if d["value"].isna().all():
            raise DataError(f"no rows for {hue}={lev!r}")
        v = d["value"].to_numpy(float)
        pos = x - 0.4 + width * (j + 0.5)
        ax.bar(pos, v, width=width, color=f"C{j}", label=None if lev is None else str(lev))
        ax.errorbar(pos, v, yerr=[v - d["ci_low"].to_numpy(float), d["ci_high"].to_numpy(float) - v],
                    fmt="none", ecolor="black", lw=0.8, capsize=2)
    ax.axhline(0.0, color="0.3", ls="--", lw=0.8)
    ax.set_xticks(x, names, rotation=40, ha="right")
    for lab in ax.get_xticklabels():
        if highlight and lab.get_text() in set(highlight):
            lab.set_fontweight("bold")
    ax.set_ylabel(ylabel)
    if hue is not None:
        ax.legend(frameon=False, fontsize=8)
    return ax
