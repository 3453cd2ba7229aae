"""Explorers: lead perturbations, cubes, their browser encoding, and the live ipywidgets versions.

Everything runs on an untrained CNN and random beats, so nothing depends on training; the
expected values are recomputed independently with the public building blocks
(randomized_copy, attribute, predict_proba, spearman_abs, apply_perturbation).
"""

from __future__ import annotations

import base64
import json
import re

import numpy as np
import pytest
import torch

from ecgsignal.attribution import attribute
from ecgsignal.data.leads import LEAD_NAMES
from ecgsignal.errors import CacheError, ConfigError, DataError, UnknownNameError
from ecgsignal.evaluation.randomization import randomized_copy
from ecgsignal.evaluation.similarity import spearman_abs
from ecgsignal.models import predict_proba
from ecgsignal.models.cnn import build_model
from ecgsignal.widgets import (
    PERTURBATIONS,
    PerturbationExplorer,
    RandomizationExplorer,
    apply_perturbation,
    check_cube,
    lead_mask,
    load_cube,
    load_or_build_cube,
    noise_for,
    perturbation_cube,
    perturbation_figure,
    randomization_cube,
    randomization_figure,
    save_cube,
)
from ecgsignal.widgets.static import bin_abs, quantize_maps

CLASSES = [f"c{i}" for i in range(9)]
T = 120
FS = 100.0


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def model():
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return build_model(9).eval()


@pytest.fixture(scope="module")
def beats():
    rng = np.random.default_rng(1)
    return (0.5 * rng.standard_normal((2, 12, T))).astype(np.float32)


@pytest.fixture(scope="module")
def rcube(model, beats):
    return randomization_cube(model, beats, CLASSES, ["saliency", "input_x_gradient"], seed=3,
                              fs=FS)


@pytest.fixture(scope="module")
def pcube(model, beats):
    return perturbation_cube(model, beats, CLASSES, "saliency", fs=FS, seed=5,
                             lead_sets={"V1": ["V1"], "limb": list(LEAD_NAMES[:6]), "all": list(LEAD_NAMES)},
                             kinds=["zero", "noise", "shift"],
                             grids={"zero": [0, 0.5, 1], "noise": [0, 0.1, 0.3], "shift": [0, 0.2, 1]})


def _state_dict_copy(m):
    return {k: v.clone() for k, v in m.state_dict().items()}


# ----------------------------------------------------------------------------- perturbations
@pytest.mark.parametrize("kind", PERTURBATIONS.available())
def test_strength_zero_is_identity(kind, beats):
    out = apply_perturbation(beats, ["I", "V1"], kind, 0.0, seed=1)
    np.testing.assert_array_equal(out, beats)


def test_perturbation_formulas(beats):
    eps = noise_for(beats.shape, 4)
    mask = lead_mask(["ii", "V6"])          # names are case-insensitive
    assert mask.sum() == 2 and mask[1] and mask[11]
    z = apply_perturbation(beats, mask, "zero", 1.0)
    assert np.all(z[:, mask] == 0) and np.array_equal(z[:, ~mask], beats[:, ~mask])
    half = apply_perturbation(beats, mask, "zero", 0.5)
    np.testing.assert_allclose(half[:, mask], 0.5 * beats[:, mask], rtol=1e-6)
    n = apply_perturbation(beats, mask, "noise", 0.2, noise=eps)
    np.testing.assert_allclose(n[:, mask], beats[:, mask] + 0.2 * eps[:, mask], rtol=1e-6)
    s = apply_perturbation(beats, mask, "scale", 1.0)
    np.testing.assert_allclose(s[:, mask], 2 * beats[:, mask], rtol=1e-6)
    b = apply_perturbation(beats[0], mask, "shift", 0.25)      # a single (12, T) beat works too
    np.testing.assert_allclose(b[mask], beats[0][mask] + 0.25, rtol=1e-6)
    np.testing.assert_array_equal(b[~mask], beats[0][~mask])


def test_perturbation_errors(beats):
    with pytest.raises(ConfigError, match="at most 1"):
        apply_perturbation(beats, ["I"], "zero", 1.5)
    with pytest.raises(ConfigError, match=">= 0"):
        apply_perturbation(beats, ["I"], "noise", -0.1)
    with pytest.raises(ConfigError, match="unknown lead"):
        lead_mask(["V7"])
    with pytest.raises(UnknownNameError, match="zero, noise, scale, shift"):
        apply_perturbation(beats, ["I"], "blur", 1.0)
    with pytest.raises(DataError, match=r"\(n, 12, T\)"):
        apply_perturbation(beats[:, :6], ["I"], "zero", 1.0)
    with pytest.raises(DataError, match="noise has shape"):
        apply_perturbation(beats, ["I"], "noise", 0.1, noise=np.zeros((1, 12, T)))


