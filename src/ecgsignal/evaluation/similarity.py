"""Similarity between two attribution maps of the same beats, one number per beat.

Every measure takes two batches ``a`` and ``b`` of shape ``(n, 12, T)`` (the same beats, e.g. two
methods, two seeds, or a trained and a randomised model) and returns an array ``(n,)``: one score
per beat, computed over all ``12 · T`` entries of that beat. Measures are vectorised over beats;
``spearman_abs`` on 1,000 beats × 12 × 300 takes well under a second on one CPU core.

Measures (registry :data:`SIMILARITY`, call through :func:`similarity`):

- ``spearman_abs`` — Spearman rank correlation of ``|a|`` vs ``|b|`` (the default; Adebayo et
  al. 2018). Chance level 0.
- ``spearman_signed`` — Spearman rank correlation of the signed maps. Chance level 0.
- ``pearson`` — Pearson correlation of the signed maps. Chance level 0.
- ``topk`` — share of the top-k entries of ``|a|`` that are also top-k of ``|b|``, k = 10 % of the
  entries (OpenXAI's feature agreement, Krishna et al. 2022); ties at the k-th value counted in
  expectation over a random tie-break. Chance level ``frac``, not 0.
- ``ssim`` — 1D SSIM along time per lead, averaged (Wang et al. 2004; used for saliency maps by
  Adebayo et al. 2018). Chance level slightly above 0 (≈ 0.01 for independent ``|noise|``
  maps), because the constant ``C2`` keeps the structure term positive when the covariance is 0.

Constant maps: a correlation is undefined when either map of a beat is constant (zero
variance, e.g. an all-zero gradient), and so is a top-k set (every entry ties); those beats score
``NaN``, which :func:`ecgsignal.evaluation.statistics.bootstrap_ci` skips through ``np.nanmean``.
SSIM stays defined for constant maps thanks to its stabilising constants.

Scale: the correlations and top-k depend only on the order (or linear shape) of the entries, so
they are invariant to multiplying either map by a positive number. SSIM with fixed constants is
not; :func:`ssim_1d` therefore first divides each map by its own maximum ``|value|`` per beat
(``normalize=True``, the default), which makes it scale invariant as well. Without normalisation it
compares magnitudes, and a map scores below 1 against a rescaled copy of itself.

References
----------
Adebayo, J. et al. (2018). Sanity checks for saliency maps. NeurIPS.
Krishna, S. et al. (2022). The disagreement problem in explainable machine learning. arXiv:2202.01602.
Wang, Z., Bovik, A. C., Sheikh, H. R., Simoncelli, E. P. (2004). Image quality assessment: from
error visibility to structural similarity. IEEE Trans. Image Processing 13(4).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ecgsignal.errors import ConfigError
from ecgsignal.evaluation._utils import as_maps, as_pair, check_fraction, rank_rows, row_pearson
from ecgsignal.evaluation.measures import MeasureSpec, register_measure
from ecgsignal.registry import Registry
from ecgsignal.validation import check_int

__all__ = [
    "SIMILARITY",
    "pearson",
    "similarity",
    "spearman_abs",
    "spearman_signed",
    "ssim_1d",
    "topk_intersection",
]

SimilarityFn = Callable[..., np.ndarray]

SIMILARITY: Registry[SimilarityFn] = Registry("similarity measure")
"""Similarity measures by name: ``spearman_abs``, ``spearman_signed``, ``pearson``, ``topk``,
``ssim``. Each maps ``(a, b)`` of shape ``(n, 12, T)`` to scores ``(n,)``; higher is more similar.
Range, chance level and options: :data:`ecgsignal.evaluation.measures.MEASURES`."""


def _flat(x: np.ndarray) -> np.ndarray:
    return x.reshape(x.shape[0], -1)


def _spearman(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return row_pearson(rank_rows(_flat(a)), rank_rows(_flat(b)))


def spearman_abs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman rank correlation of ``|a|`` and ``|b|`` per beat (Adebayo et al. 2018).

    The default measure of the book: it ignores the sign, which many methods do not define
    consistently (e.g. saliency's signed gradient), and compares where the relevance sits.

    Parameters
    ----------
    a, b:
        Attribution maps, ``(n, 12, T)``, any units (same beats in the same order).

    Returns
    -------
    numpy.ndarray
        ``(n,)`` float64 in [-1, 1]; ``NaN`` where ``|a|`` or ``|b|`` is constant for a beat.
        Ties share their average rank.
    """
    a_, b_ = as_pair(a, b)
    return _spearman(np.abs(a_), np.abs(b_))


