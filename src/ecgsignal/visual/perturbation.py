"""Figures of Experiment 4: perturbation curves and the area between MoRF and LeRF.

Both functions take the experiment's table (or ``results.csv`` read back) and an optional
``ax``, draw on it and return it. Uncertainty is always shown: 95 % bootstrap bands around the
curves, error bars on the areas.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes

from ecgsignal.errors import DataError
from ecgsignal.evaluation.measures import MEASURES
from ecgsignal.evaluation.perturbation import CURVE_MEASURES  # noqa: F401  (registers the curve measures)
from ecgsignal.tables import require_columns, select

__all__ = ["plot_area_between", "plot_perturbation"]

_ORDER_STYLE = {"morf": "-", "lerf": "--", "random": ":"}


def _check(df: pd.DataFrame, cols: tuple[str, ...]) -> None:
    require_columns(df, cols, hint="is it Experiment 4's results?")


def _ranked(df: pd.DataFrame, ranking: str) -> pd.DataFrame:
    """Rows of patch ``ranking`` ("abs" or "signed"), plus the random ranking (NA there)."""
    if "ranking" not in df.columns:  # a table from before the signed ranking: all by |a|
        return df
    r = df["ranking"]
    return df[r.isna() | (r == ranking)]


def plot_perturbation(df: pd.DataFrame, ax: Axes | None = None, *, measure: str = "mean_prob",
                      cls: str = "all", replacement: str = "zero", unit: str = "patch",
                      methods: list[str] | None = None, orders: tuple[str, ...] = ("morf", "lerf"),
                      random: bool = True, ranking: str = "abs") -> Axes:
    """Model output against the share removed, per method and order, with 95 % CI bands.

    Parameters
    ----------
    df:
        Experiment 4's table.
    ax:
        Axes to draw on (default: a new figure).
    measure:
        ``"mean_prob"`` (mean probability of the class over its beats), ``"mean_logodds"`` (its
        mean log-odds, which does not saturate near 1) or ``"auroc"``.
    cls:
        Class name, or ``"all"`` (pooled).
    replacement:
        ``"zero"``, ``"mean"``, ``"interp"`` or ``"noise"``.
    unit:
        ``"patch"`` (lead × 40 ms) or ``"lead"`` (whole leads).
    methods:
        Methods to draw (default: all but the random ranking, which ``random`` adds).
    orders:
        Which of ``morf`` (solid), ``lerf`` (dashed) to draw.
    random:
        Add the random ranking (dotted, grey).
    ranking:
        Patches ranked by ``"abs"`` (summed ``|a|``) or ``"signed"`` (positive-first).

    Returns
    -------
    matplotlib.axes.Axes
    """
    _check(df, ("method", "class", "fraction", "measure", "value", "ci_low", "ci_high",
                "order", "replacement", "unit"))
    df = _ranked(df, ranking)
    sel = select(df, measure=measure, class_=cls, replacement=replacement, unit=unit)
    sel = sel[sel["fraction"].notna()]
    if sel.empty:
        raise DataError(f"no curve rows for measure={measure!r}, class={cls!r}, "
                        f"replacement={replacement!r}, unit={unit!r}")
    names = methods or [m for m in dict.fromkeys(sel["method"]) if m != "random_ranking"]
    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 4.5))
    colors = sns.color_palette("tab20", n_colors=max(len(names), 1))

    def draw(d: pd.DataFrame, color: object, ls: str, label: str) -> None:
        d = d.sort_values("fraction")
        x = d["fraction"].to_numpy(dtype=float) * 100
        ax.plot(x, d["value"].to_numpy(dtype=float), color=color, ls=ls, lw=1.4, marker="o",
                ms=2.5, label=label)
        ax.fill_between(x, d["ci_low"].to_numpy(dtype=float), d["ci_high"].to_numpy(dtype=float),
                        color=color, alpha=0.15, lw=0)

    for color, m in zip(colors, names):
        for order in orders:
            d = sel[(sel["method"] == m) & (sel["order"] == order)]
            if not d.empty:
                draw(d, color, _ORDER_STYLE.get(order, "-"), f"{m} ({order.upper()})")
    if random:
        d = sel[(sel["method"] == "random_ranking") & (sel["order"] == "random")]
        if not d.empty:
            draw(d, "0.35", _ORDER_STYLE["random"], "random ranking")
    spec = MEASURES.get(measure) if measure in MEASURES else None
    chance = spec.chance_value() if spec is not None else None
    if chance is not None:
        ax.axhline(chance, color="0.5", lw=0.8, ls="--")
    what = "leads" if unit == "lead" else "(lead × 40 ms) patches"
    ax.set_xlabel(f"{what} removed (%), replaced by {replacement}")
    ax.set_ylabel((spec.label if spec is not None else measure) + "\n(95 % CI)")
    where = "all classes" if str(cls) == "all" else f"class {cls}"
    by = "signed a" if ranking == "signed" else "|a|"
    ax.set_title(f"Perturbation curves, {where}, ranked by {by}")
    ax.legend(fontsize=7, ncol=2, frameon=False)
    return ax


def plot_area_between(df: pd.DataFrame, ax: Axes | None = None, *, measure: str = "mean_prob",
                      cls: str = "all", unit: str = "patch", kind: str = "abc",
                      replacements: list[str] | None = None, ranking: str = "abs") -> Axes:
    """Area between the LeRF and MoRF curves per method (and replacement), with 95 % CIs.

    Parameters
    ----------
    df:
        Experiment 4's table.
    ax:
        Axes to draw on (default: a new figure).
    measure:
        Curve the area is taken of: ``"mean_prob"``, ``"mean_logodds"`` or ``"auroc"``.
    cls, unit:
        As in :func:`plot_perturbation`.
    kind:
        ``"abc"`` (LeRF − MoRF) or ``"morf_vs_random"`` (random − MoRF).
    replacements:
        Replacements to show side by side (default: all in the table).
    ranking:
        ``"abs"`` or ``"signed"``, as in :func:`plot_perturbation`.

    Returns
    -------
    matplotlib.axes.Axes
        Horizontal point-and-error-bar chart, methods sorted by their mean area.
    """
    _check(df, ("method", "class", "measure", "value", "ci_low", "ci_high", "replacement",
                "unit"))
    name = f"{kind}_{measure}"
    df = _ranked(df, ranking)
    sel = select(df, measure=name, class_=cls, unit=unit)
    if replacements is not None:
        sel = sel[sel["replacement"].isin(replacements)]
    if sel.empty:
        raise DataError(f"no rows for measure={name!r}, class={cls!r}, unit={unit!r}")
    order = (sel.groupby("method", sort=False)["value"].mean().sort_values(ascending=False)
             .index.tolist())
    reps = list(dict.fromkeys(sel["replacement"]))
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 0.32 * len(order) * max(1, len(reps) / 2) + 1.5))
    colors = sns.color_palette("colorblind", n_colors=max(len(reps), 1))
    width = 0.8 / max(len(reps), 1)
    for j, (how, color) in enumerate(zip(reps, colors)):
        d = sel[sel["replacement"] == how].set_index("method").reindex(order)
        y = np.arange(len(order)) + (j - (len(reps) - 1) / 2) * width
        v = d["value"].to_numpy(dtype=float)
        ax.errorbar(v, y, xerr=[v - d["ci_low"].to_numpy(dtype=float),
                                d["ci_high"].to_numpy(dtype=float) - v],
                    fmt="o", ms=4, color=color, capsize=2, lw=1, label=how)
    ax.axvline(0.0, color="0.3", lw=0.8, ls="--")
    ax.set_yticks(np.arange(len(order)), labels=order, fontsize=8)
    ax.invert_yaxis()
    label = "LeRF − MoRF" if kind == "abc" else "random − MoRF"
    ax.set_xlabel(f"area between curves ({label}, {measure}; mean, 95 % CI)")
    where = "all classes" if str(cls) == "all" else f"class {cls}"
    what = MEASURES.get(measure).short if measure in MEASURES else measure
    # the title names curve pair, measure, unit and ranking, so that every area figure has its own
    units = {"patch": "patches", "lead": "leads"}.get(unit, f"{unit}s")
    by = "signed a" if ranking == "signed" else "|a|"
    ax.set_title(f"Area {label} of the {what}, removing {units} ranked by {by}, {where}")
    ax.legend(title="replacement", fontsize=7, title_fontsize=7, frameon=False)
    return ax
