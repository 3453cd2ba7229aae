"""Experiment 5 (ground-truth localisation): perfect maps score 1, NORM is excluded, noise sits at
chance, on hand-made maps and through the experiment path on the tiny model."""

from __future__ import annotations

from types import SimpleNamespace

import matplotlib.pyplot as plt
import numpy as np
import pytest
from exp_fakes import FakeContext

from ecgsignal.errors import ConfigError, DataError
from ecgsignal.evaluation.context import BeatSelection
from ecgsignal.evaluation.experiments import run_experiment
from ecgsignal.evaluation.experiments.localization import (
    DEFAULTS,
    localization_scores,
    run_localization,
)
from ecgsignal.visual.localization import plot_localization

MEASURES = DEFAULTS["measures"]


def test_perfect_map_scores_one_per_beat():
    rng = np.random.default_rng(0)
    mask = rng.random((5, 12, 50)) < 0.1
    mask[0] = False  # an empty (NORM-like) mask
    scores = localization_scores(mask.astype(np.float32), {"diff": mask}, MEASURES)
    assert set(scores) == {("diff", m) for m in MEASURES}
    for s in scores.values():
        assert np.isnan(s[0])
        np.testing.assert_allclose(s[1:], 1.0)
    with pytest.raises(DataError, match="shape"):
        localization_scores(np.zeros((5, 12, 49)), {"diff": mask})


@pytest.fixture(scope="module")
def fake(tiny_dataset):
    """Test beats of every class, NORM included; an oracle (= diff mask) and a noise map."""
    ds = tiny_dataset
    test = ds.indices("test")
    idx = np.concatenate([test[ds.labels[test] == c][:3] for c in range(ds.n_classes)])
    beats = BeatSelection(index=idx, x=ds.signals[idx], target=ds.labels[idx],
                          class_names=ds.class_names)
    rng = np.random.default_rng(5)
    maps = {("oracle", 0): ds.diff_mask[idx].astype(np.float32),
            ("noise", 0): rng.standard_normal(beats.x.shape).astype(np.float32)}
    return FakeContext(beats=beats, maps=maps, dataset=ds, n_boot=300)


def test_known_answers_and_norm_excluded(fake):
    full = run_localization(fake, dict(DEFAULTS))
    assert "NORM" not in set(full["class"])
    ratios = {f"{m}_ratio" for m in MEASURES if m != "mask_auroc"}
    assert set(full["mask"]) == {"diff", "criteria"}
    assert set(full["measure"]) == set(MEASURES) | ratios  # no input/edge control in `fake`
    df = full[full["measure"].isin(MEASURES)]
    oracle = df[(df.method == "oracle") & (df["mask"] == "diff")]
    assert len(oracle) == len(MEASURES) * 9  # 8 classes with a mask + pooled
    np.testing.assert_allclose(oracle[["value", "ci_low", "ci_high"]].to_numpy(float), 1.0)
    pooled = df[(df["class"] == "all") & (df.method == "noise") & (df["mask"] == "diff")]
    assert (pooled["n"] == 8 * 3).all()  # 3 beats × 8 classes, NORM's 3 dropped
    auroc = pooled[pooled.measure == "mask_auroc"].iloc[0]
    # noise carries no information: AUROC at 0.5 within a few standard errors (SE ≈ 0.003)
    assert auroc.value == pytest.approx(0.5, abs=0.02) and auroc.chance == 0.5
    assert auroc.ci_low <= auroc.value <= auroc.ci_high
    mass = pooled[pooled.measure == "mass_accuracy"].iloc[0]
    assert mass.value == pytest.approx(mass.chance, abs=0.05)


def test_parameters(fake):
    base = dict(DEFAULTS)
    one = run_localization(fake, {**base, "masks": ["criteria"], "measures": ["mask_auroc"]})
    assert base["absolute_mass"] is True  # one sign convention: |a| in every measure
    assert set(one["mask"]) == {"criteria"} and set(one["measure"]) == {"mask_auroc"}
    # |a| vs positive part: a negated oracle has no positive mass (NaN) but full |a| mass
    neg = FakeContext(beats=fake.beats, maps={("neg", 0): -fake.maps[("oracle", 0)]},
                      dataset=fake.dataset, n_boot=50)
    pos = run_localization(neg, {**base, "measures": ["mass_accuracy"], "masks": ["diff"],
                                 "absolute_mass": False})
    ab = run_localization(neg, {**base, "measures": ["mass_accuracy"], "masks": ["diff"]})
    pos, ab = (d[d["measure"] == "mass_accuracy"] for d in (pos, ab))
    assert pos["value"].isna().all() and (pos["n"] == 0).all()
    np.testing.assert_allclose(ab["value"], 1.0)
    for bad, msg in (({"masks": ["nope"]}, "masks"), ({"tolerance": -1}, "tolerance"),
                     ({"measures": ["nope"]}, "unknown localisation measure")):
        with pytest.raises(ConfigError, match=msg):
            run_localization(fake, {**base, **bad})
    nomask = FakeContext(beats=fake.beats, maps=fake.maps,
                         dataset=SimpleNamespace(diff_mask=None, criteria_mask=None,
                                                 meta={"source": "ptbxl"}))
    with pytest.raises(ConfigError, match="only the synthetic data"):
        run_localization(nomask, base)


