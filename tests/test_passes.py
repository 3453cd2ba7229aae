"""The engine's rows per pass: pinned, measured (with a fake clock), cached, and harmless to maps.

No test here depends on real timings: the probe runs with an injected clock, or the measured
curve is replaced by a known one.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch

from ecgsignal.attribution import attribute, available, make_baselines, passes
from ecgsignal.attribution.engine import FORWARD_ROWS, GRAD_ROWS
from ecgsignal.errors import ConfigError
from ecgsignal.models.cnn import build_model

FIXED = {"grad": GRAD_ROWS, "forward": FORWARD_ROWS}


@pytest.fixture()
def fresh(monkeypatch, tmp_path):
    """An empty cache folder and no in-memory choice; the probe unpinned."""
    monkeypatch.setenv("ECGSIGNAL_CACHE", str(tmp_path))
    monkeypatch.setenv(passes.ENV_ROWS, "auto")
    passes.forget()
    yield tmp_path
    passes.forget()


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return build_model(9).eval()


def test_env_pins_rows(monkeypatch, net):
    for raw, want in (("fixed", FIXED), ("64", {"grad": 64, "forward": 64}),
                      ("grad=32, forward=96", {"grad": 32, "forward": 96}),
                      ("forward=16", {"grad": GRAD_ROWS, "forward": 16})):
        monkeypatch.setenv(passes.ENV_ROWS, raw)
        assert passes.pass_rows(net, 12, 300, torch.device("cpu"), FIXED) == want
    for bad in ("lots", "grad=0", "gpu=3", "0"):
        monkeypatch.setenv(passes.ENV_ROWS, bad)
        with pytest.raises(ConfigError, match=passes.ENV_ROWS):
            passes.pass_rows(net, 12, 300, torch.device("cpu"), FIXED)


def test_choose_rows_takes_the_smallest_pass_near_the_cheapest():
    curve = {"grad": {16: 3.0, 64: 1.04, 128: 1.0, 512: 1.5},
             "forward": {16: 2.0, 64: 1.2, 128: 1.0, 512: 0.99}}
    assert passes.choose_rows(curve) == {"grad": 64, "forward": 128}
    assert passes.choose_rows(curve, slack=0.0) == {"grad": 128, "forward": 512}


def test_measure_curve_with_a_fake_clock(net):
    """Each call of the clock advances by one unit: per-row cost = 1 / (passes x rows)."""
    ticks = iter(range(10_000))
    curve = passes.measure_curve(net, 12, 64, torch.device("cpu"), sizes=(8, 32), rows=64,
                                 repeats=2, clock=lambda: float(next(ticks)))
    assert set(curve) == {"grad", "forward"}
    for kind in curve:
        assert curve[kind] == {8: pytest.approx(1 / 64), 32: pytest.approx(1 / 64)}


def test_measured_choice_is_cached_per_machine_and_rewritten_when_corrupt(fresh, net,
                                                                          monkeypatch):
    calls = []

    def fake_curve(model, n_leads, n_samples, device, **kw):
        calls.append((n_leads, n_samples))
        return {"grad": {16: 2.0, 32: 1.0, 64: 1.5}, "forward": {16: 1.0, 32: 2.0, 64: 3.0}}

    monkeypatch.setattr(passes, "measure_curve", fake_curve)
    dev = torch.device("cpu")
    assert passes.pass_rows(net, 12, 300, dev, FIXED) == {"grad": 32, "forward": 16}
    assert passes.pass_rows(net, 12, 300, dev, FIXED) == {"grad": 32, "forward": 16}
    assert len(calls) == 1  # in memory
    path = fresh / "engine" / passes.CACHE_FILE
    saved = json.loads(path.read_text())
    (key,) = saved
    assert key == passes.fingerprint(net, 12, 300, dev) and "threads=" in key
    assert saved[key]["rows"] == {"grad": 32, "forward": 16}
    assert saved[key]["curve_s_per_row"]["grad"]["32"] == 1.0
    passes.forget()
    assert passes.pass_rows(net, 12, 300, dev, FIXED)["grad"] == 32 and len(calls) == 1  # file
    passes.pass_rows(net, 12, 500, dev, FIXED)  # another beat length: another entry
    assert len(calls) == 2 and len(json.loads(path.read_text())) == 2
    passes.forget()
    path.write_text("{not json")
    with pytest.warns(RuntimeWarning, match="unreadable"):
        assert passes.pass_rows(net, 12, 300, dev, FIXED)["grad"] == 32
    assert len(calls) == 3 and key in json.loads(path.read_text())


def test_real_probe_runs_once_and_drives_the_engine(fresh, net, monkeypatch):
    """The real probe (small sizes, to stay quick) picks sizes the engine then uses."""
    monkeypatch.setattr(passes, "PROBE_SIZES", (8, 16))
    monkeypatch.setattr(passes, "PROBE_ROWS", 16)
    real = passes.measure_curve
    monkeypatch.setattr(passes, "measure_curve",
                        lambda *a, **k: real(*a, sizes=(8, 16), rows=16, repeats=1))
    seen = []
    import ecgsignal.attribution.engine as engine

    orig = engine.plan_chunks

    def spy(*args, **kw):
        out = orig(*args, **kw)
        seen.append(args[-1] if len(args) > 8 else kw.get("budget"))
        return out

    monkeypatch.setattr(engine, "plan_chunks", spy)
    x = np.random.default_rng(0).normal(size=(4, 12, 64)).astype(np.float32)
    attribute(net, x, 0, "saliency")
    assert seen and seen[-1] in (8, 16)
    assert (fresh / "engine" / passes.CACHE_FILE).exists()


@pytest.mark.parametrize("method", available(paper=True, controls=True))
def test_pass_size_changes_float_rounding_only(net, monkeypatch, method):
    """Maps with 8-row and 512-row passes (chunks of 8 and 24 beats for one-row methods) agree
    to float32 rounding (atol 1e-5 of the peak); stochastic methods draw the same noise
    whatever the pass size."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(24, 12, 300)).astype(np.float32) * 0.3
    base = make_baselines(rng.normal(size=(8, 12, 300)).astype(np.float32), n=4, seed=0)
    maps = {}
    for rows in ("8", "512"):
        monkeypatch.setenv(passes.ENV_ROWS, rows)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            maps[rows] = attribute(net, x, np.arange(24) % 9, method, seed=5, baselines=base)
    peak = max(float(np.abs(maps["512"]).max()), 1e-12)
    assert np.abs(maps["8"] - maps["512"]).max() <= 1e-5 * peak
