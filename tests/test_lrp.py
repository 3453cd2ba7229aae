"""The paper's LRP through zennit, Grad-CAM with its ReLU, and 12 distinct paper methods.

LRP (EpsilonGammaBox, BatchNorm folded): conservation on a bias-free network, the canonizers
(every BatchNorm folded into its convolution, the residual sum through zennit's Sum with the Norm
rule, the function unchanged, everything undone afterwards), equivariance under lead order, and
a clear difference from Input×Gradient on a trained model. Grad-CAM: >= 0 everywhere on a trained
model, for explained negatives and on a randomised model. Registry-wide: on the trained
smoke-sized model no two paper methods give the same maps.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from ecgsignal.attribution import PAPER_METHODS, attribute
from ecgsignal.attribution.distinct import map_difference, pairwise_distinctness
from ecgsignal.attribution.lrp_zennit import RULES, box, lrp_composite, unfolded_batchnorms
from ecgsignal.errors import ConfigError
from ecgsignal.models.cnn import Add, build_model

T = 300
N_CLASSES = 9
CONSERVATION_RTOL = 1e-3
"""Stated tolerance: |Σ R − logit| <= 1e-3 · |logit| + 1e-5 on a bias-free network (the
stabilisers, 1e-6 per layer, are all that absorbs relevance there)."""


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _beats(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    raw = rng.standard_normal((n, 12, T + 20))
    kernel = np.hanning(21) / np.hanning(21).sum()
    smooth = np.apply_along_axis(lambda r: np.convolve(r, kernel, mode="valid"), -1, raw)
    return (3.0 * smooth[..., :T]).astype(np.float32)


def _cnn(seed: int, bias_free: bool = False) -> nn.Module:
    """The default CNN with non-trivial BatchNorm statistics (and no biases if ``bias_free``)."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = build_model(N_CLASSES)
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm1d):
                k = m.num_features
                m.running_var.copy_(0.5 + torch.rand(k, generator=g))
                m.weight.copy_(0.5 + torch.rand(k, generator=g))
                if not bias_free:
                    m.running_mean.copy_(0.2 * torch.randn(k, generator=g))
                    m.bias.copy_(0.2 * torch.randn(k, generator=g))
        if bias_free:
            model.head.bias.zero_()
    return model.eval()


def _logits(model: nn.Module, x: np.ndarray, target: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(x))[np.arange(len(x)), target].numpy()


# --------------------------------------------------------------------------- LRP (zennit)
def test_lrp_conserves_the_logit_without_biases():
    model = _cnn(2, bias_free=True)
    x = _beats(6, seed=4)
    target = np.arange(6) % N_CLASSES
    a = attribute(model, x, target, "lrp")
    logit = _logits(model, x, target)
    err = np.abs(a.sum((1, 2)) - logit)
    assert (err <= CONSERVATION_RTOL * np.abs(logit) + 1e-5).all(), (err, logit)


def test_lrp_with_biases_loses_only_what_the_biases_absorb():
    # with BatchNorm shifts and a head bias the sum differs from the logit (biases take their
    # share); setting the shifts to zero brings conservation back (previous test)
    model = _cnn(2)
    x = _beats(4, seed=4)
    a = attribute(model, x, 3, "lrp")
    logit = _logits(model, x, np.full(4, 3))
    assert np.isfinite(a).all() and np.abs(a.sum((1, 2)) - logit).max() > 1e-3


def test_canonizers_fold_every_batchnorm_and_route_the_residual_sum():
    model = _cnn(3)
    x = torch.from_numpy(_beats(3, seed=5))
    with torch.no_grad():
        before = model(x)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    low, high = box(x, None)
    adds = [m for m in model.modules() if isinstance(m, Add)]
    assert len(adds) == 4
    with lrp_composite(model, low, high):
        assert unfolded_batchnorms(model) == []  # stem, 4 × 2 in blocks, 1 skip: all identity
        convs = [m for m in model.modules() if isinstance(m, nn.Conv1d)]
        assert all(c.bias is not None for c in convs)  # the BatchNorm shifts moved here
        for add in adds:  # a + b now runs through zennit's Sum, which carries the Norm hook
            assert isinstance(add.canonizer_sum, nn.Module) and add.canonizer_sum._forward_hooks
        with torch.no_grad():  # the canonized network computes the same function
            torch.testing.assert_close(model(x), before, rtol=1e-4, atol=1e-5)
    assert unfolded_batchnorms(model) != []
    assert not any(hasattr(a, "canonizer_sum") for a in adds)
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    assert {"first Conv1d", "Conv1d", "BatchNorm1d", "Add (residual sum)", "Linear"} <= set(RULES)


def test_lrp_refuses_a_batchnorm_it_cannot_fold():
    model = nn.Sequential(nn.Conv1d(12, 4, 3), nn.ReLU(), nn.BatchNorm1d(4),
                          nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(4, 2)).eval()
    with torch.no_grad():
        model[2].running_mean.fill_(0.3)
    with pytest.raises(ConfigError, match="cannot fold"):
        attribute(model, _beats(2)[:, :, :32], 0, "lrp")