@pytest.fixture(scope="module")
def exp5(tiny_context):
    """The experiment path on the tiny model, with an injected oracle method (= diff mask)."""
    ctx = tiny_context
    mp = pytest.MonkeyPatch()
    real = ctx.attributions
    oracle = ctx.dataset.diff_mask[ctx.beats.index].astype(np.float32)

    def attributions(method, seed=None, **kw):
        return oracle.copy() if method == "oracle" else real(method, seed=seed, **kw)

    mp.setattr(ctx, "attributions", attributions)
    mp.setattr(ctx, "methods", (*ctx.methods, "oracle"))
    try:
        yield run_experiment("localization", ctx)
    finally:
        mp.undo()


def test_perfect_map_scores_one_through_the_experiment(exp5, tiny_context):
    raw = exp5[exp5["measure"].isin(MEASURES)]
    oracle = raw[(raw.method == "oracle") & (raw["mask"] == "diff")]
    assert len(oracle) > 0
    np.testing.assert_allclose(oracle[["value", "ci_low", "ci_high"]].to_numpy(float), 1.0)
    assert "NORM" not in set(exp5["class"])
    methods = set(exp5.method)
    assert set(tiny_context.methods) <= methods and {"random", "input", "edge"} <= methods
    rnd = exp5[(exp5.method == "random") & (exp5["class"] == "all")
               & (exp5.measure == "mask_auroc")]
    assert len(rnd) == 2 and ((rnd.value - 0.5).abs() < 0.03).all()
    ok = raw.dropna(subset=["value"])
    assert ((ok.value >= 0) & (ok.value <= 1)).all()


def test_pooled_weights_classes_equally_and_ratio_is_per_beat(fake):
    from ecgsignal.evaluation.localization import chance_level, mask_auroc, relevance_rank_accuracy

    # 3 beats per class except one class with 1: a beat-weighted pool would differ
    keep = np.r_[0, np.arange(3, fake.beats.n)]
    b = fake.beats
    beats = BeatSelection(index=b.index[keep], x=b.x[keep], target=b.target[keep],
                          class_names=b.class_names)
    maps = {k: v[keep] for k, v in fake.maps.items()}
    ctx = FakeContext(beats=beats, maps=maps, dataset=fake.dataset, n_boot=200)
    df = run_localization(ctx, {**DEFAULTS, "masks": ["diff"]})
    mask = fake.dataset.diff_mask[beats.index]
    per_beat = relevance_rank_accuracy(maps[("noise", 0)], mask)
    ratio = per_beat / chance_level(mask, "rank_accuracy")
    nonempty = mask.reshape(beats.n, -1).any(axis=1)
    classes = [c for c in np.unique(beats.target) if (nonempty & (beats.target == c)).any()]
    for meas, v in (("rank_accuracy", per_beat), ("rank_accuracy_ratio", ratio)):
        want = np.mean([np.nanmean(v[beats.target == c]) for c in classes])
        got = df[(df.method == "noise") & (df.measure == meas) & (df["class"] == "all")]
        assert got["value"].iloc[0] == pytest.approx(want)
        assert got["ci_low"].iloc[0] <= want <= got["ci_high"].iloc[0]
    r = df[(df.measure == "rank_accuracy_ratio") & (df["class"] == "all")].set_index("method")
    assert r.loc["oracle", "value"] > 2 and r.loc["noise", "chance"] == 1.0
    # mask AUROC is chance-normalised already: no ratio rows
    assert "mask_auroc_ratio" not in set(df.measure)
    assert np.isfinite(mask_auroc(maps[("oracle", 0)], mask)[nonempty]).all()


def test_paired_differences_against_input_and_edge(exp5, tiny_context):
    for ctl in ("input", "edge"):
        d = exp5[(exp5.measure == f"mask_auroc_vs_{ctl}") & (exp5["mask"] == "diff")]
        assert ctl not in set(d.method) and "oracle" in set(d.method)
        raw = exp5[(exp5.measure == "mask_auroc") & (exp5["mask"] == "diff")]
        for cls in set(d["class"]) - {"all"}:
            got = d[(d["class"] == cls) & (d.method == "oracle")].iloc[0]
            r = raw[raw["class"] == cls].set_index("method")["value"]
            # a mean of paired differences is the difference of the means (same beats)
            assert got.value == pytest.approx(r["oracle"] - r[ctl])
            assert got.ci_low <= got.value <= got.ci_high and got.chance == 0.0
        pooled = d[(d["class"] == "all") & (d.method == "oracle")].iloc[0]
        assert pooled.ci_low > 0  # the ground truth localises better than the control


def test_plot_localization(exp5):
    fig, ax = plt.subplots()
    assert plot_localization(exp5, ax=ax, measure="mask_auroc") is ax
    assert len(ax.containers) == 2  # one error-bar series per mask
    assert len(ax.get_lines()) >= 2  # chance lines
    plt.close(fig)
    fig, ax = plt.subplots()
    plot_localization(exp5, ax=ax, measure="mass_accuracy_ratio")
    assert "/ chance" in ax.get_ylabel() and "equally weighted" in ax.get_title()
    plot_localization(exp5, ax=ax, measure="rank_accuracy_vs_edge")
    assert "− edge" in ax.get_ylabel()
    plt.close(fig)
    with pytest.raises(DataError, match="no rows"):
        plot_localization(exp5, measure="nope")
