"""Occlusion is not graded on its own perturbation in Experiment 4's rankings.

Occlusion's map is the logit drop when each (1 lead × 40 ms) window, from sample 0, is set to
0 mV: exactly Experiment 4's patch grid and its zero replacement. Those rows are marked
``own_perturbation`` and kept out of every ranking of methods.
"""

from __future__ import annotations

import pytest

from ecgsignal.attribution import graded_on_own_perturbation
from ecgsignal.evaluation.experiments.perturbation import run_perturbation
from ecgsignal.evaluation.summaries import areas, replacement_agreement


def test_known_answers():
    assert graded_on_own_perturbation("occlusion", "zero", "patch", 40.0)
    assert not graded_on_own_perturbation("occlusion", "interp", "patch", 40.0)
    assert not graded_on_own_perturbation("occlusion", "zero", "patch", 20.0)  # another grid
    assert not graded_on_own_perturbation("occlusion", "zero", "lead", 40.0)
    assert graded_on_own_perturbation("feature_ablation", "zero", "lead")
    assert graded_on_own_perturbation("kernel_shap", "zero", "patch")
    for m in ("saliency", "lrp", "gradcam", "random_ranking", "oracle_diff"):
        assert not graded_on_own_perturbation(m, "zero", "patch")


@pytest.fixture(scope="module")
def table(tiny_context):
    return run_perturbation(tiny_context, {
        "methods": ["occlusion", "saliency", "integrated_gradients"],
        "replacements": ["zero", "interp"], "fractions": [0.0, 0.3, 1.0],
        "auroc": False, "leads": False})


def test_rows_are_marked(table):
    own = table["own_perturbation"].astype(bool)
    expected = (table["method"] == "occlusion") & (table["replacement"] == "zero")
    assert own.any() and (own == expected).all()


def test_marked_rows_are_kept_out_of_rankings(table):
    every = areas(table)
    assert set(every.loc[every["own_perturbation"], "method"]) == {"occlusion"}
    ranked = areas(table, exclude_own=True)
    assert not ((ranked["method"] == "occlusion") & (ranked["replacement"] == "zero")).any()
    assert ((ranked["method"] == "occlusion") & (ranked["replacement"] == "interp")).any()
    # a table saved before the column existed: the flag is recomputed
    old = areas(table.drop(columns="own_perturbation"))
    assert (old["own_perturbation"].to_numpy() == every["own_perturbation"].to_numpy()).all()
    rho = replacement_agreement(table)
    assert rho.shape == (2, 2)
