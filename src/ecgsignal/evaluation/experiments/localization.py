"""Experiment 5 — ground-truth localisation on the synthetic data (beyond the paper).

The synthetic beats carry two ground-truth masks (SYNTHETIC_ECG.md): the *difference* mask (where
the beat differs from its counterfactual without the class change) and the *criteria* mask (the
leads × window a diagnostic criterion inspects). For the reference model ``ctx.seeds[0]`` and the
explained beats, every method and control in ``ctx.methods`` is scored against each mask with the
measures of :mod:`ecgsignal.evaluation.localization`: relevance mass accuracy, relevance rank
accuracy (Arras et al. 2022), mask AUROC and the pointing game (Zhang et al. 2018).

Beats whose mask is empty (NORM: there is nothing to find) are excluded, per mask. Each row gives
the mean over beats with a seeded 95 % percentile bootstrap CI over beats, per class and pooled
(``"all"``), and in column ``chance`` the mean score of an uninformative map on the same beats
(:func:`~ecgsignal.evaluation.localization.chance_level`), to read each value against.

References
----------
Arras, L., Osman, A., Samek, W. (2022). CLEVR-XAI: a benchmark dataset for the ground truth
evaluation of neural network explanations. Information Fusion 81, 14–40.
Zhang, J. et al. (2018). Top-down neural attention by excitation backprop. IJCV 126, 1084–1102.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ecgsignal.errors import ConfigError, DataError
from ecgsignal.evaluation.context import ExperimentContext
from ecgsignal.evaluation.experiments._groups import check_names, class_groups, context_methods
from ecgsignal.evaluation.experiments.base import EXPERIMENTS, Experiment
from ecgsignal.evaluation.localization import LOCALIZATION, chance_level
from ecgsignal.evaluation.results import make_table
from ecgsignal.evaluation.statistics import bootstrap_ci_many

__all__ = ["DEFAULTS", "MASKS", "beat_masks", "localization_scores", "run_localization"]

MASKS: dict[str, str] = {"diff": "diff_mask", "criteria": "criteria_mask"}
"""Mask names of the ``mask`` column → attribute of :class:`~ecgsignal.data.dataset.ECGDataset`."""

DEFAULTS: dict[str, Any] = {
    "measures": ["mass_accuracy", "rank_accuracy", "mask_auroc", "pointing_game"],
    "masks": ["diff", "criteria"],
    "absolute_mass": False,
    "tolerance": 0,
}
"""Parameters: ``measures`` (names in :data:`~ecgsignal.evaluation.localization.LOCALIZATION`),
``masks`` (``diff``, ``criteria``), ``absolute_mass`` (mass accuracy of ``|a|`` instead of the
positive part, as Arras et al. define it), ``tolerance`` (pointing-game widening, samples)."""


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
            kwargs: dict[str, Any] = {}
            if measure == "mass_accuracy":
                kwargs["absolute"] = bool(absolute_mass)
            elif measure == "pointing_game":
                kwargs["tolerance"] = int(tolerance)
            out[(mname, measure)] = np.asarray(
                LOCALIZATION.get(measure)(maps, mask, **kwargs), dtype=np.float64)
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
        ``chance`` (mean chance level on the same beats).
    """
    measures = check_names(params.get("measures", DEFAULTS["measures"]), LOCALIZATION, "measures")
    mask_names = _check_masks(params.get("masks", DEFAULTS["masks"]))
    tolerance = params.get("tolerance", 0)
    if isinstance(tolerance, bool) or not isinstance(tolerance, int) or tolerance < 0:
        raise ConfigError(f"parameter 'tolerance' must be a non-negative integer; got {tolerance!r}")
    masks = beat_masks(ctx, mask_names)
    methods = context_methods(ctx)
    seed = ctx.seeds[0]
    beats = ctx.beats
    scores = {m: localization_scores(ctx.attributions(m, seed=seed), masks, measures,
                                     absolute_mass=bool(params.get("absolute_mass", False)),
                                     tolerance=tolerance)
              for m in methods}
    records: list[dict[str, Any]] = []
    for mname, mask in masks.items():
        nonempty = mask.reshape(beats.n, -1).any(axis=1)
        for measure in measures:
            chance = chance_level(mask, measure)
            values = np.stack([scores[m][(mname, measure)] for m in methods], axis=1)
            for cls, idx in class_groups(beats, keep=nonempty):
                est, lo, hi = bootstrap_ci_many(values[idx], n_boot=ctx.n_boot, seed=ctx.seed)
                n_fin = np.isfinite(values[idx]).sum(axis=0)
                ch = float(np.nanmean(chance[idx])) if np.isfinite(chance[idx]).any() else np.nan
                for j, m in enumerate(methods):
                    records.append({
                        "experiment": "localization", "method": m, "class": cls, "seed": seed,
                        "measure": measure, "mask": mname, "value": est[j], "ci_low": lo[j],
                        "ci_high": hi[j], "n": int(n_fin[j]), "chance": ch,
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
