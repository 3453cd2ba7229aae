"""Bootstrap helpers of Experiment 4: paired, stratified resamples and areas between curves.

Split from :mod:`ecgsignal.evaluation.experiments.perturbation` to keep that module short.
"""

from __future__ import annotations

import warnings

import numpy as np

from ecgsignal.evaluation._utils import auroc_rows
from ecgsignal.evaluation.perturbation import log_odds

__all__ = ["area_rows"]


class _Boot:
    """Stratified, paired bootstrap resamples of the positives and negatives of one class."""

    def __init__(self, n_pos: int, n_neg: int, n_boot: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.n_pos, self.n_neg = n_pos, n_neg
        self.pos = rng.integers(0, n_pos, size=(n_boot, n_pos)) if n_pos else None
        self.neg = rng.integers(0, n_neg, size=(n_boot, n_neg)) if n_neg else None
        self.n_boot = n_boot
        # how often each beat is drawn in each resample, (B, n): the AUROC of a resample is a
        # weighted count of positive-negative pairs (see ``auroc``)
        self.pos_counts = _counts(self.pos, n_pos) if n_pos else None
        self.neg_counts = _counts(self.neg, n_neg) if n_neg else None

    def mean_prob(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``p`` ``(S, n_pos + n_neg)`` → estimate ``(S,)``, replicates ``(S, B)``."""
        pp = p[:, : self.n_pos]
        return pp.mean(axis=1), pp[:, self.pos].mean(axis=2)

    def mean_logodds(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """As :meth:`mean_prob` on the log-odds scale (:func:`log_odds`; no saturation at 1)."""
        return self.mean_prob(log_odds(p))

    def auroc(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s = p.shape[0]
        labels = np.r_[np.ones(self.n_pos, bool), np.zeros(self.n_neg, bool)]
        est = auroc_rows(p, np.broadcast_to(labels, p.shape))
        if self.neg is None:
            return est, np.full((s, self.n_boot), np.nan)
        if not np.isfinite(p).all():
            return est, self.auroc_ranked(p)
        # Mann-Whitney U of a resample = sum over its (positive, negative) pairs of
        # [p > q] + ½ [p = q], i.e. count_pos · W · count_neg with W the pair matrix of the
        # distinct beats. Every term is a multiple of ½ far below 2**53, so U is exact in float64
        # whatever the summation order, and U / (P · N) is the very float that the rank sums of
        # ``auroc_ranked`` give (tests/test_speed_paths.py checks it bit for bit).
        pp, qq = p[:, : self.n_pos, None], p[:, None, self.n_pos:]
        w = (pp > qq).astype(np.float64) + 0.5 * (pp == qq)  # (S, n_pos, n_neg)
        u = (np.matmul(self.pos_counts, w) * self.neg_counts).sum(axis=2)  # (S, B)
        return est, u / (float(self.n_pos) * float(self.n_neg))

    def auroc_ranked(self, p: np.ndarray) -> np.ndarray:
        """Replicates ``(S, B)`` of the AUROC by ranking each resample (the reference path)."""
        s = p.shape[0]
        labels = np.r_[np.ones(self.n_pos, bool), np.zeros(self.n_neg, bool)]
        rs = np.concatenate([p[:, : self.n_pos][:, self.pos],
                             p[:, self.n_pos:][:, self.neg]], axis=2)  # (S, B, n)
        reps = auroc_rows(rs.reshape(s * self.n_boot, -1),
                          np.broadcast_to(labels, (s * self.n_boot, labels.size)))
        return reps.reshape(s, self.n_boot)


def _counts(idx: np.ndarray, n: int) -> np.ndarray:
    """``(B, n)`` float64: how often each of ``n`` items appears in each row of ``idx`` ``(B, m)``."""
    b = idx.shape[0]
    flat = (np.arange(b)[:, None] * n + idx).ravel()
    return np.bincount(flat, minlength=b * n).reshape(b, n).astype(np.float64)


def _ci(reps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if not np.isnan(reps).any():  # same numbers; nanquantile loops over rows in Python
        lo, hi = np.quantile(reps, [0.025, 0.975], axis=-1)
        return lo, hi
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        lo, hi = np.nanquantile(reps, [0.025, 0.975], axis=-1)
    return lo, hi


def ci_many(reps: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    """``[_ci(r) for r in reps]``, with one quantile call per shape for the arrays without NaN.

    A quantile of a row is a function of that row's order statistics alone, so stacking rows
    changes no bit; arrays holding a NaN keep their own (``nanquantile``) call, as in ``_ci``.
    """
    out: list = [None] * len(reps)
    by_shape: dict[tuple, list[int]] = {}
    for i, r in enumerate(reps):
        if np.isnan(r).any():
            out[i] = _ci(r)
        else:
            by_shape.setdefault(r.shape, []).append(i)
    for idx in by_shape.values():
        lo, hi = np.quantile(np.stack([reps[i] for i in idx]), [0.025, 0.975], axis=-1)
        for j, i in enumerate(idx):
            out[i] = (lo[j], hi[j])
    return out


def area_rows_many(items: list[tuple[np.ndarray, dict[str, tuple[np.ndarray, np.ndarray]]]],
                   ) -> list[dict[str, tuple[float, float, float]]]:
    """``[area_rows(fr, curves) for fr, curves in items]``, the CIs by :func:`ci_many`."""
    parts: list[tuple[int, str, float, np.ndarray]] = []  # (item, area name, estimate, reps)
    for i, (fr, curves) in enumerate(items):
        for name, hi_key, lo_key in _area_pairs(curves):
            est = float(np.trapezoid(curves[hi_key][0] - curves[lo_key][0], fr))
            reps = np.trapezoid(curves[hi_key][1] - curves[lo_key][1], fr, axis=0)
            parts.append((i, name, est, reps))
    out: list[dict[str, tuple[float, float, float]]] = [{} for _ in items]
    for (i, name, est, _), (lo, hi) in zip(parts, ci_many([r for *_, r in parts])):
        out[i][name] = (est, float(lo), float(hi))
    return out


def _area_pairs(curves: dict) -> list[tuple[str, str, str]]:
    pairs = [("abc", "lerf", "morf")]
    if "random" in curves:
        pairs.append(("morf_vs_random", "random", "morf"))
    return pairs


def area_rows(fr: np.ndarray, curves: dict[str, tuple[np.ndarray, np.ndarray]],
              ) -> dict[str, tuple[float, float, float]]:
    """Areas ``abc`` (LeRF − MoRF) and ``morf_vs_random`` (random − MoRF) with bootstrap CIs.

    Parameters
    ----------
    fr:
        ``(S,)`` strictly increasing fractions.
    curves:
        Order (``morf``, ``lerf``, optionally ``random``) → (estimate ``(S,)``, replicates
        ``(S, B)``) of one measure, replicates paired across orders.

    Returns
    -------
    dict
        ``"abc"`` (and ``"morf_vs_random"`` when a random curve is given) → (value, low, high).
    """
    out = {}
    pairs = [("abc", "lerf", "morf")]
    if "random" in curves:
        pairs.append(("morf_vs_random", "random", "morf"))
    for name, hi_key, lo_key in pairs:
        est = float(np.trapezoid(curves[hi_key][0] - curves[lo_key][0], fr))
        reps = np.trapezoid(curves[hi_key][1] - curves[lo_key][1], fr, axis=0)
        lo, hi = _ci(reps)
        out[name] = (est, float(lo), float(hi))
    return out
