"""Perturbation building blocks: patch grid, rankings, nested removal, replacements, curves.

The faithfulness test uses a linear "model" whose only evidence sits in known patches: removing
those first (an oracle ranking) must destroy its AUROC at once, a random ranking must not.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ecgsignal.errors import ConfigError, DataError, UnknownNameError
from ecgsignal.evaluation.perturbation import (
    DEFAULT_FRACTIONS,
    REPLACEMENTS,
    area_between,
    lead_removal_curve,
    lead_removal_mask,
    lead_removal_order,
    patch_grid,
    patch_scores,
    perturbation_curve,
    ranking,
    removal_mask,
    replace,
)

FS = 250.0  # 40 ms = 10 samples
T = 100  # 10 patches per lead, 120 features


# --------------------------------------------------------------------------- a known linear model

REGION = np.zeros((12, T), dtype=bool)
REGION[0:3, 30:50] = True  # leads I, II, III × patches 3 and 4: 6 of 120 patches (5 %)


def _linear_task(n=200, seed=0):
    rng = np.random.default_rng(seed)
    y = (np.arange(n) % 2).astype(int)
    x = 0.05 * rng.normal(size=(n, 12, T)) + 0.3 * np.sin(np.linspace(0, 6, T))
    x[y == 1] += REGION.astype(float)
    onehot = np.stack([1 - y, y], axis=1)
    return x.astype(np.float32), onehot


def _predict(x):
    evidence = x[:, REGION].mean(axis=1)  # mean over the informative region only
    p = 1.0 / (1.0 + np.exp(-(8.0 * evidence - 4.0)))
    return np.stack([1 - p, p], axis=1)


# --------------------------------------------------------------------------- patches


def test_patch_grid_covers_every_sample_once():
    p, b = patch_grid(300, 250.0)
    assert p == 30 and b[0].tolist() == [0, 10] and b[-1].tolist() == [290, 300]
    p, b = patch_grid(305, 250.0)
    assert p == 31 and b[-1].tolist() == [300, 305]  # last patch shorter
    assert (b[1:, 0] == b[:-1, 1]).all() and b[0, 0] == 0
    assert patch_grid(600, 500.0)[1][0].tolist() == [0, 20]
    with pytest.raises(ConfigError, match="shorter than one sample"):
        patch_grid(100, 10.0, patch_ms=40.0)
    with pytest.raises(ConfigError, match="fs"):
        patch_grid(100, 0.0)


def test_patch_scores_sum_abs_per_lead_and_patch():
    a = np.random.default_rng(0).normal(size=(3, 12, 25))
    s = patch_scores(a, FS)
    assert s.shape == (3, 12 * 3)
    assert s[1, 2 * 3 + 1] == pytest.approx(np.abs(a[1, 2, 10:20]).sum())
    assert s[2, 11 * 3 + 2] == pytest.approx(np.abs(a[2, 11, 20:25]).sum())  # short last patch


def test_ranking_orders_and_is_seeded():
    s = np.array([[0.1, 5.0, 2.0, 3.0], [9.0, 1.0, 4.0, 0.0]])
    np.testing.assert_array_equal(ranking(s, "morf"), [[1, 3, 2, 0], [0, 2, 1, 3]])
    np.testing.assert_array_equal(ranking(s, "lerf"), [[0, 2, 3, 1], [3, 1, 2, 0]])
    r = ranking(np.zeros((50, 30)), "random", seed=3)
    assert (np.sort(r, axis=1) == np.arange(30)).all()
    np.testing.assert_array_equal(r, ranking(np.zeros((50, 30)), "random", seed=3))
    assert not np.array_equal(r, ranking(np.zeros((50, 30)), "random", seed=4))
    with pytest.raises(ConfigError, match="morf"):
        ranking(s, "best")


def test_ties_are_broken_at_random_not_by_position():
    s = np.ones((200, 12))  # e.g. Grad-CAM's identical copy in every lead
    first = ranking(s, "morf", seed=0)[:, 0]
    assert len(np.unique(first)) == 12  # lead 0 is not always removed first
    # ties only reorder equal scores: the strictly largest still comes first
    s[:, 5] = 2.0
    assert (ranking(s, "morf", seed=0)[:, 0] == 5).all()


def test_removal_mask_zero_all_and_nested():
    order = ranking(np.random.default_rng(1).random((4, 120)), "morf")
    none = removal_mask(order, 0.0, T, FS)
    every = removal_mask(order, 1.0, T, FS)
    assert none.shape == (4, 12, T) and not none.any() and every.all()
    previous = none
    for f in DEFAULT_FRACTIONS[1:]:
        cur = removal_mask(order, f, T, FS)
        assert (cur | previous == cur).all()  # superset of the smaller fraction
        assert cur.sum(axis=(1, 2)).tolist() == [round(f * 120) * 10] * 4
        previous = cur
    # the first ranked patch is removed exactly
    m = removal_mask(order, 1 / 120, T, FS)
    lead, patch = divmod(int(order[0, 0]), 10)
    assert m[0, lead, patch * 10 : patch * 10 + 10].all() and m[0].sum() == 10
    with pytest.raises(ConfigError, match="fraction"):
        removal_mask(order, 1.5, T, FS)
    with pytest.raises(DataError, match="permutation"):
        removal_mask(np.zeros((1, 120), dtype=int), 0.5, T, FS)


# --------------------------------------------------------------------------- replacements


def _gap_mask(shape=(2, 12, 40)):
    m = np.zeros(shape, dtype=bool)
    m[:, :, 10:20] = True
    return m


def test_registry_names_and_unmasked_samples_untouched():
    assert REPLACEMENTS.available() == ["zero", "mean", "interp", "noise"]
    x = np.random.default_rng(2).normal(size=(2, 12, 40)).astype(np.float32)
    m = _gap_mask()
    for how in REPLACEMENTS:
        out = replace(x, m, how, seed=0)
        assert out.dtype == np.float32 and out.shape == x.shape
        np.testing.assert_array_equal(out[~m], x[~m])
        assert not np.allclose(out[m], x[m])
    with pytest.raises(UnknownNameError, match="interp"):
        replace(x, m, "blur")


def test_zero_and_mean_fill():
    x = np.random.default_rng(3).normal(size=(2, 12, 40)) + 2.0
    m = _gap_mask()
    assert (replace(x, m, "zero")[m] == 0).all()
    out = replace(x, m, "mean")
    np.testing.assert_allclose(out[1, 4, 10:20], x[1, 4].mean())


def test_interp_is_linear_across_a_gap_and_meets_the_endpoints():
    x = np.random.default_rng(4).normal(size=(2, 12, 40))
    m = _gap_mask()
    out = replace(x, m, "interp")
    left, right = x[:, :, 9], x[:, :, 20]
    for j in range(10, 20):
        w = (j - 9) / 11
        np.testing.assert_allclose(out[:, :, j], left + w * (right - left))
    np.testing.assert_allclose(np.diff(out[0, 3, 9:21], 2), 0.0, atol=1e-12)  # a straight line
    # a line is reproduced exactly, whatever the gaps
    line = np.broadcast_to(np.linspace(-1, 1, 40), (1, 12, 40)).copy()
    gaps = np.random.default_rng(5).random((1, 12, 40)) < 0.4
    gaps[:, :, [0, -1]] = False
    np.testing.assert_allclose(replace(line, gaps, "interp"), line)


def test_interp_edges_hold_and_full_lead_becomes_zero():
    x = np.random.default_rng(6).normal(size=(1, 12, 20))
    m = np.zeros_like(x, dtype=bool)
    m[0, 0, :5] = True  # gap at the start
    m[0, 1, 15:] = True  # gap at the end
    m[0, 2, :] = True  # the whole lead
    out = replace(x, m, "interp")
    np.testing.assert_allclose(out[0, 0, :5], x[0, 0, 5])
    np.testing.assert_allclose(out[0, 1, 15:], x[0, 1, 14])
    assert (out[0, 2] == 0).all()


def test_noise_fill_is_seeded_and_has_the_lead_statistics():
    x = np.random.default_rng(7).normal(loc=1.5, scale=0.4, size=(1, 12, 4000))
    m = np.zeros_like(x, dtype=bool)
    m[0, :, 1000:3000] = True
    a, b = replace(x, m, "noise", seed=1), replace(x, m, "noise", seed=1)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, replace(x, m, "noise", seed=2))
    fill = a[0, 5, 1000:3000]
    assert fill.mean() == pytest.approx(x[0, 5].mean(), abs=0.05)
    assert fill.std() == pytest.approx(x[0, 5].std(), rel=0.1)
    # the same seed draws the same noise whatever is masked, so nested masks agree
    small = m.copy()
    small[0, :, 2000:] = False
    np.testing.assert_array_equal(replace(x, small, "noise", seed=1)[small], a[small])


# --------------------------------------------------------------------------- curves


def test_oracle_morf_destroys_the_model_faster_than_random():
    x, y = _linear_task()
    oracle = np.broadcast_to(REGION, x.shape).astype(np.float32)  # the true informative patches
    common = dict(fs=FS, how="zero", class_index=1, seed=0)
    morf = perturbation_curve(x, y, oracle, _predict, order="morf", **common)
    lerf = perturbation_curve(x, y, oracle, _predict, order="lerf", **common)
    rand = perturbation_curve(x, y, oracle, _predict, order="random", **common)
    assert list(morf["fraction"]) == list(DEFAULT_FRACTIONS)
    assert morf["auroc_class"].iloc[0] > 0.99  # intact model separates the classes
    at5 = {name: c.set_index("fraction").loc[0.05] for name, c in
           [("morf", morf), ("lerf", lerf), ("random", rand)]}
    assert at5["morf"]["auroc_class"] <= 0.55  # every informative patch gone at 5 %
    assert at5["random"]["auroc_class"] > 0.9
    assert at5["morf"]["mean_prob_pos"] < at5["random"]["mean_prob_pos"] - 0.3
    assert lerf.set_index("fraction").loc[0.9, "auroc_class"] > 0.99  # kept until the end
    area_oracle = area_between(morf["fraction"], morf["auroc_class"], lerf["auroc_class"])
    rand2 = perturbation_curve(x, y, oracle, _predict, order="random", fs=FS, how="zero",
                               class_index=1, seed=1)
    area_random = area_between(rand["fraction"], rand["auroc_class"], rand2["auroc_class"])
    assert area_oracle > 0.35 and abs(area_random) < 0.1


def test_gradient_times_input_of_the_linear_model_is_faithful_under_every_replacement():
    x, y = _linear_task(seed=1)
    a = np.where(REGION, x, 0.0)  # input × gradient of the linear evidence
    for how in REPLACEMENTS:
        morf = perturbation_curve(x, y, a, _predict, fs=FS, order="morf", how=how,
                                  class_index=1, seed=0)
        rand = perturbation_curve(x, y, a, _predict, fs=FS, order="random", how=how,
                                  class_index=1, seed=0)
        assert morf["mean_prob_pos"].iloc[1] < rand["mean_prob_pos"].iloc[1], how


def test_curve_is_reproducible_and_tidy():
    x, y = _linear_task(n=40)
    a = np.random.default_rng(9).normal(size=x.shape)
    kw = dict(fs=FS, order="random", how="noise", class_index=1, seed=5, fractions=(0, 0.5, 1))
    c1 = perturbation_curve(x, y, a, _predict, **kw)
    c2 = perturbation_curve(x, y, a, _predict, **kw)
    pd.testing.assert_frame_equal(c1, c2)
    assert set(c1.columns) >= {"fraction", "n_removed", "removed_share", "auroc_class",
                               "mean_prob", "mean_prob_pos", "order", "how", "class_index"}
    assert c1["removed_share"].tolist() == [0.0, 0.5, 1.0]
    assert c1["n_removed"].tolist() == [0, 60, 120]


def test_curve_input_errors_are_named():
    x, y = _linear_task(n=10)
    kw = dict(fs=FS, order="morf", how="zero", class_index=1)
    with pytest.raises(DataError, match="y_onehot"):
        perturbation_curve(x, y[:5], x, _predict, **kw)
    with pytest.raises(ConfigError, match="class_index"):
        perturbation_curve(x, y, x, _predict, **{**kw, "class_index": 2})
    with pytest.raises(DataError, match="predict_fn"):
        perturbation_curve(x, y, x, lambda z: np.ones(len(z)), **kw)
    with pytest.raises(DataError, match="shape of x"):
        perturbation_curve(x, y, x[:, :, :50], _predict, **kw)
    with pytest.raises(UnknownNameError):
        perturbation_curve(x, y, x, _predict, **{**kw, "how": "blur"})


def test_area_between_trapezoid():
    f = [0.0, 0.5, 1.0]
    assert area_between(f, [1, 0.5, 0.5], [1, 1, 0.5]) == pytest.approx(0.25)
    assert area_between(f, [1, 1, 1], [1, 1, 1]) == 0.0
    assert area_between(f, [1, 1, 0.5], [1, 0.5, 0.5]) == pytest.approx(-0.25)
    with pytest.raises(DataError, match="increasing"):
        area_between([0, 0.5, 0.5], [1, 1, 1], [1, 1, 1])
    with pytest.raises(DataError, match="length"):
        area_between([0, 1], [1], [1, 1])


# --------------------------------------------------------------------------- whole leads


def test_lead_removal_order_and_mask():
    a = np.zeros((2, 12, 10))
    a[0, 7] = 3.0
    a[0, 2] = -2.0  # sign ignored
    a[1, 11] = 1.0
    order = lead_removal_order(a)
    assert order.shape == (2, 12)
    assert order[0, :2].tolist() == [7, 2] and order[1, 0] == 11
    m = lead_removal_mask(order, 2, 10)
    assert m.shape == (2, 12, 10)
    assert m[0, [7, 2]].all() and m[0].sum() == 20
    assert not lead_removal_mask(order, 0, 10).any() and lead_removal_mask(order, 12, 10).all()
    with pytest.raises(ConfigError, match="n_leads"):
        lead_removal_mask(order, 13, 10)


def test_lead_removal_curve_drops_first_for_the_informative_leads():
    x, y = _linear_task(n=60, seed=2)
    oracle = np.broadcast_to(REGION, x.shape).astype(float)
    kw = dict(how="mean", class_index=1, seed=0)
    morf = lead_removal_curve(x, y, oracle, _predict, order="morf", **kw)
    lerf = lead_removal_curve(x, y, oracle, _predict, order="lerf", **kw)
    assert morf["n_removed"].tolist() == list(range(13))
    # after 3 leads (I, II, III) the evidence is gone under MoRF, intact under LeRF
    assert morf["mean_prob_pos"].iloc[3] < 0.5 < lerf["mean_prob_pos"].iloc[3]
    assert area_between(morf["fraction"], morf["mean_prob_pos"], lerf["mean_prob_pos"]) > 0.3
