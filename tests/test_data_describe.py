"""Tables describing beats: class criteria, criteria met per class, measurements, Einthoven."""

from __future__ import annotations

import numpy as np
import pytest

from ecgsignal.data.criteria import measure
from ecgsignal.data.describe import (
    CLASS_CRITERIA,
    class_criteria_frame,
    criteria_table,
    limb_lead_residuals,
    measurement_summary,
    wilson_interval,
)
from ecgsignal.data.leads import LEAD_INDEX, LEAD_NAMES
from ecgsignal.data.synthetic import CLASS_NAMES, generate
from ecgsignal.errors import DataError


@pytest.fixture(scope="module")
def batch():
    return generate(n=90, seed=3, difficulty="easy")  # exact fractions: no label noise, no borderline beats


@pytest.fixture(scope="module")
def measured(batch):
    return measure(batch.clean, batch.fs, batch.config.r_offset, batch.params["rr"])


def test_class_criteria_cover_the_nine_classes():
    frame = class_criteria_frame()
    assert tuple(frame.index) == CLASS_NAMES
    assert {"scp", "criterion", "source", "planted", "mask"} <= set(frame.columns)
    assert all(row["criterion"] for row in CLASS_CRITERIA)


def test_wilson_interval_known_values():
    lo, hi = wilson_interval(0, 10)
    assert lo == pytest.approx(0.0, abs=1e-12) and hi == pytest.approx(0.2775, abs=1e-4)
    lo, hi = wilson_interval(5, 10)
    assert lo == pytest.approx(0.2366, abs=1e-4) and hi == pytest.approx(0.7634, abs=1e-4)
    lo, hi = wilson_interval(np.array([10, 3]), np.array([10, 4]))
    assert hi[0] == pytest.approx(1.0) and 0 < lo[1] < 0.75 < hi[1] <= 1
    with pytest.raises(DataError):
        wilson_interval(3, 2)
    with pytest.raises(DataError):
        wilson_interval(1, 2, ci=1.5)


def test_each_class_meets_its_own_criterion(batch, measured):
    df = criteria_table(measured, batch.labels, batch.class_names)
    assert set(df["class"]) == set(CLASS_NAMES)
    own = df[df["class"] == df["criterion"]]
    assert len(own) == 9
    assert (own["fraction"] == 1.0).all()
    assert ((df["ci_low"] <= df["fraction"]) & (df["fraction"] <= df["ci_high"])).all()
    norm = df[df["class"] == "NORM"].set_index("criterion")["fraction"]
    assert norm["NORM"] == 1.0 and norm.drop("NORM").max() == 0.0
    assert (df.groupby("class")["n"].first() == 10).all()


def test_criteria_table_subset_and_errors(batch, measured):
    df = criteria_table(measured, batch.labels, batch.class_names, criteria=["LQT"])
    assert set(df["criterion"]) == {"LQT"}
    assert df.set_index("class").loc["LQT", "fraction"] == 1.0
    with pytest.raises(DataError, match="unknown criteria"):
        criteria_table(measured, batch.labels, batch.class_names, criteria=["NOPE"])
    with pytest.raises(DataError):
        criteria_table(measured, batch.labels[:5], batch.class_names)


def test_measurement_summary_reflects_planted_changes(batch, measured):
    df = measurement_summary(measured, batch.labels, batch.class_names)
    med = df.set_index(["class", "measurement"])["median"]
    assert med["1AVB", "PR (ms)"] > 200 > med["NORM", "PR (ms)"] >= 120
    assert med["LBBB", "QRS (ms)"] >= 120 and med["NORM", "QRS (ms)"] <= 110
    assert med["LQT", "QTcF (ms)"] >= 450 > med["NORM", "QTcF (ms)"]
    assert med["STEMI", "max ST J+60, V1–V4 (mV)"] >= 0.2
    assert (df["q25"] <= df["median"]).all() and (df["median"] <= df["q75"]).all()


def test_limb_leads_follow_einthoven(batch):
    df = limb_lead_residuals(batch.beats, batch.lead_names)
    assert len(df) == 4
    assert df["max_abs_residual_mv"].max() < 1e-5
    bad = batch.beats.copy()
    bad[:, LEAD_INDEX["III"]] += 0.3
    res = limb_lead_residuals(bad, LEAD_NAMES).set_index("law")["max_abs_residual_mv"]
    assert res["III = II − I"] == pytest.approx(0.3, abs=1e-5)
    assert res["aVF = II − I/2"] < 1e-5
    with pytest.raises(DataError, match="limb leads"):
        limb_lead_residuals(batch.beats, ["V1"] * 12)


def test_mask_summary(batch):
    from ecgsignal.data.describe import mask_summary

    df = mask_summary(batch.diff_mask, batch.criteria_mask, batch.labels, batch.class_names)
    s = df.set_index("class")
    assert list(s.index) == list(CLASS_NAMES)
    assert s.loc["NORM", "diff_pct"] == 0 and np.isnan(s.loc["NORM", "diff_in_criteria"])
    assert (s.drop("NORM")["diff_pct"] > 0).all() and (s.drop("NORM")["criteria_pct"] > 0).all()
    assert ((s.drop("NORM")[["diff_in_criteria", "criteria_covered"]] <= 1).all()).all()
    assert s.loc["IMI", "leads_diff"] >= 3
    # a hand-made case: the difference mask half inside the criteria mask
    d = np.zeros((1, 12, 10), bool)
    c = np.zeros((1, 12, 10), bool)
    d[0, 0, :4] = True
    c[0, 0, 2:] = True
    one = mask_summary(d, c, np.array([0]), ["X"]).iloc[0]
    assert one["diff_in_criteria"] == pytest.approx(0.5)
    assert one["criteria_covered"] == pytest.approx(2 / 8)
    assert one["diff_pct"] == pytest.approx(100 * 4 / 120)
    with pytest.raises(DataError):
        mask_summary(d, c[:, :5], np.array([0]), ["X"])
