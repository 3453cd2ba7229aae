"""Reference beats for DeepLiftSHAP and GradientSHAP: a fixed, seeded sample of training beats."""

from __future__ import annotations

import numpy as np

from ecgsignal.errors import ConfigError, DataError
from ecgsignal.validation import check_int


def make_baselines(signals: np.ndarray, n: int = 32, seed: int = 0) -> np.ndarray:
    """A fixed random sample of ``n`` beats (without replacement) to use as SHAP baselines.

    Following Lundberg & Lee (2017) and Erion et al. (2021), the expectation in DeepLiftSHAP and
    GradientSHAP runs over a background distribution; here, training beats.

    Parameters
    ----------
    signals:
        ``(N, 12, T)`` training beats in mV (finite).
    n:
        Number of baselines, ``1 <= n <= N``.
    seed:
        Seed of the draw (a fresh :class:`numpy.random.Generator`; no global state).

    Returns
    -------
    numpy.ndarray
        ``(n, 12, T)`` float32 copy of the chosen beats, in draw order.
    """
    arr = np.asarray(signals)
    if arr.ndim != 3:
        raise DataError(f"baseline signals must be (N, 12, T), got shape {arr.shape}")
    if arr.shape[1] != 12:
        raise DataError(f"baseline signals must have 12 leads, got {arr.shape[1]}")
    if arr.shape[0] == 0:
        raise DataError("no beats to draw baselines from")
    if not np.issubdtype(arr.dtype, np.number):
        raise DataError(f"baseline signals must be numeric, got dtype {arr.dtype}")
    n = check_int(n, "n")
    if n > arr.shape[0]:
        raise ConfigError(f"cannot draw n={n} baselines from {arr.shape[0]} beats")
    seed = check_int(seed, "seed", 0)
    idx = np.random.default_rng(int(seed)).choice(arr.shape[0], size=int(n), replace=False)
    out = np.ascontiguousarray(arr[idx], dtype=np.float32)
    if not np.isfinite(out).all():
        raise DataError("baseline beats contain NaN or inf")
    return out
