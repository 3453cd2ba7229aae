"""The attribution registry and engine: contracts for everything registered, known answers.

Known answers (linear model ``f(x) = W·vec(x) + b``): Saliency = the target's weight row,
Input×Gradient = IG = DeepLIFT = LRP = x·w, Occlusion = window sums of x·w, SHAP variants =
w·(x − baseline). On the CNN: IG and DeepLIFT completeness, Captum's LRP-ε (the extra
``lrp_epsilon_captum``) = Input×Gradient for ReLU networks (Ancona et al. 2018), Grad-CAM by hand.
zennit's LRP (the paper's ``lrp``) has its own tests in test_lrp.py.
"""

from __future__ import annotations

import random as pyrandom

import numpy as np
import pytest
import torch
from torch import nn

from ecgsignal.attribution import (
    CONTROLS,
    EXTRAS,
    METHODS,
    PAPER_METHODS,
    MethodSpec,
    attribute,
    available,
    make_baselines,
    plan_chunks,
    register_method,
    resolve_methods,
)
from ecgsignal.attribution.guard import _HOOK_DICTS
from ecgsignal.errors import ConfigError, DataError, UnknownNameError
from ecgsignal.models.cnn import build_model

T = 300
FS = 250.0
N_CLASSES = 9


# --------------------------------------------------------------------------- fixtures / helpers
def _beats(n: int, t: int = T, seed: int = 0) -> np.ndarray:
    """Smooth random 'beats' (mV): low-pass noise, so gradients see ECG-like inputs."""
    rng = np.random.default_rng(seed)
    raw = rng.standard_normal((n, 12, t + 20))
    kernel = np.hanning(21) / np.hanning(21).sum()
    smooth = np.apply_along_axis(lambda r: np.convolve(r, kernel, mode="valid"), -1, raw)
    return (3.0 * smooth[..., :t]).astype(np.float32)


def _cnn(seed: int = 0, random_bn: bool = False) -> nn.Module:
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = build_model(N_CLASSES)
    if random_bn:  # non-trivial BatchNorm statistics: biases, so the net is not homogeneous
        g = torch.Generator().manual_seed(seed + 1)
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, nn.BatchNorm1d):
                    k = m.num_features
                    m.running_mean.copy_(0.2 * torch.randn(k, generator=g))
                    m.running_var.copy_(0.5 + torch.rand(k, generator=g))
                    m.weight.copy_(0.5 + torch.rand(k, generator=g))
                    m.bias.copy_(0.2 * torch.randn(k, generator=g))
    return model.eval()


class LinearNet(nn.Module):
    """``f(x) = W·vec(x) + b`` on ``(n, 12, t)``: every attribution method's answer is known."""

    def __init__(self, t: int, n_classes: int = 3, seed: int = 0) -> None:
        super().__init__()
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(12 * t, n_classes)
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            self.fc.weight.copy_(torch.randn(n_classes, 12 * t, generator=g))
            self.fc.bias.copy_(torch.randn(n_classes, generator=g))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.flatten(x))

    def w(self, target: np.ndarray) -> np.ndarray:
        """``(n, 12, t)`` weight maps of the targets."""
        t = self.fc.in_features // 12
        return self.fc.weight.detach().numpy()[target].reshape(len(target), 12, t)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One intra-op thread: these tiny batches run 5-10x slower when 2 threads compete with
    other processes on the 2-core CI box; results do not depend on it."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def cnn() -> nn.Module:
    return _cnn(0)


@pytest.fixture(scope="module")
def beats() -> np.ndarray:
    return _beats(3)


@pytest.fixture(scope="module")
def baselines() -> np.ndarray:
    return make_baselines(_beats(12, seed=1), n=4, seed=0)


