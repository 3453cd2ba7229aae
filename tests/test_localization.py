"""Localisation measures: perfect and anti-perfect maps, chance level, ties, empty masks."""

from __future__ import annotations

import numpy as np
import pytest

from ecgsignal.errors import ConfigError, DataError, UnknownNameError
from ecgsignal.evaluation.localization import (
    LOCALIZATION,
    chance_level,
    localization,
    mask_auroc,
    pointing_game,
    relevance_mass_accuracy,
    relevance_rank_accuracy,
)

MEASURES = LOCALIZATION.available()


def _mask(n=30, t=80, seed=0):
    """Masks like the synthetic data's: a few leads × a time window, varying per beat."""
    rng = np.random.default_rng(seed)
    m = np.zeros((n, 12, t), dtype=bool)
    for i in range(n):
        leads = rng.choice(12, size=rng.integers(1, 6), replace=False)
        start = rng.integers(0, t - 20)
        m[i, leads, start : start + rng.integers(5, 20)] = True
    return m


def _auc_by_pairs(score, label):
    pos, neg = score[label], score[~label]
    diff = pos[:, None] - neg[None, :]
    return ((diff > 0).sum() + 0.5 * (diff == 0).sum()) / diff.size


def test_registry_names():
    assert MEASURES == ["mass_accuracy", "rank_accuracy", "mask_auroc", "pointing_game"]
    with pytest.raises(UnknownNameError, match="mass_accuracy"):
        localization(np.ones((1, 12, 5)), np.ones((1, 12, 5), bool), "iou")


@pytest.mark.parametrize("measure", MEASURES)
def test_perfect_map_scores_one(measure):
    m = _mask()
    a = m.astype(np.float32)  # attribution = mask
    np.testing.assert_allclose(localization(a, m, measure), 1.0)
    # graded relevance inside the mask, zero outside: still perfect
    rng = np.random.default_rng(1)
    graded = np.where(m, rng.uniform(0.5, 2.0, size=m.shape), 0.0)
    np.testing.assert_allclose(localization(graded, m, measure), 1.0)


@pytest.mark.parametrize("measure", MEASURES)
def test_map_entirely_outside_the_mask_scores_zero(measure):
    m = _mask()
    a = (~m).astype(float)
    np.testing.assert_allclose(localization(a, m, measure), 0.0)


@pytest.mark.parametrize("measure", MEASURES)
def test_random_maps_score_the_chance_level(measure):
    m = _mask(n=300, seed=2)
    a = np.random.default_rng(3).normal(size=m.shape)
    got = np.nanmean(localization(a, m, measure))
    expected = np.nanmean(chance_level(m, measure))
    assert got == pytest.approx(expected, abs=0.03 if measure == "pointing_game" else 0.01)


@pytest.mark.parametrize("measure", MEASURES)
def test_empty_mask_gives_nan_for_that_beat_only(measure):
    m = _mask(n=4)
    m[2] = False  # a NORM beat
    a = np.random.default_rng(4).normal(size=m.shape)
    s = localization(a, m, measure)
    assert np.isnan(s[2])
    assert np.isfinite(s[[0, 1, 3]]).all()
    assert np.isnan(chance_level(m, measure)[2])


def test_mass_accuracy_counts_positive_mass_only():
    m = np.zeros((1, 12, 10), dtype=bool)
    m[0, 0, :5] = True
    a = np.zeros((1, 12, 10))
    a[0, 0, :5] = 3.0  # 15 inside
    a[0, 1, :5] = 1.0  # 5 outside
    a[0, 2, :] = -10.0  # negative mass outside: ignored unless absolute
    assert relevance_mass_accuracy(a, m)[0] == pytest.approx(15 / 20)
    assert relevance_mass_accuracy(a, m, absolute=True)[0] == pytest.approx(15 / 120)
    assert np.isnan(relevance_mass_accuracy(-np.abs(a), m)[0])  # no positive mass at all


def test_rank_accuracy_handles_ties_by_expectation():
    m = np.zeros((1, 12, 10), dtype=bool)
    m[0, 3, :4] = True  # K = 4
    a = np.zeros((1, 12, 10))
    a[0, 3, :2] = 5.0  # two clear hits
    # the remaining 2 slots go to the 118 tied zeros, of which 2 are inside the mask
    assert relevance_rank_accuracy(a, m)[0] == pytest.approx((2 + 2 * 2 / 118) / 4)
    # a constant map scores the mask's share of the beat
    assert relevance_rank_accuracy(np.ones((1, 12, 10)), m)[0] == pytest.approx(4 / 120)


def test_mask_auroc_matches_pairwise_definition_with_ties():
    m = _mask(n=5, t=30, seed=5)
    a = np.round(np.random.default_rng(6).normal(size=m.shape) + m, 0)  # ties, some signal
    got = mask_auroc(a, m)
    for i in range(5):
        expected = _auc_by_pairs(np.abs(a[i]).ravel(), m[i].ravel())
        assert got[i] == pytest.approx(expected, abs=1e-12)
    assert np.isnan(mask_auroc(a[:1], np.ones_like(m[:1])))[0]  # full mask: no negatives


def test_pointing_game_hits_misses_ties_and_tolerance():
    m = np.zeros((1, 12, 20), dtype=bool)
    m[0, 4, 10:12] = True
    a = np.zeros((1, 12, 20))
    a[0, 4, 11] = -9.0  # largest magnitude, inside
    assert pointing_game(a, m)[0] == 1.0
    a[0, 7, 3] = 10.0  # now the max is outside
    assert pointing_game(a, m)[0] == 0.0
    b = np.zeros((1, 12, 20))
    b[0, :, 11] = 1.0  # Grad-CAM-like: the same peak in all 12 leads, one of them inside
    assert pointing_game(b, m)[0] == pytest.approx(1 / 12)
    c = np.zeros((1, 12, 20))
    c[0, 4, 14] = 1.0  # 3 samples after the mask ends (last mask sample 11)
    assert pointing_game(c, m)[0] == 0.0
    assert pointing_game(c, m, tolerance=2)[0] == 0.0
    assert pointing_game(c, m, tolerance=3)[0] == 1.0
    with pytest.raises(ConfigError, match="tolerance"):
        pointing_game(c, m, tolerance=-1)


def test_better_maps_score_higher():
    m = _mask(n=50, seed=7)
    noise = np.random.default_rng(8).normal(size=m.shape)
    weak, strong = noise + 0.5 * m, noise + 3.0 * m
    for measure in ["rank_accuracy", "mask_auroc", "pointing_game"]:
        assert np.nanmean(localization(strong, m, measure)) > np.nanmean(
            localization(weak, m, measure)
        )
    pos_weak, pos_strong = np.abs(weak), np.abs(strong)
    assert np.nanmean(relevance_mass_accuracy(pos_strong, m)) > np.nanmean(
        relevance_mass_accuracy(pos_weak, m)
    )


def test_bad_masks_are_named():
    a = np.zeros((2, 12, 10))
    with pytest.raises(DataError, match="shape"):
        mask_auroc(a, np.zeros((2, 12, 9), bool))
    with pytest.raises(DataError, match="boolean"):
        mask_auroc(a, np.full((2, 12, 10), 0.5))
    assert mask_auroc(a + np.arange(10), np.tile(np.arange(10) > 6, (2, 12, 1)).astype(int))[
        0
    ] == pytest.approx(1.0)
    with pytest.raises(UnknownNameError):
        chance_level(np.zeros((2, 12, 10), bool), "iou")
