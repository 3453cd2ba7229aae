"""Private helpers shared by the evaluation measures: input checks and tie-aware row ranks.

Nothing here is public API; the measure modules (``similarity``, ``localization``,
``perturbation``) validate their inputs through these functions so every measure fails the same
way on bad input.
"""

from __future__ import annotations

import sys

import numpy as np

from ecgsignal.errors import DataError
from ecgsignal.validation import check_fraction  # noqa: F401  (re-exported for the measures)


def as_maps(a: object, name: str = "a", *, ndim: int | None = 3) -> np.ndarray:
    """``a`` as a finite float64 array of beats ``(n, ...)``; ``ndim`` fixes the rank when given."""
    try:
        arr = np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{name} must be a numeric array, got {type(a).__name__}") from exc
    if ndim is not None and arr.ndim != ndim:
        raise DataError(f"{name} must have {ndim} dimensions (n, 12, T); got shape {arr.shape}")
    if arr.ndim < 2:
        raise DataError(f"{name} must be a batch of maps (n, ...); got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise DataError(f"{name} holds no beats (shape {arr.shape})")
    if arr.size and not np.isfinite(arr).all():
        bad = int(np.count_nonzero(~np.isfinite(arr)))
        raise DataError(f"{name} contains {bad} non-finite values (NaN or inf)")
    return arr


def as_pair(a: object, b: object) -> tuple[np.ndarray, np.ndarray]:
    """Two attribution batches of identical shape ``(n, 12, T)`` as float64."""
    a_ = as_maps(a, "a")
    b_ = as_maps(b, "b")
    if a_.shape != b_.shape:
        raise DataError(f"a and b must have the same shape; got {a_.shape} and {b_.shape}")
    return a_, b_


def as_mask(mask: object, shape: tuple[int, ...], name: str = "mask") -> np.ndarray:
    """A boolean mask of ``shape``; integer masks must hold only 0 and 1."""
    m = np.asarray(mask)
    if m.shape != shape:
        raise DataError(f"{name} must have the shape of the attributions {shape}; got {m.shape}")
    if m.dtype == np.bool_:
        return m
    if np.issubdtype(m.dtype, np.integer) or np.issubdtype(m.dtype, np.floating):
        if not np.isin(m, (0, 1)).all():
            raise DataError(f"{name} must be boolean (or 0/1); found other values")
        return m.astype(bool)
    raise DataError(f"{name} must be a boolean array; got dtype {m.dtype}")


def rank_rows(x: np.ndarray) -> np.ndarray:
    """Average ranks (1 … D) along the last axis of a 2D array ``(n, D)``, ties sharing their
    mean rank: ``(n, D)`` float64.

    Equivalent to ``scipy.stats.rankdata(x, axis=1)`` (method ``"average"``) but about five
    times faster on ``(1000, 3600)``, because tie groups are resolved in one flat pass. Finite
    float32 rows are ordered by one SIMD ``np.sort`` of packed ``(value key, column)`` words
    instead of ``np.argsort`` (:func:`_float32_sorted`, ~2x faster; the same ranks bit for bit).
    """
    n, d = x.shape
    fast = _float32_sorted(x)
    if fast is None:
        order = np.argsort(x, axis=1)
        xs = np.take_along_axis(x, order, axis=1)
    else:
        order, xs = fast
    new = np.ones((n, d), dtype=bool)
    np.not_equal(xs[:, 1:], xs[:, :-1], out=new[:, 1:])
    flat_new = new.ravel()
    tied = np.flatnonzero(~flat_new)  # entries equal to the one before them in their row
    if not tied.size:
        ranks_sorted = np.broadcast_to(np.arange(1, d + 1, dtype=np.float64), (n, d))
    elif tied.size * 8 < flat_new.size:
        ranks_sorted = _sparse_ties(tied, n, d)
    else:
        starts = np.flatnonzero(flat_new)
        ends = np.append(starts[1:], n * d)
        # tie groups never cross rows because the first entry of every row starts a group
        mean_rank = (starts % d) + (ends - starts + 1) / 2.0
        ranks_sorted = np.repeat(mean_rank, ends - starts).reshape(n, d)  # each group's mean
    ranks = np.empty((n, d), dtype=np.float64)
    if fast is None:
        np.put_along_axis(ranks, order, ranks_sorted, axis=1)
    else:
        flat = order.astype(np.intp)
        flat += (np.arange(n, dtype=np.intp) * d)[:, None]
        ranks.ravel()[flat.ravel()] = ranks_sorted.ravel()
    return ranks


_SIGN = np.uint32(0x80000000)


def _sparse_ties(tied: np.ndarray, n: int, d: int) -> np.ndarray:
    """Sorted ranks ``(n, D)`` float64 when few entries tie: ``1 … D`` per row, each tie group
    then set to its mean rank with the dense path's expression (the same floats bit for bit).
    ``tied``: flat positions of the entries equal to their predecessor in the row (never the
    first of a row, so groups never cross rows)."""
    ranks = np.empty((n, d), dtype=np.float64)
    ranks[:] = np.arange(1, d + 1, dtype=np.float64)
    brk = np.flatnonzero(np.diff(tied) != 1) + 1  # where a new run of tied entries begins
    starts = tied[np.concatenate(([0], brk))] - 1  # each group's first entry
    ends = tied[np.concatenate((brk - 1, [tied.size - 1]))] + 1  # one past its last
    mean_rank = (starts % d) + (ends - starts + 1) / 2.0
    lengths = ends - starts
    within = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    ranks.ravel()[np.repeat(starts, lengths) + within] = np.repeat(mean_rank, lengths)
    return ranks


def _float32_sorted(x: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """``(order, sorted keys)`` of each row of a finite float32 ``(n, D)`` array, both
    ``(n, D)`` uint32, or ``None`` where this path does not apply (another dtype, NaN, D ≥ 2³²,
    a big-endian machine).

    Each value maps to a uint32 key with the same order (−0.0 first made +0.0 so the two tie;
    non-negatives: sign bit set; negatives: all bits flipped); ``key << 32 | column`` packed in
    a uint64 sorts, with numpy's SIMD sort, into the keys' order (ties by column, as a stable
    argsort). Equal keys are exactly equal values, so the tie groups are ``np.argsort``'s.
    """
    n, d = x.shape
    if (x.dtype != np.float32 or d >= 2**32 or d < 2 or sys.byteorder != "little"
            or np.isnan(x).any()):
        return None
    u = np.empty((n, d), dtype=np.float32)  # C order whatever x's layout (for the views)
    np.add(x, np.float32(0.0), out=u)  # a copy, with -0.0 turned into +0.0
    u = u.view(np.uint32)
    flip = (u.view(np.int32) >> 31).view(np.uint32)  # all ones for negatives, else 0
    flip |= _SIGN
    u ^= flip
    packed = u.astype(np.uint64)
    packed <<= np.uint64(32)
    packed |= np.arange(d, dtype=np.uint64)
    packed.sort(axis=1)
    halves = packed.view(np.uint32).reshape(n, d, 2)  # little-endian: (column, key)
    return halves[:, :, 0], halves[:, :, 1]


def abs_rank_rows(a: np.ndarray) -> np.ndarray:
    """Average ranks of ``|a|`` over each beat's entries: ``(n, ...)`` → ``(n, D)`` float64
    (the ranks :func:`~ecgsignal.evaluation.similarity.spearman_abs` correlates). Float32 maps
    are ranked as float32: their order and ties are those of their float64 copies."""
    a = np.asarray(a)
    a = np.abs(a if a.dtype == np.float32 else a.astype(np.float64, copy=False))
    return rank_rows(a.reshape(a.shape[0], -1))


def row_pearson(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson correlation of matching rows of two ``(n, D)`` arrays; NaN where a row is constant."""
    xc = x - x.mean(axis=1, keepdims=True)
    yc = y - y.mean(axis=1, keepdims=True)
    sxx = np.einsum("ij,ij->i", xc, xc)
    syy = np.einsum("ij,ij->i", yc, yc)
    sxy = np.einsum("ij,ij->i", xc, yc)
    denom = np.sqrt(sxx * syy)
    # a row is "constant" when its spread vanishes relative to its magnitude (rounding noise)
    scale_x = np.abs(x).max(axis=1)
    scale_y = np.abs(y).max(axis=1)
    tiny_x = sxx <= (1e-24 * x.shape[1]) * np.maximum(scale_x, 1e-300) ** 2
    tiny_y = syy <= (1e-24 * y.shape[1]) * np.maximum(scale_y, 1e-300) ** 2
    out = np.full(x.shape[0], np.nan)
    ok = ~(tiny_x | tiny_y) & (denom > 0)
    out[ok] = np.clip(sxy[ok] / denom[ok], -1.0, 1.0)
    return out


def auroc_rows(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Tie-aware AUROC (Mann–Whitney U / (P·N)) per row; NaN where a row lacks either class.

    Parameters
    ----------
    scores:
        ``(n, D)`` float, higher means "more likely positive".
    labels:
        ``(n, D)`` bool, the positives.
    """
    ranks = rank_rows(scores)
    pos = labels.sum(axis=1).astype(np.float64)
    neg = labels.shape[1] - pos
    rank_sum = np.where(labels, ranks, 0.0).sum(axis=1)
    out = np.full(scores.shape[0], np.nan)
    ok = (pos > 0) & (neg > 0)
    out[ok] = (rank_sum[ok] - pos[ok] * (pos[ok] + 1) / 2.0) / (pos[ok] * neg[ok])
    return out
