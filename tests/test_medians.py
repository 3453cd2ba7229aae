"""Median-beat extraction: detection across leads, alignment, baseline, accuracy vs a known beat."""

from __future__ import annotations

import numpy as np
import pytest
from fixtures_ptbxl import FS, _own_template, clean_region, compare, make_rhythm, template

from ecgsignal.data.medians import (
    MedianConfig,
    MedianExtractionError,
    detect_r_peaks,
    extract_median_beat,
    locate_r_peak,
    qrs_onset,
    realign_median,
    reference_to_pr,
)
from ecgsignal.data.resampling import rational_ratio, resample, resampled_length
from ecgsignal.errors import ConfigError, DataError

try:
    from ecgsignal.data.synthetic import CLASS_NAMES as KINDS
except ImportError:  # pragma: no cover - the synthetic generator is part of the package
    KINDS = ("NORM", "LBBB")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("hr", [52, 95])
def test_median_matches_template(kind, hr):
    rng = np.random.default_rng(1000 * list(KINDS).index(kind) + hr)
    beat, p_on, t_end = template(kind, seed=11)
    x, r, min_rr = make_rhythm(beat, hr, rng, rr_jitter=0.05, noise_mv=0.02, wander_mv=0.1)
    mb = extract_median_beat(x, FS, fs_out=250)
    assert mb.beat.shape == (12, 300) and mb.beat.dtype == np.float32 and mb.r_index == 100
    corr, rmse = compare(mb.beat, 250, beat, clean_region(p_on, t_end, min_rr))
    assert corr > 0.97, (kind, hr, corr)
    assert rmse < 50, (kind, hr, rmse)
    assert mb.n_used >= len(r) - 3


def test_full_window_at_slow_rate_and_100hz_input():
    """At 45 bpm no neighbour reaches the window: the whole −0.4…+0.8 s must match; and the
    100 Hz records (PTB-XL's records100) give the same beat within the limits."""
    rng = np.random.default_rng(3)
    beat, p_on, t_end = template("LBBB", seed=2)
    x, _, min_rr = make_rhythm(beat, 45, rng, rr_jitter=0.03)
    assert clean_region(p_on, t_end, min_rr) == (-0.4, 0.8)
    full = extract_median_beat(x, FS, fs_out=250)
    corr, rmse = compare(full.beat, 250, beat, (-0.4, 0.8))
    assert corr > 0.99 and rmse < 30
    low = extract_median_beat(resample(x, FS, 100), 100, fs_out=250)
    corr, rmse = compare(low.beat, 250, beat, (-0.4, 0.8))
    assert corr > 0.97 and rmse < 50


def test_own_wide_template_and_500hz_output():
    rng = np.random.default_rng(0)
    for kind in ("NORM", "wide"):
        beat, p_on, t_end = _own_template(kind)
        x, _, min_rr = make_rhythm(beat, 70, rng)
        mb = extract_median_beat(x, FS)
        assert mb.beat.shape == (12, 600) and mb.fs == FS and mb.r_index == 200
        corr, rmse = compare(mb.beat, FS, beat, clean_region(p_on, t_end, min_rr))
        assert corr > 0.99 and rmse < 20


@pytest.mark.parametrize("hr", [40, 75, 120])
def test_detection_finds_every_wide_qrs_beat(hr):
    """All LBBB beats found, none invented — even with one lead flat and one pure noise."""
    rng = np.random.default_rng(hr)
    beat, _, _ = template("LBBB", seed=5)
    x, r, _ = make_rhythm(beat, hr, rng, rr_jitter=0.08, noise_mv=0.02)
    x[4] = 0.0  # a disconnected electrode
    x[7] = 0.3 * rng.standard_normal(x.shape[1])  # a lead of pure noise
    found = detect_r_peaks(x, FS)
    inner = r[(r >= 0.1 * FS) & (r <= x.shape[1] - 0.1 * FS)]  # QRS complete in the record
    assert np.abs(found[:, None] - r[None, :]).min(axis=1).max() <= 0.06 * FS  # none invented
    assert np.abs(inner[:, None] - found[None, :]).min(axis=1).max() <= 0.06 * FS  # none missed
    assert len(inner) <= len(found) <= len(r)


