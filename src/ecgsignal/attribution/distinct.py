"""Are two methods' maps really different? The collapse guard behind "12 distinct methods".

Two implementations can coincide without anyone noticing: Captum's ε-LRP on a ReLU network is
Input×Gradient (Ancona et al. 2018). These measures say how far apart two sets of maps of the
same beats are, per beat, as a share of the maps' own scale:

* :func:`map_difference` — median over beats of ``max|a − ref| / max|ref|`` (the difference
  relative to a reference method, e.g. LRP against Input×Gradient);
* :func:`pairwise_distinctness` — for every pair of methods, the median over beats of
  ``max|a − b| / max(max|a|, max|b|)`` (``raw``: the stricter of the two directions of
  ``max|Δ|/max|a|``) and of ``max|â − b̂|`` with each map scaled to ``max|·| = 1`` per beat
  (``scaled``: also catches a map that is a multiple of another).
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import combinations

import numpy as np
import pandas as pd

from ecgsignal.errors import DataError

__all__ = ["map_difference", "pairwise_distinctness"]

_TINY = 1e-30


def _check(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim < 2:
        raise DataError(f"maps must have the same shape (n, ...), got {a.shape} and {b.shape}")
    n = a.shape[0]
    return a.reshape(n, -1), b.reshape(n, -1)


def map_difference(a: np.ndarray, ref: np.ndarray) -> float:
    """Median over beats of ``max|a − ref| / max|ref|`` (maps ``(n, 12, T)``; unitless).

    A beat whose reference map is zero everywhere counts as ``inf`` unless ``a`` is zero too (0).
    """
    a2, r2 = _check(a, ref)
    diff = np.abs(a2 - r2).max(axis=1)
    scale = np.abs(r2).max(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(diff == 0, 0.0, diff / scale)
    return float(np.median(ratio))


def _scaled(a: np.ndarray) -> np.ndarray:
    m = np.abs(a).max(axis=1, keepdims=True)
    return a / np.where(m > 0, m, 1.0)


def pairwise_distinctness(maps: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """One row per pair of methods: how different their maps of the same beats are.

    Parameters
    ----------
    maps:
        ``{method: (n, 12, T) maps}``, the same beats and targets for every method.

    Returns
    -------
    pandas.DataFrame
        ``a``, ``b``, ``raw`` (median over beats of ``max|a − b| / max(max|a|, max|b|)``),
        ``scaled`` (median over beats of ``max|â − b̂|``, each map divided by its ``max|·|``)
        and ``distinct`` = ``min(raw, scaled)``, smallest first. 0 means the same maps.
    """
    names = list(maps)
    if len(names) < 2:
        raise DataError("need maps of at least two methods")
    rows = []
    for x, y in combinations(names, 2):
        a, b = _check(maps[x], maps[y])
        diff = np.abs(a - b).max(axis=1)
        scale = np.maximum(np.abs(a).max(axis=1), np.abs(b).max(axis=1))
        raw = np.where(diff == 0, 0.0, diff / np.maximum(scale, _TINY))
        scaled = np.abs(_scaled(a) - _scaled(b)).max(axis=1)
        r, s = float(np.median(raw)), float(np.median(scaled))
        rows.append({"a": x, "b": y, "raw": r, "scaled": s, "distinct": min(r, s)})
    return pd.DataFrame(rows).sort_values("distinct", kind="stable").reset_index(drop=True)
