"""Experiment 4 — perturbation (faithfulness): remove what a map ranks relevant, watch the model.

Protocol (PROTOCOLS.md; Samek et al. 2017; Hooker et al. 2019; Rong et al. 2022):

* Features are (1 lead × ``patch_ms`` = 40 ms) patches, ranked per beat by summed ``|a|``
  (column ``ranking="abs"``) and, beside it, by summed signed ``a`` (``ranking="signed"``,
  positive-first: MoRF removes evidence for the class first, LeRF evidence against it first;
  ranking by ``|a|`` makes MoRF remove counter-evidence too)
  (:func:`~ecgsignal.evaluation.perturbation.patch_scores`). The most relevant are removed first
  (MoRF) or the least relevant first (LeRF), at the ``fractions`` of patches 0, 5, 10, 20, 30, 50,
  70, 90, 100 %. Removed samples are replaced by zero, the lead mean, linear interpolation across
  the gap (1D ROAD) or Gaussian noise (:data:`~ecgsignal.evaluation.perturbation.REPLACEMENTS`).
  A random ranking (method ``"random_ranking"``, order ``"random"``), the same for every method,
  is the reference.
* Beats and AUROC. For class ``c`` the *positives* are the explained beats of ``c``
  (``ctx.beats``: correctly classified test positives) and the *negatives* an equal number of
  test beats that do not carry ``c``, drawn with the seed (``ctx.seed``, ``c``). Like for like:
  by default (``negatives="random"``) the negatives' patches are removed in the random reference
  order for every method *and* the oracle (which has no map of ``c`` for a beat without ``c``), so
  the AUROC curves of all rankings differ only through the positives. ``negatives="explained"``
  perturbs each negative along the method's map for ``c`` instead (the oracle stays random there).
  Measures per fraction: ``auroc`` — AUROC of the model's probability of ``c``, positives against
  negatives (class vs rest); ``mean_prob`` — the mean probability of ``c`` over the positives;
  ``mean_logodds`` — the mean log-odds ``log(p / (1 − p))`` over the positives (probability
  saturates near 1, log-odds does not; AUROC is rank-based and the same on both scales).
  ``auroc=False`` skips the negatives (and the AUROC rows).
* Uncertainty: a stratified, paired percentile bootstrap (``ctx.n_boot`` resamples): positives
  and negatives of each class are resampled separately, with the *same* resamples for every
  method, replacement, order and fraction. Pooled rows (class ``"all"``): ``mean_prob`` over all
  positives, ``auroc`` the macro mean over classes, replicate by replicate.
* Summary: ``abc_<measure>`` = ∫ (LeRF − MoRF) d fraction (area between the curves; positive for a
  faithful ranking) and ``morf_vs_random_<measure>`` = ∫ (random − MoRF) d fraction, trapezoid
  rule over the fractions, with the bootstrap CI of the same replicates.
* Per-lead view (``leads=True``): whole leads removed, 0 … 12, in the order of their summed
  ``|a|`` or signed ``a`` (MoRF, LeRF, random); rows with ``unit="lead"`` (``fraction`` = leads removed / 12).
* ROAR (``roar=True``; Hooker et al. 2019): every beat of the dataset is explained for the
  reference model's predicted class; the top ``t`` of its patches are removed and replaced
  (``roar_replacement``, the lead mean by default); a fresh model of the same config and seed is
  trained on the perturbed train/val splits (checkpoint-cached) and scored on the perturbed test
  split: ``roar_auroc`` per class and macro-averaged (``"all"``), bootstrap over test beats.
  ``t = 0`` is the reference model. A random ranking is retrained beside the methods. One
  retraining per method and fraction (the paper's five repeats are not done).

Table columns: the common ones plus ``order`` (morf/lerf/random), ``replacement``, ``unit``
(patch/lead/roar), ``n_removed`` (leads, for ``unit="lead"``), ``n`` (positives), ``n_neg``,
``ranking`` (abs/signed; NA for the random ranking and ROAR) and ``own_perturbation``: True where
a method is graded on its own perturbation (Occlusion's 40 ms zero-filled windows are exactly the
40 ms patches zeroed here, so its map is nearly the MoRF oracle;
:func:`~ecgsignal.attribution.graded_on_own_perturbation`). Such rows are kept out of
rankings of methods (:func:`ecgsignal.evaluation.summaries.areas`, ``exclude_own``).

References
----------
Samek, W. et al. (2017). Evaluating the visualization of what a deep neural network has learned.
IEEE TNNLS 28(11).
Hooker, S. et al. (2019). A benchmark for interpretability methods in deep neural networks.
NeurIPS.
Rong, Y. et al. (2022). A consistent and efficient evaluation strategy for attribution methods.
ICML.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ecgsignal.attribution import graded_on_own_perturbation
from ecgsignal.errors import ConfigError, DataError
from ecgsignal.evaluation._utils import auroc_rows, check_fraction
from ecgsignal.evaluation.context import BeatSelection, ExperimentContext
from ecgsignal.evaluation.experiments._groups import POOLED, check_names, context_methods
from ecgsignal.evaluation.experiments._perturbation_rows import RowPredictor
from ecgsignal.evaluation.experiments._perturbation_stats import (
    _Boot,
    _ci,
    area_rows,
    area_rows_many,
    ci_many,
)
from ecgsignal.evaluation.experiments.base import EXPERIMENTS, Experiment
from ecgsignal.evaluation.measures import MEASURES
from ecgsignal.evaluation.perturbation import (
    DEFAULT_FRACTIONS,
    RANKINGS,
    REPLACEMENTS,
    lead_removal_mask,
    patch_grid,
    patch_scores,
    ranking,
    removal_mask,
    replace,
)
from ecgsignal.evaluation.results import make_table
from ecgsignal.models import load_or_train, predict_proba

__all__ = ["DEFAULTS", "RANDOM_RANKING", "area_rows", "class_beats", "oracle_name",
           "removal_probs", "roar_records", "run_perturbation"]

RANDOM_RANKING = "random_ranking"
"""Method name of the random-ranking reference rows."""

DEFAULTS: dict[str, Any] = {
    "fractions": list(DEFAULT_FRACTIONS),
    "replacements": ["zero", "mean", "interp", "noise"],
    "patch_ms": 40.0,
    "auroc": True,
    "leads": True,
    "roar": False,
    "roar_fractions": [0.1, 0.3, 0.5, 0.7, 0.9],
    "roar_methods": None,
    "roar_replacement": "mean",
    "methods": None,
    "oracle": None,
    "rankings": ["abs", "signed"],
    "negatives": "random",
}
"""Parameters of Experiment 4 (see the module docstring). ``methods``/``roar_methods``: subsets
of ``ctx.methods`` (``None`` → all). ``oracle``: ``"diff"`` or ``"criteria"`` adds the
ground-truth mask of the synthetic data as a map (method ``oracle_<mask>_mask``; the upper
reference of a perfect map). ``rankings``: patch scores by summed ``|a|`` (``"abs"``) and/or
summed signed ``a`` (``"signed"``, positive-first). ``negatives``: ``"random"`` (default) removes
every negative's patches in the random reference order, for every method and the oracle alike;
``"explained"`` ranks them by each method's map for the class, while the oracle, which has no
ground truth of ``c`` in a beat without ``c``, keeps the random order (not like for like)."""

_CURVE_MEASURES = ("auroc", "mean_prob", "mean_logodds")
_NEGATIVES = ("random", "explained")


def _seed(*parts: int) -> int:
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1)[0])


def class_beats(ctx: ExperimentContext, class_index: int, with_negatives: bool = True,
                ) -> tuple[BeatSelection, BeatSelection | None]:
    """The positives (explained beats of the class) and seeded test negatives, both for ``c``.

    Parameters
    ----------
    ctx:
        The context; positives come from ``ctx.beats``.
    class_index:
        ``c``.
    with_negatives:
        Draw the negatives: as many as positives (fewer if the test split lacks them), test
        beats without label ``c``, chosen with ``(ctx.seed, c)``.

    Returns
    -------
    (positives, negatives)
        Two :class:`BeatSelection` whose ``target`` is ``c`` throughout (``negatives`` is
        ``None`` without negatives). Positives can be empty for a class with no correct beat.
    """
    beats = ctx.beats
    ds = ctx.dataset
    pos = np.flatnonzero(beats.target == class_index)
    p_sel = BeatSelection(index=beats.index[pos], x=beats.x[pos],
                          target=np.full(pos.size, class_index, np.int64),
                          class_names=beats.class_names)
    if not with_negatives:
        return p_sel, None
    test = ds.indices("test")
    cand = test[ds.onehot()[test, class_index] == 0]
    rng = np.random.default_rng(_seed(ctx.seed, class_index, 7))
    take = np.sort(rng.permutation(cand)[: pos.size])
    n_sel = BeatSelection(index=take, x=ds.signals[take],
                          target=np.full(take.size, class_index, np.int64),
                          class_names=beats.class_names)
    return p_sel, n_sel


def removal_probs(predict_c: Callable[[np.ndarray], np.ndarray], x: np.ndarray,
                  masks: Sequence[np.ndarray], how: str, seed: int) -> np.ndarray:
    """Probability of the class after each removal: ``(len(masks), n)``.

    Parameters
    ----------
    predict_c:
        ``x (m, 12, T) -> (m,)`` probability of the class scored.
    x:
        ``(n, 12, T)`` beats, mV.
    masks:
        ``(n, 12, T)`` bool removal masks, one per step (fraction or number of leads).
    how:
        Replacement name; ``seed`` seeds its noise (the same field at every step).
    """
    xs = np.concatenate([replace(x, m, how, seed=seed) for m in masks], axis=0)
    p = np.asarray(predict_c(xs), dtype=np.float64)
    return p.reshape(len(masks), x.shape[0])


def _fractions(values: object) -> np.ndarray:
    vals = sorted({check_fraction(v, "fractions") for v in (values or [])})
    if len(vals) < 2:
        raise ConfigError(f"parameter 'fractions' needs at least two distinct values; got {values}")
    return np.asarray(vals, dtype=np.float64)


def _method_list(ctx: ExperimentContext, value: object, param: str) -> list[str]:
    methods = context_methods(ctx)
    if value is None:
        return methods
    wanted = [value] if isinstance(value, str) else list(value)
    unknown = [m for m in wanted if m not in methods]
    if unknown:
        raise ConfigError(f"parameter {param!r} must list methods of the context {methods}; "
                          f"got {wanted}")
    return list(dict.fromkeys(wanted))  # may be empty: only the references (random, oracle)


def oracle_name(mask: str) -> str:
    """Method name of the ground-truth oracle rows for ``mask`` (``"diff"`` or ``"criteria"``)."""
    return f"oracle_{mask}_mask"


_Curves = dict[tuple, dict[str, tuple[np.ndarray, np.ndarray]]]


@dataclasses.dataclass
class _ClassRun:
    """Everything one class's curves need: its beats, bootstrap, seeds and the curves so far."""

    c: int
    pos: BeatSelection
    neg: BeatSelection | None
    pos_rows: np.ndarray  # rows of ctx.beats holding the positives
    neg_rows: np.ndarray  # rows of the pooled negatives holding this class's negatives
    boot: _Boot
    rank_seed: int
    curves: dict = dataclasses.field(default_factory=dict)
    #: probability of class ``c`` by perturbed beat (its row, replacement and mask): a beat
    #: perturbed identically under several methods or orders is predicted once (``_add_curves``)
    probs: dict = dataclasses.field(default_factory=dict)
    noise: dict = dataclasses.field(default_factory=dict)  # noise fields by (how, seed)

    @property
    def x(self) -> np.ndarray:
        return self.pos.x if self.neg is None else np.concatenate([self.pos.x, self.neg.x])


