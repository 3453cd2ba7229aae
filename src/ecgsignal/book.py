"""The one import surface of the chapters: ``from ecgsignal.book import …``.

Every chapter notebook imports what it uses from here and nowhere else in the package (as a
d2l chapter imports from ``d2l``), so a reader sees one vocabulary and a refactor of the
package's layout moves names here, not in fourteen notebooks. Nothing is defined here: each
name is the package's own object, documented where it lives.

Groups: running a chapter (:func:`open_chapter`, :func:`glue`, :func:`table`); reading result
tables (:func:`select`, :func:`format_ci`, :func:`ci_table` and the chapter summaries); data,
models, attribution methods and experiments; plots; explorers.
"""

from __future__ import annotations

from ecgsignal.attribution import CONTROLS, METHODS, PAPER_METHODS, attribute
from ecgsignal.attribution.describe import method_table, time_methods
from ecgsignal.attribution.distinct import map_difference
from ecgsignal.attribution.lrp_zennit import RULES
from ecgsignal.config import to_dict
from ecgsignal.data.criteria import measure
from ecgsignal.data.describe import (
    class_criteria_frame,
    criteria_table,
    limb_lead_residuals,
    mask_summary,
    measurement_summary,
)
from ecgsignal.data.leads import LEAD_INDEX
from ecgsignal.data.realism import (
    AMP_GAIN_SIGMA,
    AMP_JITTER_SIGMA,
    AXIS_RANGE_DEG,
    COOCCUR_PROB,
    ELECTRODE_SHIFT_SD,
    MAINS_HZ,
    NOISE_SIGMA_MV,
    PRIORITY,
    WANDER_MAX_MV,
    borderline_table,
)
from ecgsignal.data.sources import load_dataset
from ecgsignal.data.synthetic import generate
from ecgsignal.evaluation.compare import compare_maps
from ecgsignal.evaluation.coverage import LEGACY, coverage_table, run_coverage
from ecgsignal.evaluation.difficulty import difficulty_shift
from ecgsignal.evaluation.experiments.beyond import counterfactual_examples, pick, side_by_side
from ecgsignal.evaluation.experiments.randomization import (
    first_per_class,
    methods_not_converging,
    path_summary,
)
from ecgsignal.evaluation.lead_shares import lead_share_table
from ecgsignal.evaluation.necessity import mask_necessity
from ecgsignal.evaluation.perturbation import lead_removal_mask, ranking, replace
from ecgsignal.evaluation.randomization import randomized_copy, stages
from ecgsignal.evaluation.similarity import similarity
from ecgsignal.evaluation.statistics import bootstrap_ci
from ecgsignal.evaluation.summaries import (
    areas,
    ci_table,
    closer_to_controls,
    format_ci,
    measure_agreement,
    methods_above_chance,
    randomization_endpoints,
    ranked_pairs,
    replacement_agreement,
    similarity_to_others,
)
from ecgsignal.models import n_parameters, per_class_auroc, predict_proba
from ecgsignal.models.baseline import linear_baseline
from ecgsignal.models.calibration import accuracy_table, calibration_check
from ecgsignal.models.report import (
    AUROC_BAR,
    auroc_table,
    below_bar,
    history_table,
    seed_summary,
    training_table,
)
from ecgsignal.run.bench import (
    chapter_tables,
    chapters_section,
    load_bench,
    load_gpu_bench,
    machine_line,
    machine_table,
    profile_highlights,
    ratio_table,
    scale_highlights,
)
from ecgsignal.run.chapter import describe_figures, glue, open_chapter, results_root, table
from ecgsignal.run.explorers import (
    explorer_beats,
    live_perturbation_explorer,
    live_randomization_explorer,
    perturbation_explorer,
    randomization_explorer,
)
from ecgsignal.run.pipeline import check_profile_data
from ecgsignal.run.profiles import load_profile
from ecgsignal.run.scale import scale_table
from ecgsignal.tables import select
from ecgsignal.visual.beyond import plot_counterfactual_examples
from ecgsignal.visual.ecg import class_band, plot_beat, plot_class_gallery
from ecgsignal.visual.forest import plot_forest
from ecgsignal.visual.grids import plot_perturbation_grid, plot_similarity_grid
from ecgsignal.visual.localization import plot_localization
from ecgsignal.visual.methods import (
    plot_lead_shares,
    plot_method_bars,
    plot_method_gallery,
    plot_method_timings,
)
from ecgsignal.visual.models import plot_auroc, plot_history
from ecgsignal.visual.perturbation import plot_area_between, plot_perturbation
from ecgsignal.visual.randomization import plot_randomization
from ecgsignal.visual.similarity import plot_consistency, plot_similarity_matrix

__all__ = [
    # running a chapter
    "describe_figures", "glue", "load_profile", "open_chapter", "results_root", "table",
    "check_profile_data",
    # reading result tables
    "select", "format_ci", "ci_table", "areas", "closer_to_controls", "measure_agreement",
    "methods_above_chance", "randomization_endpoints", "ranked_pairs", "replacement_agreement",
    "similarity_to_others", "first_per_class", "methods_not_converging", "path_summary", "counterfactual_examples",
    "pick", "side_by_side", "bootstrap_ci",
    # data
    "generate", "load_dataset", "measure", "LEAD_INDEX", "class_criteria_frame", "criteria_table",
    "limb_lead_residuals", "mask_summary", "measurement_summary", "borderline_table",
    "AMP_GAIN_SIGMA", "AMP_JITTER_SIGMA", "AXIS_RANGE_DEG", "COOCCUR_PROB", "ELECTRODE_SHIFT_SD",
    "MAINS_HZ", "NOISE_SIGMA_MV", "PRIORITY", "WANDER_MAX_MV", "to_dict",
    # models
    "n_parameters", "per_class_auroc", "predict_proba", "linear_baseline", "accuracy_table",
    "calibration_check", "AUROC_BAR", "auroc_table", "below_bar", "history_table",
    "seed_summary", "training_table",
    # attribution methods and the experiments' building blocks
    "CONTROLS", "METHODS", "PAPER_METHODS", "RULES", "attribute", "method_table", "time_methods",
    "map_difference", "compare_maps", "difficulty_shift", "lead_share_table", "mask_necessity",
    "lead_removal_mask", "ranking", "replace", "randomized_copy", "stages", "similarity",
    "LEGACY", "coverage_table", "run_coverage",
    # plots
    "class_band", "plot_beat", "plot_class_gallery", "plot_forest", "plot_perturbation_grid",
    "plot_similarity_grid", "plot_localization", "plot_lead_shares", "plot_method_bars",
    "plot_method_gallery", "plot_method_timings", "plot_auroc", "plot_history",
    "plot_area_between", "plot_perturbation", "plot_randomization", "plot_consistency",
    "plot_similarity_matrix", "plot_counterfactual_examples",
    # the book's own speed (chapter 12)
    "chapter_tables", "chapters_section", "load_bench", "load_gpu_bench", "machine_line",
    "machine_table", "profile_highlights", "ratio_table", "scale_highlights", "scale_table",
    # explorers
    "explorer_beats", "live_perturbation_explorer", "live_randomization_explorer",
    "perturbation_explorer", "randomization_explorer",
]
