"""Is the ground truth evidence the trained model *needs*? The necessity check of the masks.

Experiment 5 scores attributions against the difference mask. That only means something if the
model's decision rests on what the mask marks: on the first, easy benchmark a linear
classifier still separated most classes after the masked samples were replaced. The check, per
class, on correctly classified test positives (flagged label-noise beats left out):

* **mask**: replace the samples of the beat's difference mask by its counterfactual (noise kept:
  ``x − (clean − counterfactual)`` inside the mask) and record the drop of p(class);
* **control**: do the same in a random region of equal size outside the mask (the same number of
  lead × time samples, drawn uniformly from the samples the mask leaves out).

A mask the model needs gives a large median drop and many flipped decisions; the control gives
neither. Masks are relative to the noise (``|Δ| > σ_noise``, :mod:`ecgsignal.data.realism`), so
what the control touches differs from the beat by less than its noise.
"""

from __future__ import annotations

import numpy as np
from torch import nn

from ecgsignal.config import from_dict
from ecgsignal.data.dataset import ECGDataset
from ecgsignal.errors import DataError
from ecgsignal.models.training import predict_proba

__all__ = ["mask_necessity"]


def mask_necessity(model: nn.Module, dataset: ECGDataset, *, seed: int = 0,
                   device: str | None = None, max_per_class: int | None = None) -> dict[str, dict]:
    """Median drop of p(class) when the mask (or an equal-size control region) is made counterfactual.

    Parameters
    ----------
    model:
        A trained single-label network (input ``(n, 12, T)`` mV).
    dataset:
        A synthetic :class:`ECGDataset` with its split; its beats, counterfactuals and masks are
        re-rendered from ``dataset.meta["config"]`` (the generator is seeded, so they are exact).
    seed:
        Seed of the control regions and of the subsample.
    max_per_class:
        Use at most this many beats per class (seeded choice), for speed.

    Returns
    -------
    dict
        ``{class: {"mask_drop", "control_drop", "flipped", "control_flipped", "n"}}`` for every
        class but NORM (which has no mask): medians of ``p − p'`` and fractions of beats whose
        argmax leaves the class. A class with no eligible beat gets ``n = 0`` and NaNs.
    """
    from ecgsignal.data.synthetic import SyntheticConfig, generate

    if dataset.meta.get("source") != "synthetic" or "config" not in dataset.meta:
        raise DataError("mask_necessity needs the synthetic dataset (its counterfactuals are re-rendered)")
    if dataset.multilabel:
        raise DataError("mask_necessity is defined for single-label data")
    if dataset.split is None:
        raise DataError("dataset has no split; the check runs on its test beats")
    batch = generate(from_dict(SyntheticConfig, dataset.meta["config"]), keep_clean=True)
    if batch.beats.shape != dataset.signals.shape or not np.array_equal(batch.beats, dataset.signals):
        raise DataError("the dataset's beats differ from its generator config; was it modified?")
    test = dataset.indices("test")
    x = batch.beats[test]
    delta = batch.clean[test] - batch.counterfactual[test]
    mask = batch.diff_mask[test]
    y = dataset.labels[test]
    flipped = batch.label_flipped[test] if batch.label_flipped is not None else np.zeros(len(test), bool)
    p = predict_proba(model, x, device=device)
    rng = np.random.default_rng(seed)
    out: dict[str, dict] = {}
    for c, name in enumerate(dataset.class_names):
        if c == 0:
            continue
        sel = np.flatnonzero((y == c) & (p.argmax(1) == c) & ~flipped & mask.any((1, 2)))
        if max_per_class is not None and sel.size > max_per_class:
            sel = np.sort(rng.permutation(sel)[:max_per_class])
        if sel.size == 0:
            out[name] = {"mask_drop": float("nan"), "control_drop": float("nan"), "flipped": float("nan"),
                         "control_flipped": float("nan"), "n": 0}
            continue
        m = mask[sel]
        ctrl = _control_region(m, rng)
        d = delta[sel]
        pm = predict_proba(model, x[sel] - d * m, device=device)
        pc = predict_proba(model, x[sel] - d * ctrl, device=device)
        p0 = p[sel, c]
        out[name] = {
            "mask_drop": float(np.median(p0 - pm[:, c])),
            "control_drop": float(np.median(p0 - pc[:, c])),
            "flipped": float(np.mean(pm.argmax(1) != c)),
            "control_flipped": float(np.mean(pc.argmax(1) != c)),
            "n": int(sel.size),
        }
    return out


def _control_region(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Per beat, as many samples as ``mask`` holds, drawn uniformly from outside it."""
    n = mask.shape[0]
    flat = mask.reshape(n, -1)
    r = rng.random(flat.shape)
    r[flat] = np.inf  # never pick a mask sample
    k = flat.sum(1)
    order = np.argsort(r, axis=1)
    ranks = np.empty_like(order)
    ranks[np.arange(n)[:, None], order] = np.arange(flat.shape[1])[None, :]
    ctrl = (ranks < k[:, None]) & ~flat
    return ctrl.reshape(mask.shape)