def _class_runs(ctx: ExperimentContext, with_auroc: bool) -> tuple[list[_ClassRun],
                                                                   BeatSelection | None]:
    """One :class:`_ClassRun` per class with explained beats, and all negatives pooled."""
    runs, negs, start = [], [], 0
    for c in range(ctx.dataset.n_classes):
        pos, neg = class_beats(ctx, c, with_auroc)
        if pos.n == 0:
            continue
        if neg is not None and neg.n == 0:
            neg = None  # no test negatives: the class AUROC is undefined (NaN rows)
        n_neg = 0 if neg is None else neg.n
        runs.append(_ClassRun(
            c=c, pos=pos, neg=neg, pos_rows=np.flatnonzero(ctx.beats.target == c),
            neg_rows=np.arange(start, start + n_neg),
            boot=_Boot(pos.n, n_neg, ctx.n_boot, _seed(ctx.seed, c, 11)),
            rank_seed=_seed(ctx.seed, c, 13)))
        if neg is not None:
            negs.append(neg)
        start += n_neg
    if not negs:
        return runs, None
    pooled = BeatSelection(index=np.concatenate([n.index for n in negs]),
                           x=np.concatenate([n.x for n in negs]),
                           target=np.concatenate([n.target for n in negs]),
                           class_names=ctx.beats.class_names)
    return runs, pooled


