"""Experiment 1 (inter-method similarity): known answers on hand-made maps, then the tiny model."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
from exp_fakes import FakeContext, make_beats

from ecgsignal.errors import ConfigError, DataError, UnknownNameError
from ecgsignal.evaluation.experiments import run_experiment
from ecgsignal.evaluation.experiments.similarity import (
    paired_similarity,
    pairwise_similarity,
    run_similarity,
    similarity_matrix,
)
from ecgsignal.evaluation.similarity import similarity
from ecgsignal.visual.similarity import plot_similarity_matrix

CLASSES = ("A", "B")


def _known_maps():
    """base; 3·base (same ranks); −base (same |.|, opposite sign); independent noise."""
    beats = make_beats([0, 0, 0, 1, 1, 1, 1], CLASSES)
    rng = np.random.default_rng(1)
    base = rng.standard_normal(beats.x.shape).astype(np.float32)
    noise = rng.standard_normal(beats.x.shape).astype(np.float32)
    maps = {("base", 0): base, ("scaled", 0): 3 * base, ("flipped", 0): -base,
            ("noise", 0): noise}
    return FakeContext(beats=beats, maps=maps)


def test_pairwise_known_answers():
    ctx = _known_maps()
    maps = {m: ctx.attributions(m) for m in ctx.methods}
    sp = pairwise_similarity(maps, "spearman_abs")
    pe = pairwise_similarity(maps, "pearson")
    assert len(sp) == 4 * 5 // 2  # unordered pairs with the diagonal
    np.testing.assert_allclose(sp[("base", "base")], 1.0, atol=1e-12)
    np.testing.assert_allclose(sp[("base", "scaled")], 1.0, atol=1e-12)
    np.testing.assert_allclose(sp[("base", "flipped")], 1.0, atol=1e-12)
    np.testing.assert_allclose(pe[("base", "flipped")], -1.0, atol=1e-12)
    assert np.all(np.abs(sp[("base", "noise")]) < 0.15)
    with pytest.raises(DataError, match="one shape"):
        pairwise_similarity({"a": np.zeros((2, 12, 40)), "b": np.zeros((3, 12, 40))})


@pytest.mark.parametrize("measure", ["spearman_abs", "spearman_signed", "pearson", "topk", "ssim"])
def test_shared_preparation_matches_the_measure(measure):
    """Ranking each map once must give exactly what the measure gives pair by pair, ties and
    constant (NaN) maps included."""
    rng = np.random.default_rng(2)
    maps = {f"m{i}": np.round(rng.standard_normal((4, 12, 30)), 1) for i in range(3)}
    maps["m0"][1] = 0.0  # a constant map → NaN for the correlations
    maps["m1"][2] = np.abs(maps["m1"][2])  # |.| ties with sign-flipped values elsewhere
    got = pairwise_similarity(maps, measure)
    for (a, b), v in got.items():
        np.testing.assert_allclose(v, similarity(maps[a], maps[b], measure), atol=1e-12,
                                   equal_nan=True)
    paired = paired_similarity([maps["m0"], maps["m0"]], [maps["m1"], maps["m2"]], measure)
    np.testing.assert_allclose(paired[1], similarity(maps["m0"], maps["m2"], measure),
                               atol=1e-12, equal_nan=True)
    assert np.isnan(got[("m0", "m1")][1]) == (measure != "ssim")
    with pytest.raises(UnknownNameError, match="valid"):
        pairwise_similarity(maps, "nope")


def test_run_known_answers_per_class_and_pooled():
    ctx = _known_maps()
    df = run_similarity(ctx, {"measures": ["spearman_abs", "pearson"]})
    assert set(df["class"]) == {"A", "B", "all"}
    assert set(df["measure"]) == {"spearman_abs", "pearson"}
    # 4 methods → 16 ordered pairs per class and measure
    assert len(df) == 16 * 3 * 2
    n = df.set_index(["class"])["n"].groupby(level=0).max()
    assert n.to_dict() == {"A": 3, "B": 4, "all": 7}
    pe = similarity_matrix(df, "pearson", "all")
    assert pe.loc["base", "flipped"] == pytest.approx(-1.0)
    assert pe.loc["flipped", "base"] == pytest.approx(-1.0)
    row = df[(df.method == "base") & (df.other == "scaled") & (df["class"] == "B")
             & (df.measure == "spearman_abs")].iloc[0]
    assert row.value == pytest.approx(1.0) and row.ci_low == pytest.approx(1.0)
    assert list(df.columns[:10]) == ["experiment", "method", "class", "seed", "stage",
                                     "fraction", "measure", "value", "ci_low", "ci_high"]
    assert "other" in df.columns and (df["experiment"] == "similarity").all()


def test_averages_over_the_seeds_models_with_a_ci_across_models():
    """'a' and 'b' agree exactly on models 0 and 1 and are unrelated on models 2 and 3: the
    value is the mean over models (≈ 1/2) and the CI carries the models' disagreement."""
    beats = make_beats([0] * 15 + [1] * 15, CLASSES)
    rng = np.random.default_rng(7)
    maps = {}
    for s in range(4):
        a = rng.standard_normal(beats.x.shape)
        maps[("a", s)] = a
        maps[("b", s)] = a if s < 2 else rng.standard_normal(beats.x.shape)
    ctx = FakeContext(beats=beats, maps=maps, seeds=(0, 1, 2, 3), n_boot=300)
    df = run_similarity(ctx, {"measures": ["spearman_abs"]})
    assert {s for _, s in ctx.calls} == {0, 1, 2, 3}  # every model is explained
    row = df[(df.method == "a") & (df.other == "b") & (df["class"] == "all")].iloc[0]
    assert row.value == pytest.approx(0.5, abs=0.02)
    assert row.n_models == 4 and row.n == 4 * 30
    assert row.ci_high - row.ci_low > 0.5 and row.ci_low >= -1 and row.ci_high <= 1
    one = FakeContext(beats=beats, maps={k: v for k, v in maps.items() if k[1] == 0})
    solo = run_similarity(one, {"measures": ["spearman_abs"]})
    assert (solo["n_models"] == 1).all()