def test_ectopic_beats_are_left_out():
    rng = np.random.default_rng(9)
    beat, p_on, t_end = template("NORM", seed=1)
    ectopic = -1.5 * _own_template("wide")[0]
    x, r, min_rr = make_rhythm(beat, 60, rng)
    pre = int(0.4 * FS)
    for k in (3, 6):  # replace two beats by an ectopic morphology
        a = r[k] - pre
        x[:, a : a + 600] += ectopic - beat
    mb = extract_median_beat(x, FS, fs_out=250)
    assert mb.n_used <= mb.n_detected - 2
    corr, rmse = compare(mb.beat, 250, beat, clean_region(p_on, t_end, min_rr))
    assert corr > 0.99 and rmse < 30


def test_baseline_wander_and_offsets_removed():
    rng = np.random.default_rng(4)
    beat, p_on, t_end = template("STEMI", seed=4)
    x, _, min_rr = make_rhythm(beat, 70, rng, wander_mv=0.4)
    x += rng.uniform(-2, 2, (12, 1))  # electrode offsets
    region = clean_region(p_on, t_end, min_rr)
    spline = extract_median_beat(x, FS, fs_out=250)
    corr, rmse = compare(spline.beat, 250, beat, region)
    assert corr > 0.97 and rmse < 50
    none = extract_median_beat(x, FS, fs_out=250, config=MedianConfig(baseline="none"))
    assert compare(none.beat, 250, beat, region)[1] > rmse  # the spline does real work
    hp = extract_median_beat(x, FS, fs_out=250, config=MedianConfig(baseline="highpass"))
    assert compare(hp.beat, 250, beat, region)[0] > 0.95


def test_pr_reference_and_r_location():
    beat, _, _ = template("NORM", seed=0)
    assert abs(locate_r_peak(beat, FS) - 200) <= 1.0  # the generator's R at 0.4 s
    shifted = beat + np.linspace(-1, 1, 12)[:, None]
    ref = reference_to_pr(shifted, FS, 200)
    assert np.allclose(ref, reference_to_pr(beat, FS, 200), atol=1e-9)
    on = qrs_onset(beat, FS, 200)
    assert 0.02 * FS <= 200 - on <= 0.1 * FS
    a, b = on - int(0.04 * FS), on - int(0.01 * FS)
    assert np.abs(np.median(ref[:, a:b], axis=1)).max() < 1e-9


def test_realign_moves_r_to_window_position():
    beat, _, _ = template("RBBB", seed=3)
    stored = np.concatenate([beat[:, 37:], np.repeat(beat[:, -1:], 37, axis=1)], axis=1)  # R at ~0.326 s
    out, r_src = realign_median(stored, FS, 250)
    assert out.shape == (12, 300)
    assert abs(r_src - (locate_r_peak(beat, FS) - 37)) < 0.5
    assert abs(locate_r_peak(out, 250) - 100) < 0.5
    ref, _ = realign_median(beat, FS, 250)
    assert np.sqrt(np.mean((out[:, :250] - ref[:, :250]) ** 2)) * 1000 < 5


def test_bad_records_raise_clear_errors():
    rng = np.random.default_rng(0)
    beat, _, _ = template("NORM", seed=0)
    x, _, _ = make_rhythm(beat, 60, rng, duration=2.0)
    with pytest.raises(MedianExtractionError, match="complete beats"):
        extract_median_beat(x, FS)
    with pytest.raises(MedianExtractionError):
        extract_median_beat(np.zeros((12, 5000)), FS)
    y = np.zeros((12, 5000))
    y[3, 10] = np.nan
    with pytest.raises(DataError, match="NaN"):
        extract_median_beat(y, FS)
    with pytest.raises(DataError, match="leads, samples"):
        extract_median_beat(np.zeros(5000), FS)
    with pytest.raises(ConfigError, match="baseline"):
        MedianConfig(baseline="median")
    with pytest.raises(DataError, match="positive"):
        extract_median_beat(x, FS, fs_out=-250.0)
    with pytest.raises(DataError, match="rational"):
        rational_ratio(500, 250 * (1 + 1e-4 * np.sqrt(2)))


def test_resampling_helpers():
    assert rational_ratio(500, 250) == (1, 2)
    assert rational_ratio(100, 250) == (5, 2)
    assert resampled_length(600, 500, 250) == 300
    t = np.arange(600) / 500
    sine = np.sin(2 * np.pi * 3 * t)
    out = resample(sine, 500, 250)
    assert out.shape == (300,)
    assert np.abs(out[20:-20] - np.sin(2 * np.pi * 3 * np.arange(300) / 250)[20:-20]).max() < 1e-3
    with pytest.raises(DataError, match="positive"):
        resample(sine, 0, 250)