def _method_maps(ctx: ExperimentContext, method: str, runs: list[_ClassRun],
                 negs: BeatSelection | None, explain_negatives: bool) -> list[np.ndarray]:
    """Per class run: maps for that class of its positives then its negatives.

    The positives' maps are the shared maps of ``ctx.beats`` (computed once for every experiment);
    the negatives of all classes are explained in one call, each for its class, when
    ``explain_negatives``; otherwise (and always for the oracle) they get a flat map, which
    :func:`ranking` turns into exactly the random reference order of the class run.
    """
    if method.startswith("oracle_") and method.endswith("_mask"):
        mask = getattr(ctx.dataset, method[len("oracle_"):])
        out = []
        for r in runs:
            a = mask[r.pos.index].astype(np.float32)
            if r.neg is not None:  # no ground truth of class c in a beat without c: a flat map
                a = np.concatenate([a, np.zeros(r.neg.x.shape, np.float32)])
            out.append(a)
        return out
    seed = ctx.seeds[0]
    pos_maps = ctx.attributions(method, seed=seed)
    neg_maps = None
    if negs is not None and explain_negatives:
        neg_maps = ctx.attributions(method, seed=seed, beats=negs, target=negs.target)
    out = []
    for r in runs:
        a = pos_maps[r.pos_rows]
        if r.neg is not None:
            flat = np.zeros((r.neg.n, *a.shape[1:]), a.dtype)
            a = np.concatenate([a, flat if neg_maps is None else neg_maps[r.neg_rows]])
        out.append(a)
    return out