def _snapshot(model: nn.Module) -> dict:
    return {
        "state": {k: v.detach().clone() for k, v in model.state_dict().items()},
        "attrs": [sorted(vars(m)) for m in model.modules()],
        "hooks": [sum(len(getattr(m, k)) for k in _HOOK_DICTS if hasattr(m, k))
                  for m in model.modules()],
        "training": [m.training for m in model.modules()],
        "requires_grad": [p.requires_grad for p in model.parameters()],
        "full_bw": [m._is_full_backward_hook for m in model.modules()],
    }


def _assert_unchanged(model: nn.Module, before: dict) -> None:
    after = _snapshot(model)
    assert before["state"].keys() == after["state"].keys()
    for k in before["state"]:
        assert torch.equal(before["state"][k], after["state"][k]), k
    for key in ("attrs", "hooks", "training", "requires_grad", "full_bw"):
        assert before[key] == after[key], key
    assert not any(hasattr(m, "rule") or hasattr(m, "activations") for m in model.modules())


_RUNS: dict[str, dict] = {}
FAST = {"lime": {"n_samples": 40}, "kernel_shap": {"n_samples": 40}}  # defaults: 400 (slow)


def _runs(name: str, cnn: nn.Module, beats: np.ndarray, baselines: np.ndarray) -> dict:
    """Maps of ``name`` on the shared CNN (computed once per test session), checking on the
    way that the model and the global RNGs come out untouched."""
    if name not in _RUNS:
        cnn.train()  # the engine must run in eval mode and restore train mode afterwards
        before = _snapshot(cnn)
        rng_torch = torch.get_rng_state()
        rng_np = np.random.get_state()  # noqa: NPY002  (checking the legacy global is untouched)
        rng_py = pyrandom.getstate()
        kw = dict(baselines=baselines, fs=FS, **FAST.get(name, {}))
        a = attribute(cnn, beats, 1, name, seed=3, **kw)
        b = attribute(cnn, beats, np.array([1, 1, 1]), name, seed=3, **kw)
        c = attribute(cnn, beats, 2, name, seed=3, **kw)
        other_seed = attribute(cnn, beats, 1, name, seed=4, **kw)
        unchanged_error = None
        try:
            _assert_unchanged(cnn, before)
            assert torch.equal(torch.get_rng_state(), rng_torch), "torch global RNG changed"
            np_after = np.random.get_state()  # noqa: NPY002
            assert all(np.array_equal(u, v) for u, v in zip(rng_np, np_after)), "numpy RNG"
            assert pyrandom.getstate() == rng_py, "python RNG changed"
        except AssertionError as exc:
            unchanged_error = exc
        cnn.eval()
        _RUNS[name] = dict(a=a, b=b, c=c, other_seed=other_seed, unchanged=unchanged_error)
    return _RUNS[name]


# counterfactual explanations have their own contract tests (tests/test_beyond.py): one needs
# the synthetic dataset's config, and neither depends on the target
ALL = [n for n in METHODS.available() if METHODS.get(n).kind != "counterfactual"]


# --------------------------------------------------------------------------- registry
def test_groups_and_names():
    assert len(PAPER_METHODS) == 12 and len(set(PAPER_METHODS)) == 12
    assert CONTROLS == ("random", "input", "edge", "input_noise")
    for name in PAPER_METHODS + CONTROLS + EXTRAS:
        assert name in METHODS
    assert [n for n in ALL if METHODS.get(n).paper] == sorted(
        PAPER_METHODS, key=ALL.index)
    assert {METHODS.get(n).kind for n in CONTROLS} == {"control"}
    assert not any(METHODS.get(n).paper for n in CONTROLS + EXTRAS)
    assert available() == list(PAPER_METHODS) + list(CONTROLS)
    assert available(paper=False, controls=False, extras=True) == list(EXTRAS)
    assert available(True, True, True) == list(PAPER_METHODS + CONTROLS + EXTRAS)
    assert available(paper=True, controls=False) == list(PAPER_METHODS)


