"""A forest plot: one row per method, a point and its 95 % CI per group (measure, seed pair…).

The book's summaries (mean similarity to the other methods, self-consistency gaps, the similarity
left after full randomisation, localisation scores) are all "a value with a CI per method", so one
function draws them all. Controls are set apart (grey italic labels on a shaded band) so they are
read beside the methods, never mistaken for one.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes

from ecgsignal.errors import DataError
from ecgsignal.tables import require_columns

__all__ = ["plot_forest"]


def plot_forest(df: pd.DataFrame, ax: Axes | None = None, *, label: str = "method",
                group: str | None = None, order: Sequence[str] | None = None,
                groups: Sequence[str] | None = None, shaded: Sequence[str] = (),
                bold: Sequence[str] = (), reference: float | None = 0.0,
                reference_label: str | None = None, xlabel: str = "value (mean, 95 % CI)",
                title: str | None = None, xlim: tuple[float, float] | None = None,
                palette: str = "colorblind") -> Axes:
    """Horizontal points with 95 % CI error bars, one row per ``label``, offset per ``group``.

    Parameters
    ----------
    df:
        Tidy rows with columns ``label``, ``value``, ``ci_low``, ``ci_high`` (and ``group``);
        one row per (label, group).
    ax:
        Axes to draw on (default: a new figure sized to the rows).
    label:
        Column naming the rows (e.g. ``method``).
    group:
        Column whose values get one colour each, side by side within a row (e.g. ``measure``).
    order:
        Row labels top to bottom (default: order of first appearance).
    groups:
        Group values to draw, in legend order (default: order of first appearance).
    shaded:
        Row labels set apart on a grey band with grey italic tick labels (e.g. the controls).
    bold:
        Row labels printed in bold (e.g. methods flagged by a test).
    reference:
        x of a dashed vertical reference line (``None``: none).
    reference_label:
        Legend entry of the reference line.
    xlabel, title:
        Axis label and title.
    xlim:
        x limits (default: matplotlib's).
    palette:
        Seaborn palette of the groups.

    Returns
    -------
    matplotlib.axes.Axes
    """
    need = [label, "value", "ci_low", "ci_high"] + ([group] if group else [])
    require_columns(df, need)
    if df.empty:
        raise DataError("nothing to plot: the table is empty")
    rows = list(order) if order is not None else list(dict.fromkeys(df[label]))
    if group:
        keys = list(groups) if groups is not None else list(dict.fromkeys(df[group]))
        if df.duplicated([label, group]).any():
            raise DataError(f"several rows per ({label}, {group}); filter the table first")
    else:
        keys = [None]
        if df.duplicated([label]).any():
            raise DataError(f"several rows per {label}; filter the table first")
    if ax is None:
        height = min(0.28 * len(rows) * max(1.0, len(keys) / 2.5) + 1.4, 10.0)
        _, ax = plt.subplots(figsize=(6.5, height))
    colors = sns.color_palette(palette, n_colors=max(len(keys), 1))
    width = 0.75 / max(len(keys), 1)
    pos = {r: i for i, r in enumerate(rows)}
    for i, r in enumerate(rows):
        if r in set(shaded):
            ax.axhspan(i - 0.5, i + 0.5, color="0.93", zorder=0, lw=0)
    for j, (key, color) in enumerate(zip(keys, colors)):
        d = df if key is None else df[df[group] == key]
        d = d[d[label].isin(rows)]
        if d.empty:
            continue
        y = np.array([pos[r] for r in d[label]], dtype=float) + (j - (len(keys) - 1) / 2) * width
        v = d["value"].to_numpy(dtype=float)
        lo = d["ci_low"].to_numpy(dtype=float)
        hi = d["ci_high"].to_numpy(dtype=float)
        err = np.nan_to_num(np.clip(np.vstack([v - lo, hi - v]), 0, None))
        ax.errorbar(v, y, xerr=err, fmt="o", ms=4, lw=1.1, capsize=2, color=color,
                    label=None if key is None else str(key), zorder=3)
    if reference is not None:
        ax.axvline(reference, color="0.35", lw=0.9, ls="--", label=reference_label, zorder=1)
    ax.set_yticks(range(len(rows)), labels=[str(r) for r in rows], fontsize=8)
    for tick, r in zip(ax.get_yticklabels(), rows):
        if r in set(shaded):
            tick.set_color("0.4")
            tick.set_fontstyle("italic")
        if r in set(bold):
            tick.set_fontweight("bold")
    ax.set_ylim(len(rows) - 0.5, -0.5)
    if xlim is not None:
        ax.set_xlim(*xlim)
    ax.set_xlabel(xlabel)
    if title:
        ax.set_title(title)
    if (group and len(keys) > 1) or reference_label:
        ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(axis="x", color="0.9", lw=0.6, zorder=0)
    return ax