def _add_curves(ctx: ExperimentContext, model: Any, run: _ClassRun, method: str,
                orders: dict[str, tuple[np.ndarray, np.ndarray]], hows: Sequence[str],
                fr: np.ndarray, patch_ms: float, with_auroc: bool, leads: bool,
                rank_by: str | None = None) -> None:
    """Curves of one method (or the random ranking) for one class, into ``run.curves``.

    ``orders`` maps ``morf``/``lerf``/``random`` to the (patch order, lead order) rankings;
    ``rank_by`` is the :data:`RANKINGS` entry they came from (``None`` for the random ranking).
    """
    ds = ctx.dataset
    fs, t_len, n_leads = ds.fs, ds.n_samples, ds.signals.shape[1]
    x = run.x

    def summarise(key: tuple, probs: np.ndarray) -> None:
        run.curves[key] = {"mean_prob": run.boot.mean_prob(probs),
                           "mean_logodds": run.boot.mean_logodds(probs)}
        if with_auroc:
            run.curves[key]["auroc"] = run.boot.auroc(probs)

    # Each distinct perturbed beat (same beat, replacement and mask) is built and predicted once
    # per class run, in a few large forward passes (_perturbation_rows.RowPredictor): the
    # negatives are perturbed in the one random order for every method, and fraction 0 (nothing
    # removed) and 1 (all removed) do not depend on the ranking.
    rows = RowPredictor(model, run.c, ctx.device, x, run.probs, run.noise)
    for order, (o_patch, o_lead) in orders.items():
        for how in hows:
            noise_seed = _seed(ctx.seed, run.c, 17, REPLACEMENTS.available().index(how))
            masks = [removal_mask(o_patch, f, t_len, fs, patch_ms) for f in fr]
            rows.queue((method, rank_by, how, "patch", order), masks, how, noise_seed)
            if leads:
                masks = [lead_removal_mask(o_lead, k, t_len) for k in range(n_leads + 1)]
                rows.queue((method, rank_by, how, "lead", order), masks, how, noise_seed)
    for key, probs in rows.results():
        summarise(key, probs)


