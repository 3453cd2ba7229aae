"""run_experiment with experiments 1, 2 and 5: results saved atomically beside their config, reruns
read them back without recomputing, changed parameters recompute, bad parameters fail clearly,
and one seed gives identical results."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

import ecgsignal.evaluation as evaluation
from ecgsignal.errors import ConfigError
from ecgsignal.evaluation.context import ExperimentContext
from ecgsignal.evaluation.experiments import EXPERIMENTS, run_experiment
from ecgsignal.evaluation.experiments import similarity as exp_similarity
from ecgsignal.evaluation.results import COLUMNS


def test_registered():
    for name in ("similarity", "consistency", "localization"):
        exp = EXPERIMENTS.get(name)
        assert exp.name == name and exp.title and exp.description
        assert exp.needs_masks is (name == "localization")
        assert "measures" in exp.defaults


def test_package_reexports_lazily():
    assert "run_experiment" in evaluation.__all__ and "EXPERIMENTS" in dir(evaluation)
    assert evaluation.run_experiment is run_experiment
    assert evaluation.EXPERIMENTS is EXPERIMENTS
    assert evaluation.similarity_matrix is exp_similarity.similarity_matrix
    from ecgsignal.evaluation.similarity import spearman_abs
    from ecgsignal.evaluation.statistics import bootstrap_ci

    assert evaluation.spearman_abs is spearman_abs and evaluation.bootstrap_ci is bootstrap_ci
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        evaluation.nope  # noqa: B018


@pytest.fixture
def counted(monkeypatch):
    """Count the similarity matrices Experiment 1 computes (one per measure and model)."""
    calls = []
    real = exp_similarity.pairwise_similarity

    def counting(maps, measure="spearman_abs"):
        calls.append(measure)
        return real(maps, measure)

    monkeypatch.setattr(exp_similarity, "pairwise_similarity", counting)
    return calls


def test_saved_reread_and_recomputed(tiny_context, tmp_path, counted):
    k = len(tiny_context.seeds)  # Experiment 1 averages over every model
    df = run_experiment("similarity", tiny_context, out_dir=tmp_path)
    assert counted == ["spearman_abs"] * k
    folder = tmp_path / "similarity"
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "results.csv"]
    cfg = json.loads((folder / "config.json").read_text())
    assert cfg["experiment"] == "similarity" and cfg["params"] == {"measures": ["spearman_abs"]}
    assert cfg["context"]["methods"] == list(tiny_context.methods)
    assert list(pd.read_csv(folder / "results.csv").columns[: len(COLUMNS)]) == list(COLUMNS)

    again = run_experiment("similarity", tiny_context, out_dir=tmp_path)
    assert counted == ["spearman_abs"] * k  # read back, nothing recomputed
    for col in ("method", "other", "class", "measure", "seed", "stage"):  # same dtypes, read back
        pd.testing.assert_series_equal(again[col], df[col])
    np.testing.assert_allclose(again[["value", "ci_low", "ci_high"]].to_numpy(float),
                               df[["value", "ci_low", "ci_high"]].to_numpy(float), rtol=1e-9)

    other = run_experiment("similarity", tiny_context, out_dir=tmp_path,
                           params={"measures": ["pearson"]})
    assert counted == ["spearman_abs"] * k + ["pearson"] * k  # a changed parameter recomputes
    assert set(other["measure"]) == {"pearson"}
    cfg = json.loads((folder / "config.json").read_text())
    assert cfg["params"] == {"measures": ["pearson"]}
    run_experiment("similarity", tiny_context, out_dir=tmp_path, params={"measures": ["pearson"]},
                   force=True)
    assert counted == ["spearman_abs"] * k + ["pearson"] * 2 * k  # force recomputes


def test_bad_parameters(tiny_context, tmp_path):
    with pytest.raises(ConfigError, match="no parameter 'measure'.*valid: \\['measures'\\]"):
        run_experiment("similarity", tiny_context, params={"measure": ["pearson"]})
    with pytest.raises(ConfigError, match="should be list"):
        run_experiment("consistency", tiny_context, params={"measures": 3})
    with pytest.raises(ConfigError, match="tolerance"):
        run_experiment("localization", tiny_context, params={"tolerance": "2"})
    assert not (tmp_path / "similarity").exists()


def test_localization_without_masks_is_refused(tiny_context, tmp_path):
    ds = dataclasses.replace(tiny_context.dataset, diff_mask=None, criteria_mask=None,
                             meta={"source": "ptbxl"})
    ctx = ExperimentContext(dataset=ds, methods=("saliency",), seeds=(0,), cache_dir=tmp_path,
                            progress=False)
    with pytest.raises(ConfigError, match="needs ground-truth masks.*ptbxl"):
        run_experiment("localization", ctx, out_dir=tmp_path)
    assert not (tmp_path / "localization").exists()


def test_identical_across_two_runs(tiny_context, monkeypatch):
    """Same seed → same table: Exp 1 with every attribution recomputed (cache disabled), Exp 5
    from the cached maps (its bootstrap is seeded)."""
    first = {n: run_experiment(n, tiny_context) for n in ("similarity", "localization")}
    pd.testing.assert_frame_equal(first["localization"],
                                  run_experiment("localization", tiny_context))
    monkeypatch.setattr(tiny_context.store, "enabled", False)
    misses = tiny_context.store.misses
    pd.testing.assert_frame_equal(first["similarity"], run_experiment("similarity", tiny_context))
    assert tiny_context.store.misses - misses == len(tiny_context.methods) * len(tiny_context.seeds)
