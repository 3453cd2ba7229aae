"""Experiment 2 — self-consistency across random initialisations (PROTOCOLS.md).

K models of one config differing only in their seed (``ctx.seeds``) explain the same beats (chosen
with the reference model ``ctx.seeds[0]``). For every method and every pair of seeds ``(s, t)``, the
maps of the two models are compared beat by beat; the self-consistency of a method is the mean
over seed pairs and beats (Arends et al. 2026 report 0.41–0.65 across methods). Its 95 % CI
resamples what varies independently (:func:`~ecgsignal.evaluation.crossed.crossed_ci` with
``pairs``): the *models* — the seed pairs are rebuilt from the drawn models, since the 10 pairs
of 5 models share models and are not independent — and one beat-index set shared by every
pair, since the beats are crossed with the pairs. The earlier bootstrap (pairs as independent
groups, beats resampled within each pair) covered a 95 % truth only ~60 % of the time
(:mod:`ecgsignal.evaluation.coverage` simulates it; McCullagh 2000, Bernoulli 6:285).
With two seeds there is one pair and the interval is a BCa interval over beats, which ignores
the models' variability (column ``n_models`` says how many models the CI rests on).

The comparison with Experiment 1: on the same beats and models, a method should agree with itself
across seeds more than with the other methods. For a pair ``(s, t)`` and a beat, ``others`` is the
method's mean similarity to every other (non-control) method on model ``s``, averaged with the same
on model ``t``; ``gap = self − others``. All three quantities share the same bootstrap.

Rows (column ``quantity``): ``self_consistency``, ``others`` and ``gap`` per method, class (and
``"all"``) and measure; plus ``self_consistency`` per seed pair (column ``pair``, e.g. ``"0-1"``,
pooled beats, BCa CI over beats).

References
----------
Arends, B. et al. (2026). Signal or noise? Eur Heart J Digit Health.
Davison, A. C., Hinkley, D. V. (1997). Bootstrap Methods and their Application, §3.8.
"""

from __future__ import annotations

import warnings
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from ecgsignal.attribution import CONTROLS
from ecgsignal.errors import ConfigError
from ecgsignal.evaluation.context import ExperimentContext
from ecgsignal.evaluation.crossed import bca_ci, crossed_ci
from ecgsignal.evaluation.experiments._groups import (
    POOLED,
    check_names,
    class_groups,
    context_methods,
)
from ecgsignal.evaluation.experiments.base import EXPERIMENTS, Experiment
from ecgsignal.evaluation.experiments.similarity import paired_similarity, pairwise_similarity
from ecgsignal.evaluation.experiments.similarity import profile_params as similarity_profile_params
from ecgsignal.evaluation.results import make_table
from ecgsignal.evaluation.similarity import SIMILARITY

__all__ = ["DEFAULTS", "QUANTITIES", "comparison_methods", "run_consistency", "seed_pairs"]

DEFAULTS: dict[str, Any] = {"measures": ["spearman_abs"]}
"""Parameters: ``measures``, names in :data:`~ecgsignal.evaluation.similarity.SIMILARITY`."""

QUANTITIES: tuple[str, ...] = ("self_consistency", "others", "gap")
"""Values of the ``quantity`` column."""


def seed_pairs(seeds: tuple[int, ...] | list[int]) -> list[tuple[int, int]]:
    """Every unordered pair of distinct seeds, in order; fewer than two seeds → ConfigError."""
    uniq = list(dict.fromkeys(int(s) for s in seeds))
    if len(uniq) < 2:
        raise ConfigError(f"self-consistency needs at least two model seeds; got {list(seeds)}")
    return list(combinations(uniq, 2))


def comparison_methods(method: str, methods: list[str]) -> list[str]:
    """The methods ``method`` is compared with in the ``others`` quantity.

    Every other method that is not a control (controls are not explanations); when the list holds
    no such method, every other method.
    """
    others = [m for m in methods if m != method and m not in CONTROLS]
    return others or [m for m in methods if m != method]


