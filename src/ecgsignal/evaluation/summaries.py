"""Chapter-level summaries of the experiment tables: the numbers the book's prose quotes.

Each function reads an experiment's tidy table (or, for :func:`similarity_to_others`, the cached
maps of the context) and returns a small tidy frame with 95 % percentile-bootstrap CIs, so a
chapter notebook only calls, plots and glues. :func:`similarity_to_others` computes new bootstrap
statistics, so, like every experiment, it saves its table beside its config when given
``out_dir`` (:func:`~ecgsignal.evaluation.experiments.base.cached_table`).

References
----------
Adebayo, J. et al. (2018). Sanity checks for saliency maps. NeurIPS. (Spearman of ``|a|``)
Arends, B. et al. (2026). Signal or noise? Eur Heart J Digit Health. (Experiments 1–4)
Binder, A. et al. (2023). Shortcomings of top-down randomization-based sanity checks for
evaluations of deep neural network explanations. CVPR. (null-explainer controls)
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ecgsignal.attribution import CONTROLS, graded_on_own_perturbation
from ecgsignal.errors import DataError
from ecgsignal.evaluation.crossed import crossed_ci
from ecgsignal.evaluation.experiments._groups import check_names, class_groups
from ecgsignal.evaluation.experiments.base import cached_table
from ecgsignal.evaluation.experiments.consistency import comparison_methods
from ecgsignal.evaluation.experiments.similarity import pairwise_similarity, similarity_matrix
from ecgsignal.evaluation.similarity import SIMILARITY
from ecgsignal.tables import require_columns, select

__all__ = [
    "areas",
    "ci_table",
    "closer_to_controls",
    "format_ci",
    "measure_agreement",
    "methods_above_chance",
    "randomization_endpoints",
    "ranked_pairs",
    "replacement_agreement",
    "similarity_to_others",
]

OTHERS_DIR = "similarity_to_others"
"""Folder (under a results folder) of the saved :func:`similarity_to_others` table."""


def _need(df: pd.DataFrame, cols: Sequence[str], what: str) -> None:
    require_columns(df, cols, hint=f"is it {what}?")


def format_ci(value: float, low: float, high: float, digits: int = 2) -> str:
    """``"0.41 [0.35, 0.47]"``; ``"n/a"`` when the value is not finite."""
    if value is None or not np.isfinite(float(value)):
        return "n/a"
    lo = "?" if low is None or not np.isfinite(float(low)) else f"{float(low):.{digits}f}"
    hi = "?" if high is None or not np.isfinite(float(high)) else f"{float(high):.{digits}f}"
    return f"{float(value):.{digits}f} [{lo}, {hi}]"


def ci_table(df: pd.DataFrame, index: str = "method", columns: str = "class",
             digits: int = 2) -> pd.DataFrame:
    """A wide table of ``"value [ci_low, ci_high]"`` strings, e.g. methods × classes.

    Parameters
    ----------
    df:
        Tidy rows, already filtered to one value per (``index``, ``columns``) pair.
    index, columns:
        Columns of ``df`` giving the rows and columns of the result (order of first appearance).
    digits:
        Decimals shown.

    Returns
    -------
    pandas.DataFrame
        Strings; cells without a row in ``df`` are empty.
    """
    _need(df, (index, columns, "value", "ci_low", "ci_high"), "a tidy results table")
    if df.duplicated([index, columns]).any():
        raise DataError(f"several rows per ({index}, {columns}); filter the table first")
    rows = list(dict.fromkeys(df[index]))
    cols = list(dict.fromkeys(df[columns]))
    text = df.assign(_t=[format_ci(v, lo, hi, digits) for v, lo, hi
                         in zip(df["value"], df["ci_low"], df["ci_high"])])
    out = text.pivot(index=index, columns=columns, values="_t").reindex(index=rows, columns=cols)
    out.columns.name = None
    return out.fillna("")


def similarity_to_others(ctx: Any, measures: Sequence[str] = ("spearman_abs",), *,
                         methods: Sequence[str] | None = None,
                         out_dir: str | Path | None = None, force: bool = False) -> pd.DataFrame:
    """Each method's mean similarity to every other method, per beat, with bootstrap CIs.

    For method *m* and beat *i*, the score is the mean over the comparison methods (every other
    method that is not a control; for a control, every non-control method) of the similarity of
    their maps of beat *i* on each model of the context. Its mean over models and beats gets a
    95 % CI that resamples the models and one beat set shared by them
    (:func:`~ecgsignal.evaluation.crossed.crossed_ci`, ``ctx.n_boot`` resamples, paired across
    methods), per class and pooled (``"all"``). Maps come from ``ctx.attributions`` (shared with
    Experiment 1).

    Parameters
    ----------
    ctx:
        An :class:`~ecgsignal.evaluation.context.ExperimentContext` (or anything with its
        ``methods``, ``seeds``, ``beats``, ``attributions``, ``n_boot`` and ``seed``).
    measures:
        Names in :data:`ecgsignal.evaluation.similarity.SIMILARITY`.
    methods:
        Subset of ``ctx.methods`` (default: all of them, controls included).
    out_dir:
        A results folder (a chapter's ``ch.out_dir``): the table is saved in
        ``out_dir/similarity_to_others/`` beside its config (the context's config, the measures
        and methods), and read back by a rerun with the same config. ``None``: computed, not
        saved (the context then needs no ``config()``).
    force:
        Recompute even when a saved table matches.

    Returns
    -------
    pandas.DataFrame
        Columns ``method``, ``class``, ``measure``, ``value``, ``ci_low``, ``ci_high``, ``n``
        ((model, beat) scores that are finite), ``control`` (bool), ``n_compared`` (methods
        averaged) and ``n_models``. As in Experiment 1, the value is the mean over every model of
        the context and the beats, and the CI resamples models and one shared beat set.
    """
    meas = check_names(list(measures), SIMILARITY, "measures")
    all_methods = list(dict.fromkeys(ctx.methods))
    names = all_methods if methods is None else list(dict.fromkeys(methods))
    unknown = [m for m in names if m not in all_methods]
    if unknown or len(names) < 2:
        raise DataError(f"methods must be at least two of the context's methods {all_methods}; "
                        f"got {names}")
    if out_dir is None:
        return _similarity_to_others(ctx, meas, names)
    config = {"summary": OTHERS_DIR, "context": ctx.config(),
              "params": {"measures": list(meas), "methods": names}}
    return cached_table(Path(out_dir) / OTHERS_DIR, config,
                        lambda: _similarity_to_others(ctx, meas, names), force=force)


def _similarity_to_others(ctx: Any, meas: list[str], names: list[str]) -> pd.DataFrame:
    seeds = list(dict.fromkeys(int(s) for s in ctx.seeds))
    per_model = [{m: ctx.attributions(m, seed=s) for m in names} for s in seeds]
    beats = ctx.beats
    groups = class_groups(beats)
    non_controls = [m for m in names if m not in CONTROLS]
    records: list[dict[str, Any]] = []
    for ms in meas:
        cube = []  # per model: (n beats, n methods)
        for maps in per_model:
            pw = pairwise_similarity(maps, ms)
            cols, n_cmp = [], []
            for m in names:
                others = (comparison_methods(m, names) if m not in CONTROLS
                          else [o for o in non_controls if o != m] or [o for o in names if o != m])
                stack = np.stack([pw[(m, o)] if (m, o) in pw else pw[(o, m)] for o in others])
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN beats stay NaN
                    cols.append(np.nanmean(stack, axis=0))
                n_cmp.append(len(others))
            cube.append(np.stack(cols, axis=1))
        values = np.stack(cube)  # (models, n beats, n methods): crossed, as in Experiment 1
        for cls, idx in groups:
            r = crossed_ci(values[:, idx], n_boot=ctx.n_boot, seed=ctx.seed, bounds=(-1.0, 1.0))
            n_fin = np.isfinite(values[:, idx]).sum(axis=(0, 1))
            for j, m in enumerate(names):
                records.append({"method": m, "class": cls, "measure": ms,
                                "value": float(r.estimate[j]), "ci_low": float(r.low[j]),
                                "ci_high": float(r.high[j]), "n": int(n_fin[j]),
                                "control": m in CONTROLS, "n_compared": n_cmp[j],
                                "n_models": len(seeds)})
    return pd.DataFrame.from_records(records)


def closer_to_controls(similarity: pd.DataFrame, others: pd.DataFrame,
                       measure: str = "spearman_abs", cls: str = "all",
                       controls: Sequence[str] | None = None) -> pd.DataFrame:
    """Methods whose maps resemble a null explainer more than they resemble the other methods.

    Parameters
    ----------
    similarity:
        Experiment 1's table (``method``, ``other``, ``class``, ``measure``, value and CI).
    others:
        :func:`similarity_to_others` of the same context.
    measure, cls:
        Which rows to compare.
    controls:
        Control names (default: :data:`ecgsignal.attribution.CONTROLS` present in the table).

    Returns
    -------
    pandas.DataFrame
        One row per (non-control method, control): ``method``, ``control``, ``to_control``,
        ``to_control_low``, ``to_control_high`` (Experiment 1's pair), ``to_others``,
        ``to_others_low``, ``to_others_high``, ``closer`` (point estimate to the control above
        the mean to the others) and ``clearly_closer`` (the control's CI lies entirely above the
        others' CI).
    """
    _need(similarity, ("method", "other", "class", "measure", "value", "ci_low", "ci_high"),
          "Experiment 1's table")
    _need(others, ("method", "class", "measure", "value", "ci_low", "ci_high"),
          "the table of similarity_to_others")
    sel = select(similarity, measure=measure, class_=cls)
    oth = select(others, measure=measure, class_=cls)
    if sel.empty or oth.empty:
        raise DataError(f"no rows for measure={measure!r}, class={cls!r}")
    ctrl = [c for c in (controls if controls is not None else CONTROLS) if c in set(sel["other"])]
    oth = oth.set_index("method")
    records = []
    for m in dict.fromkeys(sel["method"]):
        if m in CONTROLS or m not in oth.index:
            continue
        o = oth.loc[m]
        for c in ctrl:
            row = sel[(sel["method"] == m) & (sel["other"] == c)]
            if row.empty:
                continue
            r = row.iloc[0]
            records.append({
                "method": m, "control": c, "to_control": float(r["value"]),
                "to_control_low": float(r["ci_low"]), "to_control_high": float(r["ci_high"]),
                "to_others": float(o["value"]), "to_others_low": float(o["ci_low"]),
                "to_others_high": float(o["ci_high"]),
                "closer": bool(r["value"] > o["value"]),
                "clearly_closer": bool(r["ci_low"] > o["ci_high"]),
            })
    return pd.DataFrame.from_records(records, columns=[
        "method", "control", "to_control", "to_control_low", "to_control_high", "to_others",
        "to_others_low", "to_others_high", "closer", "clearly_closer"])


def measure_agreement(similarity: pd.DataFrame, cls: str = "all",
                      methods: Sequence[str] | None = None) -> pd.DataFrame:
    """How far the similarity measures agree on which pairs of methods are alike.

    For every two measures, the Spearman correlation of their mean similarities over the
    distinct pairs of methods (the upper triangle of each measure's matrix, diagonal excluded).

    Parameters
    ----------
    similarity:
        Experiment 1's table with several measures.
    cls:
        Class (``"all"`` = pooled beats).
    methods:
        Methods whose pairs count (default: every method in the table).

    Returns
    -------
    pandas.DataFrame
        Square measure × measure frame of Spearman ρ (1 on the diagonal); NaN when fewer than
        three pairs are finite.
    """
    _need(similarity, ("method", "other", "class", "measure", "value"), "Experiment 1's table")
    measures = list(dict.fromkeys(similarity["measure"].dropna()))
    if not measures:
        raise DataError("the table holds no measure")
    vecs = {}
    for ms in measures:
        mat = similarity_matrix(similarity, ms, cls)
        if methods is not None:
            keep = [m for m in methods if m in mat.index]
            mat = mat.loc[keep, keep]
        iu = np.triu_indices(mat.shape[0], k=1)
        vecs[ms] = pd.Series(mat.to_numpy(dtype=float)[iu])
    frame = pd.DataFrame(vecs)
    out = frame.corr(method="spearman", min_periods=3)
    return out.reindex(index=measures, columns=measures)


def methods_above_chance(localization: pd.DataFrame, measure: str = "mass_accuracy",
                         mask: str = "diff", cls: str = "all") -> pd.DataFrame:
    """Methods whose localisation CI lies entirely above the chance level of the same beats.

    Parameters
    ----------
    localization:
        Experiment 5's table (with its ``chance`` column).
    measure, mask, cls:
        Which rows to read.

    Returns
    -------
    pandas.DataFrame
        ``method``, ``value``, ``ci_low``, ``ci_high``, ``chance``, ``above`` (``ci_low > chance``),
        highest value first.
    """
    _need(localization, ("method", "class", "measure", "mask", "value", "ci_low", "ci_high",
                         "chance"), "Experiment 5's table")
    sel = select(localization, measure=measure, mask=mask, class_=cls)
    if sel.empty:
        raise DataError(f"no rows for measure={measure!r}, mask={mask!r}, class={cls!r}")
    out = sel[["method", "value", "ci_low", "ci_high", "chance"]].copy()
    out["above"] = out["ci_low"].astype(float) > out["chance"].astype(float)
    return out.sort_values("value", ascending=False).reset_index(drop=True)


def ranked_pairs(similarity: pd.DataFrame, measure: str = "spearman_abs", cls: str = "all",
                 methods: Sequence[str] | None = None) -> pd.DataFrame:
    """Distinct pairs of methods from Experiment 1's table, most similar first.

    Parameters
    ----------
    similarity:
        Experiment 1's table.
    measure, cls:
        Which rows.
    methods:
        Only pairs of these methods (default: every method in the table).

    Returns
    -------
    pandas.DataFrame
        ``method``, ``other`` (each unordered pair once, diagonal excluded), ``value``,
        ``ci_low``, ``ci_high``, sorted by ``value`` descending (NaN last).
    """
    _need(similarity, ("method", "other", "class", "measure", "value", "ci_low", "ci_high"),
          "Experiment 1's table")
    sel = select(similarity, measure=measure, class_=cls)
    if sel.empty:
        raise DataError(f"no rows for measure={measure!r}, class={cls!r}")
    order = list(dict.fromkeys(sel["method"]))
    keep = order if methods is None else [m for m in order if m in set(methods)]
    rank = {m: i for i, m in enumerate(keep)}
    sel = sel[sel["method"].isin(keep) & sel["other"].isin(keep)]
    sel = sel[[rank[a] < rank[b] for a, b in zip(sel["method"], sel["other"])]]
    out = sel[["method", "other", "value", "ci_low", "ci_high"]]
    return out.sort_values("value", ascending=False, na_position="last").reset_index(drop=True)


def randomization_endpoints(randomization: pd.DataFrame, measure: str = "spearman_abs",
                            cls: str = "all", normalization: str = "raw") -> pd.DataFrame:
    """What is left of each map when the whole model is randomised, beside its noise ceiling.

    Parameters
    ----------
    randomization:
        Experiment 3's table.
    measure, cls, normalization:
        Which rows.

    Returns
    -------
    pandas.DataFrame
        ``method``, ``endpoint``, ``value``, ``ci_low``, ``ci_high``. ``endpoint`` is
        ``"fully randomised (<order>)"`` for each cascade order in the table (the last stage,
        similarity to the trained map), and ``"trained, fresh noise"`` (stage 0 recomputed with
        the randomised models' noise seed: the most a stochastic method can keep) when present.
    """
    _need(randomization, ("method", "class", "measure", "order", "stage", "reference",
                          "normalization", "fully_randomized", "value", "ci_low", "ci_high"),
          "Experiment 3's table")
    sel = select(randomization, measure=measure, class_=cls, normalization=normalization)
    if sel.empty:
        raise DataError(f"no rows for measure={measure!r}, class={cls!r}, "
                        f"normalization={normalization!r}")
    full = sel["fully_randomized"].fillna(False).astype(bool)
    parts = []
    for order in dict.fromkeys(sel.loc[full, "order"]):
        d = sel[full & (sel["order"] == order) & (sel["reference"] == "trained")]
        parts.append(d.assign(endpoint=f"fully randomised ({order.replace('_', '-')})"))
    ceiling = sel[(sel["reference"] == "trained_fresh_noise") & (sel["stage"] == 0)]
    if not ceiling.empty:
        first = next(iter(dict.fromkeys(ceiling["order"])))
        parts.append(ceiling[ceiling["order"] == first].assign(endpoint="trained, fresh noise"))
    if not parts:
        raise DataError("the table has no fully randomised rows (only the independent order?)")
    out = pd.concat(parts)[["method", "endpoint", "value", "ci_low", "ci_high"]]
    return out.reset_index(drop=True)


def areas(perturbation: pd.DataFrame, measure: str = "mean_prob", kind: str = "abc",
          unit: str = "patch", cls: str = "all", ranking: str = "abs",
          exclude_own: bool = False) -> pd.DataFrame:
    """Experiment 4's area rows of one kind, measure, unit and class, largest mean area first.

    Parameters
    ----------
    perturbation:
        Experiment 4's table.
    measure:
        ``"mean_prob"``, ``"mean_logodds"`` or ``"auroc"``.
    kind:
        ``"abc"`` (LeRF − MoRF) or ``"morf_vs_random"`` (random − MoRF).
    unit, cls:
        ``"patch"`` or ``"lead"``; class (``"all"`` = pooled).
    ranking:
        ``"abs"`` (patches by summed ``|a|``) or ``"signed"`` (positive-first); ignored for a
        table without a ``ranking`` column.
    exclude_own:
        Drop the rows where a method is graded on its own perturbation (Occlusion under zero
        replacement on its own 40 ms grid), as every ranking of methods must.

    Returns
    -------
    pandas.DataFrame
        ``method``, ``replacement``, ``value``, ``ci_low``, ``ci_high``, ``positive``
        (``ci_low > 0``: the ranking beats its reverse, or beats a random ranking) and
        ``own_perturbation`` (the table's column; for a table saved without it, recomputed with
        :func:`~ecgsignal.attribution.graded_on_own_perturbation` at 40 ms).
    """
    _need(perturbation, ("method", "class", "measure", "unit", "replacement", "value", "ci_low",
                         "ci_high"), "Experiment 4's table")
    name = f"{kind}_{measure}"
    sel = select(perturbation, measure=name, unit=unit, class_=cls)
    if "ranking" in sel.columns:
        sel = sel[sel["ranking"] == ranking]
    if sel.empty:
        raise DataError(f"no rows for measure={name!r}, unit={unit!r}, class={cls!r}, "
                        f"ranking={ranking!r}")
    out = sel[["method", "replacement", "value", "ci_low", "ci_high"]].copy()
    out["positive"] = out["ci_low"].astype(float) > 0
    if "own_perturbation" in sel.columns:
        out["own_perturbation"] = sel["own_perturbation"].fillna(False).astype(bool).to_numpy()
    else:
        out["own_perturbation"] = [graded_on_own_perturbation(m, r, unit)
                                   for m, r in zip(out["method"], out["replacement"])]
    if exclude_own:
        out = out[~out["own_perturbation"]]
    mean = out.groupby("method", sort=False)["value"].transform("mean")
    out = out.assign(_m=mean).sort_values("_m", ascending=False, kind="stable")
    return out.drop(columns="_m").reset_index(drop=True)


def replacement_agreement(perturbation: pd.DataFrame, measure: str = "mean_prob",
                          kind: str = "abc", unit: str = "patch", cls: str = "all",
                          methods: Sequence[str] | None = None, ranking: str = "abs",
                          ) -> pd.DataFrame:
    """Spearman correlation, between replacements, of the methods' areas (do they rank alike?).

    Rows where a method is graded on its own perturbation are left out
    (``areas(exclude_own=True)``).

    Returns
    -------
    pandas.DataFrame
        Square replacement × replacement frame of Spearman ρ over methods (NaN with fewer than
        three methods).
    """
    a = areas(perturbation, measure, kind, unit, cls, ranking, exclude_own=True)
    if methods is not None:
        a = a[a["method"].isin(list(methods))]
    wide = a.pivot(index="method", columns="replacement", values="value")
    reps = list(dict.fromkeys(a["replacement"]))
    return wide.corr(method="spearman", min_periods=3).reindex(index=reps, columns=reps)