def test_lrp_is_equivariant_under_lead_order():
    model = _cnn(4)
    x = _beats(3, seed=6)
    perm = np.random.default_rng(0).permutation(12)
    permuted = _cnn(4)
    with torch.no_grad():
        permuted.stem_conv.weight.copy_(model.stem_conv.weight[:, torch.from_numpy(perm)])
    a = attribute(model, x, 2, "lrp")
    b = attribute(permuted, x[:, perm], 2, "lrp")
    np.testing.assert_allclose(b, a[:, perm], rtol=1e-4, atol=1e-6 * np.abs(a).max())


def test_lrp_box_option():
    model = _cnn(5)
    x = _beats(2, seed=7)
    lim = float(np.abs(x).max()) + 1.0
    a = attribute(model, x, 1, "lrp", bounds_mv=(-lim, lim))
    assert np.isfinite(a).all() and not np.allclose(a, attribute(model, x, 1, "lrp"))
    with pytest.raises(ConfigError, match="does not contain"):
        attribute(model, x, 1, "lrp", bounds_mv=(-0.01, 0.01))
    with pytest.raises(ConfigError, match="low < high"):
        attribute(model, x, 1, "lrp", bounds_mv=(1.0, -1.0))


# --------------------------------------------------------------------------- trained model
@pytest.fixture(scope="module")
def trained(tiny_context):
    """The smoke-sized trained model, its explained beats (2 per class) and their maps."""
    ctx = tiny_context
    maps = {m: ctx.attributions(m) for m in PAPER_METHODS}
    return ctx, maps


def test_lrp_differs_from_input_x_gradient_on_the_trained_model(trained):
    _, maps = trained
    assert map_difference(maps["lrp"], maps["input_x_gradient"]) >= 0.1


def test_lrp_epsilon_captum_is_input_x_gradient_on_the_trained_model(trained):
    ctx, maps = trained
    captum = ctx.attributions("lrp_epsilon_captum")
    assert map_difference(captum, maps["input_x_gradient"]) < 1e-3


def test_no_two_paper_methods_give_the_same_maps(trained):
    _, maps = trained
    table = pairwise_distinctness(maps)
    assert len(table) == 66
    low = table[table["distinct"] < 0.05]
    assert low.empty, "methods collapse onto each other: " + ", ".join(
        f"{r.a} = {r.b} ({r.distinct:.2g})" for r in low.itertuples())


def test_distinctness_names_a_collapsed_pair():
    a = _beats(3, seed=1)
    table = pairwise_distinctness({"x": a, "y": 2 * a, "z": a[::-1].copy()})
    first = table.iloc[0]
    assert (first.a, first.b) == ("x", "y") and first.scaled == 0 and first.raw == 0.5


def test_gradcam_is_non_negative_everywhere(trained):
    ctx, maps = trained
    assert maps["gradcam"].min() >= 0 and maps["gradcam"].max() > 0
    model, x = ctx.model(), ctx.beats.x
    negative = (ctx.beats.target + 1) % N_CLASSES  # explained for a class they do not carry
    assert attribute(model, x, negative, "gradcam").min() >= 0
    rand = _cnn(9)  # a randomised network
    g = attribute(rand, x, negative, "gradcam")
    assert g.min() >= 0
    signed = attribute(rand, x, negative, "gradcam", relu_attributions=False)
    assert signed.min() < 0  # without the ReLU there would be negative values to hide
    guided = attribute(rand, x, negative, "guided_gradcam")
    gbp = attribute(rand, x, negative, "guided_backprop")
    np.testing.assert_allclose(guided, gbp * g[:, :1], rtol=1e-4, atol=1e-9)


@pytest.mark.parametrize("torchvision", ["absent", "broken"])
def test_zennit_loads_without_a_working_torchvision(tmp_path, torchvision):
    # zennit imports torchvision for its ResNet canonizers only; a missing torchvision, or one
    # compiled against another torch (RuntimeError on import), must not stop the paper's LRP,
    # nor Quantus, which imports zennit whenever it is installed
    import os
    import subprocess
    import sys

    path = [str(tmp_path)]
    if torchvision == "broken":
        (tmp_path / "torchvision").mkdir()
        (tmp_path / "torchvision" / "__init__.py").write_text(
            "raise RuntimeError('operator torchvision::nms does not exist')\n")
    code = ("import sys; from ecgsignal.attribution.lrp_zennit import preload_zennit, zennit_api; "
            "preload_zennit(); import quantus; z = zennit_api(); assert 'EpsilonGammaBox' in z; "
            "assert not any(k.startswith('torchvision') for k in sys.modules); print('ok')")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path + [p for p in sys.path if p])}
    if torchvision == "absent":
        code = "import sys; sys.modules['torchvision'] = None; " + code
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr
