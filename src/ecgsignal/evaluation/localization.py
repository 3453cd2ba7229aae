"""Ground-truth localisation: how much of an attribution map falls on the known signal.

Each measure compares attributions ``a`` ``(n, 12, T)`` with a boolean ground-truth mask of the
same shape (the difference or criteria mask of the synthetic data, SYNTHETIC_ECG.md) and returns
one score per beat, ``(n,)``. A beat with an empty mask (e.g. NORM) scores ``NaN``, which the
bootstrap's ``np.nanmean`` skips. Higher is better for all four; :func:`chance_level` gives what a
map without information scores, to draw beside the methods.

Measures (registry :data:`LOCALIZATION`):

- ``mass_accuracy`` — share of the positive attribution inside the mask (Arras et al. 2022).
- ``rank_accuracy`` — share of the ``K = |mask|`` entries with the largest ``|a|`` that lie inside
  the mask (Arras et al. 2022, with magnitudes).
- ``mask_auroc`` — AUROC of ``|a|`` as a detector of the mask's entries (tie-aware).
- ``pointing_game`` — whether the entry of largest ``|a|`` lies inside the mask (Zhang et al.
  2018), optionally with a tolerance along time.

Ties: where several entries tie at the deciding value (the K-th largest for rank accuracy, the
maximum for the pointing game; e.g. Grad-CAM broadcast to all 12 leads, or runs of exact zeros),
the score is its expectation under a uniformly random choice among the tied entries, so no lead
is favoured by its position in the array. With a unique maximum the pointing game is 0 or 1.

References
----------
Arras, L., Osman, A., Samek, W. (2022). CLEVR-XAI: a benchmark dataset for the ground truth
evaluation of neural network explanations. Information Fusion 81, 14–40.
Zhang, J. et al. (2018). Top-down neural attention by excitation backprop. IJCV 126, 1084–1102.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.ndimage import maximum_filter1d

from ecgsignal.errors import DataError, UnknownNameError
from ecgsignal.evaluation._utils import as_maps, as_mask, auroc_rows
from ecgsignal.evaluation.measures import MASK_SHARE, MEASURES, MeasureSpec, register_measure
from ecgsignal.registry import Registry
from ecgsignal.validation import check_int

__all__ = [
    "LOCALIZATION",
    "chance_level",
    "localization",
    "mask_auroc",
    "pointing_game",
    "relevance_mass_accuracy",
    "relevance_rank_accuracy",
]

LocalizationFn = Callable[..., np.ndarray]

LOCALIZATION: Registry[LocalizationFn] = Registry("localisation measure")
"""Localisation measures by name: ``mass_accuracy``, ``rank_accuracy``, ``mask_auroc``,
``pointing_game``. Each maps ``(a, mask)`` of shape ``(n, 12, T)`` to scores ``(n,)`` in [0, 1].
Chance levels and options: :data:`ecgsignal.evaluation.measures.MEASURES`."""


def _prepare(a: object, mask: object) -> tuple[np.ndarray, np.ndarray]:
    a_ = as_maps(a, "a")
    m = as_mask(mask, a_.shape)
    n = a_.shape[0]
    return a_.reshape(n, -1), m.reshape(n, -1)


def _empty(m: np.ndarray) -> np.ndarray:
    return ~m.any(axis=1)


def relevance_mass_accuracy(a: np.ndarray, mask: np.ndarray, *, absolute: bool = False) -> np.ndarray:
    """Share of the positive attribution that falls inside the mask (Arras et al. 2022).

    ``Σ_{mask} max(a, 0) / Σ max(a, 0)`` per beat.

    Parameters
    ----------
    a:
        Attributions ``(n, 12, T)``, signed.
    mask:
        Ground truth ``(n, 12, T)`` bool.
    absolute:
        Use ``|a|`` instead of the positive part, for methods whose sign carries no meaning
        (e.g. the signed gradient of ``saliency``).

    Returns
    -------
    numpy.ndarray
        ``(n,)`` in [0, 1]; ``NaN`` where the mask is empty or the map has no positive mass.
    """
    x, m = _prepare(a, mask)
    rel = np.abs(x) if absolute else np.clip(x, 0.0, None)
    total = rel.sum(axis=1)
    inside = np.where(m, rel, 0.0).sum(axis=1)
    out = np.full(x.shape[0], np.nan)
    ok = (total > 0) & ~_empty(m)
    out[ok] = inside[ok] / total[ok]
    return out


def relevance_rank_accuracy(a: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Share of the ``K = |mask|`` largest-``|a|`` entries that lie inside the mask.

    Arras et al. (2022)'s rank accuracy on magnitudes. Entries tied with the K-th largest value
    count by their expected share (see the module notes), so a constant map scores the mask's
    share of the beat, ``K / (12 · T)``.

    Parameters
    ----------
    a:
        Attributions ``(n, 12, T)``; only ``|a|`` counts.
    mask:
        Ground truth ``(n, 12, T)`` bool.

    Returns
    -------
    numpy.ndarray
        ``(n,)`` in [0, 1]; ``NaN`` where the mask is empty.
    """
    x, m = _prepare(a, mask)
    r = np.abs(x)
    n, d = r.shape
    k = m.sum(axis=1)
    out = np.full(n, np.nan)
    ok = k > 0
    if not ok.any():
        return out
    srt = -np.sort(-r, axis=1)  # descending
    thr = srt[np.arange(n), np.maximum(k - 1, 0)][:, None]
    above = r > thr
    tied = r == thr
    n_above = above.sum(axis=1)
    n_tied = tied.sum(axis=1)
    hits_above = (above & m).sum(axis=1)
    hits_tied = (tied & m).sum(axis=1)
    expected = hits_above + (k - n_above) * hits_tied / np.maximum(n_tied, 1)
    out[ok] = expected[ok] / k[ok]
    return out


