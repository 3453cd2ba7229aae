"""The realistic difficulty (the default): the SYNTHETIC_ECG.md invariants that still hold, and
what makes it hard (overlapping populations, noise, co-occurrence, flagged label noise, masks
relative to the noise, a linear baseline that stays well below the CNN)."""

from __future__ import annotations

import numpy as np
import pytest

from ecgsignal.data.criteria import measure, meets_criteria
from ecgsignal.data.leads import LEAD_INDEX
from ecgsignal.data.realism import PRIORITY, difference_weights, noise
from ecgsignal.data.synthetic import CLASS_NAMES, SyntheticConfig, generate, make_synthetic
from ecgsignal.models.baseline import linear_baseline

ABNORMAL = CLASS_NAMES[1:]


@pytest.fixture(scope="module")
def batch():
    return generate(SyntheticConfig(n=1350, seed=11))


@pytest.fixture(scope="module")
def measured(batch):
    m = measure(batch.clean, batch.fs, batch.config.r_offset, batch.params["rr"])
    return m, meets_criteria(m)


def test_default_is_realistic(batch):
    assert SyntheticConfig().difficulty == "realistic"
    assert batch.meta["difficulty"] == "realistic" and batch.config.label_rate == 0.02
    assert batch.beats.shape == (1350, 12, 300) and batch.beats.dtype == np.float32


@pytest.mark.parametrize("which", ["beats", "clean", "counterfactual"])
def test_einthoven_and_goldberger(batch, which):
    x = getattr(batch, which).astype(np.float64)
    i, ii, iii, avr, avl, avf = (x[:, LEAD_INDEX[k]] for k in ("I", "II", "III", "aVR", "aVL", "aVF"))
    assert np.abs(iii - (ii - i)).max() < 1e-5
    assert np.abs(avr + (i + ii) / 2).max() < 1e-5
    assert np.abs(avl - (i - ii / 2)).max() < 1e-5
    assert np.abs(avf - (ii - i / 2)).max() < 1e-5


