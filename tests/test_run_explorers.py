"""Chapter explorers: beat choice, cubes cached under a key of what they depend on, explorers."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch

import ecgsignal.widgets as widgets
from ecgsignal.errors import ConfigError, DataError, UnknownNameError
from ecgsignal.evaluation.context import BeatSelection
from ecgsignal.models.cnn import build_model
from ecgsignal.run import explorers as ex

CLASSES = ("NORM", "1AVB", "LBBB", "RBBB", "LVH", "STEMI", "IMI", "TWI", "LQT")
T = 120
FS = 100.0


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _beats(targets):
    rng = np.random.default_rng(1)
    t = np.asarray(targets, np.int64)
    x = (0.5 * rng.standard_normal((t.size, 12, T))).astype(np.float32)
    return BeatSelection(index=np.arange(100, 100 + t.size), x=x, target=t, class_names=CLASSES)


@dataclass
class _Trained:
    key: str
    model: torch.nn.Module


@dataclass
class _Data:
    fs: float = FS


@dataclass
class FakeCtx:
    """The parts of an ExperimentContext the explorers read, with an untrained CNN."""

    beats: BeatSelection
    cache_dir: Path
    key: str = "model-a"
    seed: int = 0
    device: str = "cpu"
    baselines: np.ndarray | None = None
    dataset: _Data = field(default_factory=_Data)

    def __post_init__(self):
        with torch.random.fork_rng():
            torch.manual_seed(0)
            self._model = build_model(len(CLASSES)).eval()

    def trained(self, seed=None):
        return _Trained(self.key, self._model)


def test_explorer_beats_prefers_localised_classes_then_fills():
    # targets: NORM, LBBB, LBBB, IMI, TWI, NORM
    beats = _beats([0, 2, 2, 6, 7, 0])
    np.testing.assert_array_equal(ex.explorer_beats(beats, 3), [1, 3, 4])  # LBBB, IMI, TWI
    np.testing.assert_array_equal(ex.explorer_beats(beats, 5), [1, 3, 4, 0, 2])  # NORM, LBBB #2
    np.testing.assert_array_equal(ex.explorer_beats(beats, 10), [1, 3, 4, 0, 2, 5])
    np.testing.assert_array_equal(ex.explorer_beats(beats, 2, prefer=("NORM",)), [0, 1])
    assert ex.beat_labels(beats, [1, 0]) == ["LBBB (beat 101)", "NORM (beat 100)"]
    with pytest.raises(ConfigError, match="positive integer"):
        ex.explorer_beats(beats, 0)
    with pytest.raises(DataError, match="no explained beats"):
        ex.explorer_beats(_beats([]), 2)


def test_randomization_cube_built_once_and_keyed(tmp_path, monkeypatch):
    ctx = FakeCtx(_beats([0, 2, 6]), tmp_path)
    calls = []
    real = widgets.randomization_cube

    def counted(*a, **k):
        calls.append(k.get("order"))
        return real(*a, **k)

    monkeypatch.setattr(widgets, "randomization_cube", counted)
    cube = ex.randomization_cube_for(ctx, ["saliency"], 2)
    assert len(calls) == 1
    # the beats shown are LBBB then IMI, explained for their own class
    np.testing.assert_array_equal(cube["signals"], ctx.beats.x[[1, 2]])
    np.testing.assert_array_equal(cube["targets"], [2, 6])
    assert list(cube["methods"]) == ["saliency"] and cube["maps"].shape[:3] == (1, 7, 2)
    again = ex.randomization_cube_for(ctx, ["saliency"], 2)
    assert len(calls) == 1  # read back from the cache
    np.testing.assert_array_equal(again["maps"], cube["maps"])
    assert len(list((tmp_path / "cubes").glob("randomization-*.npz"))) == 1
    ctx.key = "model-b"  # another model: another cube, never the stale one
    ex.randomization_cube_for(ctx, ["saliency"], 2)
    assert len(calls) == 2
    ex.randomization_cube_for(ctx, ["saliency"], 2, order="bottom_up")
    assert calls[-1] == "bottom_up" and len(calls) == 3
    with pytest.raises(UnknownNameError, match="valid"):
        ex.randomization_cube_for(ctx, ["nope"], 2)


def test_static_and_live_explorers(tmp_path):
    ctx = FakeCtx(_beats([0, 2, 6]), tmp_path)
    fig = ex.randomization_explorer(ctx, ["saliency"], 2)
    assert fig.kind == "randomization"
    assert fig.data["beat_labels"] == ["LBBB (beat 101)", "IMI (beat 102)"]
    assert "ECGX.randomization" in fig.to_html(mode="external")
    pert = ex.perturbation_explorer(ctx, "saliency", 1)
    assert pert.kind == "perturbation"
    cube = ex.perturbation_cube_for(ctx, "saliency", 1)
    assert str(cube["method"]) == "saliency" and cube["signals"].shape == (1, 12, T)
    assert len(list((tmp_path / "cubes").glob("perturbation-*.npz"))) == 1
    live = ex.live_randomization_explorer(ctx, ["saliency"], 2)
    assert isinstance(live, widgets.RandomizationExplorer)
    assert live.state["method"] == "saliency" and live.state["map"].shape == (12, T)
    # drawn by assignment: exactly one PNG output, the one recorded in the state
    (out,) = live.output.outputs
    assert base64.b64decode(out["data"]["image/png"]) == live.state["png"]
    first = live.state["png"]
    live.layers.value = 3  # moving the slider redraws in place
    assert len(live.output.outputs) == 1 and live.state["png"] != first
    assert base64.b64decode(live.output.outputs[0]["data"]["image/png"]) == live.state["png"]
    lp = ex.live_perturbation_explorer(ctx, "saliency", 1, leads=("V2",))
    assert isinstance(lp, widgets.PerturbationExplorer)
    assert lp.state["leads"] == ["V2"] and lp.state["probs"].shape == (len(CLASSES),)
    assert len(lp.output.outputs) == 1
