"""Measure specs (evaluation/measures.py): every registered measure has one, and its metadata is true."""

from __future__ import annotations

import numpy as np
import pytest

import ecgsignal.evaluation.perturbation  # noqa: F401  (registers the curve measures)
from ecgsignal.errors import ConfigError
from ecgsignal.evaluation.localization import LOCALIZATION, chance_level
from ecgsignal.evaluation.measures import MEASURES, MeasureSpec
from ecgsignal.evaluation.similarity import SIMILARITY


@pytest.fixture(scope="module")
def maps():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 64, 12, 50))
    mask = np.zeros((64, 12, 50), bool)
    for i in range(64):  # masks of different sizes, one empty, one full
        mask[i, : 1 + i % 12, 10 : 10 + 3 * (i % 13)] = True
    mask[0] = False
    mask[1] = True
    return a, b, mask


@pytest.mark.parametrize("registry,family", [(SIMILARITY, "similarity"), (LOCALIZATION, "localization")])
def test_every_measure_has_a_spec_with_its_function(registry, family):
    for name in registry:
        spec = MEASURES.get(name)
        assert spec.family == family and spec.fn is registry.get(name) and spec.label


@pytest.mark.parametrize("name", list(SIMILARITY) + list(LOCALIZATION))
def test_scores_lie_in_the_declared_range(name, maps):
    a, b, mask = maps
    spec = MEASURES.get(name)
    v = spec.fn(a, b if spec.family == "similarity" else mask)
    lo, hi = spec.value_range
    v = v[np.isfinite(v)]
    assert v.size and (v >= lo - 1e-9).all() and (v <= hi + 1e-9).all()


@pytest.mark.parametrize("name", list(LOCALIZATION))
def test_an_uninformative_map_scores_the_chance_level(name, maps):
    _, _, mask = maps
    flat = np.ones(mask.shape)  # a constant map carries no information about the mask
    got = MEASURES.get(name).fn(flat, mask)
    want = chance_level(mask, name)
    fin = np.isfinite(want)
    assert fin.sum() > 50 and np.allclose(got[fin], want[fin])
    assert np.isnan(want[0])  # empty mask
    assert MEASURES.get(name).chance_varies == (name != "mask_auroc")


def test_similarity_chance_levels(maps):
    rng = np.random.default_rng(1)
    a, b = rng.random((2, 400, 12, 50))
    assert abs(np.nanmean(SIMILARITY.get("spearman_abs")(a, b)) - MEASURES.get("spearman_abs").chance_value()) < 0.01
    topk = MEASURES.get("topk")
    assert topk.chance_value() == 0.10 and topk.chance_value(frac=0.2) == 0.2
    assert abs(np.mean(SIMILARITY.get("topk")(a, b, frac=0.2)) - topk.chance_value(frac=0.2)) < 0.01
    assert MEASURES.get("auroc").chance_value() == 0.5 and MEASURES.get("mean_prob").chance_value() is None


def test_options_come_from_the_signature():
    assert MEASURES.get("topk").options() == {"frac": 0.10}
    assert MEASURES.get("pointing_game").options() == {"tolerance": 0}
    assert MEASURES.get("mass_accuracy").accepted(absolute=True, tolerance=3) == {"absolute": True}
    assert MEASURES.get("rank_accuracy").accepted(absolute=True, tolerance=3) == {}
    assert MEASURES.get("spearman_abs").rank_transform == "abs"
    assert MEASURES.get("mean_prob").pooling == "weighted" and MEASURES.get("auroc").pooling == "mean"


def test_bad_specs_are_refused():
    with pytest.raises(ConfigError, match="family"):
        MeasureSpec("x", "nope", "x", (0.0, 1.0))
    with pytest.raises(ConfigError, match="neither"):
        MeasureSpec("x", "similarity", "x", (0.0, 1.0), chance="alpha",
                    fn=SIMILARITY.get("topk"))
