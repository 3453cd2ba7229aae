"""Lead shares of attribution maps: sum to one, Grad-CAM-like broadcast maps give 1/12 each."""

from __future__ import annotations

import numpy as np
import pytest

from ecgsignal.errors import DataError
from ecgsignal.evaluation.lead_shares import lead_share_table, lead_shares


def test_shares_sum_to_one_and_locate_weight():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(5, 12, 40))
    s = lead_shares(a)
    assert s.shape == (5, 12)
    np.testing.assert_allclose(s.sum(1), 1.0)
    one = np.zeros((1, 12, 40))
    one[0, 7, 3] = -2.0
    np.testing.assert_array_equal(lead_shares(one)[0], np.eye(12)[7])
    broadcast = np.repeat(rng.normal(size=(3, 1, 40)), 12, axis=1)
    np.testing.assert_allclose(lead_shares(broadcast), 1 / 12)
    assert np.isnan(lead_shares(np.zeros((1, 12, 40)))).all()
    with pytest.raises(DataError):
        lead_shares(np.zeros((12, 40)))


def test_lead_share_table_has_cis():
    rng = np.random.default_rng(1)
    maps = {"noise": rng.normal(size=(20, 12, 30)),
            "flat": np.repeat(rng.normal(size=(20, 1, 30)), 12, axis=1)}
    df = lead_share_table(maps, n_boot=200, seed=0)
    assert len(df) == 24 and set(df["method"]) == {"noise", "flat"}
    flat = df[df["method"] == "flat"]
    np.testing.assert_allclose(flat[["value", "ci_low", "ci_high"]].to_numpy(), 1 / 12)
    noise = df[df["method"] == "noise"]
    assert ((noise["ci_low"] <= noise["value"]) & (noise["value"] <= noise["ci_high"])).all()
    assert (noise["ci_high"] > noise["ci_low"]).all()
    assert (df["n"] == 20).all()
    with pytest.raises(DataError):
        lead_share_table({})
    with pytest.raises(DataError, match="lead names"):
        lead_share_table({"x": rng.normal(size=(2, 3, 10))})
