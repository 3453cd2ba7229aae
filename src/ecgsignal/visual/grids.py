"""Small multiples for the experiment chapters: one panel per class or per method.

* :func:`plot_similarity_grid` — Experiment 1's method × method matrix, one heatmap per class, each
  titled with its number of beats and the median half-width of its cells' 95 % CIs (the cells are
  too small to annotate, so the uncertainty is summarised in the title).
* :func:`plot_perturbation_grid` — Experiment 4's MoRF / LeRF / random-ranking curves with their
  95 % CI bands, one panel per method, on shared axes.

Both return the matplotlib ``Figure`` they draw.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ecgsignal.errors import DataError
from ecgsignal.evaluation.experiments.similarity import similarity_matrix
from ecgsignal.tables import require_columns, select
from ecgsignal.visual.perturbation import plot_perturbation

__all__ = ["plot_perturbation_grid", "plot_similarity_grid"]


def _grid(n: int, ncols: int, panel: tuple[float, float]) -> tuple[Figure, np.ndarray]:
    ncols = max(1, min(ncols, n))
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel[0] * ncols + 1.2, panel[1] * nrows + 0.6),
                             squeeze=False, layout="constrained")
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    return fig, axes.ravel()


def plot_similarity_grid(df: pd.DataFrame, measure: str = "spearman_abs",
                         classes: Sequence[str] | None = None, ncols: int = 3,
                         cmap: str = "RdBu_r", vmin: float = -1.0, vmax: float = 1.0) -> Figure:
    """Experiment 1's similarity matrix per class, as small multiples with one colour bar.

    Parameters
    ----------
    df:
        Experiment 1's table (``method``, ``other``, ``class``, ``measure``, ``value``,
        ``ci_low``, ``ci_high``, optionally ``n``).
    measure:
        Similarity measure shown.
    classes:
        Classes to draw, in order (default: every class in the table except the pooled ``"all"``).
    ncols:
        Panels per row.
    cmap, vmin, vmax:
        Diverging colour map centred on 0 and its range.

    Returns
    -------
    matplotlib.figure.Figure
        Panel titles read ``"<class>: n = <beats>, CI ±<median half-width>"``.
    """
    require_columns(df, ("method", "other", "class", "measure", "value", "ci_low", "ci_high"),
                    hint="is it Experiment 1's results?")
    sel = select(df, measure=measure)
    present = list(dict.fromkeys(sel["class"]))
    if classes is None:
        names = [c for c in present if c != "all"]
    else:
        names = [str(c) for c in classes]
    missing = [c for c in names if c not in present]
    if missing:
        raise DataError(f"classes {missing} have no rows; present: {present}")
    if not names:
        raise DataError("no per-class rows to draw")
    fig, axes = _grid(len(names), ncols, (3.3, 3.1))
    im = None
    for ax, cls in zip(axes, names):
        mat = similarity_matrix(sel, measure, cls)
        lo = similarity_matrix(sel, measure, cls, column="ci_low").to_numpy(dtype=float)
        hi = similarity_matrix(sel, measure, cls, column="ci_high").to_numpy(dtype=float)
        k = mat.shape[0]
        im = ax.imshow(np.ma.masked_invalid(mat.to_numpy(dtype=float)), cmap=cmap, vmin=vmin,
                       vmax=vmax, interpolation="nearest", aspect="auto")
        half = (hi - lo)[~np.eye(k, dtype=bool)] / 2.0
        half = half[np.isfinite(half)]
        rows = select(sel, class_=cls)
        n = int(rows["n"].max()) if "n" in rows.columns and rows["n"].notna().any() else None
        ci = f"CI ±{np.median(half):.2f}" if half.size else "CI n/a"
        ax.set_title(f"{cls}: n = {n if n is not None else '?'}, {ci}", fontsize=9)
        ax.set_xticks(range(k), labels=list(mat.columns), rotation=90, fontsize=5)
        ax.set_yticks(range(k), labels=list(mat.index), fontsize=5)
    if im is not None:
        fig.colorbar(im, ax=list(axes[: len(names)]), shrink=0.8,
                     label=f"similarity ({measure})")
    fig.suptitle(f"Inter-method similarity per class ({measure})\n"
                 "panel titles: beats, median 95 % CI half-width", fontsize=10)
    return fig


def plot_perturbation_grid(df: pd.DataFrame, methods: Sequence[str] | None = None, *,
                           replacement: str = "zero", measure: str = "mean_prob",
                           cls: str = "all", unit: str = "patch", ncols: int = 4) -> Figure:
    """Experiment 4's MoRF, LeRF and random-ranking curves with 95 % CI bands, one panel per method.

    Parameters
    ----------
    df:
        Experiment 4's table.
    methods:
        Methods to draw, one panel each (default: all in the table but the random ranking).
    replacement, measure, cls, unit:
        Which curves (see :func:`ecgsignal.visual.perturbation.plot_perturbation`).
    ncols:
        Panels per row.

    Returns
    -------
    matplotlib.figure.Figure
        Shared axes; the legend (MoRF solid, LeRF dashed, random dotted) sits in the first panel.
    """
    require_columns(df, ("method", "class", "fraction", "measure", "replacement", "unit", "order"),
                    hint="is it Experiment 4's results?")
    sel = df[df["fraction"].notna()]
    sel = select(sel, measure=measure, class_=cls, unit=unit) if not sel.empty else sel
    sel = sel[sel["replacement"] == replacement] if not sel.empty else sel
    if sel.empty:
        raise DataError(f"no curve rows for measure={measure!r}, class={cls!r}, "
                        f"replacement={replacement!r}, unit={unit!r}")
    names = list(methods) if methods is not None else [
        m for m in dict.fromkeys(sel["method"]) if m != "random_ranking"]
    absent = [m for m in names if m not in set(sel["method"])]
    if absent:
        raise DataError(f"methods {absent} have no curves for these settings")
    fig, axes = _grid(len(names), ncols, (3.0, 2.4))
    for i, (ax, m) in enumerate(zip(axes, names)):
        plot_perturbation(sel, ax, measure=measure, cls=cls, replacement=replacement, unit=unit,
                          methods=[m])
        ax.set_title(m, fontsize=9)
        ax.set_xlabel("")
        ax.set_ylabel("")
        ax.tick_params(labelsize=7)
        leg = ax.get_legend()
        if leg is not None:
            if i == 0:
                for text in leg.get_texts():
                    t = text.get_text()
                    if t.startswith(f"{m} ("):
                        text.set_text(t[len(m) + 2:-1])
                leg.set_frame_on(False)
            else:
                leg.remove()
    lo = np.nanmin(sel["ci_low"].to_numpy(dtype=float))
    hi = np.nanmax(sel["ci_high"].to_numpy(dtype=float))
    pad = 0.05 * (hi - lo if hi > lo else 1.0)
    for ax in axes[: len(names)]:
        ax.set_ylim(lo - pad, hi + pad)
    what = "leads" if unit == "lead" else "(lead × 40 ms) patches"
    ylabel = {"mean_prob": "mean probability of the class", "auroc": "class AUROC"}.get(measure,
                                                                                         measure)
    fig.supxlabel(f"{what} removed (%), replaced by {replacement}", fontsize=9)
    fig.supylabel(f"{ylabel} (95 % CI)", fontsize=9)
    where = "all classes" if str(cls) == "all" else f"class {cls}"
    fig.suptitle(f"Perturbation curves per method, {where}", fontsize=10)
    return fig
