"""Figure of Experiment 5: localisation score per method against each ground-truth mask.

Takes the experiment's table and an optional matplotlib ``ax``, draws on it and returns it. Every
point carries its 95 % bootstrap CI as an error bar, and a dashed line per mask marks the chance
level (what an uninformative map scores on the same beats).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from ecgsignal.errors import DataError
from ecgsignal.evaluation.localization import LOCALIZATION
from ecgsignal.evaluation.measures import MEASURES
from ecgsignal.tables import require_columns, select

__all__ = ["plot_localization"]

def _label(measure: str) -> str:
    return MEASURES.get(measure).label if measure in MEASURES else measure


def plot_localization(df: pd.DataFrame, ax: Axes | None = None,
                      measure: str = "mass_accuracy", cls: str = "all") -> Axes:
    """Points with 95 % CIs per method, one colour per mask, beside each mask's chance level.

    Parameters
    ----------
    df:
        Experiment 5's table (columns ``method``, ``class``, ``measure``, ``mask``, ``value``,
        ``ci_low``, ``ci_high``, and optionally ``chance``).
    ax:
        Axes to draw on (default: a new figure).
    measure:
        Localisation measure to show: a raw one (e.g. ``"mass_accuracy"``), its chance ratio
        (``"mass_accuracy_ratio"``, reference line at 1) or a paired difference against a
        control (``"mass_accuracy_vs_input"``, reference line at 0).
    cls:
        A class name, or ``"all"`` for every beat with a non-empty mask.

    Returns
    -------
    matplotlib.axes.Axes
    """
    need = ("method", "class", "measure", "mask", "value", "ci_low", "ci_high")
    require_columns(df, need, hint="is it Experiment 5's results?")
    sel = select(df, measure=measure, class_=cls)
    if sel.empty:
        raise DataError(f"no rows for measure={measure!r} and class={cls!r} together")
    methods = list(dict.fromkeys(sel["method"]))
    masks = list(dict.fromkeys(sel["mask"]))
    if ax is None:
        _, ax = plt.subplots(figsize=(0.5 * len(methods) + 2.5, 4.0))
    x = np.arange(len(methods))
    width = 0.5
    for k, mname in enumerate(masks):
        rows = sel[sel["mask"] == mname].set_index("method").reindex(methods)
        v = rows["value"].to_numpy(dtype=float)
        err = np.vstack([v - rows["ci_low"].to_numpy(dtype=float),
                         rows["ci_high"].to_numpy(dtype=float) - v])
        dx = (k - (len(masks) - 1) / 2) * width / max(len(masks), 1)
        colour = f"C{k}"
        ax.errorbar(x + dx, v, yerr=np.nan_to_num(np.clip(err, 0, None)), fmt="o", ms=5,
                    capsize=3, color=colour, label=f"{mname} mask")
        if "chance" in rows.columns and rows["chance"].notna().any():
            ax.axhline(float(rows["chance"].dropna().iloc[0]), color=colour, ls="--", lw=0.9,
                       label=f"chance ({mname})" if measure in LOCALIZATION else None)
    ax.set_xticks(x, labels=methods, rotation=60, ha="right", fontsize=8)
    base, _, ctl = measure.partition("_vs_")
    if measure.endswith("_ratio"):
        label = f"{_label(measure[:-6])} / chance"
    elif ctl:
        label = f"{_label(base)}, method − {ctl}"
    else:
        label = _label(measure)
        if measure in MEASURES:
            ax.set_ylim(*MEASURES.get(measure).ylim)
    ax.set_ylabel(f"{label}, 95 % CI")
    where = ("all classes, equally weighted" if str(cls) == "all" else f"class {cls}")
    ax.set_title(f"Ground-truth localisation, {where}")
    ax.legend(fontsize=8, loc="best")
    return ax
