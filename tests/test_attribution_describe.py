"""The method table mirrors the registry; timings are real calls, one row per repeat."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ecgsignal.attribution import CONTROLS, METHODS, PAPER_METHODS
from ecgsignal.attribution.describe import method_table, time_methods
from ecgsignal.errors import ConfigError, UnknownNameError
from ecgsignal.models import build_model


def test_method_table_reads_the_registry():
    df = method_table()
    assert list(df["method"]) == list(PAPER_METHODS + CONTROLS)
    for _, row in df.iterrows():
        spec = METHODS.get(row["method"])
        assert row["kind"] == spec.kind and row["citation"] == spec.citation
        assert row["multiplies_input"] == spec.multiplies_input
        assert row["lead_resolved"] == spec.lead_resolved
    gc = df.set_index("method").loc["gradcam"]
    assert not gc["lead_resolved"]
    assert df.set_index("method").loc["input_x_gradient", "multiplies_input"]
    assert list(method_table("controls")["method"]) == list(CONTROLS)
    with pytest.raises(UnknownNameError):
        method_table("nope")


def test_time_methods_times_each_repeat():
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = build_model(9).eval()
    x = np.random.default_rng(0).normal(size=(3, 12, 300)).astype(np.float32)
    df = time_methods(model, x, np.array([0, 1, 2]), "saliency,gradcam,random", repeats=2)
    assert list(df["method"]) == ["saliency"] * 2 + ["gradcam"] * 2 + ["random"] * 2
    assert (df["seconds"] > 0).all() and (df["n_beats"] == 3).all()
    np.testing.assert_allclose(df["ms_per_beat"], 1e3 * df["seconds"] / 3)
    with pytest.raises(ConfigError):
        time_methods(model, x, 0, "saliency", repeats=0)
    with pytest.raises(ConfigError):
        time_methods(model, x[0], 0, "saliency")