@pytest.fixture(scope="module")
def exp1(tiny_context):
    return run_experiment("similarity", tiny_context,
                          params={"measures": ["spearman_abs", "pearson"]})


def test_diagonal_is_one_and_matrix_symmetric(exp1, tiny_context):
    methods = list(tiny_context.methods)
    classes = list(dict.fromkeys(tiny_context.beats.class_of())) + ["all"]
    assert list(dict.fromkeys(exp1["class"])) == classes
    for measure in ("spearman_abs", "pearson"):
        for cls in classes:
            for col in ("value", "ci_low", "ci_high"):
                mat = similarity_matrix(exp1, measure, cls, column=col)
                assert list(mat.index) == methods and list(mat.columns) == methods
                a = mat.to_numpy(dtype=float)
                np.testing.assert_array_equal(a, a.T)
                diag = np.diag(a)
                finite = np.isfinite(diag)
                assert finite.sum() >= len(methods) - 2  # constant maps (NaN) are rare
                np.testing.assert_allclose(diag[finite], 1.0, atol=1e-9)


def test_random_control_ci_includes_zero(exp1):
    rows = exp1[(exp1.method == "random") & (exp1.other != "random")
                & (exp1["class"] == "all") & (exp1.measure == "spearman_abs")]
    assert len(rows) == exp1["method"].nunique() - 1
    # Nominal-95 % intervals of a true zero: about 1 in 20 misses it by chance (their training
    # numerics change with the thread count), so allow two misses, never a systematic one.
    missed = (rows.ci_low > 0) | (rows.ci_high < 0)
    assert missed.sum() <= 2, rows[["other", "ci_low", "ci_high"]]
    assert (rows.value.abs() < 0.05).all()


def test_input_multiplying_methods_resemble_the_input(exp1):
    """Input × gradient shares the input's structure far beyond what noise does (a pitfall)."""
    mat_lo = similarity_matrix(exp1, "spearman_abs", "all", column="ci_low")
    mat_hi = similarity_matrix(exp1, "spearman_abs", "all", column="ci_high")
    assert mat_lo.loc["input_x_gradient", "input"] > 0.3
    assert mat_lo.loc["input_x_gradient", "input"] > mat_hi.loc["random", "input"]


def test_matrix_and_parameter_errors(exp1, tiny_context):
    with pytest.raises(DataError, match="measure='ssim'"):
        similarity_matrix(exp1, "ssim")
    with pytest.raises(DataError, match="lacks column"):
        similarity_matrix(exp1.drop(columns=["other"]))
    with pytest.raises(ConfigError, match="unknown similarity measure 'nope'"):
        run_experiment("similarity", tiny_context, params={"measures": ["nope"]})
    with pytest.raises(ConfigError, match="non-empty"):
        run_experiment("similarity", tiny_context, params={"measures": []})


def test_plot_similarity_matrix(exp1):
    fig, ax = plt.subplots()
    out = plot_similarity_matrix(exp1, ax=ax, measure="spearman_abs", cls="all")
    assert out is ax
    texts = [t.get_text() for t in ax.texts]
    k = exp1["method"].nunique()  # 12 methods + 4 controls
    assert len(texts) == k * k and all("±" in t or t == "n/a" for t in texts)
    assert texts[0].startswith("1.00")
    assert len(ax.get_xticklabels()) == k
    plt.close(fig)
    ax2 = plot_similarity_matrix(exp1, measure="pearson", cls="all", ci=False)
    assert ax2.texts[0].get_text() == "1.00"
    plt.close(ax2.figure)
