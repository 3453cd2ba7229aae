"""Perturbation (faithfulness) building blocks: patches, rankings, removal, replacement, curves.

Experiment 4 (PROTOCOLS.md) removes the features an attribution map ranks highest (MoRF, most
relevant first) or lowest (LeRF, least relevant first) and watches the model's output fall:
a faithful map makes the MoRF curve drop early and the LeRF curve late, so the area between the
curves (:func:`area_between`) is large; a random ranking is the reference (Samek et al. 2017).

- A *feature* is a patch of one lead × ``patch_ms`` (40 ms by default): at 250 Hz, 10 samples.
  Patches are indexed lead-major, ``index = lead · P + patch``, with ``P`` patches per lead
  (:func:`patch_grid`; the last patch of a lead may be shorter).
- Removed samples are *replaced* (registry :data:`REPLACEMENTS`): by zero, by the lead's mean,
  by linear interpolation across the gap (a 1D form of ROAD's imputation, Rong et al. 2022), or by
  Gaussian noise with the lead's mean and standard deviation.
- The model enters only as ``predict_fn(x: (n, 12, T)) -> (n, C)`` class probabilities, so this
  module needs no torch.

References
----------
Samek, W. et al. (2017). Evaluating the visualization of what a deep neural network has learned.
IEEE TNNLS 28(11).
Hooker, S. et al. (2019). A benchmark for interpretability methods in deep neural networks
(ROAR). NeurIPS.
Rong, Y. et al. (2022). A consistent and efficient evaluation strategy for attribution methods
(ROAD). ICML.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from ecgsignal.errors import ConfigError, DataError
from ecgsignal.evaluation._utils import as_maps, as_mask, auroc_rows, check_fraction
from ecgsignal.evaluation.measures import MeasureSpec, register_measure
from ecgsignal.patches import patch_grid
from ecgsignal.registry import Registry

__all__ = [
    "CURVE_MEASURES",
    "DEFAULT_FRACTIONS",
    "ORDERS",
    "REPLACEMENTS",
    "RANKINGS",
    "area_between",
    "lead_removal_curve",
    "lead_removal_mask",
    "lead_removal_order",
    "log_odds",
    "noise_fill",
    "patch_grid",
    "patch_scores",
    "perturbation_curve",
    "ranking",
    "removal_mask",
    "replace",
]

DEFAULT_FRACTIONS: tuple[float, ...] = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 1.0)
"""Fractions of patches removed (PROTOCOLS.md, Experiment 4)."""

ORDERS: tuple[str, ...] = ("morf", "lerf", "random")
"""Removal orders: most relevant first, least relevant first, random."""

RANKINGS: tuple[str, ...] = ("abs", "signed")
"""How patches are scored (:func:`patch_scores`): by summed ``|a|`` (evidence of either sign
counts as relevant, so MoRF also removes counter-evidence) or by the summed signed ``a``
(positive-first: MoRF removes evidence *for* the class first, LeRF evidence *against* it first).
"""

LOGIT_EPS = 1e-6
"""Probabilities are clipped to ``[eps, 1 − eps]`` before :func:`log_odds` (|logit| ≤ 13.8)."""

PredictFn = Callable[[np.ndarray], np.ndarray]
ReplaceFn = Callable[[np.ndarray, np.ndarray, np.random.Generator], np.ndarray]


# --------------------------------------------------------------------------- patches and ranks


def patch_scores(a: np.ndarray, fs: float, patch_ms: float = 40.0, *,
                 signed: bool = False) -> np.ndarray:
    """Summed ``|a|`` (or summed signed ``a``) per (lead, 40 ms) patch.

    Parameters
    ----------
    a:
        Attributions ``(n, 12, T)``.
    fs, patch_ms:
        As in :func:`patch_grid`.
    signed:
        Sum the signed attribution (positive-first ranking, :data:`RANKINGS` ``"signed"``)
        instead of its magnitude.

    Returns
    -------
    numpy.ndarray
        ``(n, 12 · P)`` float64, lead-major (``lead · P + patch``).
    """
    a_ = as_maps(a, "a")
    n, n_leads, t = a_.shape
    p, bounds = patch_grid(t, fs, patch_ms)
    sums = np.add.reduceat(a_ if signed else np.abs(a_), bounds[:, 0], axis=2)
    return sums.reshape(n, n_leads * p)


def log_odds(p: np.ndarray, eps: float = LOGIT_EPS) -> np.ndarray:
    """``log(p / (1 − p))`` of probabilities clipped to ``[eps, 1 − eps]``.

    Probability saturates near 1 (a drop from 0.9999 to 0.99 looks flat), the log-odds does not,
    so perturbation curves are also read on this scale. The clip bounds the value at
    ``±log((1 − eps) / eps)`` for probabilities rounded to exactly 0 or 1 in float32.
    """
    q = np.clip(np.asarray(p, dtype=np.float64), eps, 1.0 - eps)
    return np.log(q) - np.log1p(-q)


_LOGIT_MAX = float(np.log((1 - LOGIT_EPS) / LOGIT_EPS))
CURVE_MEASURES: tuple[MeasureSpec, ...] = tuple(register_measure(m) for m in (
    MeasureSpec("mean_prob", "perturbation", "mean probability of the class", (0.0, 1.0),
                short="mean probability", pooling="weighted",
                chance_note="no chance level: read against the random ranking's curve"),
    MeasureSpec("mean_logodds", "perturbation", "mean log-odds of the class", (-_LOGIT_MAX, _LOGIT_MAX),
                short="mean log-odds", pooling="weighted",
                chance_note="no chance level: read against the random ranking's curve"),
    MeasureSpec("auroc", "perturbation", "class AUROC (vs rest)", (0.0, 1.0), chance=0.5,
                short="class AUROC", chance_note="0.5: the class no longer separable from the rest"),
))
"""Experiment 4's curve measures (model output after removal; higher = more of the class kept,
so a faithful map's MoRF curve falls fast: Samek et al. 2017, IEEE TNNLS 28:2660)."""


