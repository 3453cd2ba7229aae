"""Per-class AUROC, vectorised over classes (the paper's model bar: every class ≥ 0.95).

The area under the ROC curve equals the Mann–Whitney U statistic of the scores of positives
against negatives, divided by ``n_pos · n_neg`` (Hanley & McNeil, Radiology 1982). With average
ranks for ties, a tie between a positive and a negative counts one half, exactly as the
trapezoidal ROC area does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
from scipy.stats import rankdata

from ecgsignal.errors import ConfigError, DataError


def binary_targets(y_true: np.ndarray, n_classes: int) -> np.ndarray:
    """``(n, C)`` bool one-vs-rest targets from ``(n,)`` class indices or ``(n, C)`` 0/1 labels.

    Raises
    ------
    DataError
        Wrong shape, indices out of ``0..C-1``, or multi-label values other than 0 and 1.
    """
    y = np.asarray(y_true)
    if y.ndim == 1:
        if y.size and not np.issubdtype(y.dtype, np.integer):
            if not np.all(np.equal(np.mod(y, 1), 0)):
                raise DataError("single-label y_true must hold integer class indices")
        y = y.astype(np.int64)
        if y.size and (y.min() < 0 or y.max() >= n_classes):
            raise DataError(f"class indices out of range 0..{n_classes - 1}: found {y.min()}..{y.max()}")
        out = np.zeros((y.shape[0], n_classes), bool)
        out[np.arange(y.shape[0]), y] = True
        return out
    if y.ndim == 2:
        if y.shape[1] != n_classes:
            raise DataError(f"multi-label y_true has {y.shape[1]} columns, scores have {n_classes}")
        if not np.isin(y, (0, 1)).all():
            raise DataError("multi-label y_true must hold only 0 and 1")
        return y.astype(bool)
    raise DataError(f"y_true must be (n,) or (n, C), got shape {y.shape}")


def per_class_auroc(
    y_true: np.ndarray,
    scores: np.ndarray,
    class_names: Sequence[str],
    undefined: Literal["raise", "nan"] = "raise",
) -> dict[str, float]:
    """One-vs-rest AUROC of every class, from ranks (no per-class threshold sweep).

    Parameters
    ----------
    y_true:
        ``(n,)`` int class indices (single-label) or ``(n, C)`` 0/1 labels (multi-label).
    scores:
        ``(n, C)`` scores, higher = more likely the class (probabilities or logits).
    class_names:
        The ``C`` class names; keys of the result, in order.
    undefined:
        What to do when a class has only positives or only negatives: ``"raise"`` a
        :class:`DataError` naming the class (default), or report ``nan`` for it.

    Returns
    -------
    dict
        ``{class name: AUROC in [0, 1]}``; 1 = every positive outranks every negative, 0.5 = chance
        (and all-tied scores), 0 = perfectly reversed.
    """
    s = np.asarray(scores, dtype=np.float64)
    names = [str(c) for c in class_names]
    if s.ndim != 2:
        raise DataError(f"scores must be (n, C), got shape {s.shape}")
    if s.shape[1] != len(names):
        raise DataError(f"scores have {s.shape[1]} columns for {len(names)} class names")
    if s.shape[0] == 0:
        raise DataError("AUROC undefined: no beats to score")
    if not np.isfinite(s).all():
        raise DataError("scores contain NaN or inf")
    if undefined not in ("raise", "nan"):
        raise ConfigError(f"undefined must be 'raise' or 'nan', got {undefined!r}")
    y = binary_targets(y_true, len(names))
    if y.shape[0] != s.shape[0]:
        raise DataError(f"{y.shape[0]} labels for {s.shape[0]} rows of scores")
    n_pos = y.sum(0).astype(np.float64)
    n_neg = y.shape[0] - n_pos
    bad = (n_pos == 0) | (n_neg == 0)
    if bad.any() and undefined == "raise":
        c = int(np.flatnonzero(bad)[0])
        what = "positives" if n_pos[c] == 0 else "negatives"
        raise DataError(f"AUROC undefined: test split has no {what} of class {names[c]}")
    ranks = rankdata(s, axis=0)  # average ranks for ties, per column
    rank_sum = np.where(y, ranks, 0.0).sum(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        auc = (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    auc[bad] = np.nan
    return {name: float(a) for name, a in zip(names, auc)}


def mean_auroc(auroc: dict[str, float]) -> float:
    """Macro average of a per-class AUROC dict, ignoring ``nan`` (``nan`` if all are)."""
    vals = np.array(list(auroc.values()), dtype=np.float64)
    if vals.size == 0 or np.isnan(vals).all():
        return float("nan")
    return float(np.nanmean(vals))
