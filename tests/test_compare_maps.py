"""compare_maps: similarity of maps to a shared or per-method reference, with CIs."""

from __future__ import annotations

import numpy as np
import pytest

from ecgsignal.errors import DataError
from ecgsignal.evaluation.compare import compare_maps


def test_identical_maps_score_one_and_sign_flips_depend_on_normalization():
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(8, 12, 30))
    df = compare_maps(ref, {"same": ref.copy(), "flipped": -ref, "noise": rng.normal(size=ref.shape)},
                      measures=["spearman_abs", "pearson"], normalizations=["raw", "abs_max"],
                      n_boot=200, seed=1)
    assert len(df) == 3 * 2 * 2
    v = df.set_index(["method", "measure", "normalization"])["value"]
    assert v["same", "pearson", "raw"] == pytest.approx(1.0)
    assert v["flipped", "pearson", "raw"] == pytest.approx(-1.0)
    # taking |a| first hides the sign flip: the flipped map looks identical
    assert v["flipped", "pearson", "abs_max"] == pytest.approx(1.0)
    assert v["flipped", "spearman_abs", "raw"] == pytest.approx(1.0)
    assert abs(v["noise", "pearson", "raw"]) < 0.2
    row = df[(df["method"] == "noise") & (df["measure"] == "pearson") & (df["normalization"] == "raw")]
    assert (row["ci_low"] < row["value"]).all() and (row["value"] < row["ci_high"]).all()
    assert df.set_index(["method", "measure", "normalization"]).loc[
        ("same", "pearson", "raw"), "flag_above_zero"]
    assert (df["n"] == 8).all()


def test_per_method_reference_and_errors():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(4, 12, 20)), rng.normal(size=(4, 12, 20))
    df = compare_maps({"m": a}, {"m": a}, measures=["pearson"])
    assert df["value"].iloc[0] == pytest.approx(1.0)
    with pytest.raises(DataError, match="no reference"):
        compare_maps({"m": a}, {"k": b})
    with pytest.raises(DataError, match="same"):
        compare_maps(a[:2], {"m": b})
    with pytest.raises(DataError):
        compare_maps(a, {})
