"""Evaluation: similarity measures, bootstrap statistics, localisation, the five experiments.

The public names below are re-exported lazily (PEP 562): ``import ecgsignal.evaluation`` costs
nothing, and e.g. ``from ecgsignal.evaluation import bootstrap_ci`` imports only
:mod:`ecgsignal.evaluation.statistics` (numpy), while the experiment machinery (torch, captum)
loads on first use of ``EXPERIMENTS``, ``run_experiment`` or ``ExperimentContext``.

The per-beat call ``similarity(a, b, measure)`` stays in its module,
:func:`ecgsignal.evaluation.similarity.similarity`: re-exporting it here would shadow the
submodule of the same name.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    # per-beat similarity of two maps (Exp 1-3)
    "SIMILARITY": "similarity",
    "spearman_abs": "similarity",
    "spearman_signed": "similarity",
    "pearson": "similarity",
    "topk_intersection": "similarity",
    "ssim_1d": "similarity",
    # statistics
    "bootstrap_ci": "statistics",
    "bootstrap_ci_many": "statistics",
    "bootstrap_table": "statistics",
    # ground-truth localisation (Exp 5)
    "LOCALIZATION": "localization",
    "relevance_mass_accuracy": "localization",
    "relevance_rank_accuracy": "localization",
    "mask_auroc": "localization",
    "pointing_game": "localization",
    # model-parameter randomisation (Exp 3)
    "randomized_copy": "randomization",
    "iter_randomized": "randomization",
    # tidy results
    "COLUMNS": "results",
    "make_table": "results",
    "save_results": "results",
    "load_results": "results",
    # shared inputs and the attribution cache
    "ExperimentContext": "context",
    "BeatSelection": "context",
    "AttributionStore": "store",
    # the experiments
    "EXPERIMENTS": "experiments",
    "Experiment": "experiments",
    "run_experiment": "experiments",
    "resolve_params": "experiments",
    "similarity_matrix": "experiments.similarity",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
