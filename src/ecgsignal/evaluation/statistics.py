"""Seeded percentile-bootstrap confidence intervals over beats, and over seeds then beats.

Every figure the book reports carries a 95 % interval from here (PROTOCOLS.md, Statistics):
B = 1000 resamples by default, a fresh ``numpy.random.Generator`` per call, so the same seed gives
the same interval on every machine.

- One level (``groups=None``): resample the ``n`` values with replacement (Efron & Tibshirani
  1993, percentile method).
- Two levels (``groups`` given, e.g. the model seed of every value): resample the groups with
  replacement, then the values within each drawn group with replacement (the hierarchical or
  "cases" bootstrap; Davison & Hinkley 1997, §3.8). This carries the between-seed variability
  into the interval, which a bootstrap over pooled beats would hide.

NaN values (e.g. correlations of constant maps) are skipped by the default statistic
``np.nanmean``; a resample made only of NaNs gives a NaN replicate, which the percentiles skip.

References
----------
Efron, B., Tibshirani, R. J. (1993). An Introduction to the Bootstrap. Chapman & Hall.
Davison, A. C., Hinkley, D. V. (1997). Bootstrap Methods and their Application. Cambridge UP.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from ecgsignal.errors import DataError
from ecgsignal.tables import require_columns
from ecgsignal.timing import timed
from ecgsignal.validation import check_bootstrap

__all__ = ["bootstrap_ci", "bootstrap_ci_many", "bootstrap_table"]

Stat = Callable[..., np.ndarray]

# resampled values held in memory at once (float64 entries), so 10^5 beats × 1000 stays small
_CHUNK_ENTRIES = 4_000_000


def _as_values(values: object, ndim: int) -> np.ndarray:
    try:
        v = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"values must be numeric; got {type(values).__name__}") from exc
    if v.ndim != ndim:
        want = "(n,)" if ndim == 1 else "(n, m)"
        raise DataError(f"values must have shape {want}; got {v.shape}")
    if v.shape[0] == 0:
        raise DataError("values is empty: nothing to bootstrap")
    if np.isinf(v).any():
        raise DataError("values contains infinite entries")
    return v


def _group_index(groups: object, n: int) -> list[np.ndarray]:
    g = np.asarray(groups)
    if g.shape != (n,):
        raise DataError(f"groups must have shape ({n},), one label per value; got {g.shape}")
    _, inverse = np.unique(g, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    bounds = np.flatnonzero(np.diff(inverse[order])) + 1
    return np.split(order, bounds)


def _apply(stat: Stat, x: np.ndarray, axis: int) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices → NaN, on purpose
        return np.asarray(stat(x, axis=axis), dtype=np.float64)


def _replicates(
    v: np.ndarray, n_boot: int, rng: np.random.Generator, groups: object, stat: Stat
) -> np.ndarray:
    """Bootstrap replicates of ``stat`` over axis 0 of ``v`` (n, m) → (n_boot, m)."""
    n, m = v.shape
    out = np.empty((n_boot, m))
    if groups is None:
        chunk = max(1, _CHUNK_ENTRIES // max(1, n * m))
        for start in range(0, n_boot, chunk):
            b = min(chunk, n_boot - start)
            idx = rng.integers(0, n, size=(b, n))
            out[start : start + b] = _apply(stat, v[idx], axis=1)
        return out
    members = _group_index(groups, n)
    g = len(members)
    sizes = np.array([len(x) for x in members])
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    flat = np.concatenate(members)
    for r in range(n_boot):
        chosen = rng.integers(0, g, size=g)
        k = sizes[chosen]
        base = np.repeat(starts[chosen], k)
        offset = np.floor(rng.random(int(k.sum())) * np.repeat(k, k)).astype(np.int64)
        out[r] = _apply(stat, v[flat[base + offset]], axis=0)
    return out


@timed("bootstrap")
def bootstrap_ci_many(
    values: np.ndarray,
    *,
    n_boot: int = 1000,
    ci: float = 0.95,
    seed: int = 0,
    groups: Sequence[object] | np.ndarray | None = None,
    stat: Stat = np.nanmean,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Percentile-bootstrap CIs for every column of ``values``, resampling rows jointly.

    Columns are resampled with the *same* row indices (paired), which is right when the columns
    are different measures or methods on the same beats; and it makes each column's interval
    identical to ``bootstrap_ci(values[:, j], same options)``.

    Parameters
    ----------
    values:
        ``(n, m)``: n beats (rows) × m quantities (columns); NaN allowed (see ``stat``).
    n_boot:
        Number of bootstrap resamples B.
    ci:
        Coverage of the interval, in (0, 1); 0.95 gives the 2.5 and 97.5 percentiles.
    seed:
        Seed of the ``numpy.random.Generator`` drawing the resamples.
    groups:
        ``(n,)`` labels (e.g. model seed per row) for the two-level bootstrap: groups first, then
        rows within the drawn groups. ``None`` resamples rows only.
    stat:
        Reduction taking ``(array, axis=...)``, e.g. ``np.nanmean`` (default) or ``np.nanmedian``.

    Returns
    -------
    (estimate, low, high):
        Three ``(m,)`` arrays: ``stat`` of each column on the data, and the percentile interval.
        NaN for a column with no finite value.
    """
    check_bootstrap(n_boot, ci)
    v = _as_values(values, 2)
    rng = np.random.default_rng(seed)
    est = _apply(stat, v, axis=0)
    reps = _replicates(v, int(n_boot), rng, groups, stat)
    alpha = (1.0 - float(ci)) / 2.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        lo, hi = np.nanquantile(reps, [alpha, 1.0 - alpha], axis=0)
    return est, lo, hi