def _nanmean(stack: list[np.ndarray], n: int) -> np.ndarray:
    if not stack:
        return np.full(n, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN beats stay NaN
        return np.nanmean(np.stack(stack), axis=0)


def run_consistency(ctx: ExperimentContext, params: dict[str, Any]) -> pd.DataFrame:
    """Run Experiment 2 on ``ctx``; see the module docstring for the table it returns.

    Parameters
    ----------
    ctx:
        Models (``ctx.seeds``, at least two), beats and methods.
    params:
        ``{"measures": [...]}`` (see :data:`DEFAULTS`).

    Returns
    -------
    pandas.DataFrame
        Tidy rows: ``experiment="consistency"``, ``method``, ``class``, ``measure``,
        ``quantity``, ``pair`` (``"s-t"`` or NA when pooled over pairs), ``value``, ``ci_low``,
        ``ci_high``, ``n`` (finite (pair, beat) values), ``n_models``.
    """
    measures = check_names(params.get("measures", DEFAULTS["measures"]), SIMILARITY, "measures")
    methods = context_methods(ctx)
    pairs = seed_pairs(ctx.seeds)
    seeds = list(dict.fromkeys(int(s) for s in ctx.seeds))
    beats = ctx.beats
    n = beats.n

    # others[measure][method][seed]: (n,) mean similarity to the comparison methods on that model
    others: dict[str, dict[str, dict[int, np.ndarray]]] = {
        ms: {m: {} for m in methods} for ms in measures}
    for s in seeds:
        maps_s = {m: ctx.attributions(m, seed=s) for m in methods}
        for ms in measures:
            pw = pairwise_similarity(maps_s, ms)
            for m in methods:
                vals = [pw[(m, o)] if (m, o) in pw else pw[(o, m)]
                        for o in comparison_methods(m, methods)]
                others[ms][m][s] = _nanmean(vals, n)

    # self_[measure][method]: (P, n) similarity of the method's maps across each seed pair
    self_: dict[str, dict[str, np.ndarray]] = {ms: {} for ms in measures}
    for m in methods:
        maps_m = {s: ctx.attributions(m, seed=s) for s in seeds}
        for ms in measures:
            self_[ms][m] = np.stack(paired_similarity([maps_m[s] for s, _ in pairs],
                                                      [maps_m[t] for _, t in pairs], ms))

    groups = class_groups(beats)
    pos = {sd: i for i, sd in enumerate(seeds)}
    pair_idx = [(pos[s], pos[t]) for s, t in pairs]
    boot = {"n_boot": ctx.n_boot, "seed": ctx.seed}
    records: list[dict[str, Any]] = []
    for ms in measures:
        cube = {}  # (quantity, method) -> (P, n)
        for m in methods:
            oth = np.stack([_nanmean([others[ms][m][s], others[ms][m][t]], n) for s, t in pairs])
            cube[("self_consistency", m)] = self_[ms][m]
            cube[("others", m)] = oth
            cube[("gap", m)] = self_[ms][m] - oth
        cols = [(q, m) for m in methods for q in QUANTITIES]
        values = np.stack([cube[c] for c in cols], axis=-1)  # (P, n, columns)
        reach = np.array([2.0 if q == "gap" else 1.0 for q, _ in cols])  # |similarity| ≤ 1
        for cls, idx in groups:
            r = crossed_ci(values[:, idx], pairs=pair_idx, bounds=(-reach, reach), **boot)
            n_fin = np.isfinite(values[:, idx]).sum(axis=(0, 1))
            for j, (q, m) in enumerate(cols):
                records.append({
                    "experiment": "consistency", "method": m, "class": cls, "measure": ms,
                    "quantity": q, "pair": pd.NA, "value": r.estimate[j], "ci_low": r.low[j],
                    "ci_high": r.high[j], "n": int(n_fin[j]), "n_models": len(seeds),
                })
        for p, (s, t) in enumerate(pairs):
            per_pair = np.stack([self_[ms][m][p] for m in methods], axis=1)
            r = bca_ci(per_pair, **boot)
            n_fin = np.isfinite(per_pair).sum(axis=0)
            for j, m in enumerate(methods):
                records.append({
                    "experiment": "consistency", "method": m, "class": POOLED, "measure": ms,
                    "quantity": "self_consistency", "pair": f"{s}-{t}", "value": r.estimate[j],
                    "ci_low": r.low[j], "ci_high": r.high[j], "n": int(n_fin[j]),
                    "n_models": 2,
                })
    return make_table(records)


EXPERIMENTS.register("consistency", Experiment(
    name="consistency",
    title="Experiment 2: self-consistency across model seeds",
    run=run_consistency,
    defaults=DEFAULTS,
    profile_params=similarity_profile_params,  # the same measures as Experiment 1
    description="Similarity of each method's maps across models that differ only in their seed, "
                "beside its similarity to the other methods; CIs resample models (pairs "
                "rebuilt) and one shared beat set.",
))