# ----------------------------------------------------------------------------- randomisation cube
def test_randomization_cube_matches_independent_computation(model, beats, rcube):
    before = _state_dict_copy(model)
    n_stages = len(model.randomizable_layers()) + 1
    assert rcube["maps"].shape == (2, n_stages, 2, 12, T)
    assert rcube["similarity"].shape == (2, n_stages, 2) and rcube["probs"].shape == (n_stages, 2, 9)
    assert list(rcube["stages"])[:2] == ["trained", "head"] and str(rcube["kind"]) == "randomization"
    np.testing.assert_allclose(rcube["similarity"][:, 0], 1.0, atol=1e-6)
    np.testing.assert_allclose(rcube["probs"].sum(-1), 1.0, atol=1e-5)
    # stage 3 of input_x_gradient recomputed from the public pieces
    m3 = randomized_copy(model, 3, order="top_down", seed=3).eval()
    expect = attribute(m3, beats, rcube["targets"], "input_x_gradient", seed=3, fs=FS)
    np.testing.assert_allclose(rcube["maps"][1, 3], expect, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(rcube["similarity"][1, 3],
                               spearman_abs(rcube["maps"][1, 0], expect), atol=1e-5)
    np.testing.assert_allclose(rcube["probs"][3], predict_proba(m3, beats), atol=1e-6)
    # the trained model's targets are its own predictions, and the model is left untouched
    np.testing.assert_array_equal(rcube["targets"], predict_proba(model, beats).argmax(1))
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_randomization_cube_input_errors(model, beats):
    with pytest.raises(DataError, match="9 outputs but 3 class names"):
        randomization_cube(model, beats, ["a", "b", "c"], ["saliency"])
    with pytest.raises(ConfigError, match="methods is empty"):
        randomization_cube(model, beats, CLASSES, [])
    with pytest.raises(DataError, match="targets must lie in"):
        randomization_cube(model, beats, CLASSES, ["saliency"], targets=[0, 9])
    with pytest.raises(DataError, match="NaN"):
        bad = beats.copy()
        bad[0, 0, 0] = np.nan
        randomization_cube(model, bad, CLASSES, ["saliency"])


# ----------------------------------------------------------------------------- perturbation cube
def test_perturbation_cube_matches_independent_computation(model, beats, pcube):
    assert pcube["probs"].shape == (2, 3, 3, 3, 9) and pcube["maps"].shape == (2, 3, 3, 3, 12, T)
    assert list(pcube["lead_set_names"]) == ["V1", "limb", "all"]
    np.testing.assert_array_equal(pcube["noise"], noise_for(beats.shape, 5))
    # identity combinations (strength 0) are the unperturbed beat
    for k in range(3):
        np.testing.assert_allclose(pcube["probs"][:, :, k, 0], np.broadcast_to(
            pcube["reference_probs"][:, None], (2, 3, 9)), atol=1e-6)
    # beat 1, lead set "limb", noise at 0.3 mV, recomputed with apply_perturbation
    xp = apply_perturbation(beats[1:2], LEAD_NAMES[:6], "noise", 0.3, noise=pcube["noise"][1:2])
    np.testing.assert_allclose(pcube["probs"][1, 1, 1, 2], predict_proba(model, xp)[0], atol=1e-5)
    expect = attribute(model, xp, pcube["targets"][1:2], "saliency", seed=5, fs=FS)[0]
    np.testing.assert_allclose(pcube["maps"][1, 1, 1, 2], expect, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(pcube["coefficients"][2, 2], [1.0, 1.0, 0.0])   # shift by 1 mV
    # removing every lead changes the prediction of an untrained net too
    assert not np.allclose(pcube["probs"][0, 2, 0, 2], pcube["reference_probs"][0], atol=1e-4)


def test_perturbation_cube_errors(model, beats):
    with pytest.raises(ConfigError, match="same non-zero length"):
        perturbation_cube(model, beats, CLASSES, "saliency", kinds=["zero", "shift"],
                          grids={"zero": [0, 1], "shift": [0, 0.1, 0.2]})
    with pytest.raises(ConfigError, match="unknown lead"):
        perturbation_cube(model, beats, CLASSES, "saliency", lead_sets={"x": ["V9"]})


# ----------------------------------------------------------------------------- storage
def test_cube_roundtrip_and_errors(tmp_path, rcube, pcube):
    for cube in (rcube, pcube):
        path = save_cube(tmp_path / f"{cube['kind']}.npz", cube)
        back = load_cube(path)
        assert set(back) == set(cube)
        for k in cube:
            np.testing.assert_array_equal(back[k], cube[k])
    (tmp_path / "bad.npz").write_bytes(b"not a zip file")
    with pytest.raises(CacheError, match="bad.npz"):
        load_cube(tmp_path / "bad.npz")
    broken = dict(rcube)
    broken["maps"] = broken["maps"][:, :2]
    with pytest.raises(DataError, match="randomization maps have shape"):
        check_cube(broken)
    with pytest.raises(DataError, match="not an explorer cube"):
        check_cube({"kind": np.array("other")})


def test_load_or_build_cube_builds_once(tmp_path, rcube):
    calls = []

    def build():
        calls.append(1)
        return rcube

    path = tmp_path / "c.npz"
    first = load_or_build_cube(path, build)
    second = load_or_build_cube(path, build)
    assert len(calls) == 1
    np.testing.assert_array_equal(first["maps"], second["maps"])
    path.write_bytes(b"corrupt")                 # a corrupt cache is rebuilt, not trusted
    load_or_build_cube(path, build)
    assert len(calls) == 2 and load_cube(path)["maps"].shape == rcube["maps"].shape


# ----------------------------------------------------------------------------- browser encoding
def test_bin_and_quantize():
    a = np.arange(-5, 5, dtype=np.float32).reshape(1, 1, 10) * np.ones((1, 12, 1), np.float32)
    b = bin_abs(a, 4)                           # bins of 4, 4, 2 samples
    np.testing.assert_allclose(b[0, 0], [np.mean([5, 4, 3, 2]), np.mean([1, 0, 1, 2]), np.mean([3, 4])])
    codes, scale = quantize_maps(b, a)
    assert codes.dtype == np.uint8 and codes.max() == 255 and scale[0] == 5
    zero_codes, zero_scale = quantize_maps(np.zeros((1, 12, 3), np.float32), np.zeros((1, 12, 3)))
    assert zero_codes.max() == 0 and zero_scale[0] == 0


def _decode(b64: str, dtype: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(b64), dtype=np.dtype(dtype).newbyteorder("<"))


def test_randomization_figure_encodes_the_cube(rcube):
    ex = randomization_figure(rcube, time_bin=4)
    d = ex.data
    W = int(np.ceil(T / 4))
    assert len(d["tb"]) == W and len(d["t"]) == T
    codes, scale = quantize_maps(bin_abs(rcube["maps"], 4), rcube["maps"])
    np.testing.assert_array_equal(_decode(d["maps"], "u1").reshape(codes.shape), codes)
    np.testing.assert_allclose(d["scale"], scale.ravel(), rtol=1e-5)
    np.testing.assert_array_equal(_decode(d["signals"], "f4").reshape(rcube["signals"].shape),
                                  rcube["signals"])
    np.testing.assert_allclose(d["similarity"], rcube["similarity"].ravel(), atol=1e-4)
    # the figure's initial state is slice (method 0, stage 0, beat 0)
    z = np.asarray(ex.figure.data[0].z)
    np.testing.assert_allclose(z, codes[0, 0, 0] / 255.0)
    assert ex.figure.layout.sliders[0].steps[3].method == "skip"
    assert [b.label for b in ex.figure.layout.updatemenus[0].buttons] == list(rcube["methods"])
    html = ex.to_html(mode="external")
    assert "window.ECGX" in html and "ECGX.randomization(document.getElementById(" in html
    assert "plotly.min.js" not in html and len(re.findall(r"Plotly\.newPlot", html)) == 1


def test_perturbation_figure_encodes_the_cube(pcube):
    ex = perturbation_figure(pcube, initial_lead_set="limb", initial_kind="noise", max_columns=40)
    d = ex.data
    assert d["initial"] == {"lead_set": 1, "kind": 1, "strength": 2}
    np.testing.assert_allclose(d["probs"], pcube["probs"].ravel(), atol=1e-4)
    np.testing.assert_array_equal(_decode(d["noise"], "f4").reshape(pcube["noise"].shape),
                                  pcube["noise"])
    assert d["coefficients"][1][2] == pytest.approx([1.0, 0.0, 0.3])
    assert d["lead_sets"][0] == [int(n == "V1") for n in LEAD_NAMES]
    # the initial perturbed beat drawn by Python uses the same rule as apply_perturbation
    xp = apply_perturbation(pcube["signals"][0], LEAD_NAMES[:6], "noise", 0.3,
                            noise=pcube["noise"][0])
    k = d["line_scale"][0]
    y = np.array([v for v in ex.figure.data[1].y if v is not None], np.float64).reshape(12, T)
    np.testing.assert_allclose(y, np.arange(12)[:, None] - k * xp, atol=1e-4)
    with pytest.raises(ConfigError, match="unknown lead set"):
        perturbation_figure(pcube, initial_lead_set="chest")
    with pytest.raises(ConfigError, match="needs a randomization cube"):
        randomization_figure(pcube)


def test_script_data_cannot_close_the_script_tag(rcube):
    cube = dict(rcube)
    cube["class_names"] = np.array(["</script><b>x"] + CLASSES[1:])
    html = randomization_figure(cube).to_html(mode="external")
    assert "</script><b>x" not in html
    payload = re.search(r"ECGX\.randomization\(document\.getElementById\('[^']+'\), (\{.*\})\);",
                        html, re.S).group(1)
    assert json.loads(payload.replace("<\\/", "</"))["class_names"][0] == "</script><b>x"


# ----------------------------------------------------------------------------- live explorers
def test_live_randomization_explorer(model, beats):
    ex = RandomizationExplorer(model, beats, CLASSES, ["saliency", "input_x_gradient"], seed=3,
                               fs=FS)
    assert ex.state["n_layers"] == 0 and ex.state["similarity"] == pytest.approx(1.0)
    png0 = ex.state["png"]
    assert png0.startswith(b"\x89PNG")
    ex.layers.value = 3                        # observe → update, synchronously
    m3 = randomized_copy(model, 3, order="top_down", seed=3).eval()
    target = predict_proba(model, beats[:1]).argmax(1)
    expect = attribute(m3, beats[:1], target, "saliency", seed=3, fs=FS)
    trained = attribute(model, beats[:1], target, "saliency", seed=3, fs=FS)
    np.testing.assert_allclose(ex.state["map"], expect[0], rtol=1e-4, atol=1e-7)
    assert ex.state["similarity"] == pytest.approx(float(spearman_abs(trained, expect)[0]), abs=1e-5)
    assert ex.state["png"] != png0
    ex.method.value = "input_x_gradient"
    ex.beat.value = 1
    assert ex.state["method"] == "input_x_gradient" and ex.state["beat"] == 1
    assert len(ex.state["similarities"]) == len(model.randomizable_layers()) + 1


def test_live_perturbation_explorer(model, beats):
    ex = PerturbationExplorer(model, beats, CLASSES, "saliency", leads=["V1"], kind="zero",
                              strength=1.0, seed=2, fs=FS)
    assert ex.leads == ["V1"]
    p_v1 = ex.state["probs"].copy()
    ex.lead_buttons[LEAD_NAMES.index("II")].value = True     # toggle lead II on
    assert ex.state["leads"] == ["II", "V1"]
    xp = apply_perturbation(beats[:1], ["II", "V1"], "zero", 1.0)
    np.testing.assert_allclose(ex.state["perturbed"], xp[0])
    np.testing.assert_allclose(ex.state["probs"], predict_proba(model, xp)[0], atol=1e-6)
    assert not np.allclose(ex.state["probs"], p_v1)
    ex.kind.value = "shift"                    # slider range follows the kind
    assert ex.strength.max == pytest.approx(max(PERTURBATIONS.get("shift").grid))
    ex.strength.value = 0.5
    xs = apply_perturbation(beats[:1], ["II", "V1"], "shift", 0.5)
    np.testing.assert_allclose(ex.state["perturbed"], xs[0], atol=1e-6)
    for b in ex.lead_buttons:
        b.value = False
    np.testing.assert_allclose(ex.state["probs"], ex.state["reference_probs"], atol=1e-6)
    with pytest.raises(ConfigError, match="unknown leads"):
        PerturbationExplorer(model, beats, CLASSES, "saliency", leads=["V9"])
