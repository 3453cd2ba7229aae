"""Similarity measures: identities, symmetry, scale behaviour, chance level, NaN rules, errors."""

from __future__ import annotations

import time

import numpy as np
import pytest
from scipy.stats import pearsonr, rankdata, spearmanr

from ecgsignal.errors import ConfigError, DataError, UnknownNameError
from ecgsignal.evaluation._utils import rank_rows
from ecgsignal.evaluation.similarity import (
    SIMILARITY,
    pearson,
    similarity,
    spearman_abs,
    spearman_signed,
    ssim_1d,
    topk_intersection,
)
from ecgsignal.evaluation.statistics import bootstrap_ci

MEASURES = SIMILARITY.available()


def _maps(n=20, t=60, seed=0):
    rng = np.random.default_rng(seed)
    # smooth, structured maps (not white noise) so SSIM and correlations have something to see
    base = rng.normal(size=(n, 12, t))
    kernel = np.ones(5) / 5
    return np.apply_along_axis(lambda r: np.convolve(r, kernel, mode="same"), 2, base)


def test_registry_holds_the_five_measures():
    assert MEASURES == ["spearman_abs", "spearman_signed", "pearson", "topk", "ssim"]
    with pytest.raises(UnknownNameError, match="spearman_abs"):
        similarity(_maps(2), _maps(2), "kendall")


@pytest.mark.parametrize("measure", MEASURES)
def test_map_against_itself_scores_one(measure):
    a = _maps()
    s = similarity(a, a.copy(), measure)
    assert s.shape == (a.shape[0],)
    np.testing.assert_allclose(s, 1.0, atol=1e-12)


@pytest.mark.parametrize("measure", MEASURES)
def test_symmetric(measure):
    a, b = _maps(seed=1), _maps(seed=2)
    b = 0.6 * a + 0.4 * b  # related maps, so the score is not near a trivial value
    np.testing.assert_allclose(similarity(a, b, measure), similarity(b, a, measure), atol=1e-12)


@pytest.mark.parametrize("measure", MEASURES)
def test_invariant_to_positive_scaling(measure):
    a, b = _maps(seed=3), _maps(seed=4)
    b = a + 0.5 * b
    ref = similarity(a, b, measure)
    np.testing.assert_allclose(similarity(7.5 * a, 0.01 * b, measure), ref, atol=1e-9)


def test_ssim_without_normalisation_is_not_scale_invariant():
    a = np.abs(_maps(seed=5))
    same = ssim_1d(a, a, normalize=False, data_range=1.0)
    scaled = ssim_1d(a, 3.0 * a, normalize=False, data_range=1.0)
    np.testing.assert_allclose(same, 1.0)
    assert (scaled < 0.95).all()  # luminance and contrast terms penalise the magnitude change


@pytest.mark.parametrize("measure", ["spearman_abs", "spearman_signed", "pearson"])
def test_independent_random_maps_score_near_zero_with_ci_covering_zero(measure):
    rng = np.random.default_rng(11)
    a = rng.normal(size=(200, 12, 50))
    b = rng.normal(size=(200, 12, 50))
    s = similarity(a, b, measure)
    est, lo, hi = bootstrap_ci(s, seed=0, n_boot=500)
    assert abs(est) < 0.02
    assert lo < 0 < hi


def test_ssim_of_independent_maps_sits_just_above_zero():
    # the structure term (2 cov + C2) / (σa² + σb² + C2) keeps C2 / (σa² + σb² + C2) > 0 when
    # cov = 0, so SSIM's chance level is a small positive number, not exactly 0 (documented)
    rng = np.random.default_rng(11)
    a = rng.normal(size=(200, 12, 50))
    b = rng.normal(size=(200, 12, 50))
    est, lo, hi = bootstrap_ci(ssim_1d(a, b), seed=0, n_boot=500)
    assert 0 < lo and hi < 0.04
    # without the constants' floor (signed maps, k2 → tiny) the chance level is ≈ 0
    est0, lo0, hi0 = bootstrap_ci(ssim_1d(a, b, absolute=False, k2=1e-6), seed=0, n_boot=500)
    assert lo0 < 0 < hi0


def test_topk_chance_level_is_frac_and_identical_maps_share_all():
    rng = np.random.default_rng(12)
    a = rng.normal(size=(200, 12, 50))
    b = rng.normal(size=(200, 12, 50))
    s = topk_intersection(a, b, frac=0.10)
    est, lo, hi = bootstrap_ci(s, seed=0, n_boot=500)
    assert lo < 0.10 < hi
    assert np.all(topk_intersection(a, a, frac=0.2) == 1.0)
    # sign is ignored: a map and its negative have the same top |a| entries
    assert np.all(topk_intersection(a, -a) == 1.0)


def test_topk_counts_the_overlap_exactly():
    a = np.zeros((1, 12, 10))
    b = np.zeros((1, 12, 10))
    # k = 12 of 120 entries; a's top in lead 0, b's top = 6 of them + 6 in lead 5
    a[0, 0, :10] = np.arange(10, 20)
    a[0, 1, :2] = 5
    b[0, 0, :6] = np.arange(10, 16)
    b[0, 5, :6] = 3
    assert topk_intersection(a, b, frac=0.1)[0] == pytest.approx(6 / 12)


