"""Compare attribution maps with references, per method, with bootstrap CIs over beats.

One call covers the comparisons the pitfalls chapter makes outside the five experiments: maps of
a randomised model against the trained model's maps, or against the input ``|x|`` (what an
input-multiplying method keeps whatever the weights; Kindermans et al. 2019, Binder et al. 2023),
under several similarity measures and normalisations (``raw`` or ``abs_max``, as in
Experiment 3; see :func:`ecgsignal.evaluation.experiments.randomization.normalize_maps`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ecgsignal.errors import DataError
from ecgsignal.evaluation.experiments.randomization import normalize_maps
from ecgsignal.evaluation.similarity import similarity
from ecgsignal.evaluation.statistics import bootstrap_ci_many

__all__ = ["compare_maps"]


def compare_maps(reference: np.ndarray | Mapping[str, np.ndarray],
                 maps: Mapping[str, np.ndarray], *,
                 measures: Sequence[str] = ("spearman_abs",),
                 normalizations: Sequence[str] = ("raw",), n_boot: int = 1000, seed: int = 0,
                 ci: float = 0.95) -> pd.DataFrame:
    """Per-beat similarity of each method's maps to a reference, summarised with bootstrap CIs.

    Parameters
    ----------
    reference:
        ``(n, 12, T)`` one reference for every method (e.g. ``|x|``), or ``{method: (n, 12, T)}``
        one per method (e.g. the trained model's maps).
    maps:
        ``{method: (n, 12, T)}`` the maps compared (e.g. of a randomised model).
    measures:
        Names in :data:`ecgsignal.evaluation.similarity.SIMILARITY`.
    normalizations:
        ``"raw"`` and/or ``"abs_max"`` (``|a| / max|a|`` per beat), applied to both sides.
    n_boot, seed, ci:
        Percentile bootstrap over beats (paired across measures and normalisations).

    Returns
    -------
    pandas.DataFrame
        Tidy rows ``method``, ``measure``, ``normalization``, ``value`` (mean over beats),
        ``ci_low``, ``ci_high``, ``n`` (finite beats), ``flag_above_zero`` (``ci_low > 0``).
    """
    if not maps:
        raise DataError("no maps to compare")
    if not measures or not normalizations:
        raise DataError("give at least one measure and one normalization")
    rows = []
    for method, a in maps.items():
        if isinstance(reference, Mapping):
            if method not in reference:
                raise DataError(f"no reference maps for method {method!r}")
            ref = reference[method]
        else:
            ref = reference
        a = np.asarray(a)
        ref = np.asarray(ref)
        if a.shape != ref.shape or a.ndim != 3:
            raise DataError(f"{method}: maps {a.shape} and reference {ref.shape} must be the same "
                            "(n, 12, T) shape")
        cols, keys = [], []
        for norm in normalizations:
            ra, aa = normalize_maps(ref, norm), normalize_maps(a, norm)
            for meas in measures:
                cols.append(np.asarray(similarity(ra, aa, meas), np.float64))
                keys.append((meas, norm))
        scores = np.stack(cols, axis=1)
        est, lo, hi = bootstrap_ci_many(scores, n_boot=n_boot, seed=seed, ci=ci)
        n_fin = np.isfinite(scores).sum(axis=0)
        rows += [{"method": method, "measure": meas, "normalization": norm,
                  "value": float(est[j]), "ci_low": float(lo[j]), "ci_high": float(hi[j]),
                  "n": int(n_fin[j]), "flag_above_zero": bool(lo[j] > 0)}
                 for j, (meas, norm) in enumerate(keys)]
    return pd.DataFrame(rows)
