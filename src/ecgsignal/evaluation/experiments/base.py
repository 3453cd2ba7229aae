"""The experiment registry and the one way to run an experiment with result caching."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ecgsignal.errors import CacheError, ConfigError
from ecgsignal.evaluation.context import ExperimentContext
from ecgsignal.evaluation.results import load_results, save_results
from ecgsignal.io import file_lock
from ecgsignal.registry import Registry
from ecgsignal.tables import normalize_dtypes
from ecgsignal.timing import stage


@dataclass(frozen=True)
class Experiment:
    """One experiment of PROTOCOLS.md.

    ``run(ctx, params)`` returns a tidy table (:func:`ecgsignal.evaluation.results.make_table`);
    ``defaults`` lists every parameter it takes, so unknown or mistyped ones are refused.
    ``profile_params(profile)`` gives the parameters a run profile
    (:class:`ecgsignal.run.profiles.Profile`, read by attribute) sets for this experiment
    (``None``: the profile sets none, the defaults apply).
    """

    name: str
    title: str
    run: Callable[[ExperimentContext, dict[str, Any]], pd.DataFrame]
    defaults: Mapping[str, Any] = field(default_factory=dict)
    needs_masks: bool = False
    description: str = ""
    profile_params: Callable[[Any], dict[str, Any]] | None = None

    def params_from_profile(self, profile: Any) -> dict[str, Any]:
        """The parameters ``profile`` sets for this experiment (``{}`` when it sets none)."""
        return {} if self.profile_params is None else dict(self.profile_params(profile))


EXPERIMENTS: Registry[Experiment] = Registry("experiment")


class ResultsWarning(UserWarning):
    """Saved results could not be used (corrupt, truncated, edited) and are recomputed."""


def resolve_params(exp: Experiment, params: Mapping[str, Any] | None) -> dict[str, Any]:
    """``exp.defaults`` updated with ``params``; unknown names or wrong types raise ConfigError."""
    merged = dict(exp.defaults)
    for k, v in (params or {}).items():
        if k not in exp.defaults:
            raise ConfigError(
                f"experiment {exp.name!r} has no parameter {k!r}; valid: {sorted(exp.defaults)}"
            )
        d = exp.defaults[k]
        if d is not None and v is not None:
            ok = isinstance(v, type(d)) or (isinstance(d, float) and isinstance(v, int)) or (
                isinstance(d, (tuple, list)) and isinstance(v, (tuple, list)))
            if not ok or (isinstance(v, bool) and not isinstance(d, bool)):
                raise ConfigError(
                    f"experiment {exp.name!r}: parameter {k!r} should be {type(d).__name__}, "
                    f"got {v!r}")
        merged[k] = list(v) if isinstance(v, tuple) else v
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in merged.items()}


def run_experiment(name: str, ctx: ExperimentContext, out_dir: str | Path | None = None,
                   params: Mapping[str, Any] | None = None, force: bool = False) -> pd.DataFrame:
    """Run experiment ``name`` on ``ctx``; with ``out_dir``, reuse or save ``out_dir/name/``.

    A rerun with the same config (context + parameters) reads the saved table instead of
    recomputing; the config is saved as ``config.json`` beside ``results.csv``. Saved results
    that are corrupt or do not match their config's checksum are reported with a
    :class:`ResultsWarning` naming the file, recomputed and saved over.
    """
    exp = EXPERIMENTS.get(name)
    if exp.needs_masks and not ctx.dataset.has_masks:
        raise ConfigError(
            f"experiment {name!r} needs ground-truth masks, which only the synthetic data has "
            f"(this dataset: {ctx.dataset.meta.get('source', 'unknown')})"
        )
    p = resolve_params(exp, params)
    config = {"experiment": name, "context": ctx.config(), "params": p}
    target = None if out_dir is None else Path(out_dir) / name

    def compute() -> pd.DataFrame:
        with stage("experiment", name):
            return exp.run(ctx, p)

    return cached_table(target, config, compute, force=force)


LOCK_FILE = ".lock"
"""Name of the lock file inside a result's folder (see :func:`cached_table`)."""


def cached_table(target: str | Path | None, config: Mapping[str, Any],
                 compute: Callable[[], pd.DataFrame], force: bool = False) -> pd.DataFrame:
    """``compute()``'s table, saved in ``target`` beside ``config`` and read back on a rerun.

    The one caching rule of every result (experiments and the summaries that compute new
    statistics): with ``target=None`` nothing is read or written; otherwise a table saved with
    the same ``config`` is returned (dtypes restored), and a missing, stale, corrupt or edited
    one is recomputed and saved atomically (:func:`~ecgsignal.evaluation.results.save_results`),
    a corrupt one with a :class:`ResultsWarning` naming the file. "Check, else compute and
    save" holds :func:`~ecgsignal.io.file_lock` on ``target/.lock``: a second process asking for
    the same table meanwhile waits and reads it instead of computing it again.
    """
    if target is None:
        return normalize_dtypes(compute())
    # one process computes, others wait and read it
    with file_lock(Path(target) / LOCK_FILE):
        if not force:
            try:
                cached = load_results(target, config)
            except CacheError as exc:  # never trusted; recomputed and saved over it
                warnings.warn(f"{exc}; recomputing", ResultsWarning, stacklevel=3)
                cached = None
            if cached is not None:
                return cached
        df = compute()
        save_results(df, target, config)
    return normalize_dtypes(df)