def test_topk_ties_favour_no_lead_for_a_map_broadcast_over_leads():
    # Grad-CAM-like: one time profile copied to all 12 leads, so each time step ties 12 entries.
    # k = 6 of 120: the peak time step ties 12 entries for 6 places. Breaking ties by index
    # picked leads I…aVF; counted in expectation, every lead holds each place with p = 1/2.
    prof = np.arange(10, dtype=float)
    a = np.broadcast_to(prof, (1, 12, 10)).copy()
    scores = []
    for lead in range(12):
        b = np.random.default_rng(lead).uniform(0, 0.1, size=(1, 12, 10))
        b[0, lead, 4:] = np.arange(6) + 1.0  # b's top 6 = lead `lead`, incl. the peak time 9
        scores.append(topk_intersection(a, b, frac=0.05)[0])
    assert np.allclose(scores, scores[0])  # lead I is not favoured over lead V6
    assert scores[0] == pytest.approx(0.5 / 6)  # one shared entry, in with p = 6/12
    # a broadcast map against itself: 12 tied entries, each in both sets with p = (1/2)² → 3 / 6
    assert topk_intersection(a, a, frac=0.05)[0] == pytest.approx(0.5)
    # without ties the measure is unchanged: the exact count
    c = np.random.default_rng(1).normal(size=(3, 12, 10))
    assert np.all(topk_intersection(c, c, frac=0.05) == 1.0)


def test_spearman_matches_scipy_with_ties():
    rng = np.random.default_rng(7)
    a = np.round(rng.normal(size=(5, 12, 30)), 1)  # many ties
    b = np.round(a + rng.normal(size=a.shape), 1)
    mine_abs = spearman_abs(a, b)
    mine_sgn = spearman_signed(a, b)
    mine_p = pearson(a, b)
    for i in range(5):
        assert mine_abs[i] == pytest.approx(
            spearmanr(np.abs(a[i]).ravel(), np.abs(b[i]).ravel())[0], abs=1e-12
        )
        assert mine_sgn[i] == pytest.approx(spearmanr(a[i].ravel(), b[i].ravel())[0], abs=1e-12)
        assert mine_p[i] == pytest.approx(pearsonr(a[i].ravel(), b[i].ravel())[0], abs=1e-12)


def test_rank_rows_equals_scipy_average_ranks():
    rng = np.random.default_rng(8)
    x = rng.integers(0, 5, size=(7, 40)).astype(float)
    np.testing.assert_array_equal(rank_rows(x), rankdata(x, axis=1))
    y = rng.normal(size=(3, 25))
    np.testing.assert_array_equal(rank_rows(y), rankdata(y, axis=1))


def test_abs_vs_signed_spearman_differ_on_sign_flips():
    a = _maps(seed=9)
    assert np.allclose(spearman_abs(a, -a), 1.0)
    assert np.allclose(spearman_signed(a, -a), -1.0)
    assert np.allclose(pearson(a, -a), -1.0)
    assert np.allclose(pearson(a, -a, absolute=True), 1.0)


@pytest.mark.parametrize("measure", ["spearman_abs", "spearman_signed", "pearson", "topk"])
def test_constant_map_is_nan_only_for_its_beat(measure):
    a, b = _maps(n=4, seed=10), _maps(n=4, seed=11)
    a[1] = 0.0  # e.g. an all-zero gradient
    b[2] = 3.3  # constant but nonzero
    s = similarity(a, b, measure)
    assert np.isnan(s[1]) and np.isnan(s[2])
    assert np.isfinite(s[[0, 3]]).all()


def test_ssim_is_defined_for_constant_maps():
    a = np.zeros((2, 12, 30))
    s = ssim_1d(a, a)
    np.testing.assert_allclose(s, 1.0)
    b = _maps(n=2, t=30)
    assert np.isfinite(ssim_1d(a, b)).all()


def test_ssim_matches_a_direct_loop():
    rng = np.random.default_rng(13)
    a = rng.normal(size=(2, 12, 20))
    b = a + rng.normal(size=a.shape)
    w = 7
    got = ssim_1d(a, b, window=w, absolute=False, normalize=False, data_range=4.0)
    c1, c2 = (0.01 * 4.0) ** 2, (0.03 * 4.0) ** 2
    for i in range(2):
        vals = []
        for lead in range(12):
            for s in range(20 - w + 1):
                x, y = a[i, lead, s : s + w], b[i, lead, s : s + w]
                mx, my = x.mean(), y.mean()
                vx, vy = x.var(ddof=1), y.var(ddof=1)
                cxy = np.cov(x, y)[0, 1]
                vals.append(
                    (2 * mx * my + c1) * (2 * cxy + c2) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
                )
        assert got[i] == pytest.approx(np.mean(vals), abs=1e-10)


def test_bad_input_is_named():
    a = _maps(n=3)
    with pytest.raises(DataError, match="same shape"):
        spearman_abs(a, a[:2])
    with pytest.raises(DataError, match="3 dimensions"):
        spearman_abs(a[0], a[0])
    bad = a.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(DataError, match="non-finite"):
        pearson(bad, a)
    with pytest.raises(ConfigError, match="frac"):
        topk_intersection(a, a, frac=0.0)
    with pytest.raises(ConfigError, match="window"):
        ssim_1d(a, a, window=1000)


def test_spearman_abs_is_vectorised_and_fast():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(1000, 12, 300)).astype(np.float32)
    b = rng.normal(size=(1000, 12, 300)).astype(np.float32)
    t0 = time.perf_counter()
    s = spearman_abs(a, b)
    elapsed = time.perf_counter() - t0
    assert s.shape == (1000,)
    print(f"spearman_abs 1000×12×300: {elapsed:.3f} s")
    assert elapsed < 5.0  # generous for a shared 2-core box; ~0.5 s measured