def spearman_signed(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman rank correlation of the signed maps per beat (Adebayo et al. 2018).

    Parameters
    ----------
    a, b:
        Attribution maps, ``(n, 12, T)``.

    Returns
    -------
    numpy.ndarray
        ``(n,)`` in [-1, 1]; ``NaN`` where either map of a beat is constant.
    """
    a_, b_ = as_pair(a, b)
    return _spearman(a_, b_)


def pearson(a: np.ndarray, b: np.ndarray, *, absolute: bool = False) -> np.ndarray:
    """Pearson correlation of the maps per beat, over all ``12 · T`` entries.

    Parameters
    ----------
    a, b:
        Attribution maps, ``(n, 12, T)``.
    absolute:
        Correlate ``|a|`` and ``|b|`` instead of the signed maps.

    Returns
    -------
    numpy.ndarray
        ``(n,)`` in [-1, 1]; ``NaN`` where either map of a beat is constant.
    """
    a_, b_ = as_pair(a, b)
    if absolute:
        a_, b_ = np.abs(a_), np.abs(b_)
    return row_pearson(_flat(a_), _flat(b_))


def _topk_weights(x: np.ndarray, k: int) -> np.ndarray:
    """``(n, D)`` probability that each entry is in the top ``k`` of its row, ties at random.

    Entries above the k-th largest value are in with probability 1; the ``m`` entries equal to it
    share the ``r`` remaining places, each in with probability ``r / m`` (the expectation over a
    uniformly random tie-break, so no entry is favoured by its position, e.g. lead I).
    """
    kth = -np.partition(-x, k - 1, axis=1)[:, k - 1 : k]  # k-th largest value per row
    above = x > kth
    tied = x == kth
    r = k - np.count_nonzero(above, axis=1, keepdims=True)
    m = np.count_nonzero(tied, axis=1, keepdims=True)
    return above + tied * (r / np.maximum(m, 1))


def topk_intersection(a: np.ndarray, b: np.ndarray, frac: float = 0.10) -> np.ndarray:
    """Share of the top-k entries of ``|a|`` that are also among the top-k of ``|b|``.

    OpenXAI's *feature agreement* (Krishna et al. 2022) over the ``D = 12 · T`` entries of a beat,
    with ``k = max(1, round(frac · D))``. Two independent random maps share ``frac`` of their top-k
    on average (the chance level), not 0.

    Ties at the k-th value are counted in expectation over a uniformly random tie-break, drawn
    independently for the two maps: an entry tied with ``m`` others for ``r`` remaining places is
    in the set with probability ``r / m``, and the overlap is ``Σ_i P(i ∈ top_a) · P(i ∈ top_b)``.
    This is exact, needs no seed, and favours no position: a map broadcast over leads (Grad-CAM)
    no longer puts lead I first, as breaking ties by the lower index did. A consequence: a map
    with ties at the k-th value scores below 1 against itself (its random tie-breaks differ).

    Parameters
    ----------
    a, b:
        Attribution maps, ``(n, 12, T)``; only magnitudes count.
    frac:
        Size of the top set as a fraction of the entries, in (0, 1].

    Returns
    -------
    numpy.ndarray
        ``(n,)`` in [0, 1]. ``NaN`` where ``|a|`` or ``|b|`` is constant for a beat (every entry
        ties, so there is no top-k).
    """
    frac = check_fraction(frac, "frac", open_low=True)
    a_, b_ = as_pair(a, b)
    fa, fb = np.abs(_flat(a_)), np.abs(_flat(b_))
    d = fa.shape[1]
    k = max(1, int(round(frac * d)))
    shared = np.sum(_topk_weights(fa, k) * _topk_weights(fb, k), axis=1)
    out = shared / float(k)
    constant = (fa.max(axis=1) == fa.min(axis=1)) | (fb.max(axis=1) == fb.min(axis=1))
    return np.where(constant, np.nan, out)


def _window_means(x: np.ndarray, w: int) -> np.ndarray:
    """Means of every length-``w`` window along the last axis (valid positions only)."""
    c = np.cumsum(x, axis=-1)
    c = np.concatenate([np.zeros(x.shape[:-1] + (1,)), c], axis=-1)
    return (c[..., w:] - c[..., :-w]) / w


def ssim_1d(
    a: np.ndarray,
    b: np.ndarray,
    window: int = 11,
    *,
    absolute: bool = True,
    normalize: bool = True,
    data_range: float | None = None,
    k1: float = 0.01,
    k2: float = 0.03,
) -> np.ndarray:
    """Structural similarity (SSIM) along time, per lead, averaged over windows and leads.

    For every lead and every window of ``window`` consecutive samples (valid positions only, no
    padding), with window means ``μ``, sample variances ``σ²`` and covariance ``σ_ab``
    (denominator ``window − 1``)::

        SSIM = (2 μ_a μ_b + C1)(2 σ_ab + C2) / ((μ_a² + μ_b² + C1)(σ_a² + σ_b² + C2)),
        C1 = (k1 · L)²,  C2 = (k2 · L)²,

    the constants of Wang et al. (2004) with a uniform window (as scikit-image's default).

    Parameters
    ----------
    a, b:
        Attribution maps, ``(n, 12, T)`` with ``T ≥ window``.
    window:
        Window length in samples (odd or even, ≥ 2). 11 samples = 44 ms at 250 Hz.
    absolute:
        Compare ``|a|`` and ``|b|`` (default, like the other measures of the book).
    normalize:
        Divide each map by its own maximum ``|value|`` per beat first (an all-zero map stays
        zero). This makes the score invariant to positive scaling of either map. Without it,
        SSIM compares magnitudes and is *not* scale invariant.
    data_range:
        ``L`` in the constants. Default: 1 for normalised absolute maps, 2 for normalised signed
        maps (their range is [-1, 1]), and otherwise the joint range ``max − min`` of both maps
        of each beat (1 where that range is 0).
    k1, k2:
        Stabilising constants (Wang et al. 2004).

    Returns
    -------
    numpy.ndarray
        ``(n,)`` in [-1, 1]; 1 for identical maps; defined (never NaN) for constant maps.
    """
    window = check_int(window, "window", 2, what="samples")
    if data_range is not None and not (np.isfinite(data_range) and data_range > 0):
        raise ConfigError(f"data_range must be a positive number; got {data_range!r}")
    a_, b_ = as_pair(a, b)
    if a_.shape[-1] < window:
        raise ConfigError(f"window ({window}) is longer than the maps (T = {a_.shape[-1]})")
    if absolute:
        a_, b_ = np.abs(a_), np.abs(b_)
    n = a_.shape[0]
    if normalize:
        for x in (a_, b_):
            peak = np.abs(x).reshape(n, -1).max(axis=1)
            x /= np.where(peak > 0, peak, 1.0)[:, None, None]
    if data_range is not None:
        big_l = np.full(n, float(data_range))
    elif normalize:
        big_l = np.full(n, 1.0 if absolute else 2.0)
    else:
        hi = np.maximum(a_.reshape(n, -1).max(axis=1), b_.reshape(n, -1).max(axis=1))
        lo = np.minimum(a_.reshape(n, -1).min(axis=1), b_.reshape(n, -1).min(axis=1))
        big_l = np.where(hi > lo, hi - lo, 1.0)
    c1 = ((k1 * big_l) ** 2)[:, None, None]
    c2 = ((k2 * big_l) ** 2)[:, None, None]

    w = int(window)
    mu_a, mu_b = _window_means(a_, w), _window_means(b_, w)
    cov_norm = w / (w - 1.0)
    var_a = (_window_means(a_ * a_, w) - mu_a * mu_a) * cov_norm
    var_b = (_window_means(b_ * b_, w) - mu_b * mu_b) * cov_norm
    cov = (_window_means(a_ * b_, w) - mu_a * mu_b) * cov_norm
    num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    den = (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
    return (num / den).reshape(n, -1).mean(axis=1)


# Per-map parts of top-k and SSIM, for experiments that compare each map with many others
# (experiments.similarity._prepare): the same operations on the same arrays as the measures
# above, so the same numbers bit for bit (tests/test_speed_paths.py), computed once per map.

def topk_prepared(a: np.ndarray, frac: float = 0.10) -> tuple[np.ndarray, np.ndarray, int]:
    """``(weights (n, D), constant (n,), k)`` of one map, as :func:`topk_intersection` uses them."""
    frac = check_fraction(frac, "frac", open_low=True)
    fa = np.abs(_flat(as_maps(a, "a")))
    k = max(1, int(round(frac * fa.shape[1])))
    return _topk_weights(fa, k), fa.max(axis=1) == fa.min(axis=1), k


def topk_from_prepared(pa: tuple, pb: tuple) -> np.ndarray:
    """:func:`topk_intersection` of two maps from their :func:`topk_prepared` parts."""
    (wa, ca, k), (wb, cb, _) = pa, pb
    out = np.sum(wa * wb, axis=1) / float(k)
    return np.where(ca | cb, np.nan, out)


def ssim_prepared(a: np.ndarray, window: int = 11, k1: float = 0.01, k2: float = 0.03) -> tuple:
    """Per-map part of :func:`ssim_1d` with its defaults (absolute, normalised maps)."""
    window = check_int(window, "window", 2, what="samples")
    x = np.abs(as_maps(a, "a"))
    if x.shape[-1] < window:
        raise ConfigError(f"window ({window}) is longer than the maps (T = {x.shape[-1]})")
    n = x.shape[0]
    peak = np.abs(x).reshape(n, -1).max(axis=1)
    x /= np.where(peak > 0, peak, 1.0)[:, None, None]
    big_l = np.full(n, 1.0)
    c1 = ((k1 * big_l) ** 2)[:, None, None]
    c2 = ((k2 * big_l) ** 2)[:, None, None]
    w = int(window)
    mu = _window_means(x, w)
    var = (_window_means(x * x, w) - mu * mu) * (w / (w - 1.0))
    return x, mu, var, c1, c2, w


def ssim_from_prepared(pa: tuple, pb: tuple) -> np.ndarray:
    """:func:`ssim_1d` (defaults) of two maps from their :func:`ssim_prepared` parts."""
    a_, mu_a, var_a, c1, c2, w = pa
    b_, mu_b, var_b = pb[:3]
    cov = (_window_means(a_ * b_, w) - mu_a * mu_b) * (w / (w - 1.0))
    num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    den = (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
    return (num / den).reshape(a_.shape[0], -1).mean(axis=1)


_ADEBAYO = "Adebayo et al. 2018, Sanity checks for saliency maps, NeurIPS"
for _spec in (
    MeasureSpec("spearman_abs", "similarity", "Spearman ρ of |a|", (-1.0, 1.0), chance=0.0,
                chance_note="0 for independent maps", fn=spearman_abs, short="Spearman ρ of |a|",
                rank_transform="abs", citation=_ADEBAYO),
    MeasureSpec("spearman_signed", "similarity", "Spearman ρ of a", (-1.0, 1.0), chance=0.0,
                chance_note="0 for independent maps", fn=spearman_signed, short="Spearman ρ of a",
                rank_transform="signed", citation=_ADEBAYO),
    MeasureSpec("pearson", "similarity", "Pearson r", (-1.0, 1.0), chance=0.0,
                chance_note="0 for independent maps", fn=pearson, short="Pearson r"),
    MeasureSpec("topk", "similarity", "top-k intersection", (0.0, 1.0), chance="frac",
                chance_note="frac: two independent maps share that share of their top-k entries",
                fn=topk_intersection, short="top-k intersection",
                citation="Krishna et al. 2022, The disagreement problem in explainable machine "
                         "learning, arXiv:2202.01602"),
    MeasureSpec("ssim", "similarity", "SSIM (1D)", (-1.0, 1.0), chance=0.0,
                chance_note="≈ 0.01 for independent |noise| maps: C2 keeps the structure term "
                            "positive when the covariance is 0",
                fn=ssim_1d, short="SSIM", citation="Wang et al. 2004, IEEE Trans Image Process 13:600"),
):
    SIMILARITY.register(_spec.name, _spec.fn)
    register_measure(_spec)


def similarity(
    a: np.ndarray, b: np.ndarray, measure: str = "spearman_abs", **kwargs: object
) -> np.ndarray:
    """Per-beat similarity of two attribution batches by the registered measure's name.

    Parameters
    ----------
    a, b:
        Attribution maps, ``(n, 12, T)``.
    measure:
        A name in :data:`SIMILARITY`; unknown names fail listing the valid ones.
    **kwargs:
        Passed to the measure (e.g. ``frac`` for ``topk``, ``window`` for ``ssim``).

    Returns
    -------
    numpy.ndarray
        ``(n,)`` scores; see the measure for its range and NaN rule.
    """
    return SIMILARITY.get(measure)(a, b, **kwargs)
