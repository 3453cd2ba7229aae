"""Is the benchmark as hard as the paper's data? The calibration band of the test AUROC.

The paper's CNNs reached AUROC > 0.95 on real median beats (Arends et al. 2026), not 1.000; on a
saturated benchmark every explained beat sits at p ≈ 1, which flattens perturbation curves and
makes self-consistency and localisation numbers incomparable with the paper's. The
realistic synthetic data (:mod:`ecgsignal.data.realism`) are calibrated so that the default CNN on
the book profile has every class's test AUROC inside :data:`CALIBRATION_BAND` and a macro mean at
or below :data:`CALIBRATION_MEAN_MAX`; :func:`calibration_check` tests a table of AUROCs for it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ecgsignal.errors import DataError
from ecgsignal.tables import require_columns

__all__ = ["CALIBRATION_BAND", "CALIBRATION_MEAN_MAX", "accuracy_table", "calibration_check"]

#: Every class's test AUROC (mean over seeds) must lie in this band.
CALIBRATION_BAND: tuple[float, float] = (0.95, 0.995)
#: The macro-average AUROC must not exceed this.
CALIBRATION_MEAN_MAX: float = 0.985


def calibration_check(au: pd.DataFrame, band: tuple[float, float] = CALIBRATION_BAND,
                      mean_max: float = CALIBRATION_MEAN_MAX) -> dict:
    """Check a tidy AUROC table (columns ``seed``, ``class``, ``auroc``) against the band.

    Returns
    -------
    dict
        ``class_mean`` ``{class: mean over seeds}``, ``in_band`` ``{class: bool}``, ``cells_in_band``
        (fraction of class × seed AUROCs in the band), ``macro_mean``, ``macro_by_seed``
        ``{seed: macro mean}``, ``calibrated`` (every class mean in the band and the macro mean
        ≤ ``mean_max``), ``band`` and ``mean_max``.
    """
    require_columns(au, ("seed", "class", "auroc"), "the AUROC table")
    if au.empty:
        raise DataError("the AUROC table is empty")
    lo, hi = band
    cm = au.groupby("class", sort=False)["auroc"].mean()
    in_band = {str(c): bool(lo <= v <= hi) for c, v in cm.items()}
    macro_by_seed = au.groupby("seed")["auroc"].mean()
    macro = float(cm.mean())
    cells = au["auroc"].to_numpy()
    return {
        "class_mean": {str(c): float(v) for c, v in cm.items()},
        "in_band": in_band,
        "cells_in_band": float(np.mean((cells >= lo) & (cells <= hi))),
        "macro_mean": macro,
        "macro_by_seed": {int(s): float(v) for s, v in macro_by_seed.items()},
        "calibrated": bool(all(in_band.values()) and macro <= mean_max),
        "band": (float(lo), float(hi)),
        "mean_max": float(mean_max),
    }


def accuracy_table(models, dataset, device: str | None = None) -> pd.DataFrame:
    """Tidy top-1 test accuracy per seed: columns ``seed``, ``k`` (``"cnn"``), ``accuracy``.

    ``models`` is ``{seed: TrainedModel}``; ``dataset`` a single-label :class:`ECGDataset` with a
    split. Flagged label-noise beats count as they are labelled (the accuracy a user would see).
    """
    from ecgsignal.models.training import predict_proba

    if dataset.multilabel:
        raise DataError("accuracy_table needs single-label data")
    test = dataset.indices("test")
    x, y = dataset.signals[test], dataset.labels[test]
    rows = [{"seed": int(s), "k": "cnn",
             "accuracy": float((predict_proba(tm.model, x, device=device).argmax(1) == y).mean())}
            for s, tm in models.items()]
    return pd.DataFrame(rows)
