"""Run the paper's grid of independent work units locally or on a Dask cluster.

The grid: train seed *s*; attribute shard *k* of the explained beats with method *m* under the
model of seed *s*. Units are pure functions of (profile, unit): a worker rebuilds the dataset from
the profile (deterministic) and loads the model from the shared checkpoint cache, so the Dask
executor gives results identical to the local one. Scheduling is Dask's (a ``LocalCluster`` by
default, or any scheduler address, e.g. one started by dask-jobqueue on SLURM); nothing here is a
home-made scheduler.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from ecgsignal.config import to_dict
from ecgsignal.run.profiles import Profile, load_profile


@dataclass(frozen=True)
class WorkUnit:
    """One independent piece of the grid. ``kind`` is ``"train"`` or ``"attribute"``."""

    kind: str
    seed: int
    method: str | None = None
    shard: int = 0
    n_shards: int = 1


class LocalExecutor:
    """Runs units one after another in this process, with a progress bar."""

    name = "local"

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any], desc: str = "units") -> list[Any]:
        return [fn(it) for it in tqdm(items, desc=desc, unit="unit")]

    def close(self) -> None:
        pass


class DaskExecutor:
    """Runs units on a ``dask.distributed`` cluster.

    Parameters
    ----------
    address:
        Scheduler address (``tcp://host:8786``); ``None`` starts a ``LocalCluster``.
    n_workers, threads_per_worker:
        Size of the LocalCluster (ignored with an address). One thread per worker keeps torch from
        oversubscribing cores.
    """

    name = "dask"

    def __init__(self, address: str | None = None, n_workers: int = 2,
                 threads_per_worker: int = 1) -> None:
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError as exc:  # pragma: no cover
            raise ImportError('the Dask executor needs `pip install "ecgsignal[dask]"`') from exc
        self._cluster = None
        if address is None:
            self._cluster = LocalCluster(n_workers=n_workers, threads_per_worker=threads_per_worker,
                                         processes=True, dashboard_address=None)
            self.client = Client(self._cluster)
        else:
            self.client = Client(address)

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any], desc: str = "units") -> list[Any]:
        from dask.distributed import as_completed

        futures = self.client.map(fn, list(items), pure=False)
        for _ in tqdm(as_completed(futures), total=len(futures), desc=desc, unit="unit"):
            pass
        return self.client.gather(futures)

    def close(self) -> None:
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def get_executor(name: str = "local", **kwargs: Any) -> LocalExecutor | DaskExecutor:
    """``"local"`` or ``"dask"`` (kwargs go to :class:`DaskExecutor`)."""
    if name == "local":
        return LocalExecutor()
    if name == "dask":
        return DaskExecutor(**kwargs)
    from ecgsignal.errors import ConfigError

    raise ConfigError(f"unknown executor {name!r}; valid: local, dask")


# ----------------------------------------------------------------------------- units
@lru_cache(maxsize=4)
def _context(profile_json: str, cache_dir: str | None):
    import json

    from ecgsignal.run.pipeline import build_context

    prof = load_profile(Profile(**{k: tuple(v) if isinstance(v, list) else v
                                   for k, v in json.loads(profile_json).items()}))
    return build_context(prof, cache_dir=cache_dir, progress=False)


def _profile_json(p: Profile) -> str:
    import json

    return json.dumps(to_dict(p), sort_keys=True)


def shard_indices(n: int, n_shards: int, shard: int) -> np.ndarray:
    """Indices of shard ``shard`` of ``n`` beats cut into ``n_shards`` contiguous, near-equal parts.

    Raises
    ------
    ConfigError
        ``n_shards < 1`` or ``shard`` outside ``[0, n_shards)``.
    """
    from ecgsignal.errors import ConfigError

    if isinstance(n_shards, bool) or not isinstance(n_shards, (int, np.integer)) or n_shards < 1:
        raise ConfigError(f"n_shards must be a positive integer, got {n_shards!r}")
    if isinstance(shard, bool) or not isinstance(shard, (int, np.integer)) \
            or not 0 <= shard < n_shards:
        raise ConfigError(f"shard must be an integer in [0, {n_shards}), got {shard!r}")
    return np.array_split(np.arange(n), n_shards)[shard]


def run_unit(args: tuple[str, str | None, WorkUnit]) -> Any:
    """Execute one unit in any process: returns AUROC dict (train) or an array shard (attribute)."""
    profile_json, cache_dir, unit = args
    torch_threads = os.environ.get("ECGSIGNAL_TORCH_THREADS")
    if torch_threads:
        import torch

        torch.set_num_threads(int(torch_threads))
    ctx = _context(profile_json, cache_dir)
    if unit.kind == "train":
        return ctx.trained(unit.seed).auroc
    if unit.kind == "attribute":
        from ecgsignal.attribution import attribute

        beats = ctx.beats
        parts = shard_indices(beats.n, unit.n_shards, unit.shard)
        if parts.size == 0:  # more shards than beats
            return np.empty((0,) + beats.x.shape[1:], dtype=np.float32)
        # beat_offset: each beat draws the noise it draws in an unsharded call (same maps)
        return attribute(ctx.model(unit.seed), beats.x[parts], beats.target[parts], unit.method,
                         seed=ctx.attribution_seed(unit.seed), baselines=ctx.baselines,
                         device=ctx.device, fs=ctx.dataset.fs, beat_offset=int(parts[0]))
    raise ValueError(f"unknown unit kind {unit.kind!r}")


def grid(profile: Profile, methods: Iterable[str], n_shards: int = 1) -> tuple[list[WorkUnit], list[WorkUnit]]:
    """The training units (one per seed) and attribution units (seed × method × shard)."""
    train = [WorkUnit("train", s) for s in profile.seeds]
    attr = [WorkUnit("attribute", s, m, k, n_shards)
            for s in profile.seeds for m in methods for k in range(n_shards)]
    return train, attr


def run_grid(profile: Profile, executor: LocalExecutor | DaskExecutor, methods: Sequence[str] | None = None,
             n_shards: int = 1, cache_dir: str | None = None) -> dict[tuple[int, str], np.ndarray]:
    """Train every seed, then attribute every (seed, method) in shards; maps keyed by (seed, method).

    Models are trained once into the shared checkpoint cache (train units run first, in parallel
    across seeds); attribution shards are concatenated in order. Every shard passes its first
    beat's index as ``beat_offset``, so stochastic methods draw each beat's noise as in one
    unsharded call: the maps depend neither on the executor nor on ``n_shards`` (up to float
    rounding of different batch sizes; identical bits for the same ``n_shards`` and threads).
    """
    from ecgsignal.run.pipeline import resolve_profile_methods

    shard_indices(1, n_shards, 0)  # validates n_shards before any work starts

    methods = list(methods) if methods is not None else list(resolve_profile_methods(profile.methods))
    pj = _profile_json(profile)
    train, attr = grid(profile, methods, n_shards)
    executor.map(run_unit, [(pj, cache_dir, u) for u in train], desc="train")
    shards = executor.map(run_unit, [(pj, cache_dir, u) for u in attr], desc="attribute")
    out: dict[tuple[int, str], list[np.ndarray]] = {}
    for u, a in zip(attr, shards):
        out.setdefault((u.seed, u.method), []).append(a)
    return {k: np.concatenate(v, axis=0) for k, v in out.items()}
