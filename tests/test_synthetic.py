"""The synthetic median-beat generator: the invariants of SYNTHETIC_ECG.md, pinned.

These pin the *easy* setting (the spec's ranges, kept bit-for-bit); the realistic default's
counterparts are in tests/test_realism.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import resample_poly

from ecgsignal.config import from_dict, to_dict
from ecgsignal.data.criteria import measure, meets_criteria
from ecgsignal.data.dataset import ECGDataset
from ecgsignal.data.leads import LEAD_INDEX, LEAD_NAMES
from ecgsignal.data.synthetic import (
    CLASS_NAMES,
    COMPATIBLE,
    CRITERIA_WINDOWS,
    EXTRA_CLASSES,
    MASK_THRESHOLD_MV,
    SyntheticConfig,
    benchmark_generator,
    generate,
    make_synthetic,
)
from ecgsignal.errors import ConfigError, DataError

ABNORMAL = CLASS_NAMES[1:]


@pytest.fixture(scope="module")
def batch():
    """900 beats (100 per class) at 250 Hz, with clean beats and counterfactuals."""
    return generate(SyntheticConfig(n=900, seed=11, difficulty="easy"))


@pytest.fixture(scope="module")
def measured(batch):
    m = measure(batch.clean, batch.fs, batch.config.r_offset, batch.params["rr"])
    return m, meets_criteria(m)


@pytest.fixture(scope="module")
def batch500():
    return generate(SyntheticConfig(n=270, seed=11, fs=500.0, difficulty="easy"))


# ------------------------------------------------------------------ shapes, types, dataset
def test_shapes_and_dtypes(batch):
    n, T = 900, 300
    assert batch.beats.shape == batch.clean.shape == batch.counterfactual.shape == (n, 12, T)
    assert batch.beats.dtype == batch.clean.dtype == np.float32
    assert batch.diff_mask.shape == batch.criteria_mask.shape == (n, 12, T)
    assert batch.diff_mask.dtype == bool and batch.criteria_mask.dtype == bool
    assert batch.labels.shape == (n,) and batch.labels.dtype == np.int64
    assert np.bincount(batch.labels, minlength=9).tolist() == [100] * 9  # balanced
    assert batch.t.shape == (T,) and abs(batch.t[0] + 0.4) < 1e-6
    assert all(v.shape[0] == n for v in batch.params.values())
    # amplitudes of real median beats: mV, not V or µV
    assert 0.5 < np.abs(batch.beats).max() < 6.0


def test_easy_setting_is_the_first_build_bit_for_bit(batch):
    """The easy setting renders exactly what the first build did (sums pinned at 63498d4)."""
    assert float(batch.beats.astype(np.float64).sum()) == pytest.approx(85736.984, abs=0.01)
    assert int(batch.diff_mask.sum()) == 392674
    assert not batch.label_flipped.any() and batch.findings.shape == (900, 1)


def test_500_hz_shapes(batch500):
    assert batch500.beats.shape == (270, 12, 600)
    assert batch500.fs == 500.0


def test_make_synthetic_returns_dataset():
    cfg = SyntheticConfig(n=180, seed=2, split=(0.6, 0.2, 0.2), split_seed=5, difficulty="easy")
    ds = make_synthetic(cfg)
    assert isinstance(ds, ECGDataset)
    assert ds.class_names == CLASS_NAMES and ds.lead_names == LEAD_NAMES and ds.fs == 250.0
    assert ds.has_masks and ds.signals.shape == (180, 12, 300)
    assert ds.meta["source"] == "synthetic" and ds.meta["config"] == to_dict(cfg)
    assert from_dict(SyntheticConfig, ds.meta["config"]) == cfg  # provenance round-trips
    assert np.bincount(ds.split).tolist() == [108, 36, 36]
    # the split is seeded by split_seed only
    same = make_synthetic(cfg)
    other = make_synthetic(cfg, split_seed=6)
    assert np.array_equal(ds.split, same.split) and not np.array_equal(ds.split, other.split)
    assert np.array_equal(ds.signals, other.signals)
    # overrides act like a replaced config
    assert make_synthetic(n=18, fs=500.0).signals.shape == (18, 12, 600)


# ------------------------------------------------------------------ physics of the leads
@pytest.mark.parametrize("which", ["beats", "clean", "counterfactual"])
def test_einthoven_and_goldberger(batch, which):
    x = getattr(batch, which).astype(np.float64)
    i, ii, iii, avr, avl, avf = (x[:, LEAD_INDEX[k]] for k in ("I", "II", "III", "aVR", "aVL", "aVF"))
    assert np.abs(iii - (ii - i)).max() < 1e-5  # Einthoven
    assert np.abs(avr + (i + ii) / 2).max() < 1e-5  # Goldberger
    assert np.abs(avl - (i - ii / 2)).max() < 1e-5
    assert np.abs(avf - (ii - i / 2)).max() < 1e-5
    assert np.abs(avr + avl + avf).max() < 1e-5


def test_noise_level(batch):
    resid = (batch.beats - batch.clean)[:, [0, 1, 6, 7, 8, 9, 10, 11]]
    hf = np.diff(resid, axis=-1).std(-1).mean(-1) / np.sqrt(2)  # white part; wander is slow
    assert np.all(hf > 0.004) and np.all(hf < 0.022)
    np.testing.assert_allclose(hf, batch.params["noise_uv"] / 1e3, rtol=0.2)
    assert np.abs(resid).max() < 0.15
    quiet = generate(n=18, seed=11, noise=False, difficulty="easy")
    assert np.array_equal(quiet.beats, quiet.clean)


# ------------------------------------------------------------------ diagnostic criteria
@pytest.mark.parametrize("name", ABNORMAL)
def test_every_class_meets_its_own_criterion(batch, measured, name):
    _, crit = measured
    pos = batch.labels == CLASS_NAMES.index(name)
    assert crit[name][pos].all(), f"{(~crit[name][pos]).sum()} {name} beats miss their criterion"


def test_norm_meets_normal_criteria_and_no_other(batch, measured):
    m, crit = measured
    norm = batch.labels == 0
    assert crit["NORM"][norm].all()
    for name in ABNORMAL:
        assert not crit[name][norm].any(), f"a NORM beat meets the {name} criterion"
    # the margins are real, not knife-edge
    assert m.pr[norm].max() < 195 and m.pr[norm].min() > 125
    assert m.qrs[norm].max() <= 108 and m.qtcf[norm].max() < 450 and m.sokolow[norm].max() < 3.2


def test_planted_values_in_their_ranges(batch, measured):
    m, _ = measured
    lab = batch.labels

    def of(c):
        return lab == CLASS_NAMES.index(c)

    assert m.pr[of("1AVB")].min() > 230 and m.pr[of("1AVB")].max() < 350
    assert m.qrs[of("LBBB")].min() >= 130 and m.qrs[of("RBBB")].min() >= 130
    assert m.sokolow[of("LVH")].min() >= 4.0
    st = m.st_j60[of("STEMI")][:, [LEAD_INDEX["V2"], LEAD_INDEX["V3"]]]
    assert st.min() >= 0.24 and st.max() <= 0.6
    q = m.q_depth[of("IMI")][:, LEAD_INDEX["aVF"]]
    assert q.min() >= 0.2 and np.median(m.q_width[of("IMI")][:, LEAD_INDEX["II"]]) >= 35
    assert (m.t_amp[of("TWI")][:, [LEAD_INDEX[k] for k in ("V4", "V5", "V6")]] < -0.1).all()
    assert m.qtcf[of("LQT")].min() >= 470 and m.qtcf[of("LQT")].max() <= 580


def test_measurements_agree_with_planted_parameters(batch, measured):
    m, _ = measured
    p = batch.params
    norm = batch.labels == 0
    assert np.abs(m.pr - p["pr"])[norm].max() < 10  # ms
    assert np.abs(m.qtcf - p["qtcf"])[norm].max() < 10
    assert np.abs(m.qrs - p["qrs"])[norm].max() < 15
    assert np.abs(m.axis - p["axis"])[norm].max() < 20  # degrees
    lqt = batch.labels == CLASS_NAMES.index("LQT")
    assert np.abs(m.qtcf - p["qtcf"])[lqt].max() < 12


def test_criteria_hold_at_500_hz(batch500):
    m = measure(batch500.clean, 500.0, 0.4, batch500.params["rr"])
    crit = meets_criteria(m)
    for c, name in enumerate(CLASS_NAMES):
        pos = batch500.labels == c
        assert crit[name][pos].all(), name
    norm = batch500.labels == 0
    assert not any(crit[k][norm].any() for k in ABNORMAL)


# ------------------------------------------------------------------ ground-truth masks
def test_norm_masks_empty(batch):
    norm = batch.labels == 0
    assert not batch.diff_mask[norm].any() and not batch.criteria_mask[norm].any()
    assert np.array_equal(batch.counterfactual[norm], batch.clean[norm])


def test_difference_mask_is_thresholded_difference(batch):
    expect = np.abs(batch.clean - batch.counterfactual) > MASK_THRESHOLD_MV
    assert np.array_equal(batch.diff_mask, expect)


@pytest.mark.parametrize("name", ABNORMAL)
def test_masks_cover_the_planted_change(batch, name):
    pos = batch.labels == CLASS_NAMES.index(name)
    d, cm = batch.diff_mask[pos], batch.criteria_mask[pos]
    assert d.any((1, 2)).all() and cm.any((1, 2)).all()
    leads, (lo, hi) = CRITERIA_WINDOWS[name]
    t = batch.t
    inside = (t >= lo - 1e-6) & (t <= hi + 1e-6)
    assert not cm[:, :, ~inside].any()  # criteria mask: only the window…
    if not isinstance(leads, str):
        on = [LEAD_INDEX[k] for k in leads]
        off = [i for i in range(12) if i not in on]
        assert cm[:, on][:, :, inside].all() and not cm[:, off].any()  # …and only the leads
    # the difference mask overlaps the criteria window in every positive beat
    assert (d & cm).any((1, 2)).all()


def test_difference_masks_lie_where_the_class_acts(batch):
    t = batch.t

    def frac_in(name, leads, lo, hi):
        pos = batch.labels == CLASS_NAMES.index(name)
        d = batch.diff_mask[pos]
        sel = np.zeros_like(d)
        win = (t >= lo) & (t <= hi)
        sel[:, [LEAD_INDEX[k] for k in leads]] = win
        return (d & sel).sum() / d.sum()

    assert frac_in("1AVB", LEAD_NAMES, -0.40, -0.05) == 1.0  # P only
    assert frac_in("STEMI", ("V1", "V2", "V3", "V4"), 0.0, 0.45) == 1.0  # anterior ST-T only
    assert frac_in("LQT", LEAD_NAMES, 0.1, 0.8) == 1.0  # T only
    assert frac_in("IMI", LEAD_NAMES, -0.1, 0.1) == 1.0  # QRS only
    assert frac_in("RBBB", LEAD_NAMES, -0.05, 0.6) > 0.99


def test_lbbb_and_lvh_difference_masks_wider_than_criteria(batch):
    for name in ("LBBB", "LVH", "TWI", "IMI"):
        pos = batch.labels == CLASS_NAMES.index(name)
        extra = batch.diff_mask[pos] & ~batch.criteria_mask[pos]
        assert extra.any((1, 2)).mean() > 0.5, name


# ------------------------------------------------------------------ seeds and sampling rates
def test_same_seed_identical_different_seed_different():
    a = generate(n=45, seed=3)
    b = generate(n=45, seed=3)
    c = generate(n=45, seed=4)
    for name in ("beats", "clean", "counterfactual", "diff_mask", "criteria_mask", "labels"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert not np.allclose(a.beats, c.beats)
    assert not np.array_equal(a.labels, c.labels)


def test_chunking_does_not_change_beats(monkeypatch):
    """Rendering in chunks of beats gives the same beats and masks as rendering in one go."""
    import ecgsignal.data.synthetic as syn

    cfg = SyntheticConfig(n=250, seed=8, noise=False, multilabel=True, cooccur_prob=0.5, difficulty="easy")
    whole = generate(cfg)
    monkeypatch.setattr(syn, "_CHUNK", 64)
    chunked = generate(cfg)
    for name in ("beats", "counterfactual", "diff_mask", "criteria_mask", "finding_diff_mask"):
        assert np.array_equal(getattr(whole, name), getattr(chunked, name)), name


def test_500_hz_resampled_equals_250_hz():
    cfg = SyntheticConfig(n=90, seed=21, noise=False, difficulty="easy")
    x250 = generate(cfg).beats
    x500 = generate(cfg, fs=500.0).beats
    down = resample_poly(x500, 1, 2, axis=-1)
    err = np.abs(down - x250)
    assert err[..., 10:-10].max() < 0.02  # mV, away from the filter's edge effects
    assert np.sqrt(np.mean(err**2)) < 0.003
    noisy250 = generate(cfg, noise=True).beats
    noisy500 = resample_poly(generate(cfg, fs=500.0, noise=True).beats, 1, 2, axis=-1)
    rms = np.sqrt(np.mean((noisy500 - noisy250)[..., 10:-10] ** 2))
    assert rms < 0.035  # within the noise (≤ 20 µV white + ≤ 30 µV wander per record)


# ------------------------------------------------------------------ multi-label option
def test_multilabel_cooccurring_findings():
    cfg = SyntheticConfig(n=900, seed=5, multilabel=True, cooccur_prob=0.5, difficulty="easy")
    b = generate(cfg)
    assert b.labels.shape == (900, 9) and b.labels.dtype == np.uint8
    n_lab = b.labels.sum(1)
    assert n_lab.min() == 1 and n_lab.max() == 2
    assert 0.3 < (n_lab == 2)[b.primary != 0].mean() < 0.7
    norm = b.primary == 0
    assert (b.labels[norm, 0] == 1).all() and (n_lab[norm] == 1).all()
    assert b.labels[~norm, 0].sum() == 0
    for row in b.labels[n_lab == 2]:
        a, c = (CLASS_NAMES[i] for i in np.flatnonzero(row))
        assert c in COMPATIBLE[a] and a in COMPATIBLE[c]
    # masks combine per class: the union is the OR of the per-finding masks
    assert np.array_equal(b.diff_mask, b.finding_diff_mask.any(1))
    assert np.array_equal(b.criteria_mask, b.finding_criteria_mask.any(1))
    # each co-occurring finding still meets its own criterion
    m = measure(b.clean, b.fs, 0.4, b.params["rr"])
    crit = meets_criteria(m)
    for c, name in enumerate(CLASS_NAMES[1:], start=1):
        pos = b.labels[:, c] == 1
        assert crit[name][pos].all(), name
    # a class's own mask: e.g. 1AVB + LBBB, the 1AVB mask sits on the P wave only
    i1, il = CLASS_NAMES.index("1AVB"), CLASS_NAMES.index("LBBB")
    both = (b.labels[:, i1] == 1) & (b.labels[:, il] == 1)
    assert both.any()
    m1 = b.mask_for(i1)[both]
    ml = b.mask_for(il)[both]
    t = b.t
    assert m1.any((1, 2)).all() and not m1[:, :, t > -0.04].any()
    assert ml[:, :, t > -0.04].any((1, 2)).all()
    assert not b.mask_for(i1)[b.labels[:, i1] == 0].any()
    ds = b.to_dataset()
    assert ds.multilabel and ds.labels.shape == (900, 9)


def test_single_label_mask_for(batch):
    c = CLASS_NAMES.index("STEMI")
    m = batch.mask_for(c)
    pos = batch.labels == c
    assert np.array_equal(m[pos], batch.diff_mask[pos]) and not m[~pos].any()
    assert np.array_equal(batch.mask_for(c, "criteria")[pos], batch.criteria_mask[pos])
    with pytest.raises(DataError, match="mask kind"):
        batch.mask_for(c, "nope")


# ------------------------------------------------------------------ optional extra classes
def test_optional_extras_wpw_and_lafb():
    b = generate(n=440, seed=9, extras=("LAFB", "WPW"), difficulty="easy")  # order normalised
    assert b.class_names == CLASS_NAMES + EXTRA_CLASSES == b.config.class_names
    assert np.bincount(b.labels).tolist() == [40] * 11
    m = measure(b.clean, b.fs, 0.4, b.params["rr"])
    crit = meets_criteria(m)
    for c, name in enumerate(b.class_names):
        assert crit[name][b.labels == c].all(), name
    norm = b.labels == 0
    assert not any(crit[k][norm].any() for k in b.class_names[1:])
    wpw = b.labels == b.class_names.index("WPW")
    assert m.pr[wpw].max() < 120 and m.qrs[wpw].min() > 120 and m.upstroke[wpw].min() >= 50
    assert m.upstroke[norm].max() < 45  # a normal QRS has no delta wave
    lafb = b.labels == b.class_names.index("LAFB")
    assert m.axis[lafb].max() <= -45 and m.qrs[lafb].max() < 120
    # the delta wave's difference mask starts before the normal QRS onset
    t = b.t
    assert (b.diff_mask[wpw][:, :, (t > -0.1) & (t < -0.05)]).any((1, 2)).all()
    # only LAFB as extra: it takes index 9
    one = generate(n=20, seed=9, extras=("LAFB",))
    assert one.class_names[-1] == "LAFB" and one.labels.max() == 9
    ds = make_synthetic(n=44, extras=("WPW",))
    assert ds.class_names[-1] == "WPW" and "WPW" in ds.meta["criteria_windows"]
    with pytest.raises(ConfigError, match="unknown extra"):
        SyntheticConfig(extras=("AFIB",))


def test_multilabel_with_extras():
    b = generate(n=440, seed=4, extras=("WPW", "LAFB"), multilabel=True, cooccur_prob=1.0, difficulty="easy")
    lafb = b.class_names.index("LAFB")
    wpw = b.class_names.index("WPW")
    assert b.labels.shape == (440, 11)
    assert b.labels[b.labels[:, wpw] == 1].sum(1).max() == 1  # WPW co-occurs with nothing
    paired = b.labels[(b.primary == lafb)]
    assert (paired.sum(1) == 2).all()
    m = measure(b.clean, b.fs, 0.4, b.params["rr"])
    crit = meets_criteria(m)
    for c, name in enumerate(b.class_names[1:], start=1):
        assert crit[name][b.labels[:, c] == 1].all(), name


# ------------------------------------------------------------------ bad input, benchmark
@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n": 0}, "positive integer"),
        ({"fs": 20.0}, "at least 50"),
        ({"r_offset": 0.2}, "0.40 s before"),
        ({"duration": 0.9}, "0.65 s after"),
        ({"cooccur_prob": 0.3}, "multilabel"),
        ({"multilabel": True, "cooccur_prob": 1.5}, r"\[0, 1\]"),
        ({"split": (0.5, 0.2, 0.2)}, "sum"),
        ({"difficulty": "hard"}, "difficulty"),
        ({"label_noise": 0.9}, "label_noise"),
    ],
)
def test_bad_config(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        SyntheticConfig(**kwargs)


def test_unknown_override():
    with pytest.raises(ConfigError, match="unknown SyntheticConfig field.*valid"):
        make_synthetic(n=9, sampling_rate=250)


def test_measure_rejects_bad_input():
    x = np.zeros((2, 12, 300), np.float32)
    with pytest.raises(DataError, match="outside"):
        measure(x, 250.0, 5.0)
    with pytest.raises(DataError, match="NaN"):
        measure(np.full((2, 12, 300), np.nan), 250.0, 0.4)
    with pytest.raises(DataError, match="RR"):
        measure(x, 250.0, 0.4, rr=-1.0)


def test_benchmark_reports_throughput():
    r = benchmark_generator(n=270, fs=250.0, seed=1)
    assert r["n"] == 270 and r["n_samples"] == 300 and r["masks"] is True
    assert r["beats_per_s"] == pytest.approx(270 / r["seconds"], rel=0.01)
