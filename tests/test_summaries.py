"""Chapter summaries: known answers on hand-made maps and hand-made tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from exp_fakes import FakeContext, make_beats

from ecgsignal.errors import DataError
from ecgsignal.evaluation.experiments.similarity import run_similarity
from ecgsignal.evaluation.similarity import similarity
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

CLASSES = ("A", "B")


def _ctx() -> FakeContext:
    """Four methods and the ``input`` control, on 7 beats of two classes.

    ``a`` and ``b`` share most of their structure, so do ``c`` and ``d`` (independent of ``a``);
    the ``input`` control equals ``a`` exactly, so ``a`` is closer to the control than to the
    other methods and ``c`` is not.
    """
    beats = make_beats([0, 0, 0, 1, 1, 1, 1], CLASSES)
    rng = np.random.default_rng(3)
    a = rng.standard_normal(beats.x.shape).astype(np.float32)
    b = (a + 0.3 * rng.standard_normal(a.shape)).astype(np.float32)
    c = rng.standard_normal(a.shape).astype(np.float32)
    d = (c + 0.3 * rng.standard_normal(a.shape)).astype(np.float32)
    maps = {("a", 0): a, ("b", 0): b, ("c", 0): c, ("d", 0): d, ("input", 0): a.copy()}
    return FakeContext(beats=beats, maps=maps, n_boot=200)


def test_similarity_to_others_known_answer():
    ctx = _ctx()
    out = similarity_to_others(ctx, ["spearman_abs", "pearson"])
    m = {k: ctx.attributions(k) for k in ctx.methods}
    for measure in ("spearman_abs", "pearson"):
        # a is compared with b, c, d (not with the control); per-beat mean, then mean over beats
        want_a = np.mean([similarity(m["a"], m[o], measure) for o in "bcd"], axis=0).mean()
        # the control is compared with every non-control method
        want_in = np.mean([similarity(m["input"], m[o], measure) for o in "abcd"], axis=0).mean()
        got = out[(out["measure"] == measure) & (out["class"] == "all")].set_index("method")
        assert got.loc["a", "value"] == pytest.approx(want_a, abs=1e-9)
        assert got.loc["input", "value"] == pytest.approx(want_in, abs=1e-9)
        assert got.loc["a", "n_compared"] == 3 and got.loc["input", "n_compared"] == 4
        assert bool(got.loc["input", "control"]) and not bool(got.loc["a", "control"])
        assert (got["ci_low"] <= got["value"]).all() and (got["value"] <= got["ci_high"]).all()
    # per class rows over the beats of that class only
    cls_b = out[(out["measure"] == "pearson") & (out["class"] == "B")].set_index("method")
    idx = np.arange(3, 7)
    want = np.mean([similarity(m["a"][idx], m[o][idx], "pearson") for o in "bcd"], axis=0).mean()
    assert cls_b.loc["a", "value"] == pytest.approx(want, abs=1e-9)
    assert cls_b.loc["a", "n"] == 4
    with pytest.raises(DataError, match="at least two"):
        similarity_to_others(ctx, methods=["a"])


def test_closer_to_controls_flags_the_copy_of_the_control():
    ctx = _ctx()
    sim = run_similarity(ctx, {"measures": ["spearman_abs"]})
    others = similarity_to_others(ctx)
    out = closer_to_controls(sim, others)
    assert set(out["control"]) == {"input"}
    row = out.set_index("method").loc["a"]
    assert row["to_control"] == pytest.approx(1.0)
    assert bool(row["closer"]) and bool(row["clearly_closer"])
    assert not out.set_index("method").loc["c", "closer"]
    assert not out.set_index("method").loc["d", "clearly_closer"]
    assert "input" not in set(out["method"])


def test_measure_agreement():
    ctx = _ctx()
    sim = run_similarity(ctx, {"measures": ["spearman_abs", "spearman_signed", "pearson"]})
    agree = measure_agreement(sim)
    assert list(agree.index) == ["spearman_abs", "spearman_signed", "pearson"]
    np.testing.assert_allclose(np.diag(agree.to_numpy()), 1.0)
    # the signed measures rank the pairs alike here (a~b~input and c~d, the rest unrelated)
    assert agree.loc["spearman_signed", "pearson"] > 0.8
    assert agree.loc["pearson", "spearman_signed"] == agree.loc["spearman_signed", "pearson"]


def test_methods_above_chance_and_tables():
    loc = pd.DataFrame({
        "method": ["m1", "m2", "m3"], "class": "all", "measure": "mass_accuracy", "mask": "diff",
        "value": [0.8, 0.3, 0.5], "ci_low": [0.7, 0.1, 0.45], "ci_high": [0.9, 0.5, 0.55],
        "chance": 0.4,
    })
    out = methods_above_chance(loc)
    assert list(out["method"]) == ["m1", "m3", "m2"]
    assert list(out["above"]) == [True, True, False]
    with pytest.raises(DataError, match="no rows"):
        methods_above_chance(loc, mask="criteria")
    assert format_ci(0.4123, 0.35, 0.471) == "0.41 [0.35, 0.47]"
    assert format_ci(float("nan"), 0, 1) == "n/a"
    tab = ci_table(loc.assign(**{"class": ["X", "X", "Y"]}))
    assert tab.loc["m1", "X"] == "0.80 [0.70, 0.90]" and tab.loc["m1", "Y"] == ""
    with pytest.raises(DataError, match="several rows"):
        ci_table(pd.concat([loc, loc]))


def test_ranked_pairs():
    ctx = _ctx()
    sim = run_similarity(ctx, {"measures": ["pearson"]})
    pairs = ranked_pairs(sim, "pearson")
    assert len(pairs) == 5 * 4 // 2
    assert (pairs.iloc[0]["method"], pairs.iloc[0]["other"]) == ("a", "input")  # identical maps
    assert pairs.iloc[0]["value"] == pytest.approx(1.0)
    assert pairs["value"].is_monotonic_decreasing
    sub = ranked_pairs(sim, "pearson", methods=["c", "d", "a"])
    assert {tuple(r) for r in sub[["method", "other"]].to_numpy()} == {("a", "c"), ("a", "d"),
                                                                        ("c", "d")}
    assert tuple(sub.iloc[0][["method", "other"]]) == ("c", "d")


def _rand_table():
    rows = []
    for order in ("top_down", "bottom_up", "independent"):
        for stage in range(3):
            for ref in ("trained", "trained_fresh_noise") if stage == 0 else ("trained",):
                for m, v in (("m1", 0.1), ("m2", 0.6)):
                    val = 1.0 if stage == 0 and ref == "trained" else (0.9 if stage == 0 else v)
                    rows.append({"method": m, "class": "all", "measure": "spearman_abs",
                                 "order": order, "stage": stage, "reference": ref,
                                 "normalization": "raw",
                                 "fully_randomized": order != "independent" and stage == 2,
                                 "value": val + (0.05 if order == "bottom_up" else 0),
                                 "ci_low": val - 0.1, "ci_high": val + 0.1})
    return pd.DataFrame(rows)


def test_randomization_endpoints():
    out = randomization_endpoints(_rand_table())
    assert list(dict.fromkeys(out["endpoint"])) == ["fully randomised (top-down)",
                                                    "fully randomised (bottom-up)",
                                                    "trained, fresh noise"]
    got = out.set_index(["method", "endpoint"])["value"]
    assert got[("m2", "fully randomised (top-down)")] == pytest.approx(0.6)
    assert got[("m2", "fully randomised (bottom-up)")] == pytest.approx(0.65)
    assert got[("m1", "trained, fresh noise")] == pytest.approx(0.9)
    assert len(out) == 6
    with pytest.raises(DataError, match="no rows"):
        randomization_endpoints(_rand_table(), normalization="abs_max")


def _area_table():
    rows = []
    vals = {("m1", "zero"): 0.3, ("m1", "interp"): 0.2, ("m2", "zero"): 0.1,
            ("m2", "interp"): 0.25, ("m3", "zero"): -0.05, ("m3", "interp"): 0.0}
    for (m, rep), v in vals.items():
        rows.append({"method": m, "class": "all", "measure": "abc_mean_prob", "unit": "patch",
                     "replacement": rep, "value": v, "ci_low": v - 0.06, "ci_high": v + 0.06})
    return pd.DataFrame(rows)


def test_areas_and_replacement_agreement():
    a = areas(_area_table())
    assert list(dict.fromkeys(a["method"])) == ["m1", "m2", "m3"]  # by mean area over replacements
    assert a.set_index(["method", "replacement"]).loc[("m2", "zero"), "positive"]
    assert not a.set_index(["method", "replacement"]).loc[("m3", "interp"), "positive"]
    rho = replacement_agreement(_area_table())
    assert list(rho.index) == ["zero", "interp"]
    assert rho.loc["zero", "interp"] == pytest.approx(0.5)  # ranks (3,2,1) vs (2,3,1)
    with pytest.raises(DataError, match="no rows"):
        areas(_area_table(), unit="lead")
