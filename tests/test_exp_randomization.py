"""Experiment 3 on the tiny context: stage 0 = 1, controls behave, seeded, flags, figure."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

from ecgsignal.errors import ConfigError, DataError
from ecgsignal.evaluation.experiments import EXPERIMENTS, run_experiment
from ecgsignal.evaluation.experiments.randomization import (
    methods_not_converging,
    normalize_maps,
    run_randomization,
)
from ecgsignal.tables import select

METHODS = ["saliency", "input_x_gradient", "gradcam", "random", "input"]
PARAMS = {"methods": METHODS, "orders": ["top_down", "bottom_up"],
          "measures": ["spearman_abs", "spearman_signed"], "normalizations": ["raw", "abs_max"]}


@pytest.fixture(scope="module")
def table(tiny_context):
    return run_randomization(tiny_context, dict(PARAMS))


def test_registered_and_columns(table):
    assert "randomization" in EXPERIMENTS
    for col in ("order", "stage_name", "reference", "normalization", "fully_randomized",
                "flag_above_zero"):
        assert col in table.columns
    assert set(table["order"]) == {"top_down", "bottom_up"}
    assert set(table["method"]) == set(METHODS) | {"input_noise"}  # matched nulls always run
    stages = select(table, order="top_down", method="saliency", measure="spearman_abs",
                   reference="trained", normalization="raw", **{"class": "all"})
    assert list(stages["stage"]) == list(range(7))
    assert list(stages["stage_name"]) == ["trained", "head", "blocks.3", "blocks.2", "blocks.1",
                                          "blocks.0", "stem"]


def test_stage_zero_similarity_is_one(table):
    s0 = select(table, stage=0, reference="trained")
    assert len(s0) > 0
    np.testing.assert_allclose(s0["value"].astype(float), 1.0, atol=1e-12)


def test_random_control_ci_includes_zero(tiny_context):
    """Fresh noise per randomised model: the random control "passes" the test (≈ 0). Run on
    every correctly classified test beat of the tiny data (the tiny context explains only a
    handful, too few for a percentile bootstrap to cover well)."""
    from dataclasses import replace

    ctx = replace(tiny_context, methods=("random",), n_per_class=100, n_boot=1000)
    assert ctx.beats.n > 2 * tiny_context.beats.n
    df = run_randomization(ctx, {"input_reference": False})
    full = select(df, fully_randomized=True, reference="trained", method="random",
                 **{"class": "all"})
    assert len(full) == 1
    assert full["ci_low"].iloc[0] <= 0 <= full["ci_high"].iloc[0]
    assert abs(full["value"].iloc[0]) < 0.01
    stage0 = select(df, stage=0, reference="trained_fresh_noise", method="random",
                   **{"class": "all"})
    assert abs(stage0["value"].iloc[0]) < 0.01  # its noise ceiling is 0 too


def test_input_control_never_converges(table):
    full = select(table, fully_randomized=True, reference="trained", measure="spearman_abs",
                 normalization="raw", **{"class": "all"})
    inp = full[full["method"] == "input"]
    np.testing.assert_allclose(inp["value"], 1.0)  # |x| ignores the weights entirely
    flagged = methods_not_converging(table)
    assert "input" in set(flagged["method"]) and "random" not in set(flagged["method"])
    assert (flagged["ci_low"] > 0).all()


def test_saliency_decays_and_cascades_agree_when_fully_randomised(table):
    sal = select(table, method="saliency", reference="trained", measure="spearman_abs",
                normalization="raw", **{"class": "all"})
    full = sal[sal["fully_randomized"]]
    assert (full["value"] < 0.9).all()
    # both cascades end at the same fully randomised model (same per-stage seeds, same noise)
    td, bu = full.sort_values("order")["value"].to_numpy()
    assert td == pytest.approx(bu, abs=1e-12)


def test_abs_max_changes_signed_measures_only(table):
    key = dict(reference="trained", method="saliency", order="top_down", **{"class": "all"})
    for meas, same in (("spearman_abs", True), ("spearman_signed", False)):
        raw = select(table, measure=meas, normalization="raw", **key)["value"].to_numpy()
        nrm = select(table, measure=meas, normalization="abs_max", **key)["value"].to_numpy()
        if same:
            np.testing.assert_allclose(raw, nrm, atol=1e-12)
        else:
            assert not np.allclose(raw[1:], nrm[1:])


def test_input_reference_rows(table):
    inp = select(table, reference="input", method="input", measure="spearman_abs",
                normalization="raw", **{"class": "all"})
    np.testing.assert_allclose(inp["value"], 1.0)  # the input control *is* |x|


def test_identical_across_runs(tiny_context):
    params = {"methods": ["saliency", "smoothgrad", "random"], "orders": ["bottom_up"]}
    first = run_randomization(tiny_context, params)
    assert len(first) > 0 and first["value"].notna().all()
    pd.testing.assert_frame_equal(first, run_randomization(tiny_context, params))


def test_independent_order_and_keep_bn(tiny_context):
    df = run_randomization(tiny_context, {"methods": ["saliency"], "orders": ["independent"],
                                          "bn": "keep", "input_reference": False})
    assert not df["fully_randomized"].any()
    assert set(df["reference"]) == {"trained", "trained_fresh_noise"}
    with pytest.raises(ConfigError, match="cascade"):
        methods_not_converging(df, order="independent")
    with pytest.raises(DataError):
        methods_not_converging(df)  # no cascade rows in this table


def test_bad_parameters(tiny_context):
    with pytest.raises(ConfigError, match="orders"):
        run_randomization(tiny_context, {"orders": ["sideways"]})
    with pytest.raises(ConfigError, match="bn"):
        run_randomization(tiny_context, {"bn": "random"})
    with pytest.raises(ConfigError, match="methods"):
        run_randomization(tiny_context, {"methods": ["nope"]})
    with pytest.raises(ConfigError):
        run_experiment("randomization", tiny_context, params={"order": "top_down"})
    with pytest.raises(ConfigError, match="normalization"):
        normalize_maps(np.ones((1, 12, 5)), "max")


def test_normalize_maps():
    a = np.zeros((2, 12, 5))
    a[0, 0, 0], a[0, 1, 1] = -4.0, 2.0
    out = normalize_maps(a, "abs_max")
    assert out[0, 0, 0] == 1.0 and out[0, 1, 1] == 0.5 and (out[1] == 0).all()
    assert np.array_equal(normalize_maps(a, "raw"), a)
    assert (a[0, 0, 0], a[0, 1, 1]) == (-4.0, 2.0)  # the input is not modified


def test_plot(table):
    import matplotlib.pyplot as plt

    from ecgsignal.visual.randomization import plot_randomization

    ax = plot_randomization(table)
    assert len(ax.get_lines()) >= len(METHODS)
    assert len(ax.collections) >= len(METHODS)  # CI bands
    cls = next(c for c in table["class"] if c != "all")
    ax2 = plot_randomization(table, order="bottom_up", cls=cls, reference="input", band=False)
    assert ax2.get_title().endswith(f"class {cls}")
    with pytest.raises(DataError):
        plot_randomization(table, measure="ssim")
    plt.close("all")


def test_several_weight_draws_pool_beats(tiny_context):
    base = {"methods": ["saliency"], "input_reference": False, "fresh_noise": False}
    one = [run_randomization(tiny_context, {**base, "seed": s}) for s in (0, 1)]
    two = run_randomization(tiny_context, {**base, "seed": 0, "draws": 2})
    key = dict(reference="trained", method="saliency", **{"class": "all"})
    v0, v1, v2 = (select(d, **key).set_index("stage")["value"] for d in (*one, two))
    assert v0.loc[0] == v2.loc[0] == 1.0
    np.testing.assert_allclose(v2.loc[1:], (v0.loc[1:] + v1.loc[1:]) / 2, atol=1e-12)
    n = select(two, **key).set_index("stage")["n"]
    assert n.loc[0] == tiny_context.beats.n and (n.loc[1:] == 2 * tiny_context.beats.n).all()
    assert set(select(two, **key)["draws"]) == {1, 2}
    with pytest.raises(ConfigError, match="draws"):
        run_randomization(tiny_context, {**base, "draws": 0})


def test_matched_null_columns_and_flags(table):
    from ecgsignal.evaluation.experiments.randomization import NULLS, null_method

    assert null_method("input_x_gradient") == "input_noise" and null_method("gradcam") == "random"
    assert null_method("input") == "input_noise" and null_method("random") == "random"
    for col in ("null_method", "excess", "excess_ci_low", "excess_ci_high", "excess_p_holm",
                "flag_excess", "auc", "auc_ci_low", "auc_ci_high", "null_reached_stage"):
        assert col in table.columns
    key = dict(reference="trained", measure="spearman_abs", normalization="raw",
               order="top_down", **{"class": "all"})
    full = select(table, fully_randomized=True, **key).set_index("method")
    # excess = similarity − the null's similarity (the paired mean difference is the difference
    # of the means: every beat is finite here)
    for m in ("saliency", "input_x_gradient", "input"):
        null = full.loc[m, "null_method"]
        assert full.loc[m, "excess"] == pytest.approx(
            full.loc[m, "value"] - full.loc[null, "value"], abs=1e-9)
        assert full.loc[m, "excess_ci_low"] <= full.loc[m, "excess"] <= full.loc[m, "excess_ci_high"]
    # the nulls are their own nulls: no excess, never flagged
    for m in NULLS:
        assert np.isnan(full.loc[m, "excess"]) and not full.loc[m, "flag_excess"]
    # |x| keeps its map exactly (1) while x ⊙ fresh noise does not: flagged against its null
    assert full.loc["input", "flag_excess"]
    assert 0.2 < full.loc["input_noise", "value"] < 0.95  # the input's share: far above 0
    assert (full["excess_p_holm"].dropna() <= 1).all()
    # flags come only from the Holm-adjusted excess, a stricter bar than the raw CI
    flagged = methods_not_converging(table)
    assert set(flagged["method"]) == set(full.index[full["flag_excess"].astype(bool)])
    zero = methods_not_converging(table, against="zero")
    assert "input_noise" in set(zero["method"]) and "input_noise" not in set(flagged["method"])
    with pytest.raises(ConfigError, match="against"):
        methods_not_converging(table, against="one")


def test_path_summary_and_partial_spearman(table):
    from ecgsignal.evaluation.experiments.randomization import path_summary

    ps = path_summary(table)
    assert set(ps["order"]) == {"top_down", "bottom_up"}
    sal = ps[ps["method"] == "saliency"].set_index("order")
    # the area is the mean similarity over stages 1 … L, read back from the stage rows
    for order in ("top_down", "bottom_up"):
        st = select(table, method="saliency", reference="trained", measure="spearman_abs",
                   normalization="raw", order=order, **{"class": "all"})
        st = st[st["stage"] > 0]
        assert sal.loc[order, "auc"] == pytest.approx(st["value"].mean(), abs=1e-9)
        assert sal.loc[order, "auc_ci_low"] <= sal.loc[order, "auc"] <= sal.loc[order, "auc_ci_high"]
        reached = sal.loc[order, "null_reached_stage"]
        if np.isfinite(reached):
            row = st[st["stage"] == reached]
            assert (row["excess_ci_low"] <= 0).all()
            assert (st[st["stage"] < reached]["excess_ci_low"] > 0).all()
    inp = ps[ps["method"] == "input"]
    np.testing.assert_allclose(inp["auc"], 1.0)  # |x| never changes
    part = select(table, reference="trained_partial_input", method="input_x_gradient",
                 measure="spearman_abs", normalization="raw", **{"class": "all"})
    assert len(part) > 0 and part["value"].between(-1, 1).all()
    # |x| against itself, controlling for |x|, has nothing left: NaN
    assert select(table, reference="trained_partial_input", method="input")["value"].isna().all()


def test_profiles_set_the_weight_draws():
    from ecgsignal.run.pipeline import experiment_params
    from ecgsignal.run.profiles import load_profile

    assert experiment_params(load_profile("book"), "randomization")["draws"] >= 5
    assert experiment_params(load_profile("smoke"), "randomization")["draws"] >= 2
    assert experiment_params(load_profile("smoke", randomization_draws=3),
                             "randomization")["draws"] == 3
    with pytest.raises(ConfigError, match="randomization_draws"):
        load_profile("smoke", randomization_draws=0)


@pytest.mark.slow  # 14-28 s (measured); make test runs it, test-fast skips it
def test_weight_draws_in_worker_processes_give_the_same_table(tiny_context):
    """ctx.workers > 1 walks the draws in spawn workers (one torch thread each): same table as
    walking them here with one thread."""
    import dataclasses

    import torch

    params = {"methods": ["saliency", "smoothgrad", "input_x_gradient"], "draws": 2,
              "orders": ["top_down", "independent"]}
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        here = run_randomization(tiny_context, params)
    finally:
        torch.set_num_threads(before)
    workers = dataclasses.replace(tiny_context, workers=2)
    workers.__dict__.update({k: v for k, v in tiny_context.__dict__.items()
                             if k in ("beats", "baselines", "_models", "store")})
    pd.testing.assert_frame_equal(here, run_randomization(workers, params))
    # the path beats travel to the workers with the job
    path = {**params, "path_beats_per_class": 1}
    torch.set_num_threads(1)
    try:
        here = run_randomization(tiny_context, path)
    finally:
        torch.set_num_threads(before)
    pd.testing.assert_frame_equal(here, run_randomization(workers, path))
    with pytest.raises(ConfigError, match="workers"):
        dataclasses.replace(tiny_context, workers=0)


def test_scorer_prepares_each_map_once_with_the_same_numbers():
    """The walk's scorer (per-map parts of every measure, memoised) gives bit for bit what
    similarity() gives pair by pair, under both normalisations and with constant beats."""
    from ecgsignal.evaluation.experiments._randomization_walk import Scorer
    from ecgsignal.evaluation.experiments.randomization import normalize_maps
    from ecgsignal.evaluation.similarity import SIMILARITY, similarity

    rng = np.random.default_rng(5)
    ref = rng.normal(size=(6, 12, 40)).astype(np.float32)
    maps = [rng.normal(size=(6, 12, 40)).astype(np.float32) for _ in range(3)]
    maps[1][2] = 0.0                          # a constant beat: NaN for the rank measures
    maps[2] = np.round(maps[2], 1)            # many ties
    keys = [(n, m) for n in ("raw", "abs_max") for m in SIMILARITY.available()]
    sc = Scorer(keys, normalize_maps)
    got = sc.score(ref, maps)
    again = sc.score(ref, maps)               # from the memo
    want = np.stack([np.stack([similarity(normalize_maps(ref, n), normalize_maps(a, n), m)
                               for n, m in keys], axis=-1) for a in maps])
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(again, want)
    sc.forget([ref])
    assert all(k[0] == id(ref) for k in sc._parts)


def test_beats_per_class_explains_the_first_beats_of_each_class(tiny_context):
    """The book profile may explain fewer beats in Experiment 3 than elsewhere: the first k of
    each class, with their scores unchanged (the pooled mean over beat b's scores is the mean of
    the per-class means when each class keeps one beat)."""
    from ecgsignal.evaluation.experiments.randomization import first_per_class

    base = {"methods": ["saliency"], "input_reference": False, "fresh_noise": False}
    full = run_randomization(tiny_context, base)
    same = run_randomization(tiny_context, {**base, "beats_per_class": 99})
    pd.testing.assert_frame_equal(full, same)
    one = run_randomization(tiny_context, {**base, "beats_per_class": 1})
    key = dict(reference="trained", method="saliency", order="top_down")
    per_class = select(one, **key)
    sub, keep = first_per_class(tiny_context.beats, 1)
    n_classes = len(set(sub.target))
    assert sub.n == n_classes and len(keep) == n_classes
    assert (select(per_class, **{"class": "all"})["n"] == n_classes).all()
    assert (per_class[per_class["class"] != "all"]["n"] == 1).all()
    # each class's one beat scores as it did among all beats: its value is a per-beat score
    for cls in sorted(set(per_class["class"]) - {"all"}):
        v1 = select(per_class, **{"class": cls}).set_index("stage")["value"]
        assert np.isfinite(v1).all() and (v1.loc[0] == 1.0)
    pooled = select(per_class, **{"class": "all"}).set_index("stage")["value"]
    means = per_class[per_class["class"] != "all"].groupby("stage")["value"].mean()
    np.testing.assert_allclose(pooled, means, atol=1e-12)
    for bad in (0, 1.5, "2"):
        with pytest.raises(ConfigError, match="beats_per_class"):
            run_randomization(tiny_context, {**base, "beats_per_class": bad})


def test_path_beats_keep_the_fully_randomised_network_whole(tiny_context):
    """``path_beats_per_class``: the networks between the trained and the fully randomised one
    explain the first k beats of each class, the fully randomised one every beat, so every row of
    the fully randomised network (its similarities, the excess over the matched null and the
    flags) is bit for bit that of the whole design, and the path rows say how few beats they
    rest on."""
    from ecgsignal.evaluation.experiments.randomization import first_per_class

    base = {"methods": ["saliency", "input_x_gradient"], "orders": ["top_down", "independent"],
            "draws": 2}
    whole = run_randomization(tiny_context, base)
    path = run_randomization(tiny_context, {**base, "path_beats_per_class": 1})
    assert list(path.columns) == list(whole.columns) and len(path) == len(whole)
    full = path["fully_randomized"].astype(bool)
    stage0 = path["stage"] == 0
    cols = ["value", "ci_low", "ci_high", "n", "excess", "excess_ci_low", "excess_ci_high",
            "excess_p_holm", "flag_excess"]
    for mask in (full, stage0):
        pd.testing.assert_frame_equal(path.loc[mask, cols].reset_index(drop=True),
                                      whole.loc[mask, cols].reset_index(drop=True))
    n_classes = first_per_class(tiny_context.beats, 1)[0].n
    between = path[~full & ~stage0 & (path["class"] == "all")]
    assert (between["n"] == 2 * n_classes).all()            # 2 draws x 1 beat per class
    assert (whole[~full & ~stage0 & (whole["class"] == "all")]["n"]
            == 2 * tiny_context.beats.n).all()
    # the path's area is over the path beats, the last stage included
    auc = path[path["auc"].notna()]
    assert not auc.empty and np.isfinite(auc["auc"]).all()
    assert not np.allclose(auc["auc"].to_numpy(), whole.loc[auc.index, "auc"].to_numpy())
    with pytest.raises(ConfigError, match="path_beats_per_class"):
        run_randomization(tiny_context, {**base, "path_beats_per_class": 0})
