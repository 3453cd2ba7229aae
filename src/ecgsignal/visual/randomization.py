"""Figure of Experiment 3: similarity to the trained map as the model is randomised.

One curve per method, stage on the x axis (0 = trained, then head → stem for ``top_down``),
the mean similarity over beats with its 95 % bootstrap CI as a band, and a dashed line at 0
(no similarity). Takes the experiment's table (or ``results.csv`` read back) and an optional
``ax``; returns the ``ax``.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes

from ecgsignal.errors import DataError
from ecgsignal.evaluation.measures import MEASURES
from ecgsignal.evaluation.similarity import SIMILARITY  # noqa: F401  (registers the measures)
from ecgsignal.tables import require_columns, select

__all__ = ["plot_randomization"]


def plot_randomization(df: pd.DataFrame, ax: Axes | None = None, *,
                       measure: str = "spearman_abs", cls: str = "all",
                       order: str = "top_down", reference: str = "trained",
                       normalization: str = "raw", methods: list[str] | None = None,
                       band: bool = True) -> Axes:
    """Similarity to the trained model's map per randomisation stage, per method, with CIs.

    Parameters
    ----------
    df:
        Experiment 3's table (columns ``method``, ``class``, ``stage``, ``measure``, ``value``,
        ``ci_low``, ``ci_high``, ``order``, ``stage_name``, ``reference``, ``normalization``).
    ax:
        Axes to draw on (default: a new figure).
    measure, cls, order, reference, normalization:
        Which rows to draw (``cls="all"`` = pooled beats; ``reference="input"`` shows the
        similarity to ``|x|`` instead).
    methods:
        Methods to draw, in this order (default: all in the table).
    band:
        Shade the 95 % CI (otherwise error bars).

    Returns
    -------
    matplotlib.axes.Axes
    """
    need = ("method", "class", "stage", "measure", "value", "ci_low", "ci_high", "order",
            "stage_name", "reference", "normalization")
    require_columns(df, need, hint="is it Experiment 3's results?")
    sel = select(df, measure=measure, class_=cls, order=order, reference=reference,
                 normalization=normalization)
    if methods is not None:
        sel = sel[sel["method"].isin(methods)]
    if sel.empty:
        raise DataError(f"no rows for measure={measure!r}, class={cls!r}, order={order!r}, "
                        f"reference={reference!r}, normalization={normalization!r}")
    names = methods or list(dict.fromkeys(sel["method"]))
    names = [m for m in names if m in set(sel["method"])]
    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 4.5))
    colors = sns.color_palette("tab20", n_colors=max(len(names), 1))
    for color, m in zip(colors, names):
        d = sel[sel["method"] == m].sort_values("stage")
        x = d["stage"].to_numpy(dtype=float)
        y = d["value"].to_numpy(dtype=float)
        lo = d["ci_low"].to_numpy(dtype=float)
        hi = d["ci_high"].to_numpy(dtype=float)
        ax.plot(x, y, marker="o", ms=3, lw=1.4, color=color, label=m)
        if band:
            ax.fill_between(x, lo, hi, color=color, alpha=0.18, lw=0)
        else:
            ax.errorbar(x, y, yerr=[y - lo, hi - y], fmt="none", ecolor=color, capsize=2)
    chance = MEASURES.get(measure).chance_value() if measure in MEASURES else None
    ax.axhline(0.0 if chance is None else chance, color="0.3", lw=0.8, ls="--")
    stages = sel[["stage", "stage_name"]].drop_duplicates().sort_values("stage")
    ax.set_xticks(stages["stage"].to_numpy(dtype=float),
                  labels=[str(s) for s in stages["stage_name"]], rotation=40, ha="right")
    what = {"top_down": "cascading, top → bottom", "bottom_up": "cascading, bottom → top",
            "independent": "one stage at a time"}.get(order, order)
    ax.set_xlabel(f"randomised stage ({what})")
    target = "input |x|" if reference == "input" else "trained map"
    ax.set_ylabel(f"similarity to {target}\n({measure}, mean, 95 % CI)")
    lo_all = np.nanmin(sel["ci_low"].to_numpy(dtype=float))
    ax.set_ylim(min(-0.1, lo_all - 0.05), 1.05)
    where = "all beats" if str(cls) == "all" else f"class {cls}"
    ax.set_title(f"Model-parameter randomisation, {where}")
    ax.legend(fontsize=7, ncol=2, frameon=False, loc="upper right")
    return ax
