"""A linear baseline on raw samples: how hard is the task without a CNN?

The default synthetic data must not be linearly separable, or a CNN explanation could rest on
what any linear model sees: a ridge classifier
(scikit-learn's :class:`~sklearn.linear_model.RidgeClassifier`, one-vs-rest least squares) on the
raw samples of the 8 independent leads (I, II, V1–V6; III, aVR, aVL and aVF are linear combinations
of I and II, so they add nothing a linear model could use), standardised per feature, must stay at or below 0.90 three-fold
cross-validated accuracy (the first, *easy* build reached 0.989). Real-ECG work uses the same
sanity check: a CNN's gain over a linear model on the signal is what the CNN learned.
"""

from __future__ import annotations

import numpy as np

from ecgsignal.data.dataset import ECGDataset
from ecgsignal.errors import DataError

__all__ = ["linear_baseline"]


def linear_baseline(ds: ECGDataset, *, folds: int = 3, seed: int = 0, alpha: float = 1.0,
                    max_beats: int | None = None) -> dict:
    """Stratified ``folds``-fold accuracy of a ridge classifier on the raw samples of ``ds``.

    Parameters
    ----------
    ds:
        A single-label dataset; ``signals`` ``(n, 12, T)`` mV: the 8 independent leads are
        flattened to ``8·T`` features.
    folds, seed:
        Stratified K-fold cross-validation, shuffled with ``seed``.
    alpha:
        Ridge penalty (on standardised features).
    max_beats:
        Use a seeded, stratified subsample of at most this many beats (speed).

    Returns
    -------
    dict
        ``{"accuracy": mean, "fold_accuracy": [...], "n": beats used, "folds", "model": "ridge"}``.
    """
    from sklearn.linear_model import RidgeClassifier
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if ds.multilabel:
        raise DataError("linear_baseline needs single-label data")
    if folds < 2:
        raise DataError(f"folds must be at least 2, got {folds}")
    y = ds.labels
    idx = np.arange(ds.n)
    if max_beats is not None and max_beats < ds.n:
        rng = np.random.default_rng(seed)
        idx = np.sort(rng.permutation(ds.n)[:max_beats])
    keep = [ds.lead_names.index(k) for k in ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")]
    x = ds.signals[idx][:, keep].reshape(len(idx), -1)
    clf = make_pipeline(StandardScaler(), RidgeClassifier(alpha=alpha))
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    scores = cross_val_score(clf, x, y[idx], cv=cv)
    return {"model": "ridge", "accuracy": float(scores.mean()), "fold_accuracy": [float(s) for s in scores],
            "n": int(len(idx)), "folds": int(folds)}