def ranking(scores: np.ndarray, order: str, seed: int = 0) -> np.ndarray:
    """Removal order of features (patches or leads) per beat, first removed first.

    Parameters
    ----------
    scores:
        ``(n, F)`` relevance per feature (e.g. :func:`patch_scores`); ignored for ``"random"``.
    order:
        ``"morf"`` (descending score), ``"lerf"`` (ascending) or ``"random"``.
    seed:
        Seeds the random order, and breaks ties among equal scores at random for MoRF/LeRF (so
        tied patches, e.g. Grad-CAM's copy across leads, are not taken in array order).

    Returns
    -------
    numpy.ndarray
        ``(n, F)`` int64; each row a permutation of ``0 … F−1``.
    """
    if order not in ORDERS:
        raise ConfigError(f"unknown order {order!r}; valid: {', '.join(ORDERS)}")
    s = as_maps(scores, "scores", ndim=2)
    n, f = s.shape
    rng = np.random.default_rng(seed)
    perm = rng.permuted(np.tile(np.arange(f, dtype=np.int64), (n, 1)), axis=1)
    if order == "random":
        return perm
    keys = np.take_along_axis(s, perm, axis=1)
    if order == "morf":
        keys = -keys
    pos = np.argsort(keys, axis=1, kind="stable")
    return np.take_along_axis(perm, pos, axis=1)


def _check_order(order_idx: np.ndarray, n_features: int | None = None) -> np.ndarray:
    o = np.asarray(order_idx)
    if o.ndim != 2 or not np.issubdtype(o.dtype, np.integer):
        raise DataError(f"order_idx must be an integer array (n, F); got {o.dtype} {o.shape}")
    if n_features is not None and o.shape[1] != n_features:
        raise DataError(f"order_idx ranks {o.shape[1]} features; expected {n_features}")
    if not (np.sort(o, axis=1) == np.arange(o.shape[1])).all():
        raise DataError("every row of order_idx must be a permutation of 0 … F−1")
    return o


def _n_removed(fraction: float, n_features: int) -> int:
    return int(np.floor(fraction * n_features + 0.5))


