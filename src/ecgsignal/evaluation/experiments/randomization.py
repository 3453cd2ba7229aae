"""Experiment 3 — model-parameter randomisation (PROTOCOLS.md; Adebayo et al. 2018).

The reference model (``ctx.seeds[0]``) is randomised stage by stage with
:func:`~ecgsignal.evaluation.randomization.iter_randomized` — cascading from the logits down
(``top_down``, the default, Adebayo et al. 2018), cascading from the input up (``bottom_up``,
recommended by Hedström et al. 2023), or one stage at a time (``independent``). At every stage,
every method's map of the explained beats is compared with the trained model's map, beat by beat,
with each similarity measure of ``measures`` (default ``spearman_abs``), and summarised as the
mean over draws and beats with a 95 % CI that resamples draws and one beat-index set shared by
the draws (:func:`~ecgsignal.evaluation.crossed.crossed_ci`), per class and pooled (``"all"``).
Stage 0 is the trained model itself (similarity 1 by definition).

Design choices (all parameters; see :data:`DEFAULTS`):

* Re-initialisation: the layer's own default init from a seeded generator, BatchNorm ``"reset"``
  (γ=1, β=0, running mean 0, var 1, as Quantus) or ``"keep"``; see
  :mod:`ecgsignal.evaluation.randomization`.
* Noise: the maps of randomised models are computed with the attribution seed ``ctx.seed + 1``
  (``fresh_noise=True``), i.e. with noise (SmoothGrad, GradientSHAP, the random control…)
  independent of the trained map's, as in Adebayo et al. and Quantus. A stochastic method then
  cannot look stable merely because it reuses its noise — and, as Binder et al. (2023) point
  out, the random control "passes" the test (similarity ≈ 0) although it ignores the model. The
  rows with ``reference="trained_fresh_noise"`` (stage 0) give each method's noise ceiling: the
  trained model's map recomputed with the fresh noise.
* ``normalizations``: ``"raw"`` feeds the maps to the measure as they are; ``"abs_max"`` first
  takes ``|a| / max |a|`` per beat (Quantus' default pre-processing). The rank measures of ``|a|``
  are unchanged by it; signed measures (``spearman_signed``, ``pearson``) are not — taking the
  absolute value discards sign flips and keeps the similarity of random-model maps high, one of
  the pitfalls of the test the book shows.
* ``draws``: one random draw of the weights is one sample. The Quantus cross-check shows how
  much a single draw matters: with the same distributions but other random numbers, the
  per-layer mean similarity of Saliency on the tiny model moved by up to 0.14. ``draws > 1``
  repeats the walk with the seeds ``seed + d`` (and fresh attribution noise per draw) and
  carries that variability into the CI (draws and a shared beat set resampled; with one draw
  the CI is a BCa interval over beats and ignores the draw's variability). Stage 0 is shared by
  every draw. The book profile uses 5 draws.
* Matched nulls (issue 12): two maps that multiply independent noise by the same input already
  correlate at ~0.64, so "above 0" is the wrong bar. Every method is compared, per draw and beat,
  with its matched null — ``input_noise`` (x ⊙ fresh noise) for methods that multiply by the
  input, ``random`` for the rest (both are always computed) — and the paired difference
  ``excess`` gets a crossed CI; a method is flagged (``flag_excess``) only when the one-sided
  Holm-adjusted p-value across methods is below 0.025, i.e. its excess CI lies above 0 after
  the correction. Rows with ``reference="trained_partial_input"`` hold the partial Spearman of
  the two maps controlling for ``|x|`` (:func:`~ecgsignal.evaluation.crossed.partial_spearman`).
* Orders are compared along the path, not at the endpoint (top-down and bottom-up end in the same
  network): ``auc`` is the mean similarity over stages 1 … L with its CI, and
  ``null_reached_stage`` the first stage whose excess CI reaches 0 (:func:`path_summary`).
* ``input_reference``: also compare each map with the input ``|x|`` (rows with
  ``reference="input"``): input-multiplying methods (Input×Gradient, IG, DeepLIFT, LRP…) keep the
  structure of the beat whatever the weights (Kindermans et al. 2019; Binder et al. 2023).

Table columns: the common ones (``stage`` = number of randomised stages ``k``) plus ``order``,
``stage_name`` (stage randomised last, or the only one for ``independent``), ``reference``,
``normalization``, ``fully_randomized`` (every stage randomised: ``k = L`` in a cascade),
``flag_above_zero`` (``ci_low > 0``), ``n`` (finite scores: beats × draws), ``draws``;
on ``reference="trained"`` rows ``null_method``, ``excess``, ``excess_ci_low``,
``excess_ci_high``, ``excess_p_holm``, ``flag_excess``; on the last stage's ``trained`` rows
``auc``, ``auc_ci_low``, ``auc_ci_high``, ``null_reached_stage``. :func:`methods_not_converging`
lists the flagged methods (against the matched null by default).

References
----------
Adebayo, J. et al. (2018). Sanity checks for saliency maps. NeurIPS.
Binder, A. et al. (2023). Shortcomings of top-down randomization-based sanity checks for
evaluations of deep neural network explanations. CVPR.
Hedström, A. et al. (2023). Sanity checks revisited: an exploration to repair the model parameter
randomisation test. XAI in Action workshop, NeurIPS.
Kindermans, P.-J. et al. (2019). The (un)reliability of saliency methods. In: Explainable AI,
LNCS 11700.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd

from ecgsignal.errors import ConfigError, DataError
from ecgsignal.evaluation.context import BeatSelection, ExperimentContext
from ecgsignal.evaluation.crossed import crossed_ci, holm
from ecgsignal.evaluation.experiments._groups import (
    POOLED,
    check_names,
    class_groups,
    context_methods,
)
from ecgsignal.evaluation.experiments._randomization_walk import Scorer, WalkJob, walk_units
from ecgsignal.evaluation.experiments.base import EXPERIMENTS, Experiment
from ecgsignal.evaluation.randomization import (
    BN_POLICIES,
    GRANULARITIES,
    ORDERS,
)
from ecgsignal.evaluation.randomization import stages as stage_names
from ecgsignal.evaluation.results import make_table
from ecgsignal.evaluation.similarity import SIMILARITY
from ecgsignal.tables import require_columns, select

__all__ = ["DEFAULTS", "NORMALIZATIONS", "NULLS", "methods_not_converging", "normalize_maps",
           "null_method", "path_summary", "run_randomization"]

NULLS: tuple[str, ...] = ("random", "input_noise")
"""The matched nulls: ``input_noise`` for methods that multiply by the input, ``random`` else."""

ALPHA_ONE_SIDED = 0.025
"""Holm-adjusted one-sided level of the excess test (a 95 % two-sided CI's lower bound > 0)."""

NORMALIZATIONS: tuple[str, ...] = ("raw", "abs_max")

DEFAULTS: dict[str, Any] = {
    "orders": ["top_down"],
    "measures": ["spearman_abs"],
    "bn": "reset",
    "granularity": "stage",
    "normalizations": ["raw"],
    "fresh_noise": True,
    "input_reference": True,
    "seed": None,
    "draws": 1,
    "methods": None,
    "beats_per_class": None,
    "path_beats_per_class": None,
}
"""Parameters of Experiment 3.

``orders`` ⊂ {top_down, bottom_up, independent}; ``measures``: names in ``SIMILARITY``; ``bn``:
BatchNorm policy (reset/keep); ``granularity``: stage/module; ``normalizations`` ⊂ {raw,
abs_max}; ``fresh_noise``: fresh attribution noise for randomised models; ``input_reference``:
add similarity to ``|x|``; ``seed``: randomisation seed (``None`` → ``ctx.seed``); ``draws``:
independent weight draws (seeds ``seed``, ``seed + 1``, …) per stage, resampled with the beats
by the crossed CI when ``draws > 1``; ``methods``: subset of ``ctx.methods`` (``None`` → all;
the matched nulls ``random`` and ``input_noise`` are always added); ``beats_per_class``: explain
only the first that many of each class's beats (``None`` → all ``ctx.n_per_class``; the trained
maps are those of the whole selection, so the numbers of the kept beats do not change);
``path_beats_per_class``: the networks *between* the trained and the fully randomised one
(every independent step, and every cascade step before the last) explain only the first that
many of each class's beats, while the fully randomised network explains them all (``None`` →
all): the flags and the excess over the matched null, read at the fully randomised network, are
then exactly those of the whole design, and the path (its similarities, ``auc`` and
``null_reached_stage``) is estimated on the path beats, with wider CIs (``n`` says how many).
"""


def normalize_maps(a: np.ndarray, how: str = "raw") -> np.ndarray:
    """``a`` as is (``"raw"``) or ``|a| / max |a|`` per beat (``"abs_max"``; all-zero beats stay 0).

    Parameters
    ----------
    a:
        ``(n, 12, T)`` maps.
    how:
        ``"raw"`` or ``"abs_max"``.
    """
    if how not in NORMALIZATIONS:
        raise ConfigError(f"unknown normalization {how!r}; valid: {', '.join(NORMALIZATIONS)}")
    a = np.asarray(a, dtype=np.float64)
    if how == "raw":
        return a
    b = np.abs(a)
    peak = b.reshape(b.shape[0], -1).max(axis=1)
    return b / np.where(peak > 0, peak, 1.0)[:, None, None]


def _choice(value: object, valid: tuple[str, ...], param: str) -> str:
    if value not in valid:
        raise ConfigError(f"parameter {param!r} must be one of {list(valid)}; got {value!r}")
    return str(value)


def _subset(value: object, valid: tuple[str, ...], param: str) -> list[str]:
    vals = [value] if isinstance(value, str) else list(value or [])
    if not vals:
        raise ConfigError(f"parameter {param!r} must be a non-empty list of {list(valid)}")
    for v in vals:
        _choice(v, valid, param)
    return list(dict.fromkeys(vals))


def run_randomization(ctx: ExperimentContext, params: dict[str, Any]) -> pd.DataFrame:
    """Run Experiment 3 on ``ctx``; see the module docstring for the table it returns.

    Parameters
    ----------
    ctx:
        Models, beats and methods; the reference model ``ctx.seeds[0]`` is randomised.
    params:
        See :data:`DEFAULTS`; missing keys take the defaults.

    Returns
    -------
    pandas.DataFrame
        Tidy rows (``experiment="randomization"``), one per order, stage, method, class (each
        class, then ``"all"``), measure, normalization and reference.
    """
    p = {**DEFAULTS, **params}
    orders = _subset(p["orders"], ORDERS, "orders")
    measures = check_names(p["measures"], SIMILARITY, "measures")
    bn = _choice(p["bn"], BN_POLICIES, "bn")
    granularity = _choice(p["granularity"], GRANULARITIES, "granularity")
    norms = _subset(p["normalizations"], NORMALIZATIONS, "normalizations")
    rseed = ctx.seed if p["seed"] is None else int(p["seed"])
    draws = p["draws"]
    if isinstance(draws, bool) or not isinstance(draws, (int, np.integer)) or draws < 1:
        raise ConfigError(f"parameter 'draws' must be a positive integer; got {draws!r}")
    methods = context_methods(ctx)
    if p["methods"] is not None:
        wanted = [p["methods"]] if isinstance(p["methods"], str) else list(p["methods"])
        unknown = [m for m in wanted if m not in methods]
        if unknown or not wanted:
            raise ConfigError(f"parameter 'methods' must list methods of the context {methods}; "
                              f"got {wanted}")
        methods = list(dict.fromkeys(wanted))

    from ecgsignal.attribution import METHODS, attribute

    nulls = {m: null_method(m) for m in methods}
    methods += [n for n in dict.fromkeys(nulls.values()) if n not in methods]
    nulls.update({n: n for n in NULLS})
    model_seed = ctx.seeds[0]
    model = ctx.model(model_seed)
    beats, keep = first_per_class(ctx.beats, p["beats_per_class"])
    groups = class_groups(beats)
    path_sel, path_rows = first_per_class(beats, p["path_beats_per_class"],
                                          param="path_beats_per_class")
    if len(path_rows) == beats.n:
        path_sel, path_rows = beats, None
    path_groups = class_groups(path_sel)
    noise_seed = ctx.seed + 1 if p["fresh_noise"] else ctx.seed

    def draw_noise_seed(d: int) -> int:
        """Attribution seed of draw ``d``: fresh noise per randomised model (draw 0 as before)."""
        if d == 0 or not p["fresh_noise"]:
            return noise_seed
        return int(np.random.SeedSequence([noise_seed, d, 0x3D]).generate_state(1)[0])

    trained = {m: ctx.attributions(m, seed=model_seed)[keep] for m in methods}
    x_abs = np.abs(beats.x)

    def maps_of(net: Any, method: str, seed: int) -> np.ndarray:
        return attribute(net, beats.x, beats.target, method, seed=seed,
                         baselines=ctx.baselines, device=ctx.device, fs=ctx.dataset.fs)

    # Stage 0 (the trained model) is shared by every draw and scored here; the randomised
    # networks (one per draw and set of re-drawn stages: orders share networks, each map is
    # ranked once) are walked by _randomization_walk, in worker processes when ctx.workers > 1.
    # Same numbers either way.
    n_stages = len(stage_names(model, granularity))
    spec_stochastic = {m: METHODS.get(m).stochastic for m in methods}

    fresh_trained: dict[str, np.ndarray] = {}

    def fresh_noise_map(method: str) -> np.ndarray:
        if not spec_stochastic[method] or noise_seed == ctx.attribution_seed(model_seed):
            return trained[method]
        if method not in fresh_trained:
            fresh_trained[method] = maps_of(model, method, noise_seed)
        return fresh_trained[method]

    keys = [(norm, meas) for norm in norms for meas in measures]
    partial = bool(p["input_reference"]) and "spearman_abs" in measures
    scorer = Scorer(keys, normalize_maps)
    job = WalkJob(model=model, x=beats.x, target=beats.target, baselines=ctx.baselines,
                  device=ctx.device, fs=ctx.dataset.fs, trained=trained, methods=methods,
                  orders=orders, n_stages=n_stages, seed=rseed, bn=bn, granularity=granularity,
                  keys=keys, input_reference=bool(p["input_reference"]), partial=partial,
                  noise_seeds=[draw_noise_seed(d) for d in range(draws)],
                  normalize=normalize_maps, path_rows=path_rows)
    bar = None
    if ctx.progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(job.units()), desc="randomised networks", unit="net")
    workers = max(1, int(ctx.workers))
    per_draw = walk_units(job, workers=workers,
                          threads=max(1, (os.cpu_count() or 1) // workers),
                          on_unit=None if bar is None else (lambda: bar.update(1)))
    if bar is not None:
        bar.close()

    # scores[(order, k, reference)][method]: (draws, n beats, len(keys)) per-beat similarities
    scores: dict[tuple[str, int, str], dict[str, np.ndarray]] = {}
    names: dict[tuple[str, int], str] = {}
    for order in orders:
        stage_list = stage_names(model, granularity)
        for k in range(n_stages + 1):
            # the stage iter_randomized re-draws last (or alone, for independent) at step k
            names[(order, k)] = ("trained" if k == 0 else
                                 stage_list[n_stages - k if order == "bottom_up" else k - 1])
            for m in methods:
                if k == 0:
                    maps = [trained[m]]
                    scores.setdefault((order, 0, "trained"), {})[m] = scorer.score(trained[m],
                                                                                   maps)
                    if p["fresh_noise"]:
                        scores.setdefault((order, 0, "trained_fresh_noise"), {})[m] = (
                            scorer.score(trained[m], [fresh_noise_map(m)]))
                    if p["input_reference"]:
                        scores.setdefault((order, 0, "input"), {})[m] = scorer.score(x_abs, maps)
                    continue
                refs = ["trained"] + (["input"] if p["input_reference"] else []) + (
                    ["trained_partial_input"] if partial else [])
                for ref in refs:
                    scores.setdefault((order, k, ref), {})[m] = np.stack(
                        [got[(order, k, ref, m)] for got in per_draw])
    records = _records(scores, names, methods, nulls, keys,
                       (groups, path_groups, path_rows, beats.n), n_stages, ctx)
    return make_table(records)


def null_method(method: str) -> str:
    """The matched null of ``method``: ``input_noise`` if it multiplies by the input, else
    ``random`` (PROTOCOLS.md, Statistics; the nulls are their own nulls)."""
    from ecgsignal.attribution import METHODS

    if method in NULLS:
        return method
    return "input_noise" if METHODS.get(method).multiplies_input else "random"


def _records(scores: dict[tuple[str, int, str], dict[str, np.ndarray]],
             names: dict[tuple[str, int], str], methods: list[str], nulls: dict[str, str],
             keys: list[tuple[str, str]],
             beat_groups: tuple[list[tuple[str, np.ndarray]], list[tuple[str, np.ndarray]],
                                np.ndarray | None, int],
             n_stages: int, ctx: ExperimentContext) -> list[dict[str, Any]]:
    """Table rows from the per-beat scores: CIs over draws × beats, excess over the matched null
    (Holm across methods), area under the path and the stage where the null is reached.

    ``beat_groups``: the class groups of every beat, those of the path beats, the path beats'
    rows (``None``: the path explains every beat) and the number of beats. A score array over every beat takes the
    first; one over the path beats the second; the area under the path is taken over the path
    beats (the fully randomised network's scores restricted to them)."""
    groups, path_groups, path_rows, n_all = beat_groups

    def groups_of(per: dict[str, np.ndarray]) -> list[tuple[str, np.ndarray]]:
        return groups if next(iter(per.values())).shape[1] == n_all else path_groups

    def on_path(a: np.ndarray) -> np.ndarray:
        return a[:, path_rows] if path_rows is not None and a.shape[1] == n_all else a

    boot = {"n_boot": ctx.n_boot, "seed": ctx.seed}
    nk = len(keys)
    family = [m for m in methods if nulls[m] != m]
    excess: dict[tuple[str, int, str, str], tuple[np.ndarray, ...]] = {}
    for (order, k, ref), per in scores.items():
        if ref != "trained" or k == 0:
            continue
        diff = np.concatenate([per[m] - per[nulls[m]] for m in methods], axis=-1)
        for cls, idx in groups_of(per):
            r = crossed_ci(diff[:, idx], bounds=(-2.0, 2.0), **boot)
            p_holm = np.full(len(methods) * nk, np.nan)
            fam = np.array([m in family for m in methods for _ in range(nk)])
            for j in range(nk):
                cols = np.flatnonzero(fam & (np.arange(fam.size) % nk == j))
                p_holm[cols] = holm(r.p_above[cols])
            for i, m in enumerate(methods):
                sl = slice(i * nk, (i + 1) * nk)
                excess[(order, k, m, cls)] = (r.estimate[sl], r.low[sl], r.high[sl],
                                              p_holm[sl])
    path: dict[tuple[str, str, str], tuple[np.ndarray, ...]] = {}
    for order in dict.fromkeys(o for o, _, _ in scores):
        stack = [scores[(order, k, "trained")] for k in range(1, n_stages + 1)
                 if (order, k, "trained") in scores]
        if not stack:
            continue
        area = np.concatenate([np.mean([on_path(st[m]) for st in stack], axis=0)
                               for m in methods], -1)
        for cls, idx in path_groups:
            r = crossed_ci(area[:, idx], bounds=(-1.0, 1.0), **boot)
            for i, m in enumerate(methods):
                sl = slice(i * nk, (i + 1) * nk)
                reached = np.full(nk, np.nan)
                for j in range(nk):
                    for k in range(1, n_stages + 1):
                        ex = excess.get((order, k, m, cls))
                        if nulls[m] != m and ex is not None and ex[1][j] <= 0:
                            reached[j] = k
                            break
                path[(order, m, cls)] = (r.estimate[sl], r.low[sl], r.high[sl], reached)
    records: list[dict[str, Any]] = []
    for (order, k, ref), per in scores.items():
        stacked = np.concatenate([per[m] for m in methods], axis=-1)
        n_draws = stacked.shape[0]
        full = order != "independent" and k == n_stages
        for cls, idx in groups_of(per):
            r = crossed_ci(stacked[:, idx], bounds=(-1.0, 1.0), **boot)
            n_fin = np.isfinite(stacked[:, idx]).sum(axis=(0, 1))
            for i, m in enumerate(methods):
                ex = excess.get((order, k, m, cls)) if ref == "trained" else None
                pa = path.get((order, m, cls)) if ref == "trained" and k == n_stages else None
                for j, (norm, meas) in enumerate(keys):
                    c = i * nk + j
                    rec = {
                        "experiment": "randomization", "method": m, "class": cls,
                        "seed": ctx.seeds[0], "stage": k, "measure": meas,
                        "value": r.estimate[c], "ci_low": r.low[c], "ci_high": r.high[c],
                        "order": order, "stage_name": names[(order, k)], "reference": ref,
                        "normalization": norm, "fully_randomized": full,
                        "flag_above_zero": bool(r.low[c] > 0), "n": int(n_fin[c]),
                        "draws": n_draws, "null_method": nulls[m] if ref == "trained" else None,
                        "excess": np.nan, "excess_ci_low": np.nan, "excess_ci_high": np.nan,
                        "excess_p_holm": np.nan, "flag_excess": False,
                        "auc": np.nan, "auc_ci_low": np.nan, "auc_ci_high": np.nan,
                        "null_reached_stage": np.nan,
                    }
                    if ex is not None and nulls[m] != m:
                        rec.update(excess=ex[0][j], excess_ci_low=ex[1][j],
                                   excess_ci_high=ex[2][j], excess_p_holm=ex[3][j],
                                   flag_excess=bool(ex[3][j] < ALPHA_ONE_SIDED))
                    if pa is not None:
                        rec.update(auc=pa[0][j], auc_ci_low=pa[1][j], auc_ci_high=pa[2][j],
                                   null_reached_stage=pa[3][j])
                    records.append(rec)
    return records


def methods_not_converging(df: pd.DataFrame, measure: str = "spearman_abs", cls: str = POOLED,
                           order: str = "top_down", normalization: str = "raw",
                           against: str = "null") -> pd.DataFrame:
    """Methods whose fully-randomised similarity to the trained map stays above a null.

    Parameters
    ----------
    df:
        Experiment 3's table (:func:`run_randomization` or ``results.csv``).
    measure, cls, order, normalization:
        Which rows to read; the cascade ``order`` must be ``top_down`` or ``bottom_up``.
    against:
        ``"null"`` (default; PROTOCOLS.md): the excess over the matched null (``input_noise``
        for input-multiplying methods, ``random`` else) has a 95 % CI above 0 after Holm's
        correction across methods (column ``flag_excess``); the nulls themselves are never
        flagged. ``"zero"``: the similarity's own CI lies above 0 (the paper's reading, which
        counts the input's structure as model dependence).

    Returns
    -------
    pandas.DataFrame
        Columns ``method``, ``value``, ``ci_low``, ``ci_high`` (and, when the table has them,
        ``null_method``, ``excess``, ``excess_ci_low``, ``excess_ci_high``, ``excess_p_holm``)
        of the flagged methods, highest similarity first (empty when none is flagged).
    """
    if against not in ("null", "zero"):
        raise ConfigError(f"against must be 'null' or 'zero'; got {against!r}")
    require_columns(df, ("method", "class", "measure", "order", "reference", "normalization",
                         "fully_randomized", "ci_low"), hint="is it Experiment 3's results?")
    if against == "null" and "flag_excess" not in df.columns:
        raise DataError("the table has no matched-null columns (flag_excess); re-run "
                        "Experiment 3, or pass against='zero'")
    if order == "independent":
        raise ConfigError("'independent' never randomises the whole model; use a cascade order")
    sel = select(df, fully_randomized=True, measure=measure, class_=cls, order=order,
                 reference="trained", normalization=normalization)
    if sel.empty:
        raise DataError(f"no fully randomised rows for measure={measure!r}, class={cls!r}, "
                        f"order={order!r}, normalization={normalization!r}")
    if against == "null":
        keep = sel["flag_excess"].fillna(False).astype(bool)
    else:
        keep = sel["ci_low"].astype(float) > 0
    cols = ["method", "value", "ci_low", "ci_high"] + [
        c for c in ("null_method", "excess", "excess_ci_low", "excess_ci_high", "excess_p_holm")
        if c in sel.columns]
    out = sel[keep][cols]
    return out.sort_values("value", ascending=False).reset_index(drop=True)


def path_summary(df: pd.DataFrame, measure: str = "spearman_abs", cls: str = POOLED,
                 normalization: str = "raw") -> pd.DataFrame:
    """Orders compared along the path: area under the similarity curve and the stage where the
    excess over the matched null first has a CI reaching 0, per order and method.

    Top-down and bottom-up end in the same network, so their endpoints cannot differ; the path
    between can (issue 12).

    Returns
    -------
    pandas.DataFrame
        Columns ``order``, ``method``, ``null_method``, ``auc``, ``auc_ci_low``, ``auc_ci_high``
        (mean similarity over stages 1 … L: 1 = the map never changes, 0 = it is gone from the
        first stage) and ``null_reached_stage`` (NaN: never reached, or a null itself).
    """
    require_columns(df, ("auc", "null_reached_stage", "order", "reference", "measure", "class"),
                    hint="re-run Experiment 3")
    sel = select(df, reference="trained", measure=measure, class_=cls,
                 normalization=normalization)
    sel = sel[sel["auc"].notna()]
    if sel.empty:
        raise DataError(f"no path rows for measure={measure!r}, class={cls!r}, "
                        f"normalization={normalization!r}")
    return sel[["order", "method", "null_method", "auc", "auc_ci_low", "auc_ci_high",
                "null_reached_stage"]].reset_index(drop=True)


def profile_params(p: Any) -> dict[str, Any]:
    """What a run profile sets: its orders, weight draws and (when set) beats per class and path
    beats per class; both normalisations."""
    out = {"orders": list(p.randomization_orders), "normalizations": ["raw", "abs_max"],
           "draws": p.randomization_draws}
    if p.randomization_beats_per_class is not None:
        out["beats_per_class"] = p.randomization_beats_per_class
    if p.randomization_path_beats_per_class is not None:
        out["path_beats_per_class"] = p.randomization_path_beats_per_class
    return out


def first_per_class(beats: BeatSelection, k: int | None, *,
                    param: str = "beats_per_class") -> tuple[BeatSelection, np.ndarray]:
    """The first ``k`` beats of each class (in selection order) and their ``(m,)`` indices into
    ``beats`` (``k=None``: every beat); ``param`` names ``k`` in the error."""
    if k is None:
        return beats, np.arange(beats.n)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ConfigError(f"parameter {param!r} must be a positive integer or None; "
                          f"got {k!r}")
    keep = np.sort(np.concatenate([idx[:int(k)] for name, idx in class_groups(beats)
                                   if name != POOLED] or [np.zeros(0, int)]))
    return BeatSelection(index=beats.index[keep], x=beats.x[keep], target=beats.target[keep],
                         class_names=beats.class_names), keep


EXPERIMENTS.register("randomization", Experiment(
    name="randomization",
    title="Experiment 3: model-parameter randomisation",
    run=run_randomization,
    defaults=DEFAULTS,
    profile_params=profile_params,
    description="Similarity of each method's maps to the trained model's as the model's layers "
                "are re-initialised (cascading top-down, bottom-up or independent), with "
                "CIs over weight draws and beats; flags methods whose fully randomised "
                "similarity stays above their matched null (paired, Holm).",
))
