"""Experiment 1 — inter-method similarity (PROTOCOLS.md; Arends et al. 2026).

On every model of the context (``ctx.seeds``, the K seeds of one config) and the explained beats
(correctly classified test positives of every class, chosen with the reference model
``ctx.seeds[0]``), every pair of methods in ``ctx.methods`` (the 12 paper methods and the
controls by default) is compared beat by beat with each similarity measure of the ``measures``
parameter (:mod:`ecgsignal.evaluation.similarity`). The table holds, per ordered pair
(``method``, ``other``), class and measure, the mean over the models and beats with a 95 % CI
that resamples models and one beat-index set shared by the models
(:func:`~ecgsignal.evaluation.crossed.crossed_ci`; with one model, a BCa interval over beats).
The matrix is symmetric by construction and its diagonal is computed (a method against itself
scores 1 unless its maps are constant, which score NaN).

References
----------
Adebayo, J. et al. (2018). Sanity checks for saliency maps. NeurIPS.
Arends, B. et al. (2026). Signal or noise? Evaluating commonly used attribution methods for
explaining deep neural networks in ECG classification. Eur Heart J Digit Health.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ecgsignal.errors import DataError
from ecgsignal.evaluation._utils import as_maps, rank_rows
from ecgsignal.evaluation.context import ExperimentContext
from ecgsignal.evaluation.crossed import crossed_ci
from ecgsignal.evaluation.experiments._groups import (
    POOLED,
    check_names,
    class_groups,
    context_methods,
)
from ecgsignal.evaluation.experiments.base import EXPERIMENTS, Experiment
from ecgsignal.evaluation.measures import MEASURES
from ecgsignal.evaluation.results import make_table
from ecgsignal.evaluation.similarity import (
    SIMILARITY,
    pearson,
    similarity,
    ssim_from_prepared,
    ssim_prepared,
    topk_from_prepared,
    topk_prepared,
)
from ecgsignal.tables import require_columns, select

__all__ = ["DEFAULTS", "paired_similarity", "pairwise_similarity", "run_similarity",
           "similarity_matrix"]

DEFAULTS: dict[str, Any] = {"measures": ["spearman_abs"]}
"""Parameters: ``measures``, names in :data:`~ecgsignal.evaluation.similarity.SIMILARITY`."""


def _prepare(maps: Mapping[str, np.ndarray], measure: str,
             ) -> tuple[dict[str, np.ndarray], Callable[[np.ndarray, np.ndarray], np.ndarray]]:
    """Maps transformed once, and the comparison that finishes the measure on them.

    Spearman's correlation is Pearson's correlation of the ranks, so the (costly) ranks of each
    map are computed once instead of once per pair: with 15 methods that is 15 rankings instead
    of 240. Other measures compare the maps as given. Both routes give the same numbers as
    :func:`~ecgsignal.evaluation.similarity.similarity` (a test pins it).
    """
    transform = MEASURES.get(measure).rank_transform if measure in MEASURES else None
    if transform is not None:
        out = {}
        for name, a in maps.items():
            arr = as_maps(a, name)
            flat = arr.reshape(arr.shape[0], -1)
            ranks = rank_rows(np.abs(flat) if transform == "abs" else flat)
            out[name] = ranks.reshape(arr.shape)
        return out, pearson
    if measure in _PER_MAP:  # top-k weights / SSIM window statistics of each map, once
        prep, compare = _PER_MAP[measure]
        return {name: prep(a) for name, a in maps.items()}, compare
    return dict(maps), lambda a, b: similarity(a, b, measure)


_PER_MAP = {"topk": (topk_prepared, topk_from_prepared),
            "ssim": (ssim_prepared, ssim_from_prepared)}


def pairwise_similarity(maps: Mapping[str, np.ndarray], measure: str = "spearman_abs",
                        ) -> dict[tuple[str, str], np.ndarray]:
    """Per-beat similarity of every unordered pair of maps, the diagonal included.

    Parameters
    ----------
    maps:
        Method name → attribution maps ``(n, 12, T)`` of the same beats, in the same order.
    measure:
        A name in :data:`~ecgsignal.evaluation.similarity.SIMILARITY`.

    Returns
    -------
    dict
        ``(m_i, m_j)`` with ``i ≤ j`` in the order of ``maps`` → ``(n,)`` float64 scores
        (NaN where a map of a beat is constant; see the measure).
    """
    names = list(maps)
    shapes = {np.shape(maps[m]) for m in names}
    if len(shapes) != 1:
        raise DataError(f"maps must all have one shape (n, 12, T); got {sorted(shapes)}")
    SIMILARITY.get(measure)  # unknown names fail listing the valid ones
    # Chapter 4 compares the same maps twice (Experiment 1 and each method's similarity to the
    # others): pairs already compared in this process, same maps by content, are read back.
    digest = {m: _digest(maps[m]) for m in names}
    keys = {(a, b): (measure, digest[a], digest[b])
            for i, a in enumerate(names) for b in names[i:]}
    todo = [p for p, k in keys.items() if k not in _PAIRS]
    if todo:
        used = list(dict.fromkeys(m for p in todo for m in p))
        prepared, compare = _prepare({m: maps[m] for m in used}, measure)
        for a, b in todo:
            _remember(keys[(a, b)], np.asarray(compare(prepared[a], prepared[b]),
                                               dtype=np.float64))
    return {p: _PAIRS[k].copy() for p, k in keys.items()}


_PAIRS: OrderedDict[tuple, np.ndarray] = OrderedDict()
"""Per-beat similarity by (measure, digest of map a, digest of map b): the most recent
:data:`_PAIRS_MAX` pairs (a few MB)."""
_PAIRS_MAX = 20_000


def _digest(a: np.ndarray) -> bytes:
    arr = np.ascontiguousarray(a)
    head = f"{arr.dtype.str}{arr.shape}".encode()
    return hashlib.blake2b(head + arr.tobytes(), digest_size=16).digest()


def _remember(key: tuple, value: np.ndarray) -> None:
    _PAIRS[key] = value
    _PAIRS.move_to_end(key)
    while len(_PAIRS) > _PAIRS_MAX:
        _PAIRS.popitem(last=False)


def paired_similarity(a: Sequence[np.ndarray], b: Sequence[np.ndarray],
                      measure: str = "spearman_abs") -> list[np.ndarray]:
    """Per-beat similarity of ``a[k]`` with ``b[k]`` for every k, each map prepared once.

    Parameters
    ----------
    a, b:
        Equally long sequences of maps ``(n, 12, T)``; the same array object may recur (e.g.
        one seed's maps in several seed pairs) and is then ranked once.

    Returns
    -------
    list of numpy.ndarray
        ``(n,)`` float64 scores per pair.
    """
    if len(a) != len(b):
        raise DataError(f"a and b must hold as many maps; got {len(a)} and {len(b)}")
    SIMILARITY.get(measure)
    uniq: dict[int, np.ndarray] = {}
    for x in (*a, *b):
        uniq.setdefault(id(x), x)
    keyed = {str(k): v for k, v in uniq.items()}
    prepared, compare = _prepare(keyed, measure)
    return [np.asarray(compare(prepared[str(id(x))], prepared[str(id(y))]), dtype=np.float64)
            for x, y in zip(a, b)]


def run_similarity(ctx: ExperimentContext, params: dict[str, Any]) -> pd.DataFrame:
    """Run Experiment 1 on ``ctx``; see the module docstring for the table it returns.

    Parameters
    ----------
    ctx:
        Models (every seed is explained), beats and methods.
    params:
        ``{"measures": [...]}`` (see :data:`DEFAULTS`).

    Returns
    -------
    pandas.DataFrame
        Tidy rows: ``experiment="similarity"``, ``method``, ``other``, ``class`` (each class with
        explained beats, then ``"all"``), ``seed`` (the reference seed), ``measure``, ``value``
        (mean over models and beats, NaN scores skipped), ``ci_low``, ``ci_high``, ``n`` (finite
        (model, beat) scores) and ``n_models``.
    """
    measures = check_names(params.get("measures", DEFAULTS["measures"]), SIMILARITY, "measures")
    methods = context_methods(ctx)
    seeds = list(dict.fromkeys(int(s) for s in ctx.seeds))
    beats = ctx.beats
    per_model = [{m: ctx.attributions(m, seed=s) for m in methods} for s in seeds]
    groups = class_groups(beats)
    records: list[dict[str, Any]] = []
    for measure in measures:
        pairs = [pairwise_similarity(maps, measure) for maps in per_model]
        keys = list(pairs[0])
        # (models, n beats, n pairs): the same beats on every model (crossed)
        scores = np.stack([np.stack([pw[k] for k in keys], axis=1) for pw in pairs])
        for cls, idx in groups:
            r = crossed_ci(scores[:, idx], n_boot=ctx.n_boot, seed=ctx.seed, bounds=(-1.0, 1.0))
            n_fin = np.isfinite(scores[:, idx]).sum(axis=(0, 1))
            for j, (a, b) in enumerate(keys):
                for m, o in ((a, b),) if a == b else ((a, b), (b, a)):
                    records.append({
                        "experiment": "similarity", "method": m, "other": o, "class": cls,
                        "seed": seeds[0], "measure": measure, "value": r.estimate[j],
                        "ci_low": r.low[j], "ci_high": r.high[j], "n": int(n_fin[j]),
                        "n_models": len(seeds),
                    })
    df = make_table(records)
    order = {m: i for i, m in enumerate(methods)}
    cls_order = {c: i for i, (c, _) in enumerate(groups)}
    df = df.sort_values(
        ["measure", "class", "method", "other"],
        key=lambda s: s.map(order) if s.name in ("method", "other")
        else s.map(cls_order) if s.name == "class" else s.map({m: i for i, m in enumerate(measures)}),
        kind="stable",
    )
    return df.reset_index(drop=True)


def similarity_matrix(df: pd.DataFrame, measure: str = "spearman_abs", cls: str = POOLED,
                      column: str = "value") -> pd.DataFrame:
    """The method × method matrix of one measure and class from Experiment 1's table.

    Parameters
    ----------
    df:
        The table of :func:`run_similarity` (or read back from ``results.csv``).
    measure:
        Similarity measure to show.
    cls:
        A class name, or ``"all"`` for the pooled beats.
    column:
        ``"value"`` (default), ``"ci_low"`` or ``"ci_high"``.

    Returns
    -------
    pandas.DataFrame
        Square frame indexed by ``method`` with one column per ``other``, both in the order the
        methods first appear in ``df``.
    """
    require_columns(df, ("method", "other", "class", "measure", column),
                    hint="is it Experiment 1's results?")
    sel = select(df, measure=measure, class_=cls)
    if sel.empty:
        raise DataError(f"no rows for measure={measure!r} and class={cls!r} together")
    order: Sequence[str] = list(dict.fromkeys(sel["method"]))
    if sel.duplicated(["method", "other"]).any():
        raise DataError("the table holds several rows per (method, other) for this measure and "
                        "class; filter it to one experiment run first")
    mat = sel.pivot(index="method", columns="other", values=column)
    return mat.reindex(index=order, columns=order)


def profile_params(p: Any) -> dict[str, Any]:
    """What a run profile sets: its ``similarity_measures``."""
    return {"measures": list(p.similarity_measures)}


EXPERIMENTS.register("similarity", Experiment(
    name="similarity",
    title="Experiment 1: inter-method similarity",
    run=run_similarity,
    defaults=DEFAULTS,
    profile_params=profile_params,
    description="Pairwise similarity of the maps of every two methods (and controls) on the same "
                "beats, averaged over the seeds' models, per class and pooled, with CIs over "
                "models and beats.",
))