def test_spec_metadata():
    specs = {n: METHODS.get(n) for n in ALL}
    assert [n for n, s in specs.items() if not s.lead_resolved] == ["gradcam"]
    assert {n for n, s in specs.items() if s.multiplies_input} == {
        "input_x_gradient", "integrated_gradients", "deeplift", "deeplift_shap",
        "gradient_shap", "lrp", "lrp_epsilon_captum", "input", "input_noise"}
    assert {n for n, s in specs.items() if s.stochastic} == {
        "smoothgrad", "gradient_shap", "random", "input_noise", "lime", "kernel_shap", "vargrad"}
    assert {n for n, s in specs.items() if s.needs_baselines} == {"deeplift_shap",
                                                                   "gradient_shap"}
    assert {n for n, s in specs.items() if not s.target_dependent} == set(CONTROLS)
    assert all(s.citation and s.description and s.fn is not None for s in specs.values())
    assert specs["integrated_gradients"].options() == {"n_steps": 50,
                                                        "quadrature": "gausslegendre"}
    assert specs["smoothgrad"].options() == {"n_samples": 25, "sigma_frac": 0.1}
    assert specs["gradient_shap"].options() == {"n_samples": 25}
    assert specs["occlusion"].options() == {"window_ms": 40.0}
    with pytest.raises(ConfigError, match="kind"):
        MethodSpec("x", "magic", False, False, False, True, "c", "d")


def test_duplicate_registration_refused():
    spec = MethodSpec("saliency", "gradient", False, False, False, True, "c", "d")
    with pytest.raises(ConfigError, match="already registered"):
        register_method(spec)(lambda ctx, x, target: x)


def test_resolve_methods():
    assert resolve_methods("all") == available()
    assert resolve_methods("saliency, lrp,saliency") == ["saliency", "lrp"]
    assert resolve_methods(["occlusion", "random,edge"]) == ["occlusion", "random", "edge"]
    assert resolve_methods("extras") == list(EXTRAS)
    assert resolve_methods("controls,paper") == list(CONTROLS + PAPER_METHODS)
    with pytest.raises(UnknownNameError, match="valid: saliency, input_x_gradient"):
        resolve_methods("saliency,shapley")
    with pytest.raises(ConfigError):
        resolve_methods(" , ")
    with pytest.raises(ConfigError):
        resolve_methods(["saliency", 3])  # type: ignore[list-item]


# --------------------------------------------------------------------------- every method
@pytest.mark.parametrize("name", ALL)
def test_contract_shape_dtype_finite(name, cnn, beats, baselines):
    a = _runs(name, cnn, beats, baselines)["a"]
    assert isinstance(a, np.ndarray)
    assert a.shape == beats.shape and a.dtype == np.float32
    assert np.isfinite(a).all()
    assert np.abs(a).max() > 0


@pytest.mark.parametrize("name", ALL)
def test_deterministic_with_seed(name, cnn, beats, baselines):
    r = _runs(name, cnn, beats, baselines)
    assert np.array_equal(r["a"], r["b"])  # same seed (int vs per-beat target): bit-identical
    if METHODS.get(name).stochastic:
        assert not np.array_equal(r["a"], r["other_seed"])
    else:
        assert np.array_equal(r["a"], r["other_seed"])


@pytest.mark.parametrize("name", ALL)
def test_target_dependence_follows_spec(name, cnn, beats, baselines):
    r = _runs(name, cnn, beats, baselines)
    if METHODS.get(name).target_dependent:
        for i in range(len(beats)):
            assert not np.allclose(r["a"][i], r["c"][i])
    else:
        assert np.array_equal(r["a"], r["c"])


@pytest.mark.parametrize("name", ALL)
def test_model_and_global_rng_unchanged(name, cnn, beats, baselines):
    r = _runs(name, cnn, beats, baselines)
    if r["unchanged"] is not None:
        raise r["unchanged"]