@timed("bootstrap")
def bootstrap_ci(
    values: np.ndarray,
    *,
    n_boot: int = 1000,
    ci: float = 0.95,
    seed: int = 0,
    groups: Sequence[object] | np.ndarray | None = None,
    stat: Stat = np.nanmean,
) -> tuple[float, float, float]:
    """Estimate and percentile-bootstrap CI of ``stat`` over beats (and seeds).

    Parameters
    ----------
    values:
        ``(n,)`` per-beat values (e.g. similarity scores); NaN entries are skipped by the default
        ``np.nanmean``.
    n_boot, ci, seed, groups, stat:
        As in :func:`bootstrap_ci_many`.

    Returns
    -------
    (estimate, low, high):
        Floats; ``low ≤ estimate ≤ high`` in all but degenerate cases. Same seed → same numbers.

    Examples
    --------
    >>> est, lo, hi = bootstrap_ci(np.arange(10.0), seed=1)
    >>> round(est, 2), lo < est < hi
    (4.5, True)
    """
    v = _as_values(values, 1)
    est, lo, hi = bootstrap_ci_many(
        v[:, None], n_boot=n_boot, ci=ci, seed=seed, groups=groups, stat=stat
    )
    return float(est[0]), float(lo[0]), float(hi[0])


def bootstrap_table(
    frame: pd.DataFrame,
    by: Sequence[str],
    value: str = "value",
    *,
    group: str | None = None,
    n_boot: int = 1000,
    ci: float = 0.95,
    seed: int = 0,
    stat: Stat = np.nanmean,
) -> pd.DataFrame:
    """Summarise a long table of per-beat values into estimate and CI per cell of ``by``.

    Parameters
    ----------
    frame:
        Tidy table, one row per beat (and seed) with the factor columns ``by``, the ``value``
        column and, for the two-level bootstrap, a ``group`` column (e.g. ``"seed"``).
    by:
        Factor columns to summarise over (e.g. ``["method", "class", "measure"]``).
    value:
        Column holding the per-beat numbers.
    group:
        Column whose labels are resampled first (two-level bootstrap), or ``None``.
    n_boot, ci, seed, stat:
        As in :func:`bootstrap_ci`; every cell uses the same ``seed``.

    Returns
    -------
    pandas.DataFrame
        One row per cell: the ``by`` columns, ``value`` (the estimate), ``ci_low``, ``ci_high``
        and ``n`` (number of finite values), in the order the cells first appear.
    """
    by = list(by)
    require_columns(frame, [*by, value] + ([group] if group else []), "frame")
    rows = []
    for key, cell in frame.groupby(by, sort=False, dropna=False):
        vals = cell[value].to_numpy(dtype=np.float64)
        grp = cell[group].to_numpy() if group else None
        est, lo, hi = bootstrap_ci(vals, n_boot=n_boot, ci=ci, seed=seed, groups=grp, stat=stat)
        keys = key if isinstance(key, tuple) else (key,)
        rows.append(
            {**dict(zip(by, keys)), value: est, "ci_low": lo, "ci_high": hi,
             "n": int(np.isfinite(vals).sum())}
        )
    return pd.DataFrame(rows, columns=[*by, value, "ci_low", "ci_high", "n"])
