"""One weight draw of Experiment 3: walk every order, attribute, score against the references.

Each draw (seed ``seed + d``) is independent of the others, so :func:`walk_draws` runs the draws
one after the other here or side by side in worker processes (``workers > 1``, ``spawn``, each
with ``threads`` torch threads). A draw's maps are the same wherever it runs (same network, method
and attribution seed; on CPU up to the float rounding of the thread count), so the scores do not
depend on ``workers``.

A randomised network is fixed by the set of stages re-drawn (stage ``i`` always draws from
``(seed + d, i)``), so orders share networks: top-down ``k = L`` is bottom-up ``k = L``,
independent ``k = 1`` is top-down ``k = 1`` and independent ``k = L`` is bottom-up ``k = 1``.
Their maps are computed once per draw and dropped after their last use.

Ranks of ``|map|`` are computed once per map and reused by every comparison that needs them:
``spearman_abs`` under either normalisation (``|a| / max|a|`` keeps the order of ``|a|``
exactly: two distinct float32 values stay distinct after one float64 division) and the partial
Spearman; the references' ranks (trained maps, ``|x|``) once per method.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ecgsignal.evaluation._utils import abs_rank_rows, row_pearson
from ecgsignal.evaluation.crossed import partial_spearman_ranks
from ecgsignal.evaluation.randomization import iter_randomized, randomized_stages
from ecgsignal.evaluation.similarity import similarity
from ecgsignal.timing import stage

__all__ = ["DrawJob", "Scorer", "walk_draws"]


class Scorer:
    """Per-beat similarities of maps with a reference, ranking each array once while held."""

    def __init__(self, keys: list[tuple[str, str]], normalize: Callable[[np.ndarray, str],
                                                                           np.ndarray]) -> None:
        self.keys, self.normalize = keys, normalize
        self._ranks: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def ranks(self, a: np.ndarray) -> np.ndarray:
        """Row ranks of ``|a|`` (memoised by identity while ``a`` is alive in the memo)."""
        hit = self._ranks.get(id(a))
        if hit is None or hit[0] is not a:
            hit = (a, abs_rank_rows(a))
            self._ranks[id(a)] = hit
        return hit[1]

    def forget(self, keep: list[np.ndarray]) -> None:
        """Drop every memoised rank except those of ``keep`` (each ~2.6 MB at 90 beats)."""
        ids = {id(a) for a in keep}
        for key in [k for k in self._ranks if k not in ids]:
            del self._ranks[key]

    def score(self, ref: np.ndarray, maps: list[np.ndarray]) -> np.ndarray:
        """``(len(maps), n, len(keys))`` similarities of each map with ``ref``."""
        cols = []
        for norm, meas in self.keys:
            if meas == "spearman_abs":
                rr = self.ranks(ref)
                cols.append(np.stack([row_pearson(rr, self.ranks(a)) for a in maps]))
                continue
            ra = self.normalize(ref, norm)
            cols.append(np.stack([np.asarray(similarity(ra, self.normalize(a, norm), meas),
                                             dtype=np.float64) for a in maps]))
        return np.stack(cols, axis=-1)


@dataclass
class DrawJob:
    """Everything one draw needs (it pickles, for worker processes)."""

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
    threads: int = 0


def _one_draw(job: DrawJob, d: int,
              normalize: Callable[[np.ndarray, str], np.ndarray]) -> dict[tuple, np.ndarray]:
    """Scores of draw ``d``: ``{(order, k, reference, method): (n, len(keys))}`` for k ≥ 1."""
    from ecgsignal.attribution import attribute

    if job.threads:
        import torch

        torch.set_num_threads(job.threads)
    sc = Scorer(job.keys, normalize)
    x_abs = np.abs(job.x)

    def stage_set(order: str, k: int) -> frozenset[int]:
        return frozenset(randomized_stages(job.n_stages, k, order))

    left = Counter((stage_set(o, k), m) for o in job.orders for k in range(1, job.n_stages + 1)
                   for m in job.methods)
    memo: dict[tuple[frozenset[int], str], np.ndarray] = {}
    out: dict[tuple, np.ndarray] = {}
    for order in job.orders:
        walk = iter_randomized(job.model, order, seed=job.seed + d, bn=job.bn,
                               granularity=job.granularity, include_trained=False)
        for k, _name, net in walk:
            for m in job.methods:
                key = (stage_set(order, k), m)
                a = memo.pop(key, None)
                if a is None:
                    a = attribute(net, job.x, job.target, m, seed=job.noise_seeds[d],
                                  baselines=job.baselines, device=job.device, fs=job.fs)
                left[key] -= 1
                if left[key] > 0:
                    memo[key] = a
                out[(order, k, "trained", m)] = sc.score(job.trained[m], [a])[0]
                if job.input_reference:
                    out[(order, k, "input", m)] = sc.score(x_abs, [a])[0]
                if job.partial:
                    ps = partial_spearman_ranks(sc.ranks(job.trained[m]), sc.ranks(a),
                                                sc.ranks(job.x))
                    out[(order, k, "trained_partial_input", m)] = np.repeat(
                        ps[:, None], len(job.keys), axis=1)
            sc.forget([*job.trained.values(), x_abs, job.x])
    return out


def _worker(args: tuple) -> dict[tuple, np.ndarray]:
    job, d, normalize = args
    return _one_draw(job, d, normalize)


def walk_draws(job: DrawJob, draws: int, normalize: Callable[[np.ndarray, str], np.ndarray],
               workers: int = 1, on_draw: Callable[[int], None] | None = None,
               ) -> list[dict[tuple, np.ndarray]]:
    """The scores of draws ``0 … draws-1`` (see :func:`_one_draw`), in draw order.

    ``workers > 1`` runs up to that many draws at once in ``spawn`` worker processes, each with
    ``max(1, cores // workers)`` torch threads; ``normalize`` must then be a module-level
    function (it is pickled). ``on_draw(d)`` is called as each draw finishes.
    """
    workers = max(1, min(int(workers), draws))
    if workers == 1:
        out = []
        for d in range(draws):
            out.append(_one_draw(job, d, normalize))
            if on_draw is not None:
                on_draw(d)
        return out
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from multiprocessing import get_context

    job.threads = max(1, (os.cpu_count() or 1) // workers)
    results: dict[int, dict[tuple, np.ndarray]] = {}
    with stage("waiting", "randomization draws"), \
            ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        futures = {pool.submit(_worker, (job, d, normalize)): d for d in range(draws)}
        for fut in as_completed(futures):
            results[futures[fut]] = fut.result()
            if on_draw is not None:
                on_draw(futures[fut])
    job.threads = 0
    return [results[d] for d in range(draws)]
