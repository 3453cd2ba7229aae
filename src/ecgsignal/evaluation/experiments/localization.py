"""Experiment 5 — ground-truth localisation on the synthetic data (beyond the paper).

The synthetic beats carry two ground-truth masks (SYNTHETIC_ECG.md): the *difference* mask (where
the beat differs from its counterfactual without the class change) and the *criteria* mask (the
leads × window a diagnostic criterion inspects). For the reference model ``ctx.seeds[0]`` and the
explained beats, every method and control in ``ctx.methods`` is scored against each mask with the
measures of :mod:`ecgsignal.evaluation.localization`: relevance mass accuracy, relevance rank
accuracy (Arras et al. 2022), mask AUROC and the pointing game (Zhang et al. 2018).

Beats whose mask is empty (NORM: there is nothing to find) are excluded, per mask. Each row gives
the mean over beats with a seeded 95 % percentile bootstrap CI over beats, per class, and in
column ``chance`` the mean score of an uninformative map on the same beats
(:func:`~ecgsignal.evaluation.localization.chance_level`), to read each value against. The pooled
rows (``"all"``) weight classes *equally* — the mean of the class means, with a bootstrap
stratified by class — since the chance level (the mask's share of the beat) differs between
classes by an order of magnitude and a beat-weighted pool would be dominated by the classes with
wide masks.

Sign convention: every measure reads ``|a|`` (``absolute_mass=True`` by default), because rank
accuracy, mask AUROC and the pointing game are defined on magnitudes and several methods' signs
carry no meaning (Grad-CAM after its ReLU, the controls); ``absolute_mass=False`` gives Arras et
al.'s positive-part mass accuracy instead.

Beside the raw scores, whose chance level depends on the size of the mask:

* ``<measure>_ratio`` (mass accuracy, rank accuracy, pointing game) — per beat, the score divided
  by its chance level (the mask share): 1 = no better than an uninformative map, comparable
  across classes. Mask AUROC is chance-normalised already (0.5 for every mask) and has no ratio.
* ``<measure>_vs_<control>`` for the ``input`` and ``edge`` controls (when in ``ctx.methods``) —
  the paired per-beat difference, method minus control, with its bootstrap CI: the bar a method
  must clear to show it localises more than the beat's own amplitude or slope. ``chance`` is 1
  for ratios and 0 for differences.

References
----------
Arras, L., Osman, A., Samek, W. (2022). CLEVR-XAI: a benchmark dataset for the ground truth
evaluation of neural network explanations. Information Fusion 81, 14–40.
Zhang, J. et al. (2018). Top-down neural attention by excitation backprop. IJCV 126, 1084–1102.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ecgsignal.errors import ConfigError, DataError
from ecgsignal.evaluation.context import ExperimentContext
from ecgsignal.evaluation.experiments._groups import (
    POOLED,
    check_names,
    class_groups,
    context_methods,
)
from ecgsignal.evaluation.experiments.base import EXPERIMENTS, Experiment
from ecgsignal.evaluation.localization import LOCALIZATION, chance_level
from ecgsignal.evaluation.measures import MEASURES
from ecgsignal.evaluation.results import make_table
from ecgsignal.evaluation.statistics import bootstrap_ci_many
from ecgsignal.validation import check_int

__all__ = ["DEFAULTS", "MASKS", "beat_masks", "localization_scores", "run_localization"]

MASKS: dict[str, str] = {"diff": "diff_mask", "criteria": "criteria_mask"}
"""Mask names of the ``mask`` column → attribute of :class:`~ecgsignal.data.dataset.ECGDataset`."""

DEFAULTS: dict[str, Any] = {
    "measures": ["mass_accuracy", "rank_accuracy", "mask_auroc", "pointing_game"],
    "masks": ["diff", "criteria"],
    "absolute_mass": True,
    "tolerance": 0,
}
"""Parameters: ``measures`` (names in :data:`~ecgsignal.evaluation.localization.LOCALIZATION`),
``masks`` (``diff``, ``criteria``), ``absolute_mass`` (mass accuracy of ``|a|``, like every other
measure; ``False``: the positive part, as Arras et al. define it), ``tolerance`` (pointing-game
widening, samples)."""

CONTROLS_VS: tuple[str, ...] = ("input", "edge")
"""Controls every method is compared with, paired per beat (``<measure>_vs_<control>`` rows)."""

def _equal_class_ci(values: np.ndarray, class_idx: Sequence[np.ndarray], n_boot: int,
                    seed: int, ci: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean of the class means (classes weighted equally) per column, with a percentile CI.

    ``values`` ``(n, M)``; ``class_idx`` the rows of each class. The bootstrap resamples beats
    within each class (stratified), the same rows for every column (paired).
    """
    rng = np.random.default_rng(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        est = np.nanmean(np.stack([np.nanmean(values[i], axis=0) for i in class_idx]), axis=0)
        per = [np.nanmean(values[i[rng.integers(0, i.size, size=(n_boot, i.size))]], axis=1)
               for i in class_idx]  # each (B, M)
        reps = np.nanmean(np.stack(per), axis=0)
        lo, hi = np.nanquantile(reps, [(1 - ci) / 2, (1 + ci) / 2], axis=0)
    return est, lo, hi


def _check_masks(masks: object) -> list[str]:
    if isinstance(masks, str):
        masks = [masks]
    if not isinstance(masks, Sequence) or not masks or any(m not in MASKS for m in masks):
        raise ConfigError(f"parameter 'masks' must be a non-empty list of {list(MASKS)}; "
                          f"got {masks!r}")
    return list(dict.fromkeys(masks))


def beat_masks(ctx: ExperimentContext, masks: Sequence[str] = ("diff", "criteria"),
               ) -> dict[str, np.ndarray]:
    """The ground-truth masks of the explained beats, ``name → (m, 12, T)`` bool.

    Raises :class:`ConfigError` when the dataset carries no masks (only the synthetic data does).
    """
    ds = ctx.dataset
    out = {}
    for name in _check_masks(list(masks)):
        arr = getattr(ds, MASKS[name])
        if arr is None:
            raise ConfigError(
                f"localisation needs the {name!r} ground-truth mask, which only the synthetic data "
                f"has (this dataset: {ds.meta.get('source', 'unknown')})")
        out[name] = np.asarray(arr[ctx.beats.index], dtype=bool)
    return out


def localization_scores(maps: np.ndarray, masks: Mapping[str, np.ndarray],
                        measures: Sequence[str] = tuple(DEFAULTS["measures"]), *,
                        absolute_mass: bool = False, tolerance: int = 0,
                        ) -> dict[tuple[str, str], np.ndarray]:
    """Per-beat localisation scores of one method's maps against each mask.

    Parameters
    ----------
    maps:
        Attributions ``(n, 12, T)`` of the explained beats.
    masks:
        Mask name → ``(n, 12, T)`` bool ground truth of the same beats.
    measures:
        Names in :data:`~ecgsignal.evaluation.localization.LOCALIZATION`.
    absolute_mass:
        Relevance mass of ``|a|`` instead of the positive part.
    tolerance:
        Pointing-game tolerance along time, samples.

    Returns
    -------
    dict
        ``(mask name, measure)`` → ``(n,)`` scores in [0, 1]; NaN for beats with an empty mask.
    """
    out = {}
    for mname, mask in masks.items():
        if np.shape(mask) != np.shape(maps):
            raise DataError(f"mask {mname!r} has shape {np.shape(mask)}, the maps {np.shape(maps)}")
        for measure in measures:
            fn = LOCALIZATION.get(measure)  # unknown names fail here, listing the valid ones
            kwargs = MEASURES.get(measure).accepted(absolute=bool(absolute_mass), tolerance=int(tolerance))
            out[(mname, measure)] = np.asarray(fn(maps, mask, **kwargs), dtype=np.float64)
    return out


def run_localization(ctx: ExperimentContext, params: dict[str, Any]) -> pd.DataFrame:
    """Run Experiment 5 on ``ctx``; see the module docstring for the table it returns.

    Parameters
    ----------
    ctx:
        Models, beats and methods; the dataset must carry both masks (synthetic data).
    params:
        See :data:`DEFAULTS`.

    Returns
    -------
    pandas.DataFrame
        Tidy rows: ``experiment="localization"``, ``method``, ``class`` (classes with a
        non-empty mask, then ``"all"``), ``seed`` (reference), ``measure``, ``mask``, ``value``
        (mean over beats), ``ci_low``, ``ci_high``, ``n`` (beats with a finite score),
        ``chance`` (mean chance level on the same beats); besides the raw ``measure`` rows,
        ``<measure>_ratio`` and ``<measure>_vs_<control>`` rows (module docstring).
    """
    measures = check_names(params.get("measures", DEFAULTS["measures"]), LOCALIZATION, "measures")
    mask_names = _check_masks(params.get("masks", DEFAULTS["masks"]))
    tolerance = params.get("tolerance", 0)
    tolerance = check_int(tolerance, "parameter 'tolerance'", 0)
    masks = beat_masks(ctx, mask_names)
    methods = context_methods(ctx)
    seed = ctx.seeds[0]
    beats = ctx.beats
    scores = {m: localization_scores(ctx.attributions(m, seed=seed), masks, measures,
                                     absolute_mass=bool(params.get("absolute_mass", True)),
                                     tolerance=tolerance)
              for m in methods}
    records: list[dict[str, Any]] = []
    for mname, mask in masks.items():
        nonempty = mask.reshape(beats.n, -1).any(axis=1)
        groups = class_groups(beats, keep=nonempty)
        per_class = [idx for cls, idx in groups if cls != POOLED]
        for measure in measures:
            chance = chance_level(mask, measure)
            values = np.stack([scores[m][(mname, measure)] for m in methods], axis=1)
            variants = [(measure, values, methods, chance)]
            if MEASURES.get(measure).chance_varies:  # a constant chance (mask AUROC's 0.5) needs no ratio
                with np.errstate(divide="ignore", invalid="ignore"):
                    variants.append((f"{measure}_ratio", values / chance[:, None], methods,
                                     np.ones_like(chance)))
            for ctl in (c for c in CONTROLS_VS if c in methods):
                others = [m for m in methods if m != ctl]
                diff = values[:, [methods.index(m) for m in others]] - values[:, [methods.index(ctl)]]
                variants.append((f"{measure}_vs_{ctl}", diff, others, np.zeros_like(chance)))
            for name, vals, names, chc in variants:
                for cls, idx in groups:
                    if cls == POOLED:
                        est, lo, hi = _equal_class_ci(vals, per_class, ctx.n_boot, ctx.seed)
                        ch = float(np.nanmean([np.nanmean(chc[i]) for i in per_class]))
                    else:
                        est, lo, hi = bootstrap_ci_many(vals[idx], n_boot=ctx.n_boot,
                                                        seed=ctx.seed)
                        ch = (float(np.nanmean(chc[idx])) if np.isfinite(chc[idx]).any()
                              else np.nan)
                    n_fin = np.isfinite(vals[idx]).sum(axis=0)
                    for j, m in enumerate(names):
                        records.append({
                            "experiment": "localization", "method": m, "class": cls,
                            "seed": seed, "measure": name, "mask": mname, "value": est[j],
                            "ci_low": lo[j], "ci_high": hi[j], "n": int(n_fin[j]), "chance": ch,
                        })
    if not records:
        raise DataError("no explained beat has a non-empty ground-truth mask")
    return make_table(records)


EXPERIMENTS.register("localization", Experiment(
    name="localization",
    title="Experiment 5: ground-truth localisation (synthetic data)",
    run=run_localization,
    defaults=DEFAULTS,
    needs_masks=True,
    description="Relevance mass and rank accuracy, mask AUROC and pointing game of every method "
                "against the difference and criteria masks; beats with empty masks excluded.",
))