def mask_auroc(a: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """AUROC of ``|a|`` as a detector of the mask's entries, per beat.

    The probability that a random entry inside the mask has larger ``|a|`` than a random entry
    outside it (ties count one half): 1 for a perfect map, 0.5 for an uninformative one.

    Parameters
    ----------
    a:
        Attributions ``(n, 12, T)``; only ``|a|`` counts.
    mask:
        Ground truth ``(n, 12, T)`` bool.

    Returns
    -------
    numpy.ndarray
        ``(n,)`` in [0, 1]; ``NaN`` where the mask is empty or covers the whole beat.
    """
    x, m = _prepare(a, mask)
    return auroc_rows(np.abs(x), m)


def pointing_game(a: np.ndarray, mask: np.ndarray, *, tolerance: int = 0) -> np.ndarray:
    """Whether the entry of largest ``|a|`` lies inside the mask (Zhang et al. 2018).

    Parameters
    ----------
    a:
        Attributions ``(n, 12, T)``; only ``|a|`` counts.
    mask:
        Ground truth ``(n, 12, T)`` bool.
    tolerance:
        Samples by which the mask is widened along time (in its own lead) before the test;
        Zhang et al. use 15 pixels in images. 0 (default) asks for an exact hit.

    Returns
    -------
    numpy.ndarray
        ``(n,)``: 1.0 (hit) or 0.0 (miss) when the maximum is unique; with tied maxima, the share
        of them inside the mask (the expected hit of a random pick). ``NaN`` for empty masks.
    """
    tolerance = check_int(tolerance, "tolerance", 0, what="number of samples")
    a_ = as_maps(a, "a")
    m3 = as_mask(mask, a_.shape)
    n = a_.shape[0]
    empty = ~m3.reshape(n, -1).any(axis=1)
    if tolerance:
        m3 = maximum_filter1d(m3.astype(np.uint8), size=2 * tolerance + 1, axis=2).astype(bool)
    r = np.abs(a_).reshape(n, -1)
    m = m3.reshape(n, -1)
    top = r == r.max(axis=1, keepdims=True)
    out = (top & m).sum(axis=1) / top.sum(axis=1)
    return np.where(empty, np.nan, out.astype(np.float64))


_ARRAS = "Arras, Osman & Samek 2022, CLEVR-XAI, Information Fusion 81:14"
_SHARE = "the mask's share of the beat (a constant map, or the average random map)"
for _spec in (
    MeasureSpec("mass_accuracy", "localization", "relevance mass accuracy", (0.0, 1.0),
                chance=MASK_SHARE, chance_note=_SHARE, fn=relevance_mass_accuracy,
                short="relevance mass accuracy", citation=_ARRAS),
    MeasureSpec("rank_accuracy", "localization", "relevance rank accuracy", (0.0, 1.0),
                chance=MASK_SHARE, chance_note=_SHARE, fn=relevance_rank_accuracy,
                short="relevance rank accuracy", citation=_ARRAS),
    MeasureSpec("mask_auroc", "localization", "mask AUROC", (0.0, 1.0), chance=0.5,
                chance_note="0.5 for any uninformative map, whatever the mask's size (undefined "
                            "for an empty or full mask)", fn=mask_auroc, short="mask AUROC"),
    MeasureSpec("pointing_game", "localization", "pointing game (hit rate)", (0.0, 1.0),
                chance=MASK_SHARE, chance_note=_SHARE, fn=pointing_game, short="pointing game",
                citation="Zhang et al. 2018, Top-down neural attention by excitation backprop, IJCV 126:1084"),
):
    LOCALIZATION.register(_spec.name, _spec.fn)
    register_measure(_spec)


def localization(
    a: np.ndarray, mask: np.ndarray, measure: str = "mass_accuracy", **kwargs: object
) -> np.ndarray:
    """Per-beat localisation score by the registered measure's name.

    Parameters
    ----------
    a:
        Attributions ``(n, 12, T)``.
    mask:
        Ground truth ``(n, 12, T)`` bool.
    measure:
        A name in :data:`LOCALIZATION`; unknown names fail listing the valid ones.
    **kwargs:
        Passed to the measure (``absolute`` for mass accuracy, ``tolerance`` for the pointing game).

    Returns
    -------
    numpy.ndarray
        ``(n,)`` scores in [0, 1], ``NaN`` for empty masks.
    """
    return LOCALIZATION.get(measure)(a, mask, **kwargs)


def chance_level(mask: np.ndarray, measure: str = "mass_accuracy") -> np.ndarray:
    """Expected score of a map that carries no information about the mask, per beat.

    For mass accuracy, rank accuracy and the pointing game this is the mask's share of the beat's
    ``12 · T`` entries (what a constant map, or the average random map, scores); for mask AUROC it
    is 0.5.

    Parameters
    ----------
    mask:
        Ground truth ``(n, 12, T)`` bool.
    measure:
        A name in :data:`LOCALIZATION`.

    Returns
    -------
    numpy.ndarray
        ``(n,)``; ``NaN`` where the mask is empty (and, for AUROC, where it is full).
    """
    if measure not in LOCALIZATION:
        raise UnknownNameError(
            f"unknown localisation measure {measure!r}; valid: {', '.join(LOCALIZATION.available())}"
        )
    m = np.asarray(mask)
    if m.ndim != 3:
        raise DataError(f"mask must have shape (n, 12, T); got {m.shape}")
    return MEASURES.get(measure).chance_per_beat(as_mask(m, m.shape))
