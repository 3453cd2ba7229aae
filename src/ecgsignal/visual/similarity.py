"""Figures of Experiments 1 and 2: the similarity matrix and self-consistency per method.

Each function takes a results table (as returned by the experiment or read back from
``results.csv``) and an optional matplotlib ``ax``, draws on it and returns it. Uncertainty is
always shown: the matrix annotates every cell with its mean and the half-width of its 95 %
bootstrap CI; the consistency plot draws the CI as an error bar.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from ecgsignal.errors import DataError
from ecgsignal.evaluation.measures import MEASURES
from ecgsignal.evaluation.similarity import SIMILARITY  # noqa: F401  (registers the measures)
from ecgsignal.tables import require_columns, select

__all__ = ["plot_consistency", "plot_similarity_matrix"]


def plot_similarity_matrix(df: pd.DataFrame, ax: Axes | None = None,
                           measure: str = "spearman_abs", cls: str = "all", *,
                           annotate: bool = True, ci: bool = True, cmap: str = "RdBu_r",
                           vmin: float = -1.0, vmax: float = 1.0) -> Axes:
    """Heatmap of Experiment 1's method × method similarity, annotated with values.

    Parameters
    ----------
    df:
        Experiment 1's table (columns ``method``, ``other``, ``class``, ``measure``, ``value``,
        ``ci_low``, ``ci_high``).
    ax:
        Axes to draw on (default: a new figure sized to the matrix).
    measure, cls:
        Which measure and class (``"all"`` = pooled beats) to show.
    annotate:
        Write each cell's mean in it.
    ci:
        Add ``± half-width`` of the 95 % CI under each mean (when ``annotate``).
    cmap, vmin, vmax:
        Diverging colour map centred on 0 (no similarity), range of the colour scale.

    Returns
    -------
    matplotlib.axes.Axes
    """
    from ecgsignal.evaluation.experiments.similarity import similarity_matrix

    mat = similarity_matrix(df, measure, cls)
    lo = similarity_matrix(df, measure, cls, column="ci_low")
    hi = similarity_matrix(df, measure, cls, column="ci_high")
    k = mat.shape[0]
    if ax is None:
        _, ax = plt.subplots(figsize=(0.62 * k + 2.5, 0.55 * k + 1.5))
    values = mat.to_numpy(dtype=float)
    im = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, vmin=vmin, vmax=vmax,
                   aspect="auto", interpolation="nearest")
    ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.02, label=f"similarity ({measure})")
    ax.set_xticks(range(k), labels=list(mat.columns), rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(k), labels=list(mat.index), fontsize=8)
    if annotate:
        half = (hi.to_numpy(dtype=float) - lo.to_numpy(dtype=float)) / 2.0
        span = max(abs(vmin), abs(vmax)) or 1.0
        for i in range(k):
            for j in range(k):
                v = values[i, j]
                if not np.isfinite(v):
                    text = "n/a"
                elif ci and np.isfinite(half[i, j]):
                    text = f"{v:.2f}\n±{half[i, j]:.2f}"
                else:
                    text = f"{v:.2f}"
                dark = np.isfinite(v) and abs(v) > 0.6 * span
                ax.text(j, i, text, ha="center", va="center", fontsize=6 if ci else 7,
                        color="white" if dark else "black")
    where = "all beats" if str(cls) == "all" else f"class {cls}"
    ax.set_title(f"Inter-method similarity, {where}"
                 + (" (mean ± 95 % CI half-width)" if annotate and ci else ""))
    return ax


def plot_consistency(df: pd.DataFrame, ax: Axes | None = None, measure: str = "spearman_abs",
                     cls: str = "all") -> Axes:
    """Self-consistency per method (point + 95 % CI) beside its mean similarity to other methods.

    Parameters
    ----------
    df:
        Experiment 2's table (columns ``method``, ``class``, ``measure``, ``quantity``, ``pair``,
        ``value``, ``ci_low``, ``ci_high``).
    ax:
        Axes to draw on (default: a new figure).
    measure, cls:
        Which measure and class (``"all"`` = pooled beats) to show.

    Returns
    -------
    matplotlib.axes.Axes
    """
    need = ("method", "class", "measure", "quantity", "value", "ci_low", "ci_high")
    require_columns(df, need, hint="is it Experiment 2's results?")
    sel = select(df, measure=measure, class_=cls)
    if "pair" in sel.columns:
        sel = sel[sel["pair"].isna()]
    if sel.empty:
        raise DataError(f"no rows for measure={measure!r}, class={cls!r}; measures: "
                        f"{sorted(df['measure'].dropna().unique())}")
    methods = list(dict.fromkeys(sel["method"]))
    if ax is None:
        _, ax = plt.subplots(figsize=(0.5 * len(methods) + 2.5, 4.0))
    x = np.arange(len(methods))
    styles = {"self_consistency": ("across seeds (self-consistency)", "C0", "o", -0.15),
              "others": ("with other methods (Exp 1)", "C1", "s", 0.15)}
    for q, (label, colour, marker, dx) in styles.items():
        rows = sel[sel["quantity"] == q].set_index("method").reindex(methods)
        v = rows["value"].to_numpy(dtype=float)
        err = np.vstack([v - rows["ci_low"].to_numpy(dtype=float),
                         rows["ci_high"].to_numpy(dtype=float) - v])
        ax.errorbar(x + dx, v, yerr=np.nan_to_num(np.clip(err, 0, None)), fmt=marker,
                    color=colour, label=label, capsize=3, markersize=5)
    chance = MEASURES.get(measure).chance_value() if measure in MEASURES else None
    ax.axhline(0.0 if chance is None else chance, color="0.5", lw=0.8, ls="--")
    ax.set_xticks(x, labels=methods, rotation=60, ha="right", fontsize=8)
    ax.set_ylabel(f"mean similarity ({measure}), 95 % CI")
    where = "all beats" if str(cls) == "all" else f"class {cls}"
    ax.set_title(f"Self-consistency across model seeds, {where}")
    ax.legend(fontsize=8, loc="best")
    return ax