def removal_mask(
    order_idx: np.ndarray, fraction: float, T: int, fs: float, patch_ms: float = 40.0
) -> np.ndarray:
    """Samples removed when the first ``fraction`` of the ranked patches is taken away.

    Parameters
    ----------
    order_idx:
        ``(n, 12 · P)`` patch order from :func:`ranking` (lead-major patch indices).
    fraction:
        Share of *patches* removed, in [0, 1]; ``round(fraction · 12P)`` patches (halves up). The
        share of samples can differ slightly, since the last patch of a lead may be shorter.
    T, fs, patch_ms:
        As in :func:`patch_grid`.

    Returns
    -------
    numpy.ndarray
        ``(n, 12, T)`` bool, True where a sample is removed. Nested: a larger fraction removes a
        superset of the samples of a smaller one (same ``order_idx``).
    """
    fraction = check_fraction(fraction, "fraction")
    p, bounds = patch_grid(T, fs, patch_ms)
    o = np.asarray(order_idx)
    if o.ndim != 2 or o.shape[1] % p:
        raise DataError(
            f"order_idx must have shape (n, leads · {p}) for T={T} at {fs} Hz; got {o.shape}"
        )
    o = _check_order(o)
    n, f = o.shape
    k = _n_removed(fraction, f)
    removed = np.zeros((n, f), dtype=bool)
    np.put_along_axis(removed, o[:, :k], True, axis=1)
    lengths = bounds[:, 1] - bounds[:, 0]
    return np.repeat(removed.reshape(n, f // p, p), lengths, axis=2)


# --------------------------------------------------------------------------- replacement

REPLACEMENTS: Registry[ReplaceFn] = Registry("replacement")
"""Replacement strategies by name: ``zero``, ``mean``, ``interp``, ``noise``. Each maps
``(x (n, 12, T) float64, mask (n, 12, T) bool, rng)`` to the perturbed copy."""


@REPLACEMENTS.register("zero")
def _replace_zero(x: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Removed samples set to 0 mV (the isoelectric line of baseline-corrected beats)."""
    return np.where(mask, 0.0, x)


@REPLACEMENTS.register("mean")
def _replace_mean(x: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Removed samples set to the mean of their lead in that beat (over all ``T`` samples of the
    original, so the fill does not depend on how much was removed)."""
    return np.where(mask, x.mean(axis=2, keepdims=True), x)


@REPLACEMENTS.register("interp")
def _replace_interp(x: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Linear interpolation across each gap of a lead between the kept samples on either side;
    a gap at the start or end holds the nearest kept value; a fully removed lead becomes 0."""
    n, n_leads, t = x.shape
    xs = x.reshape(-1, t)
    kept = ~mask.reshape(-1, t)
    idx = np.arange(t)
    prev = np.maximum.accumulate(np.where(kept, idx, -1), axis=1)
    nxt = np.minimum.accumulate(np.where(kept, idx, t)[:, ::-1], axis=1)[:, ::-1]
    has_prev, has_next = prev >= 0, nxt < t
    x_prev = np.take_along_axis(xs, np.clip(prev, 0, t - 1), axis=1)
    x_next = np.take_along_axis(xs, np.clip(nxt, 0, t - 1), axis=1)
    span = np.where(has_prev & has_next & (nxt > prev), nxt - prev, 1)
    w = (idx - prev) / span
    fill = np.where(
        has_prev & has_next,
        x_prev + w * (x_next - x_prev),
        np.where(has_prev, x_prev, np.where(has_next, x_next, 0.0)),
    )
    return np.where(kept, xs, fill).reshape(n, n_leads, t)


@REPLACEMENTS.register("noise")
def _replace_noise(x: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Removed samples drawn from N(lead mean, lead std²) of that lead in that beat. The whole
    noise field is drawn for every call, so one seed gives the same noise at every fraction."""
    return noise_fill(x, mask, rng.standard_normal(x.shape))


def noise_fill(x: np.ndarray, mask: np.ndarray, z: np.ndarray) -> np.ndarray:
    """The ``noise`` replacement with a given standard-normal field ``z`` (shape of ``x``):
    removed samples become ``lead mean + lead std · z`` of their lead in that beat (float64)."""
    mu = x.mean(axis=2, keepdims=True)
    sd = x.std(axis=2, keepdims=True)
    return np.where(mask, mu + sd * z, x)


def replace(x: np.ndarray, mask: np.ndarray, how: str, seed: int = 0) -> np.ndarray:
    """A copy of ``x`` with the masked samples replaced.

    Parameters
    ----------
    x:
        Beats ``(n, 12, T)`` in mV.
    mask:
        ``(n, 12, T)`` bool, True = remove (e.g. from :func:`removal_mask`).
    how:
        A name in :data:`REPLACEMENTS`: ``"zero"``, ``"mean"`` (lead mean of that beat),
        ``"interp"`` (linear across each gap per lead; 1D ROAD) or ``"noise"`` (Gaussian with the
        lead's mean and std).
    seed:
        Seeds the noise (unused by the deterministic replacements).

    Returns
    -------
    numpy.ndarray
        ``(n, 12, T)``, same dtype as ``x`` (float32 stays float32); unmasked samples unchanged.
    """
    fn = REPLACEMENTS.get(how)
    x_arr = np.asarray(x)
    x64 = as_maps(x_arr, "x")
    m = as_mask(mask, x64.shape)
    out = fn(x64, m, np.random.default_rng(seed))
    dtype = x_arr.dtype if np.issubdtype(x_arr.dtype, np.floating) else np.float64
    return out.astype(dtype, copy=False)


# --------------------------------------------------------------------------- curves


def _check_labels(y: object, n: int, class_index: int) -> np.ndarray:
    y_ = np.asarray(y)
    if y_.ndim != 2 or y_.shape[0] != n:
        raise DataError(f"y_onehot must have shape ({n}, C); got {y_.shape}")
    if isinstance(class_index, bool) or not isinstance(class_index, (int, np.integer)):
        raise ConfigError(f"class_index must be an integer; got {class_index!r}")
    if not 0 <= class_index < y_.shape[1]:
        raise ConfigError(f"class_index {class_index} out of range for {y_.shape[1]} classes")
    if not np.isin(y_, (0, 1)).all():
        raise DataError("y_onehot must hold only 0 and 1")
    return y_[:, class_index].astype(bool)


def _predict(predict_fn: PredictFn, x: np.ndarray, class_index: int) -> np.ndarray:
    p = np.asarray(predict_fn(x), dtype=np.float64)
    if p.ndim != 2 or p.shape[0] != x.shape[0] or p.shape[1] <= class_index:
        raise DataError(
            f"predict_fn must return (n, C) probabilities with C > {class_index}; got {p.shape}"
        )
    if not np.isfinite(p).all():
        raise DataError("predict_fn returned non-finite probabilities")
    return p[:, class_index]


def _curve(
    x: np.ndarray,
    positives: np.ndarray,
    masks: Iterable[tuple[dict[str, object], np.ndarray]],
    predict_fn: PredictFn,
    how: str,
    class_index: int,
    seed: int,
) -> list[dict[str, object]]:
    rows = []
    for info, mask in masks:
        xp = replace(x, mask, how, seed=seed)
        prob = _predict(predict_fn, xp, class_index)
        auroc = auroc_rows(prob[None, :], positives[None, :])[0]
        rows.append(
            {
                **info,
                "removed_share": float(mask.mean()),
                "auroc_class": float(auroc),
                "mean_prob": float(prob.mean()),
                "mean_prob_pos": float(prob[positives].mean()) if positives.any() else np.nan,
                "mean_logodds_pos": (float(log_odds(prob[positives]).mean()) if positives.any()
                                     else np.nan),
            }
        )
    return rows


def perturbation_curve(
    x: np.ndarray,
    y_onehot: np.ndarray,
    a: np.ndarray,
    predict_fn: PredictFn,
    *,
    fs: float,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    order: str,
    how: str,
    class_index: int,
    seed: int = 0,
    patch_ms: float = 40.0,
    signed: bool = False,
) -> pd.DataFrame:
    """Model output as ranked (lead × 40 ms) patches are removed and replaced.

    Parameters
    ----------
    x:
        Beats ``(n, 12, T)`` in mV.
    y_onehot:
        ``(n, C)`` 0/1 labels; column ``class_index`` is the class whose AUROC is tracked.
    a:
        Attributions ``(n, 12, T)`` for ``class_index`` (ignored when ``order="random"``).
    predict_fn:
        ``x (n, 12, T) -> (n, C)`` class probabilities (batching is its own business).
    fs:
        Sampling rate in Hz.
    fractions:
        Shares of patches removed, each in [0, 1].
    order:
        ``"morf"``, ``"lerf"`` or ``"random"`` (see :func:`ranking`).
    how:
        Replacement name in :data:`REPLACEMENTS`.
    class_index:
        The class explained and scored.
    seed:
        Seeds the random ranking / tie-breaking and the noise (two independent streams).
    patch_ms:
        Patch length in ms.
    signed:
        Rank patches by summed signed ``a`` (positive-first) instead of summed ``|a|``.

    Returns
    -------
    pandas.DataFrame
        One row per fraction: ``fraction``, ``n_removed`` (patches), ``removed_share`` (of
        samples), ``auroc_class`` (AUROC of the class probability against ``y_onehot``; NaN when
        the beats hold only one label), ``mean_prob`` (all beats), ``mean_prob_pos`` (positives
        only), ``mean_logodds_pos`` (mean :func:`log_odds` over the positives), and the settings
        ``order``, ``how``, ``class_index``.
    """
    x_ = as_maps(x, "x")
    n, _, t = x_.shape
    positives = _check_labels(y_onehot, n, class_index)
    fr = [check_fraction(f, "fractions") for f in fractions]
    if not fr:
        raise ConfigError("fractions is empty")
    if order not in ORDERS:
        raise ConfigError(f"unknown order {order!r}; valid: {', '.join(ORDERS)}")
    REPLACEMENTS.get(how)  # fail before any prediction on an unknown name
    rank_seed, noise_seed = (int(s) for s in np.random.SeedSequence(seed).generate_state(2))
    if order == "random":
        p, _ = patch_grid(t, fs, patch_ms)
        scores = np.zeros((n, x_.shape[1] * p))
    else:
        a_ = as_maps(a, "a")
        if a_.shape != x_.shape:
            raise DataError(f"a must have the shape of x {x_.shape}; got {a_.shape}")
        scores = patch_scores(a_, fs, patch_ms, signed=signed)
    order_idx = ranking(scores, order, seed=rank_seed)
    n_features = order_idx.shape[1]

    def masks() -> Iterable[tuple[dict[str, object], np.ndarray]]:
        for f in fr:
            info = {"fraction": f, "n_removed": _n_removed(f, n_features)}
            yield info, removal_mask(order_idx, f, t, fs, patch_ms)

    rows = _curve(np.asarray(x), positives, masks(), predict_fn, how, class_index, noise_seed)
    frame = pd.DataFrame(rows)
    frame["order"], frame["how"], frame["class_index"] = order, how, int(class_index)
    return frame


def area_between(
    fractions: Sequence[float], morf_values: Sequence[float], lerf_values: Sequence[float]
) -> float:
    """Area between the LeRF and MoRF curves, ``∫ (LeRF − MoRF) d fraction`` (trapezoid rule).

    Positive when removing the most relevant patches first hurts the model more than removing
    the least relevant first, i.e. the ranking is faithful; ≈ 0 for a random ranking.

    Parameters
    ----------
    fractions:
        Strictly increasing removal fractions, ``(k,)`` with ``k ≥ 2``.
    morf_values, lerf_values:
        ``(k,)`` the measured output (AUROC or mean probability) at each fraction.

    Returns
    -------
    float
        The signed area; NaN if any value is NaN.
    """
    f = np.asarray(fractions, dtype=np.float64)
    mo = np.asarray(morf_values, dtype=np.float64)
    le = np.asarray(lerf_values, dtype=np.float64)
    if f.ndim != 1 or f.size < 2 or mo.shape != f.shape or le.shape != f.shape:
        raise DataError(
            f"fractions, morf_values and lerf_values must be 1D of one length ≥ 2; got "
            f"{f.shape}, {mo.shape}, {le.shape}"
        )
    if not (np.diff(f) > 0).all():
        raise DataError("fractions must be strictly increasing")
    return float(np.trapezoid(le - mo, f))


# --------------------------------------------------------------------------- whole leads


def lead_removal_order(a: np.ndarray, seed: int = 0) -> np.ndarray:
    """Leads of each beat by summed ``|a|``, most relevant first.

    Parameters
    ----------
    a:
        Attributions ``(n, 12, T)``.
    seed:
        Breaks ties between equally relevant leads at random (Grad-CAM, broadcast over leads,
        ties all 12).

    Returns
    -------
    numpy.ndarray
        ``(n, 12)`` int64 lead indices.
    """
    a_ = as_maps(a, "a")
    return ranking(np.abs(a_).sum(axis=2), "morf", seed=seed)


def lead_removal_mask(order_idx: np.ndarray, n_leads: int, T: int) -> np.ndarray:
    """Samples removed when the first ``n_leads`` leads of each beat's order are taken away.

    Parameters
    ----------
    order_idx:
        ``(n, L)`` lead order, e.g. from :func:`lead_removal_order` or ``ranking(..., "random")``.
    n_leads:
        How many leads to remove, ``0 ≤ n_leads ≤ L``.
    T:
        Samples per lead.

    Returns
    -------
    numpy.ndarray
        ``(n, L, T)`` bool, whole leads True.
    """
    o = _check_order(order_idx)
    n, n_all = o.shape
    if isinstance(n_leads, bool) or not isinstance(n_leads, (int, np.integer)):
        raise ConfigError(f"n_leads must be an integer; got {n_leads!r}")
    if not 0 <= n_leads <= n_all:
        raise ConfigError(f"n_leads must lie in [0, {n_all}]; got {n_leads}")
    removed = np.zeros((n, n_all), dtype=bool)
    np.put_along_axis(removed, o[:, :n_leads], True, axis=1)
    return np.repeat(removed[:, :, None], int(T), axis=2)


def lead_removal_curve(
    x: np.ndarray,
    y_onehot: np.ndarray,
    a: np.ndarray,
    predict_fn: PredictFn,
    *,
    order: str,
    how: str,
    class_index: int,
    seed: int = 0,
) -> pd.DataFrame:
    """Model output as whole leads are removed, 0 … 12, in the order of their summed ``|a|``.

    Parameters
    ----------
    x, y_onehot, a, predict_fn, how, class_index, seed:
        As in :func:`perturbation_curve`.
    order:
        ``"morf"``, ``"lerf"`` or ``"random"`` over leads.

    Returns
    -------
    pandas.DataFrame
        One row per number of removed leads: ``n_removed``, ``fraction`` (= n_removed / 12),
        ``removed_share``, ``auroc_class``, ``mean_prob``, ``mean_prob_pos``, ``order``, ``how``,
        ``class_index``.
    """
    x_ = as_maps(x, "x")
    n, n_leads, t = x_.shape
    positives = _check_labels(y_onehot, n, class_index)
    if order not in ORDERS:
        raise ConfigError(f"unknown order {order!r}; valid: {', '.join(ORDERS)}")
    REPLACEMENTS.get(how)
    rank_seed, noise_seed = (int(s) for s in np.random.SeedSequence(seed).generate_state(2))
    if order == "random":
        scores = np.zeros((n, n_leads))
    else:
        a_ = as_maps(a, "a")
        if a_.shape != x_.shape:
            raise DataError(f"a must have the shape of x {x_.shape}; got {a_.shape}")
        scores = np.abs(a_).sum(axis=2)
    order_idx = ranking(scores, order, seed=rank_seed)

    def masks() -> Iterable[tuple[dict[str, object], np.ndarray]]:
        for k in range(n_leads + 1):
            yield {"n_removed": k, "fraction": k / n_leads}, lead_removal_mask(order_idx, k, t)

    rows = _curve(np.asarray(x), positives, masks(), predict_fn, how, class_index, noise_seed)
    frame = pd.DataFrame(rows)
    frame["order"], frame["how"], frame["class_index"] = order, how, int(class_index)
    return frame
