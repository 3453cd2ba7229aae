"""How a result shifts between the easy and the realistic synthetic data.

A saturated model (AUROC 1.000 on the easy data) explains beats at p ≈ 1: removing a tenth of the
beat barely moves the probability, so perturbation curves look flat, and a map that covers the
large amplitudes overlaps the mask by construction. :func:`difficulty_shift` trains one model
per difficulty on the same number of beats with the same recipe and measures, on correctly
classified test positives of the eight abnormal classes, for a few methods:

* ``p_class``: the median model probability of the explained class;
* ``drop_top10``: the median drop of p(class) when the 10 % of samples with the largest |a| are
  set to zero (a one-point perturbation curve, Experiment 4);
* ``mass_accuracy`` and ``mask_auroc`` against the difference mask (Experiment 5).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ecgsignal.errors import DataError

__all__ = ["difficulty_shift"]


def difficulty_shift(*, n_beats: int = 1800, fs: float = 250.0, data_seed: int = 0, model_seed: int = 0,
                     epochs: int = 12, batch_size: int = 32,
                     methods: Sequence[str] = ("saliency", "integrated_gradients"),
                     n_per_class: int = 5, seed: int = 0, device: str = "cpu",
                     cache_dir: str | Path | None = None, progress: bool = False) -> pd.DataFrame:
    """Model quality and attribution scores on easy vs realistic data, tidy.

    Returns
    -------
    pandas.DataFrame
        Columns ``difficulty``, ``method`` (``"model"`` for the model rows), ``measure``, ``value``,
        ``n`` (beats). Model rows: ``macro_auroc`` and ``p_class``; method rows: ``drop_top10``,
        ``mass_accuracy``, ``mask_auroc`` (means over beats; the drop is a median).
    """
    from ecgsignal.attribution import attribute
    from ecgsignal.data.synthetic import make_synthetic
    from ecgsignal.evaluation.localization import localization
    from ecgsignal.models import TrainConfig
    from ecgsignal.models.checkpoints import load_or_train
    from ecgsignal.models.cnn import ModelConfig
    from ecgsignal.models.training import predict_proba

    if n_per_class < 1 or not methods:
        raise DataError("difficulty_shift needs n_per_class >= 1 and at least one method")
    rows = []
    for difficulty in ("easy", "realistic"):
        ds = make_synthetic(n=n_beats, fs=fs, seed=data_seed, difficulty=difficulty)
        tm = load_or_train(ds, ModelConfig(), TrainConfig(epochs=epochs, batch_size=batch_size),
                           seed=model_seed, device=device, progress=progress,
                           cache_dir=None if cache_dir is None else Path(cache_dir))
        test = ds.indices("test")
        p = predict_proba(tm.model, ds.signals[test], device=device)
        y = ds.labels[test]
        ok = (p.argmax(1) == y) & (y > 0) & ds.diff_mask[test].any((1, 2))
        if ds.label_flipped is not None:
            ok &= ~ds.label_flipped[test]
        rng = np.random.default_rng(seed)
        pick = np.concatenate([rng.permutation(np.flatnonzero(ok & (y == c)))[:n_per_class]
                               for c in range(1, ds.n_classes)])
        if pick.size == 0:
            raise DataError(f"no correctly classified positives on the {difficulty} data")
        pick = np.sort(pick)
        x, tgt, mask = ds.signals[test[pick]], y[pick], ds.diff_mask[test[pick]]
        p0 = p[pick, tgt]
        rows.append({"difficulty": difficulty, "method": "model", "measure": "macro_auroc",
                     "value": float(np.mean(list(tm.auroc.values()))), "n": int(test.size)})
        rows.append({"difficulty": difficulty, "method": "model", "measure": "p_class",
                     "value": float(np.median(p0)), "n": int(pick.size)})
        for m in methods:
            a = np.asarray(attribute(tm.model, x, tgt, m, device=device, fs=fs, seed=seed))
            flat = np.abs(a).reshape(len(pick), -1)
            k = max(1, int(round(0.1 * flat.shape[1])))
            top = np.argsort(-flat, axis=1)[:, :k]
            xz = x.reshape(len(pick), -1).copy()
            np.put_along_axis(xz, top, 0.0, axis=1)
            p1 = predict_proba(tm.model, xz.reshape(x.shape), device=device)[np.arange(len(pick)), tgt]
            rows.append({"difficulty": difficulty, "method": m, "measure": "drop_top10",
                         "value": float(np.median(p0 - p1)), "n": int(pick.size)})
            for meas in ("mass_accuracy", "mask_auroc"):
                rows.append({"difficulty": difficulty, "method": m, "measure": meas,
                             "value": float(np.nanmean(localization(a, mask, meas))), "n": int(pick.size)})
    return pd.DataFrame(rows)