def test_same_seed_identical_different_seed_different():
    a, b, c = generate(n=45, seed=3), generate(n=45, seed=3), generate(n=45, seed=4)
    for name in ("beats", "counterfactual", "diff_mask", "labels", "label_flipped"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert not np.allclose(a.beats, c.beats)


def test_noise_is_emg_like_and_in_range(batch):
    sd = batch.params["noise_uv"]
    assert sd.min() >= 10 and sd.max() <= 50 and np.ptp(sd) > 30
    resid = (batch.beats - batch.clean)[:, [0, 1, 6, 7, 8, 9, 10, 11]]
    assert np.abs(resid).max() < 0.5
    # the broadband part carries most of its power above 15 Hz (muscle band), unlike wander
    spec = np.abs(np.fft.rfft(resid - resid.mean(-1, keepdims=True), axis=-1)) ** 2
    f = np.fft.rfftfreq(300, 1 / 250)
    assert spec[..., f > 15].sum() > spec[..., (f > 2) & (f < 15)].sum()


@pytest.mark.parametrize("fs, mains, alias", [(250.0, 50.0, 50.0), (250.0, 60.0, 60.0), (100.0, 60.0, 40.0)])
def test_powerline_folds_to_its_alias(fs, mains, alias):
    t = (np.arange(int(fs * 1.2)) / fs - 0.4).astype(np.float32)
    rng = np.random.default_rng(0)
    w, _ = noise(400, t, fs, rng)
    assert w.shape == (400, 8, t.size) and w.dtype == np.float32
    assert abs(mains - fs * np.round(mains / fs)) == alias


def test_every_class_meets_its_criterion_and_norm_none(batch, measured):
    m, crit = measured
    for c, name in enumerate(CLASS_NAMES):
        pos = batch.primary == c  # the planted class (labels include the flagged label noise)
        need = 0.85 if name == "IMI" else 0.98
        assert crit[name][pos].mean() >= need, name
    norm = batch.primary == 0
    for name in ABNORMAL:
        assert not crit[name][norm].any(), f"a NORM beat meets the {name} criterion"


def test_populations_meet_at_the_threshold(batch, measured):
    """Borderline beats on both sides of each clinical threshold (not the easy gaps)."""
    m, _ = measured
    of = {name: batch.primary == c for c, name in enumerate(CLASS_NAMES)}
    norm = of["NORM"]
    assert m.pr[norm].max() > 185 and np.percentile(m.pr[of["1AVB"]], 10) < 225
    assert m.qtcf[norm].max() > 435 and np.percentile(m.qtcf[of["LQT"]], 10) < 470
    assert m.sokolow[norm].max() > 2.6 and np.percentile(m.sokolow[of["LVH"]], 10) < 4.0
    v23 = [LEAD_INDEX["V2"], LEAD_INDEX["V3"]]
    assert np.percentile(m.st_j60[of["STEMI"]][:, v23].min(1), 10) < 0.3
    assert m.st_j60[norm][:, v23].max() > 0.05  # early repolarisation in normals


def test_cooccurring_findings_follow_the_label_rule(batch):
    sec = batch.findings[:, 1]
    has2 = sec >= 0
    assert 0.08 < has2[batch.primary != 0].mean() < 0.25 and not has2[batch.primary == 0].any()
    for p, s in zip(batch.primary[has2], sec[has2]):
        assert PRIORITY.index(CLASS_NAMES[p]) < PRIORITY.index(CLASS_NAMES[s])  # label = higher priority
    # the dataset's mask is the labelled finding's alone; mask_for gives each finding's
    assert np.array_equal(batch.diff_mask, batch.finding_diff_mask[:, 0])
    i1 = CLASS_NAMES.index("1AVB")
    with1 = has2 & (sec == i1)
    if with1.any():
        m1 = batch.mask_for(i1)[with1]
        assert m1[:, :, batch.t > -0.04].sum() == 0 and m1.any((1, 2)).all()


def test_label_noise_is_flagged(batch):
    fl = batch.label_flipped
    assert fl.dtype == bool and 0.005 < fl.mean() < 0.04
    assert np.array_equal(batch.labels != batch.primary, fl)
    ds = batch.to_dataset()
    assert np.array_equal(ds.label_flipped, fl)
    assert np.array_equal(ds.subset(np.arange(10)).label_flipped, fl[:10])
    assert batch.meta["n_label_flipped"] == int(fl.sum())
    assert not generate(n=90, seed=1, label_noise=0.0).label_flipped.any()


def test_masks_are_relative_to_the_noise(batch):
    single = batch.findings[:, 1] < 0
    thr = batch.params["mask_threshold_mv"]
    assert np.allclose(thr[single], np.maximum(batch.params["noise_uv"][single] / 1e3, 0.005))
    w = difference_weights(batch.clean[single], batch.counterfactual[single], batch.params["noise_uv"][single])
    assert np.array_equal(w > 0, batch.diff_mask[single])
    assert not batch.diff_mask[batch.primary == 0].any()
    # the binary mask holds nearly all of the change (sub-noise differences are all that is left)
    pos = single & (batch.primary > 0)
    d = np.abs(batch.clean[pos] - batch.counterfactual[pos])
    assert (d * batch.diff_mask[pos]).sum() / d.sum() > 0.9


def test_lead_local_evidence(batch):
    t = batch.t

    def share(name, leads):
        pos = (batch.primary == CLASS_NAMES.index(name)) & (batch.findings[:, 1] < 0)
        d = np.abs(batch.clean[pos] - batch.counterfactual[pos])
        return d[:, [LEAD_INDEX[k] for k in leads]].sum() / d.sum()

    assert share("STEMI", ("V1", "V2", "V3", "V4")) > 0.999
    # inferior Q: II, III, aVF (and their reciprocals aVR, aVL, derived from I and II); lead I ≈ 0
    assert share("IMI", ("II", "III", "aVF")) > 0.6 and share("IMI", ("I",)) < 0.08
    assert share("RBBB", ("V1", "V2")) > 0.2
    assert t.shape == (300,)


def test_ridge_on_raw_samples_stays_below_090():
    easy = linear_baseline(make_synthetic(n=900, seed=0, difficulty="easy"))
    real = linear_baseline(make_synthetic(n=900, seed=0))
    assert real["accuracy"] <= 0.90 and easy["accuracy"] > real["accuracy"] + 0.1
    assert real["n"] == 900 and len(real["fold_accuracy"]) == 3


def test_calibration_check_band_and_errors():
    import pandas as pd

    from ecgsignal.errors import DataError
    from ecgsignal.models.calibration import calibration_check

    au = pd.DataFrame({"seed": [0, 0, 1, 1], "class": ["A", "B", "A", "B"],
                       "auroc": [0.97, 0.99, 0.98, 1.0]})
    cal = calibration_check(au)
    assert cal["in_band"] == {"A": True, "B": True} and cal["cells_in_band"] == 0.75
    assert cal["macro_mean"] == pytest.approx(0.985) and cal["calibrated"]
    assert not calibration_check(au.assign(auroc=1.0))["calibrated"]  # saturated: not the paper's regime
    with pytest.raises(DataError, match="lacks"):
        calibration_check(au.drop(columns="seed"))


def test_borderline_table_shows_the_populations_meet(batch, measured):
    from ecgsignal.data.realism import borderline_table

    m, _ = measured
    tab = borderline_table(m, batch.primary, batch.class_names).set_index(["quantity", "class"])
    pr = tab.loc[("PR (ms)", "1AVB")]
    assert pr["NORM max"] < pr["threshold"] <= pr["class min"] and pr["class min"] - pr["NORM max"] < 25
    assert len(tab) == 8


def test_cli_data_synth_writes_realistic_beats_with_flags(tmp_path, capsys):
    from ecgsignal.run.cli import main

    out = tmp_path / "beats.npz"
    assert main(["data", "synth", "--n", "90", "--seed", "2", "--out", str(out)]) == 0
    easy = tmp_path / "easy.npz"
    assert main(["data", "synth", "--n", "90", "--seed", "2", "--difficulty", "easy", "--out", str(easy)]) == 0
    with np.load(out) as z, np.load(easy) as e:
        assert z["label_flipped"].dtype == bool and z["X"].shape == (90, 12, 300)
        assert not e["label_flipped"].any()
        ref = make_synthetic(n=90, seed=2)
        assert np.array_equal(z["X"], ref.signals) and not np.array_equal(z["X"], e["X"])


def test_500_hz_resampled_equals_250_hz_and_masks_agree():
    from scipy.signal import resample_poly

    cfg = SyntheticConfig(n=90, seed=21, noise=False)
    a, b = generate(cfg), generate(cfg, fs=500.0)
    down = resample_poly(b.beats, 1, 2, axis=-1)
    assert np.abs(down - a.beats)[..., 10:-10].max() < 0.02
    assert np.array_equal(a.labels, b.labels) and np.array_equal(a.label_flipped, b.label_flipped)
    # noise=False leaves the noise-relative masks as they are with noise
    noisy = generate(cfg, noise=True)
    assert np.array_equal(noisy.diff_mask, a.diff_mask) and np.array_equal(noisy.clean, a.clean)


def test_profiles_default_to_realistic_and_check_the_name():
    from ecgsignal.errors import ConfigError
    from ecgsignal.run.profiles import load_profile

    assert all(load_profile(n).difficulty == "realistic" for n in ("smoke", "book", "full"))
    assert load_profile("smoke", difficulty="easy").difficulty == "easy"
    with pytest.raises(ConfigError, match="unknown difficulty 'hard'; valid: realistic, easy"):
        load_profile("smoke", difficulty="hard")
