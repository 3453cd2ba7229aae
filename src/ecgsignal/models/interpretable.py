"""An inherently interpretable model: logistic regression on ECG measurements.

The paper (Arends et al. 2026) closes by recommending "inherently interpretable modelling" over
attribution maps. This module builds the simplest such model that can stand beside the CNN: a
multinomial logistic regression (scikit-learn) on the measurements :func:`ecgsignal.data.criteria.measure`
takes from the beat itself (intervals, axis, Sokolow-Lyon and Cornell voltages, and per lead the
R and S amplitudes, Q depth, ST level at J + 60 ms and T amplitude), standardised.

Its explanation is exact: the logit of class ``c`` minus the intercept is
``Σ_j coef[c, j] · z_j`` (``z_j`` the standardised measurement j). Each term is spread evenly
over the samples the measurement reads (:func:`feature_windows`: e.g. the PR interval reads P
onset … QRS onset in every lead, the ST level of V2 reads J + 50 … J + 70 ms in V2), so the map
``(n, 12, T)`` sums to the logit minus the intercept and the localisation and perturbation scores
of the attribution maps apply to it unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ecgsignal.data.criteria import Measurements, measure
from ecgsignal.data.leads import LEAD_INDEX, LEAD_NAMES
from ecgsignal.errors import ConfigError, DataError

__all__ = ["GLOBAL_FEATURES", "LEAD_FEATURES", "InterpretableModel", "feature_names",
           "feature_windows", "features", "fit_interpretable"]

GLOBAL_FEATURES: tuple[str, ...] = ("pr", "qrs", "qtcf", "axis", "sokolow", "cornell", "upstroke")
"""Beat-level measurements (ms, deg, mV) used as features."""
LEAD_FEATURES: tuple[str, ...] = ("r_amp", "s_amp", "q_depth", "st_j60", "t_amp")
"""Per-lead measurements (mV), one feature per lead each."""


def feature_names() -> list[str]:
    """The feature order: the global ones, then ``"<measure>_<lead>"`` for every lead."""
    return list(GLOBAL_FEATURES) + [f"{m}_{ld}" for m in LEAD_FEATURES for ld in LEAD_NAMES]


def features(m: Measurements) -> np.ndarray:
    """``(n, F)`` float64 feature matrix from :class:`Measurements` (:func:`feature_names` order)."""
    cols = [np.asarray(getattr(m, f), np.float64)[:, None] for f in GLOBAL_FEATURES]
    cols += [np.asarray(getattr(m, f), np.float64) for f in LEAD_FEATURES]
    return np.concatenate(cols, axis=1)


def feature_windows(m: Measurements, fs: float, r_offset: float, n_samples: int) -> np.ndarray:
    """``(n, F, 12, T)`` bool: the samples each feature reads, per beat.

    Intervals read their span in every lead (PR: P onset … QRS onset; QRS and upstroke: the QRS;
    QTcF: QRS onset … QRS offset + 0.45 s); the axis reads the QRS of I and aVF, Sokolow-Lyon
    the QRS of V1, V5, V6, Cornell that of aVL and V3; per lead, R/S amplitude and Q depth read
    the lead's QRS (Q depth its first 40 ms), the ST level J + 50 … J + 70 ms, the T amplitude
    J + 80 ms … J + 450 ms.
    """
    n = m.pr.shape[0]
    k = np.arange(n_samples)[None]

    def span(a: np.ndarray, b: np.ndarray) -> np.ndarray:  # (n, T) from times in s from R
        # clipped into the window, so a span beyond its end (a misplaced QRS offset on a noisy
        # beat) still reads its last sample and every feature's term lands somewhere
        lo = np.clip(np.round((a + r_offset) * fs), 0, n_samples - 1)[:, None]
        hi = np.clip(np.round((b + r_offset) * fs), 0, n_samples - 1)[:, None]
        return (k >= lo) & (k <= np.maximum(hi, lo))

    on, off, p_on = m.qrs_onset, m.qrs_offset, m.p_onset
    qrs = span(on, off)
    win = np.zeros((n, len(feature_names()), 12, n_samples), bool)
    glob = {"pr": (span(p_on, on), None), "qrs": (qrs, None), "upstroke": (qrs, None),
            "qtcf": (span(on, off + 0.45), None), "axis": (qrs, ("I", "aVF")),
            "sokolow": (qrs, ("V1", "V5", "V6")), "cornell": (qrs, ("aVL", "V3"))}
    for j, f in enumerate(GLOBAL_FEATURES):
        w, leads = glob[f]
        rows = range(12) if leads is None else [LEAD_INDEX[ld] for ld in leads]
        for r in rows:
            win[:, j, r] = w
    per = {"r_amp": qrs, "s_amp": qrs, "q_depth": span(on, np.minimum(on + 0.04, off)),
           "st_j60": span(off + 0.05, off + 0.07), "t_amp": span(off + 0.08, off + 0.45)}
    j = len(GLOBAL_FEATURES)
    for f in LEAD_FEATURES:
        for r in range(12):
            win[:, j, r] = per[f]
            j += 1
    return win


@dataclass
class InterpretableModel:
    """A fitted logistic regression on standardised measurements.

    Attributes
    ----------
    coef:
        ``(C, F)`` coefficients per class and standardised feature (logit per SD).
    intercept:
        ``(C,)``.
    mean, scale:
        ``(F,)`` standardisation of the training features.
    fs, r_offset:
        Sampling rate (Hz) and R-peak time in the window (s) the measurements assume.
    class_names:
        The ``C`` classes.
    """

    coef: np.ndarray
    intercept: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    fs: float
    r_offset: float
    class_names: tuple[str, ...]

    def measure(self, x: np.ndarray) -> Measurements:
        """Measurements of beats ``x`` ``(n, 12, T)`` mV."""
        return measure(np.asarray(x, np.float32), self.fs, self.r_offset)

    def standardized(self, x: np.ndarray, m: Measurements | None = None) -> np.ndarray:
        """``(n, F)`` standardised features of beats ``x``."""
        m = self.measure(x) if m is None else m
        return np.nan_to_num((features(m) - self.mean) / self.scale)

    def logits(self, x: np.ndarray) -> np.ndarray:
        """``(n, C)`` class logits of beats ``x``."""
        return self.standardized(x) @ self.coef.T + self.intercept

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """``(n, C)`` softmax probabilities."""
        z = self.logits(x)
        z = np.exp(z - z.max(1, keepdims=True))
        return z / z.sum(1, keepdims=True)

    def _targets(self, target: np.ndarray | int, n: int) -> np.ndarray:
        t = np.broadcast_to(np.asarray(target, np.int64), (n,))
        if np.any(t < 0) or np.any(t >= len(self.class_names)):
            raise DataError(f"targets must lie in 0..{len(self.class_names) - 1}")
        return t

    def contributions(self, x: np.ndarray, target: np.ndarray | int) -> np.ndarray:
        """``(n, F)`` exact per-feature terms ``coef[target, j] · z_j`` of the target logit."""
        z = self.standardized(x)
        return z * self.coef[self._targets(target, z.shape[0])]

    def explain(self, x: np.ndarray, target: np.ndarray | int) -> np.ndarray:
        """``(n, 12, T)`` float32 signed map: each feature's term spread over the samples it reads.

        The map of a beat sums exactly to its target logit minus the intercept.
        """
        x = np.asarray(x, np.float32)
        m = self.measure(x)
        z = self.standardized(x, m)
        contrib = z * self.coef[self._targets(target, z.shape[0])]  # (n, F)
        win = feature_windows(m, self.fs, self.r_offset, x.shape[-1])  # (n, F, 12, T)
        size = np.maximum(win.sum(axis=(2, 3)), 1)  # (n, F)
        per_sample = (contrib / size).astype(np.float32)
        return np.einsum("nf,nflt->nlt", per_sample, win.astype(np.float32)).astype(np.float32)


def fit_interpretable(x: np.ndarray, y: np.ndarray, class_names: tuple[str, ...], fs: float,
                      r_offset: float, C: float = 1.0, seed: int = 0,
                      bootstrap: bool = False,
                      measured: np.ndarray | None = None) -> InterpretableModel:
    """Fit the multinomial logistic regression on the measurements of training beats.

    Parameters
    ----------
    x:
        ``(n, 12, T)`` training beats, mV.
    y:
        ``(n,)`` int class indices (single-label data only).
    class_names, fs, r_offset:
        Classes, sampling rate (Hz), R-peak time in the window (s).
    C:
        Inverse L2 penalty of scikit-learn's ``LogisticRegression``.
    seed:
        Seeds the bootstrap resample (``bootstrap=True``): the interpretable model is
        deterministic given its data, so "different seeds" means different resamples of the
        training set, the analogue of the CNN's seed-to-seed variation.
    bootstrap:
        Fit on a seeded bootstrap resample of the training beats.
    measured:
        ``(n, F)`` features of ``x`` (``features(measure(x, fs, r_offset))``) when already
        measured: every measurement is per beat, so a resample's features are these rows, the
        same numbers without measuring again (fits of several seeds share one measurement).
    """
    from sklearn.linear_model import LogisticRegression

    y = np.asarray(y)
    if y.ndim != 1:
        raise DataError("the interpretable model takes single-label data ((n,) class indices)")
    if not C > 0:
        raise ConfigError(f"C must be positive, got {C!r}")
    x = np.asarray(x, np.float32)
    if measured is not None and np.shape(measured)[0] != x.shape[0]:
        raise DataError(f"measured has {np.shape(measured)[0]} rows for {x.shape[0]} beats")
    idx = (np.random.default_rng(seed).integers(0, x.shape[0], x.shape[0]) if bootstrap
           else slice(None))
    y = y[idx]
    f = (features(measure(x[idx], fs, r_offset)) if measured is None
         else np.asarray(measured, np.float64)[idx])
    mean = np.nanmean(f, 0)
    scale = np.nanstd(f, 0)
    scale = np.where(scale > 1e-9, scale, 1.0)
    z = np.nan_to_num((f - mean) / scale)
    clf = LogisticRegression(C=C, max_iter=2000)
    clf.fit(z, y)
    coef = np.zeros((len(class_names), z.shape[1]))
    icpt = np.full(len(class_names), -1e9)  # classes absent from the (re)sample are never chosen
    coef[clf.classes_] = clf.coef_ if clf.coef_.shape[0] > 1 else np.vstack([-clf.coef_, clf.coef_])
    icpt[clf.classes_] = clf.intercept_ if clf.intercept_.size > 1 else [-clf.intercept_[0],
                                                                         clf.intercept_[0]]
    return InterpretableModel(coef=coef, intercept=icpt, mean=mean, scale=scale, fs=float(fs),
                              r_offset=float(r_offset), class_names=tuple(class_names))