def run_perturbation(ctx: ExperimentContext, params: dict[str, Any]) -> pd.DataFrame:
    """Run Experiment 4 on ``ctx``; see the module docstring for the table it returns.

    Parameters
    ----------
    ctx:
        Models, beats and methods; the reference model ``ctx.seeds[0]`` is perturbed.
    params:
        See :data:`DEFAULTS`; missing keys take the defaults.

    Returns
    -------
    pandas.DataFrame
        Tidy rows (``experiment="perturbation"``).
    """
    p = {**DEFAULTS, **params}
    fr = _fractions(p["fractions"])
    hows = check_names(p["replacements"], REPLACEMENTS, "replacements")
    patch_ms = float(p["patch_ms"])
    methods = _method_list(ctx, p["methods"], "methods")
    if p["oracle"] is not None:
        if p["oracle"] not in ("diff", "criteria"):
            raise ConfigError(f"parameter 'oracle' must be None, 'diff' or 'criteria'; got "
                              f"{p['oracle']!r}")
        if getattr(ctx.dataset, f"{p['oracle']}_mask") is None:
            raise ConfigError("the oracle ranking needs ground-truth masks (synthetic data only)")
        methods.append(oracle_name(p["oracle"]))
    with_auroc = bool(p["auroc"])
    rank_bys = [p["rankings"]] if isinstance(p["rankings"], str) else list(p["rankings"] or [])
    if not rank_bys or any(rb not in RANKINGS for rb in rank_bys):
        raise ConfigError(f"parameter 'rankings' must be a non-empty list of {RANKINGS}; got "
                          f"{p['rankings']!r}")
    rank_bys = list(dict.fromkeys(rank_bys))
    if p["negatives"] not in _NEGATIVES:
        raise ConfigError(f"parameter 'negatives' must be one of {_NEGATIVES}; got "
                          f"{p['negatives']!r}")
    model_seed = ctx.seeds[0]
    model = ctx.model(model_seed)
    ds = ctx.dataset
    n_leads = ds.signals.shape[1]
    lead_fr = np.arange(n_leads + 1) / n_leads

    # per class: curves[(method, how, unit, order)][measure] = (est (S,), reps (S, B))
    runs, negs = _class_runs(ctx, with_auroc)
    leads = bool(p["leads"])
    n_patch = patch_grid(ds.n_samples, ds.fs, patch_ms)[0] * n_leads
    for r in runs:
        n = r.x.shape[0]
        rnd = {"random": (ranking(np.zeros((n, n_patch)), "random", seed=r.rank_seed),
                          ranking(np.zeros((n, n_leads)), "random", seed=r.rank_seed))}
        _add_curves(ctx, model, r, RANDOM_RANKING, rnd, hows, fr, patch_ms, with_auroc, leads)
    for m in methods:
        for r, a in zip(runs, _method_maps(ctx, m, runs, negs, p["negatives"] == "explained")):
            for rb in rank_bys:
                signed = rb == "signed"
                scores = patch_scores(a, ds.fs, patch_ms, signed=signed)
                lead_scores = (a if signed else np.abs(a)).sum(axis=2)
                orders = {o: (ranking(scores, o, seed=r.rank_seed),
                              ranking(lead_scores, o, seed=r.rank_seed))
                          for o in ("morf", "lerf")}
                _add_curves(ctx, model, r, m, orders, hows, fr, patch_ms, with_auroc, leads, rb)
    per_class = {ds.class_names[r.c]: r.curves for r in runs}
    sizes = {ds.class_names[r.c]: (r.pos.n, 0 if r.neg is None else r.neg.n) for r in runs}
    if not per_class:
        raise DataError("no class has explained beats to perturb")

    # pooled over classes, replicate by replicate
    classes = list(per_class)
    pooled: dict[tuple, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
    w = np.array([sizes[c][0] for c in classes], dtype=np.float64)
    for key in per_class[classes[0]]:
        pooled[key] = {}
        for meas in per_class[classes[0]][key]:
            ests = np.stack([per_class[c][key][meas][0] for c in classes])
            reps = np.stack([per_class[c][key][meas][1] for c in classes])
            if MEASURES.get(meas).pooling == "weighted":  # by positives; AUROC: classes equally
                pooled[key][meas] = (np.tensordot(w, ests, 1) / w.sum(),
                                     np.tensordot(w, reps, 1) / w.sum())
            else:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    pooled[key][meas] = (np.nanmean(ests, axis=0), np.nanmean(reps, axis=0))

    records: list[dict[str, Any]] = []
    groups = [(c, per_class[c], sizes[c]) for c in classes]
    groups.append((POOLED, pooled, (int(w.sum()), sum(sizes[c][1] for c in classes))))
    for cname, cur, (n_pos, n_neg) in groups:
        cis = iter(ci_many([reps for meas_d in cur.values() for _, reps in meas_d.values()]))
        for (m, rb, how, unit, order), meas_d in cur.items():
            steps = fr if unit == "patch" else lead_fr
            for meas, (est, _reps) in meas_d.items():
                lo, hi = next(cis)
                for j, f in enumerate(steps):
                    records.append({
                        "experiment": "perturbation", "method": m, "class": cname,
                        "seed": model_seed, "fraction": float(f), "measure": meas,
                        "value": float(est[j]), "ci_low": float(lo[j]), "ci_high": float(hi[j]),
                        "order": order, "replacement": how, "unit": unit,
                        "n_removed": j if unit == "lead" else pd.NA, "n": n_pos, "n_neg": n_neg,
                        "ranking": pd.NA if rb is None else rb,
                        "own_perturbation": graded_on_own_perturbation(m, how, unit, patch_ms),
                    })
        todo = [(m, rb, how, unit, meas)
                for m in methods for rb in rank_bys for how in hows
                for unit in (("patch", "lead") if p["leads"] else ("patch",))
                for meas in (_CURVE_MEASURES if with_auroc else ("mean_prob", "mean_logodds"))]
        items = []
        for m, rb, how, unit, meas in todo:
            curves = {o: cur[(m, rb, how, unit, o)][meas] for o in ("morf", "lerf")}
            curves["random"] = cur[(RANDOM_RANKING, None, how, unit, "random")][meas]
            items.append((fr if unit == "patch" else lead_fr, curves))
        for (m, rb, how, unit, meas), areas in zip(todo, area_rows_many(items)):
            for name, (v, lo, hi) in areas.items():
                records.append({
                    "experiment": "perturbation", "method": m, "class": cname,
                    "seed": model_seed, "measure": f"{name}_{meas}", "value": v,
                    "ci_low": lo, "ci_high": hi, "replacement": how, "unit": unit,
                    "n": n_pos, "n_neg": n_neg, "ranking": rb, "own_perturbation":
                    graded_on_own_perturbation(m, how, unit, patch_ms),
                })
    if p["roar"]:
        records += roar_records(ctx, _method_list(ctx, p["roar_methods"], "roar_methods"),
                                [check_fraction(f, "roar_fractions") for f in p["roar_fractions"]],
                                how=str(p["roar_replacement"]), patch_ms=patch_ms)
    return make_table(records)


def _test_auroc_boot(probs: np.ndarray, onehot: np.ndarray, n_boot: int, seed: int,
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Per-class test AUROC ``(C,)`` and bootstrap replicates ``(C, B)`` over test beats."""
    n = probs.shape[0]
    labels = onehot.T.astype(bool)  # (C, n)
    est = auroc_rows(probs.T, labels)
    idx = np.random.default_rng(seed).integers(0, n, size=(n_boot, n))
    reps = np.stack([auroc_rows(probs[idx, c], labels[c][idx]) for c in range(probs.shape[1])])
    return est, reps


def roar_records(ctx: ExperimentContext, methods: Sequence[str], fractions: Sequence[float],
                 how: str = "mean", patch_ms: float = 40.0) -> list[dict[str, Any]]:
    """ROAR (Hooker et al. 2019): retrain on beats whose top-``t`` patches were replaced.

    Parameters
    ----------
    ctx:
        The context; its dataset, model config, train config, reference seed and cache are used.
    methods:
        Methods whose rankings are tested (a random ranking is always added).
    fractions:
        Shares ``t`` of patches removed from every beat (train, val and test), each in (0, 1].
    how:
        Replacement of removed samples (Hooker et al.: the mean).
    patch_ms:
        Patch length in ms.

    Returns
    -------
    list of dict
        Records with ``measure="roar_auroc"``, ``unit="roar"``, ``order`` (``"morf"`` or
        ``"random"``), per class and macro-averaged (``"all"``), ``fraction`` 0 (reference model)
        and each ``t``.
    """
    REPLACEMENTS.get(how)
    ds = ctx.dataset
    model_seed = ctx.seeds[0]
    model = ctx.model(model_seed)
    test = ds.indices("test")
    onehot = ds.onehot()[test]
    pred = predict_proba(model, ds.signals, device=ctx.device).argmax(axis=1).astype(np.int64)
    every = BeatSelection(index=np.arange(ds.n), x=ds.signals, target=pred,
                          class_names=ds.class_names)
    boot_seed = _seed(ctx.seed, 23)
    records: list[dict[str, Any]] = []

    def add(method: str, order: str, f: float, probs: np.ndarray) -> None:
        est, reps = _test_auroc_boot(probs, onehot, ctx.n_boot, boot_seed)
        lo, hi = _ci(reps)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            macro_reps = np.nanmean(reps, axis=0)
        m_lo, m_hi = _ci(macro_reps)
        rows = [(c, est[i], lo[i], hi[i]) for i, c in enumerate(ds.class_names)]
        rows.append((POOLED, float(np.nanmean(est)), float(m_lo), float(m_hi)))
        for cname, v, a, b in rows:
            records.append({
                "experiment": "perturbation", "method": method, "class": cname,
                "seed": model_seed, "fraction": float(f), "measure": "roar_auroc",
                "value": float(v), "ci_low": float(a), "ci_high": float(b), "order": order,
                "replacement": how, "unit": "roar", "n": int(onehot.sum()),
                "n_neg": int(onehot.size - onehot.sum()),
            })

    base = predict_proba(model, ds.signals[test], device=ctx.device)
    cache = None if ctx.cache_dir is None else Path(ctx.cache_dir) / "models"
    rank_seed = _seed(ctx.seed, 29)
    for method in [*methods, RANDOM_RANKING]:
        order = "random" if method == RANDOM_RANKING else "morf"
        add(method, order, 0.0, base)
        if method == RANDOM_RANKING:
            n_patch = patch_grid(ds.n_samples, ds.fs, patch_ms)[0] * ds.signals.shape[1]
            scores = np.zeros((ds.n, n_patch))
        else:
            a = ctx.attributions(method, seed=model_seed, beats=every, target=pred)
            scores = patch_scores(a, ds.fs, patch_ms)
        o = ranking(scores, order, seed=rank_seed)
        for f in fractions:
            if f == 0:
                continue
            mask = removal_mask(o, f, ds.n_samples, ds.fs, patch_ms)
            xp = replace(ds.signals, mask, how, seed=_seed(ctx.seed, 31)).astype(np.float32)
            meta = {**ds.meta, "roar": {"method": method, "fraction": float(f), "how": how,
                                        "patch_ms": patch_ms, "seed": ctx.seed}}
            dsp = dataclasses.replace(ds, signals=xp, meta=meta)
            tm = load_or_train(dsp, ctx.model_config, ctx.train_config, seed=model_seed,
                               device=ctx.device, cache_dir=cache, progress=ctx.progress)
            add(method, order, f, predict_proba(tm.model, xp[test], device=ctx.device))
    return records


def profile_params(p: Any) -> dict[str, Any]:
    """What a run profile sets: fractions, replacements and whether to retrain (ROAR)."""
    return {"fractions": list(p.fractions), "replacements": list(p.perturbation_replacements),
            "roar": p.roar}


EXPERIMENTS.register("perturbation", Experiment(
    name="perturbation",
    title="Experiment 4: perturbation (faithfulness)",
    run=run_perturbation,
    defaults=DEFAULTS,
    profile_params=profile_params,
    description="Remove (lead × 40 ms) patches most/least relevant first (MoRF/LeRF) or at random, "
                "replace them (zero, mean, interpolation, noise) and track class AUROC and mean "
                "probability; area between the curves; whole-lead removal; optional ROAR.",
))
