"""The randomised networks of Experiment 3: build each once, attribute, score against the references.

A randomised network is fixed by its draw ``d`` and the set of stages re-drawn (stage ``i`` of
draw ``d`` always draws from ``(seed + d, i)``, :func:`~ecgsignal.evaluation.randomization.
stage_generator`), so orders share networks: top-down ``k = L`` is bottom-up ``k = L``,
independent ``k = 1`` is top-down ``k = 1`` and independent ``k = L`` is bottom-up ``k = 1``.
One *unit* of work is one such network: it is built directly from its stage set
(:func:`~ecgsignal.evaluation.randomization.randomized_stage_copy`), every method's maps are
computed on it once, and every (order, k) step that reaches it is scored. With ``L`` stages and
all three orders a draw has ``3L - 3`` distinct networks (15 for the default CNN) instead of
``3L`` steps.

Units are independent, so :func:`walk_units` runs them one after the other here or side by side in
``spawn`` worker processes (``workers > 1``; the job is sent once per worker). The units are of
similar cost, so the workers stay busy to the end (a draw per task left one worker idle while
the other finished the last draw). A unit's maps are the same wherever it runs (same network,
method and attribution seed; on CPU up to the float rounding of the thread count), so the scores
do not depend on ``workers``.

With ``path_rows`` set, the networks between the trained and the fully randomised one explain
only those rows of ``x`` (the *path beats*); the fully randomised network (every stage re-drawn)
explains every beat, so its scores are those of a walk without ``path_rows``.

Ranks of ``|map|`` are computed once per map and reused by every comparison that needs them:
``spearman_abs`` under either normalisation (``|a| / max|a|`` keeps the order of ``|a|``
exactly: two distinct float32 values stay distinct after one float64 division) and the partial
Spearman; the references' ranks (trained maps, ``|x|``) once per worker.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ecgsignal.evaluation._utils import abs_rank_rows, as_maps, rank_rows, row_pearson
from ecgsignal.evaluation.crossed import partial_spearman_ranks
from ecgsignal.evaluation.randomization import randomized_stage_copy, randomized_stages
from ecgsignal.evaluation.similarity import (
    similarity,
    ssim_from_prepared,
    ssim_prepared,
    topk_from_prepared,
    topk_prepared,
)
from ecgsignal.timing import stage

__all__ = ["Scorer", "WalkJob", "walk_units"]


class Scorer:
    """Per-beat similarities of maps with a reference, preparing each array once while held.

    Every measure splits into a per-map part and a cheap combination of two such parts (ranks
    and a Pearson correlation for the rank measures, the flat float64 map for ``pearson``, the
    top-k weights for ``topk``, the window statistics for ``ssim``:
    :func:`~ecgsignal.evaluation.similarity.topk_prepared`,
    :func:`~ecgsignal.evaluation.similarity.ssim_prepared`). The per-map part of a reference
    (a trained map, ``|x|``) is computed once for every network it is compared with, and a map's
    once for both references: the same operations on the same arrays as
    :func:`~ecgsignal.evaluation.similarity.similarity`, so the same numbers bit for bit
    (``tests/test_exp_randomization.py``).
    """

    def __init__(self, keys: list[tuple[str, str]], normalize: Callable[[np.ndarray, str],
                                                                           np.ndarray]) -> None:
        self.keys, self.normalize = keys, normalize
        self._ranks: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._parts: dict[tuple[int, str, str], tuple[np.ndarray, Any]] = {}

    def ranks(self, a: np.ndarray) -> np.ndarray:
        """Row ranks of ``|a|`` (memoised by identity while ``a`` is alive in the memo)."""
        hit = self._ranks.get(id(a))
        if hit is None or hit[0] is not a:
            hit = (a, abs_rank_rows(a))
            self._ranks[id(a)] = hit
        return hit[1]

    def part(self, a: np.ndarray, norm: str, meas: str) -> Any:
        """The per-map part of ``meas`` for ``a`` under normalisation ``norm`` (memoised)."""
        if meas == "spearman_abs" or (meas == "spearman_signed" and norm == "abs_max"):
            # |a| / max|a| keeps the order of |a| (and its ties): one ranking serves them all
            return self.ranks(a)
        key = (id(a), norm, meas)
        hit = self._parts.get(key)
        if hit is None or hit[0] is not a:
            x = as_maps(self.normalize(a, norm), "a")
            flat = x.reshape(x.shape[0], -1)
            if meas == "spearman_signed":
                got: Any = rank_rows(flat)
            elif meas == "pearson":
                got = flat
            elif meas in _PREPARED:
                got = _PREPARED[meas][0](x)
            else:
                got = None  # any other measure: computed pair by pair
            hit = (a, got)
            self._parts[key] = hit
        return hit[1]

    def forget(self, keep: list[np.ndarray]) -> None:
        """Drop every memoised part except those of ``keep`` (each a few MB at 90 beats)."""
        ids = {id(a) for a in keep}
        for key in [k for k in self._ranks if k not in ids]:
            del self._ranks[key]
        for key in [k for k in self._parts if k[0] not in ids]:
            del self._parts[key]

    def score(self, ref: np.ndarray, maps: list[np.ndarray]) -> np.ndarray:
        """``(len(maps), n, len(keys))`` similarities of each map with ``ref``."""
        cols = []
        for norm, meas in self.keys:
            pr = self.part(ref, norm, meas)
            if meas in ("spearman_abs", "spearman_signed", "pearson"):
                cols.append(np.stack([row_pearson(pr, self.part(a, norm, meas)) for a in maps]))
            elif meas in _PREPARED:
                combine = _PREPARED[meas][1]
                cols.append(np.stack([combine(pr, self.part(a, norm, meas)) for a in maps]))
            else:
                ra = self.normalize(ref, norm)
                cols.append(np.stack([np.asarray(similarity(ra, self.normalize(a, norm), meas),
                                                 dtype=np.float64) for a in maps]))
        return np.stack(cols, axis=-1)


_PREPARED = {"topk": (topk_prepared, topk_from_prepared),
             "ssim": (ssim_prepared, ssim_from_prepared)}
"""Measures with a per-map part (their default options, as Experiment 3 calls them)."""


@dataclass
class WalkJob:
    """Everything the units need (it pickles, for worker processes)."""

    model: Any
    x: np.ndarray
    target: np.ndarray
    baselines: np.ndarray
    device: Any
    fs: float
    trained: dict[str, np.ndarray]
    methods: list[str]
    orders: list[str]
    n_stages: int
    seed: int
    bn: str
    granularity: str
    keys: list[tuple[str, str]]
    input_reference: bool
    partial: bool
    noise_seeds: list[int]
    normalize: Callable[[np.ndarray, str], np.ndarray]
    path_rows: np.ndarray | None = None

    def __post_init__(self) -> None:
        # the path beats' arrays, made once: the scorer memoises a reference's parts by identity
        rows = self.path_rows
        self._path = None if rows is None else (
            self.x[rows], self.target[rows], {m: a[rows] for m, a in self.trained.items()})

    def beats_for(self, stage_set: frozenset[int]) -> tuple[np.ndarray, np.ndarray,
                                                             dict[str, np.ndarray]]:
        """``(x, target, trained maps)`` a network explains: every beat when it is fully
        randomised (or without ``path_rows``), else the path beats."""
        if self._path is None or len(stage_set) == self.n_stages:
            return self.x, self.target, self.trained
        return self._path

    def references(self) -> list[np.ndarray]:
        """The arrays every network is compared with (beats and trained maps, whole and on the
        path): the scorer keeps their memoised parts."""
        out = [self.x, *self.trained.values()]
        if self._path is not None:
            out += [self._path[0], *self._path[2].values()]
        return out

    def units(self) -> list[tuple[int, frozenset[int], list[tuple[str, int]]]]:
        """``(draw, stage set, [(order, k), …])`` for every distinct network, draw-major."""
        out = []
        for d in range(len(self.noise_seeds)):
            steps: dict[frozenset[int], list[tuple[str, int]]] = {}
            for order in self.orders:
                for k in range(1, self.n_stages + 1):
                    s = frozenset(randomized_stages(self.n_stages, k, order))
                    steps.setdefault(s, []).append((order, k))
            out += [(d, s, st) for s, st in steps.items()]
        return out


def _score_unit(job: WalkJob, sc: Scorer, x_abs: dict[int, np.ndarray],
                unit: tuple[int, frozenset[int], list[tuple[str, int]]]) -> dict[tuple, np.ndarray]:
    """Scores of one network: ``{(order, k, reference, method): (n, len(keys))}`` (``n``: the
    beats it explains, :meth:`WalkJob.beats_for`). ``x_abs`` maps ``id(x)`` to ``|x|``."""
    from ecgsignal.attribution import attribute

    d, stage_set, steps = unit
    x, target, trained = job.beats_for(stage_set)
    xa = x_abs.get(id(x))
    if xa is None:
        xa = x_abs[id(x)] = np.abs(x)
    net = randomized_stage_copy(job.model, sorted(stage_set), seed=job.seed + d, bn=job.bn,
                                granularity=job.granularity)
    out: dict[tuple, np.ndarray] = {}
    for m in job.methods:
        a = attribute(net, x, target, m, seed=job.noise_seeds[d],
                      baselines=job.baselines, device=job.device, fs=job.fs)
        got = {"trained": sc.score(trained[m], [a])[0]}
        if job.input_reference:
            got["input"] = sc.score(xa, [a])[0]
        if job.partial:
            ps = partial_spearman_ranks(sc.ranks(trained[m]), sc.ranks(a), sc.ranks(x))
            got["trained_partial_input"] = np.repeat(ps[:, None], len(job.keys), axis=1)
        for order, k in steps:
            for ref, v in got.items():
                out[(order, k, ref, m)] = v
        sc.forget(job.references() + list(x_abs.values()))
    return out


_WORKER: dict[str, Any] = {}


def _init_worker(job: WalkJob, threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    _WORKER["job"] = job
    _WORKER["scorer"] = Scorer(job.keys, job.normalize)
    _WORKER["x_abs"] = {}


def _run_unit(unit: tuple[int, frozenset[int], list[tuple[str, int]]]) -> dict[tuple, np.ndarray]:
    return _score_unit(_WORKER["job"], _WORKER["scorer"], _WORKER["x_abs"], unit)


def walk_units(job: WalkJob, workers: int = 1, threads: int = 1,
               on_unit: Callable[[], None] | None = None) -> list[dict[tuple, np.ndarray]]:
    """The scores of every draw, in draw order: ``[{(order, k, reference, method): (n, keys)}]``.

    ``workers > 1`` runs up to that many networks at once in ``spawn`` worker processes, each
    with ``threads`` torch threads; ``job.normalize`` must then be a module-level function (it
    is pickled). ``on_unit()`` is called as each network is done (for a progress bar).
    """
    units = job.units()
    per_draw: list[dict[tuple, np.ndarray]] = [{} for _ in job.noise_seeds]
    workers = max(1, min(int(workers), len(units)))
    if workers == 1:
        sc, x_abs = Scorer(job.keys, job.normalize), {}
        for unit in units:
            per_draw[unit[0]].update(_score_unit(job, sc, x_abs, unit))
            if on_unit is not None:
                on_unit()
        return per_draw
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from multiprocessing import get_context

    with stage("waiting", "randomization networks"), ProcessPoolExecutor(
            max_workers=workers, mp_context=get_context("spawn"), initializer=_init_worker,
            initargs=(job, max(1, int(threads)))) as pool:
        futures = {pool.submit(_run_unit, u): u[0] for u in units}
        for fut in as_completed(futures):
            per_draw[futures[fut]].update(fut.result())
            if on_unit is not None:
                on_unit()
    return per_draw
