"""Experiment 2 (self-consistency across seeds): known answers on hand-made maps, then the tiny
models."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
from exp_fakes import FakeContext, make_beats

from ecgsignal.errors import ConfigError
from ecgsignal.evaluation.experiments import run_experiment
from ecgsignal.evaluation.experiments.consistency import (
    comparison_methods,
    run_consistency,
    seed_pairs,
)
from ecgsignal.evaluation.similarity import spearman_abs
from ecgsignal.visual.similarity import plot_consistency

SEEDS = (0, 1, 2)


def _pooled(df, method, quantity="self_consistency", cls="all"):
    sel = df[(df.method == method) & (df.quantity == quantity) & (df["class"] == cls)
             & df["pair"].isna()]
    assert len(sel) == 1
    return sel.iloc[0]


@pytest.fixture(scope="module")
def fake():
    """'stable': same map on every seed; 'fresh': a new random map per seed; 'split': the same
    map on seeds 0 and 1 but an unrelated one on seed 2 (pair-level variation)."""
    beats = make_beats([0] * 20 + [1] * 20, ("A", "B"))
    rng = np.random.default_rng(3)
    shape = beats.x.shape
    stable = rng.standard_normal(shape)
    split = rng.standard_normal(shape)
    maps = {}
    for s in SEEDS:
        maps[("stable", s)] = stable
        maps[("fresh", s)] = rng.standard_normal(shape)
        maps[("split", s)] = split if s < 2 else rng.standard_normal(shape)
    return FakeContext(beats=beats, maps=maps, seeds=SEEDS, n_boot=300)


def test_seed_pairs_and_comparison_methods():
    assert seed_pairs((0, 1, 2)) == [(0, 1), (0, 2), (1, 2)]
    assert seed_pairs([4, 4, 7]) == [(4, 7)]
    with pytest.raises(ConfigError, match="at least two model seeds"):
        seed_pairs((3,))
    ms = ["saliency", "lrp", "random", "input"]
    assert comparison_methods("saliency", ms) == ["lrp"]
    assert comparison_methods("random", ms) == ["saliency", "lrp"]
    assert comparison_methods("random", ["random", "input"]) == ["input"]


def test_known_answers(fake):
    df = run_consistency(fake, {"measures": ["spearman_abs"]})
    stable = _pooled(df, "stable")
    assert stable.value == pytest.approx(1.0) and stable.ci_low == pytest.approx(1.0)
    fresh = _pooled(df, "fresh")
    assert abs(fresh.value) < 0.05 and fresh.ci_low <= 0 <= fresh.ci_high
    assert _pooled(df, "split").value == pytest.approx(1 / 3, abs=0.02)
    # 'others' of 'stable' on model s is the mean similarity to 'fresh' and 'split' on model s
    expect = np.mean([np.mean([spearman_abs(fake.maps[("stable", s)], fake.maps[(o, s)])
                               for o in ("fresh", "split")], axis=0).mean() for s in SEEDS])
    assert _pooled(df, "stable", "others").value == pytest.approx(expect, abs=1e-12)
    for m in fake.methods:
        assert _pooled(df, m, "gap").value == pytest.approx(
            _pooled(df, m).value - _pooled(df, m, "others").value, abs=1e-12)
    pairs = df[df["pair"].notna() & (df.method == "split")].set_index("pair")["value"]
    assert pairs.to_dict() == pytest.approx({"0-1": 1.0, "0-2": 0.0, "1-2": 0.0}, abs=0.05)
    assert set(df["class"]) == {"A", "B", "all"}
    assert (df[df["pair"].isna()].groupby("class")["n"].max().to_dict()
            == {"A": 3 * 20, "B": 3 * 20, "all": 3 * 40})


def test_two_level_bootstrap_carries_seed_variation(fake):
    """'split' is 1 on one seed pair and ~0 on the other two: resampling pairs must widen its CI
    far beyond the beat-to-beat spread (a beats-only bootstrap gives a narrow interval)."""
    df = run_consistency(fake, {"measures": ["spearman_abs"]})
    row = _pooled(df, "split")
    assert row.ci_high - row.ci_low > 0.4
    one_pair = df[(df.method == "split") & (df["pair"] == "0-2")].iloc[0]
    assert one_pair.ci_high - one_pair.ci_low < 0.05


def test_deterministic_and_needs_two_seeds(fake):
    a = run_consistency(fake, {"measures": ["spearman_abs", "pearson"]})
    b = run_consistency(fake, {"measures": ["spearman_abs", "pearson"]})
    assert a.equals(b)
    one = FakeContext(beats=fake.beats, maps={("stable", 0): fake.maps[("stable", 0)]})
    with pytest.raises(ConfigError, match="at least two"):
        run_consistency(one, {"measures": ["spearman_abs"]})


@pytest.fixture(scope="module")
def exp2(tiny_context):
    return run_experiment("consistency", tiny_context)


def test_tiny_models(exp2, tiny_context):
    methods = list(tiny_context.methods)
    pooled = exp2[exp2["pair"].isna()]
    classes = list(dict.fromkeys(tiny_context.beats.class_of())) + ["all"]
    assert len(pooled) == len(methods) * 3 * len(classes)
    assert list(dict.fromkeys(pooled.method)) == methods
    # maps that ignore the model are identical across seeds: self-consistency 1 by construction
    for m in ("input", "edge"):
        assert _pooled(exp2, m).value == pytest.approx(1.0)
    # model-dependent maps change with the seed
    for m in ("saliency", "integrated_gradients", "gradcam"):
        assert _pooled(exp2, m).value < 0.99
    for m in methods:
        row = _pooled(exp2, m)
        assert -1 <= row.ci_low <= row.value <= row.ci_high <= 1
    assert set(exp2.loc[exp2["pair"].notna(), "pair"]) == {"0-1"}


def test_plot_consistency(exp2):
    fig, ax = plt.subplots()
    assert plot_consistency(exp2, ax=ax) is ax
    assert len(ax.containers) == 2  # two error-bar series: self-consistency and Exp 1's mean
    assert len(ax.get_xticklabels()) == exp2["method"].nunique()  # 12 methods + 4 controls
    plt.close(fig)