@pytest.mark.parametrize("name", ["smoothgrad", "gradient_shap", "random", "input_noise", "lime"])
def test_stochastic_maps_do_not_depend_on_chunking(name, cnn, beats, baselines):
    kw = dict(baselines=baselines, seed=5)
    if name == "lime":
        kw["n_samples"] = 40
    whole = attribute(cnn, beats, 0, name, **kw)
    per_beat = attribute(cnn, beats, 0, name, chunk_size=1, **kw)
    last_alone = attribute(cnn, beats, 0, name, chunk_size=2, **kw)
    np.testing.assert_allclose(per_beat, whole, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(last_alone, whole, rtol=1e-4, atol=1e-7)


# --------------------------------------------------------------------------- linear known answers
@pytest.fixture(scope="module")
def linear():
    t = 16
    net = LinearNet(t).eval()
    x = _beats(4, t=t, seed=2)
    target = np.array([0, 1, 2, 1])
    return net, x, target, net.w(target)


@pytest.mark.parametrize("name", ["saliency", "smoothgrad", "guided_backprop", "deconvolution"])
def test_linear_gradient_methods_equal_weights(name, linear):
    net, x, target, w = linear
    a = attribute(net, x, target, name)
    np.testing.assert_allclose(a, w, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["input_x_gradient", "integrated_gradients", "deeplift", "lrp",
                                  "lrp_epsilon_captum"])
def test_linear_input_multiplying_methods_equal_x_times_w(name, linear):
    net, x, target, w = linear
    a = attribute(net, x, target, name)
    np.testing.assert_allclose(a, x * w, rtol=1e-4, atol=1e-5)


def test_linear_ig_exact_for_any_quadrature(linear):
    net, x, target, w = linear
    for q, steps in [("riemann_middle", 7), ("gausslegendre", 3)]:
        a = attribute(net, x, target, "integrated_gradients", quadrature=q, n_steps=steps)
        np.testing.assert_allclose(a, x * w, rtol=1e-4, atol=1e-5)


def test_linear_vargrad_is_zero(linear):
    net, x, target, _ = linear
    assert np.abs(attribute(net, x, target, "vargrad")).max() < 1e-9


def test_linear_shap_methods_use_the_baselines(linear):
    net, x, target, w = linear
    base = _beats(5, t=x.shape[2], seed=7)
    dls = attribute(net, x, target, "deeplift_shap", baselines=base)
    np.testing.assert_allclose(dls, w * (x - base.mean(0)), rtol=1e-4, atol=1e-5)
    one = base[:1]
    gs = attribute(net, x, target, "gradient_shap", baselines=one)
    np.testing.assert_allclose(gs, w * (x - one), rtol=1e-4, atol=1e-5)
    zero = np.zeros_like(base)
    np.testing.assert_allclose(attribute(net, x, target, "gradient_shap", baselines=zero),
                               x * w, rtol=1e-4, atol=1e-5)


def _window_sums(v: np.ndarray, window: int) -> np.ndarray:
    out = np.empty_like(v)
    for s in range(0, v.shape[-1], window):
        out[..., s:s + window] = v[..., s:s + window].sum(-1, keepdims=True)
    return out


def test_linear_occlusion_is_window_sums(linear):
    net, x, target, w = linear
    a = attribute(net, x, target, "occlusion", fs=FS)  # 40 ms at 250 Hz = 10 samples
    np.testing.assert_allclose(a, _window_sums(x * w, 10), rtol=1e-4, atol=1e-4)
    a500 = attribute(net, x, target, "occlusion", fs=125.0)  # 5 samples
    np.testing.assert_allclose(a500, _window_sums(x * w, 5), rtol=1e-4, atol=1e-4)


def test_linear_feature_ablation_is_lead_sums(linear):
    net, x, target, w = linear
    a = attribute(net, x, target, "feature_ablation")
    expected = np.broadcast_to((x * w).sum(-1, keepdims=True), x.shape)
    np.testing.assert_allclose(a, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", ["kernel_shap", "lime"])
def test_linear_surrogates_recover_window_sums(name, linear):
    net, x, target, w = linear  # 24 patch features; exact for a linear model
    opts = {"n_samples": 120} | ({"ridge": 1e-9} if name == "lime" else {})
    a = attribute(net, x[:2], target[:2], name, fs=FS, **opts)
    np.testing.assert_allclose(a, _window_sums((x * w)[:2], 10), rtol=1e-3, atol=1e-3)


def test_controls(linear):
    net, x, target, _ = linear
    np.testing.assert_array_equal(attribute(net, x, target, "input"), np.abs(x))
    edge = attribute(net, x, target, "edge", fs=500.0)
    np.testing.assert_allclose(edge, np.abs(np.gradient(x, 1 / 500.0, axis=-1)), rtol=1e-5,
                               atol=1e-4)
    r1 = attribute(net, x, target, "random", seed=1)
    r2 = attribute(LinearNet(x.shape[2], seed=9), 2 * x, 0, "random", seed=1)
    np.testing.assert_array_equal(r1, r2)  # independent of model, input and target
    big = attribute(net, np.zeros((64, 12, 16), np.float32), 0, "random")
    assert abs(big.mean()) < 0.02 and abs(big.std() - 1) < 0.02
    # input_noise = x ⊙ standard normal noise, seeded, the same whatever the model
    n1 = attribute(net, x, target, "input_noise", seed=1)
    ratio = (n1 / np.where(x == 0, 1, x))[x != 0]
    assert abs(ratio.mean()) < 0.2 and abs(ratio.std() - 1) < 0.2
    np.testing.assert_array_equal(
        n1, attribute(LinearNet(x.shape[2], seed=9), x, 0, "input_noise", seed=1))
    n2 = attribute(net, x, target, "input_noise", seed=2)
    assert not np.allclose(n1, n2)  # fresh noise with another seed
    assert np.all(n1[x == 0] == 0)  # zero where the input is zero


def test_gradcam_needs_a_layer(linear):
    net, x, target, _ = linear
    with pytest.raises(ConfigError, match="last_conv"):
        attribute(net, x, target, "gradcam")
    with pytest.raises(ConfigError, match="no layer"):
        attribute(net, x, target, "gradcam", layer="conv9")


# --------------------------------------------------------------------------- CNN known answers
def test_ig_and_deeplift_completeness_on_cnn():
    model = _cnn(1, random_bn=True)
    x = _beats(8, seed=3)
    target = np.arange(8) % N_CLASSES
    with torch.no_grad():
        delta = (model(torch.from_numpy(x))[np.arange(8), target]
                 - model(torch.zeros(1, 12, T))[0, target]).numpy()
    ig = attribute(model, x, target, "integrated_gradients").sum((1, 2))
    assert np.abs(ig - delta).sum() / np.abs(delta).sum() < 0.01
    assert np.median(np.abs(ig - delta) / np.abs(delta)) < 0.01
    dl = attribute(model, x, target, "deeplift").sum((1, 2))
    np.testing.assert_allclose(dl, delta, rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("random_bn", [False, True])
def test_lrp_epsilon_captum_is_input_x_gradient(random_bn):
    # Ancona et al. 2018: LRP-ε with ε → 0 equals Gradient × Input in ReLU networks, with or
    # without biases (random_bn). This pins the identity stated in the spec of the extra
    # `lrp_epsilon_captum`, and the explicit rules (Conv1d, BatchNorm1d, pooling, the residual
    # Add, the identity skip): the identity rule on the skip would break it.
    model = _cnn(2, random_bn=random_bn)
    x = _beats(3, seed=4)
    lrp = attribute(model, x, 4, "lrp_epsilon_captum")
    ixg = attribute(model, x, 4, "input_x_gradient")
    assert np.abs(lrp - ixg).max() < 1e-4 * np.abs(ixg).max()
    assert "Input×Gradient" in METHODS.get("lrp_epsilon_captum").description
    stable = attribute(model, x, 4, "lrp_epsilon_captum", epsilon=1.0)  # a large ε absorbs
    assert np.isfinite(stable).all() and np.abs(stable).sum() < np.abs(lrp).sum()


def test_lrp_refuses_unknown_layers_and_keeps_user_rules():
    from captum.attr._utils.lrp_rules import EpsilonRule

    model = nn.Sequential(nn.Flatten(), nn.Linear(12 * 16, 8), nn.GELU(), nn.Linear(8, 2))
    before = _snapshot(model)
    with pytest.raises(ConfigError, match="GELU"):
        attribute(model, _beats(2, t=16), 0, "lrp_epsilon_captum")
    _assert_unchanged(model, before)
    model[2] = nn.ReLU()
    mine = EpsilonRule(epsilon=0.5)
    model[3].rule = mine
    attribute(model, _beats(2, t=16), 0, "lrp_epsilon_captum")
    assert model[3].rule is mine and not hasattr(model[1], "rule")


def test_gradcam_by_hand_and_broadcast_over_leads(cnn, beats):
    x = torch.from_numpy(beats)
    store = {}
    handle = cnn.last_conv.register_forward_hook(lambda m, i, o: store.update(a=o))
    try:
        out = cnn(x)
    finally:
        handle.remove()
    act = store["a"]
    (grad,) = torch.autograd.grad(out[:, 5].sum(), act)
    cam = (grad.mean(-1, keepdim=True) * act).sum(1, keepdim=True)
    expected = torch.nn.functional.interpolate(cam, size=T, mode="linear", align_corners=False)
    signed = attribute(cnn, beats, 5, "gradcam", relu_attributions=False)
    np.testing.assert_allclose(signed[:, :1], expected.detach().numpy(), rtol=1e-4, atol=1e-7)
    a = attribute(cnn, beats, 5, "gradcam")  # default: the paper's ReLU before upsampling
    assert (a == a[:, :1]).all()  # one map, broadcast to the 12 leads
    relu = a
    np.testing.assert_allclose(relu[:, 0], np.maximum(
        torch.nn.functional.interpolate(cam.clamp_min(0), size=T, mode="linear",
                                        align_corners=False)[:, 0].detach().numpy(), 0),
                               rtol=1e-4, atol=1e-7)
    by_name = attribute(cnn, beats, 5, "gradcam", layer="blocks.3")
    np.testing.assert_array_equal(by_name, a)
    # Guided Grad-CAM = Guided Backprop × ReLU(CAM) upsampled (Captum's definition): lead-resolved
    guided = attribute(cnn, beats, 5, "guided_gradcam")
    gbp = attribute(cnn, beats, 5, "guided_backprop")
    np.testing.assert_allclose(guided, gbp * relu[:, :1], rtol=1e-4, atol=1e-9)


def test_guided_gradcam_resolves_leads():
    model = _cnn(3, random_bn=True)
    x = _beats(2, seed=12)
    a = attribute(model, x, np.array([0, 1]), "guided_gradcam")
    assert np.abs(a).max() > 0
    assert not np.allclose(a[:, 0], a[:, 1])


def test_smoothgrad_without_noise_is_saliency(cnn, beats):
    sal = attribute(cnn, beats, 3, "saliency")
    sg = attribute(cnn, beats, 3, "smoothgrad", sigma_frac=0.0, n_samples=3)
    np.testing.assert_allclose(sg, sal, rtol=1e-5, atol=1e-9)
    vg = attribute(cnn, beats, 3, "vargrad", sigma_frac=0.0, n_samples=3)
    assert np.abs(vg).max() < 1e-12


def test_smoothgrad_noise_scales_with_each_beat(cnn):
    # σ = 0.1·(max − min) per beat: scaling a beat's amplitude scales its noise, so SmoothGrad
    # of the scaled copy equals SmoothGrad of a model that undoes the scale.
    x = _beats(2, seed=8)
    scaled = x * np.array([1.0, 4.0], np.float32)[:, None, None]
    class Undo(nn.Module):
        def __init__(self, inner: nn.Module, s: torch.Tensor) -> None:
            super().__init__()
            self.inner, self.s = inner, s

        def forward(self, z: torch.Tensor) -> torch.Tensor:
            return self.inner(z / self.s[: z.shape[0]])

    a = attribute(cnn, x[1:], 0, "smoothgrad", seed=2, chunk_size=1)
    b = attribute(Undo(cnn, torch.tensor([4.0]).view(1, 1, 1)), scaled[1:], 0, "smoothgrad",
                  seed=2, chunk_size=1)
    np.testing.assert_allclose(b * 4.0, a, rtol=1e-3, atol=1e-7)


def test_occlusion_window_follows_fs(cnn):
    x = _beats(2, t=600, seed=9)
    a = attribute(cnn, x, 0, "occlusion", fs=500.0)  # 40 ms = 20 samples
    blocks = a.reshape(2, 12, 30, 20)
    assert np.array_equal(blocks, np.broadcast_to(blocks[..., :1], blocks.shape))
    assert not np.array_equal(blocks[:, :, 0::2, 0], blocks[:, :, 1::2, 0])  # not 40 samples


# --------------------------------------------------------------------------- engine behaviour
def test_inputs_tensor_and_float64_accepted_and_not_modified(cnn, beats):
    x64 = beats.astype(np.float64)
    keep = x64.copy()
    a = attribute(cnn, x64, 1, "input_x_gradient")
    np.testing.assert_array_equal(x64, keep)
    t = torch.from_numpy(beats.copy())
    b = attribute(cnn, t, torch.tensor([1, 1, 1]), "input_x_gradient")
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9)
    assert torch.equal(t, torch.from_numpy(beats)) and not t.requires_grad


def test_works_under_no_grad_and_chunking_is_exact_for_deterministic_methods(cnn, beats):
    with torch.no_grad():
        a = attribute(cnn, beats, 1, "integrated_gradients")
    b = attribute(cnn, beats, 1, "integrated_gradients", chunk_size=1)
    c = attribute(cnn, beats, 1, "integrated_gradients", max_rows=7)
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-8)
    np.testing.assert_allclose(a, c, rtol=1e-4, atol=1e-8)


def test_plan_chunks():
    ig = METHODS.get("integrated_gradients")
    # 8 beats x 50 steps = 400 rows in the fewest passes of <= 256: two even passes of 200
    assert plan_chunks(ig, ig.options(), 100, T, FS, 0, None, None) == (8, 200)
    assert plan_chunks(ig, ig.options(), 3, T, FS, 0, None, None) == (3, 150)
    assert plan_chunks(ig, ig.options(), 100, T, FS, 0, None, None, budget=64) == (8, 64)
    assert plan_chunks(ig, ig.options(), 100, T, FS, 0, None, None, budget=512) == (10, 500)
    assert plan_chunks(ig, ig.options(), 100, T, FS, 0, 1, None) == (1, 50)
    assert plan_chunks(ig, ig.options(), 100, T, FS, 0, 64, None) == (64, 3200)
    sal = METHODS.get("saliency")
    assert plan_chunks(sal, {}, 1000, T, FS, 0, None, None) == (256, 256)
    occ = METHODS.get("occlusion")
    assert plan_chunks(occ, occ.options(), 100, T, FS, 0, None, None) == (8, 128)


@pytest.mark.parametrize("bad, match", [
    (np.zeros((2, 11, T), np.float32), "12 leads"),
    (np.zeros((12, T), np.float32), r"\(n, 12, T\)"),
    (np.zeros((0, 12, T), np.float32), "empty"),
    (np.full((1, 12, T), np.nan, np.float32), "NaN"),
    (np.full((1, 12, T), np.inf, np.float32), "inf"),
])
def test_bad_beats_rejected(cnn, bad, match):
    with pytest.raises(DataError, match=match):
        attribute(cnn, bad, 0, "saliency")


@pytest.mark.parametrize("target, match", [
    (9, "out of range"), (-1, "out of range"), (np.array([0, 1]), "shape"),
    (1.0, "ints"), (True, "ints"), (np.array([0, 1, 12]), "12 out of range"),
])
def test_bad_targets_rejected(cnn, beats, target, match):
    with pytest.raises(DataError, match=match):
        attribute(cnn, beats, target, "saliency")


def test_bad_options_rejected(cnn, beats, baselines):
    with pytest.raises(UnknownNameError, match="valid: saliency"):
        attribute(cnn, beats, 0, "salency")
    with pytest.raises(ConfigError, match="unknown option.*n_step.*valid: n_steps"):
        attribute(cnn, beats, 0, "integrated_gradients", n_step=10)
    with pytest.raises(ConfigError, match="n_steps"):
        attribute(cnn, beats, 0, "integrated_gradients", n_steps=0)
    for name in ("deeplift_shap", "gradient_shap"):
        with pytest.raises(ConfigError, match="needs baselines"):
            attribute(cnn, beats, 0, name)
    with pytest.raises(DataError, match="samples per lead"):
        attribute(cnn, beats, 0, "gradient_shap", baselines=baselines[..., :200])
    with pytest.raises(DataError, match="baselines"):
        attribute(cnn, beats, 0, "deeplift_shap", baselines=np.full_like(baselines, np.nan))
    for kw in (dict(seed=-1), dict(seed=1.5), dict(chunk_size=0), dict(fs=0.0),
               dict(max_rows=0), dict(device="nonsense")):
        with pytest.raises(ConfigError):
            attribute(cnn, beats, 0, "saliency", **kw)
    with pytest.raises(ConfigError, match="window_ms"):
        attribute(cnn, beats, 0, "occlusion", window_ms=0)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only error")
def test_cuda_request_without_cuda_is_a_clear_error(cnn, beats):
    with pytest.raises(ConfigError, match="CUDA is not available"):
        attribute(cnn, beats, 0, "saliency", device="cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", ["saliency", "integrated_gradients", "smoothgrad", "lrp",
                                  "gradcam", "occlusion", "gradient_shap"])
def test_cuda_matches_cpu_and_leaves_model_on_cpu(name, cnn, beats, baselines):
    cpu = attribute(cnn, beats, 1, name, baselines=baselines)
    gpu = attribute(cnn, beats, 1, name, baselines=baselines, device="cuda")
    assert model_on_cpu(cnn)
    scale = np.abs(cpu).max()
    np.testing.assert_allclose(gpu, cpu, atol=2e-3 * scale, rtol=0)


def model_on_cpu(model: nn.Module) -> bool:
    return all(p.device.type == "cpu" for p in model.parameters())


def test_make_baselines():
    sig = _beats(20, seed=11)
    a = make_baselines(sig, n=6, seed=0)
    assert a.shape == (6, 12, T) and a.dtype == np.float32
    np.testing.assert_array_equal(a, make_baselines(sig, n=6, seed=0))
    assert not np.array_equal(a, make_baselines(sig, n=6, seed=1))
    idx = [int(np.flatnonzero((sig == b).all(axis=(1, 2)))[0]) for b in a]
    assert len(set(idx)) == 6  # without replacement
    with pytest.raises(ConfigError, match="cannot draw"):
        make_baselines(sig, n=21)
    with pytest.raises(DataError, match="12 leads"):
        make_baselines(sig[:, :6])
    with pytest.raises(ConfigError):
        make_baselines(sig, n=0)
