"""BatchNorm folding is exact for attribution: every method's maps with and without folding.

Tolerance: ``max |a_folded − a| ≤ 1e-5 · max |a|`` per network (float32 rounding). Networks:
the default CNN with trained-like BatchNorms (random γ, β, running mean and variance, as after
training; a seeded untrained network would have the identity BatchNorms that hide a wrong
fold), and its cascading randomisations (bn="reset", the experiments' default, and "keep").
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from nets import trained_like as _trained_like
from torch import nn

from ecgsignal.attribution import FOLD_EXACT, attribute, available, make_baselines
from ecgsignal.evaluation.randomization import randomized_copy
from ecgsignal.models.folding import batchnorm_pairs, fold_batchnorm

RTOL_PEAK = 1e-5




@pytest.fixture(scope="module")
def nets():
    base = _trained_like()
    return {"trained": base,
            "random_reset": randomized_copy(base, 3, "top_down", seed=1, bn="reset"),
            "random_keep": randomized_copy(base, 2, "bottom_up", seed=2, bn="keep")}


@pytest.fixture(scope="module")
def beats():
    rng = np.random.default_rng(0)
    x = (0.3 * rng.normal(size=(6, 12, 300))).astype(np.float32)
    base = make_baselines((0.3 * rng.normal(size=(8, 12, 300))).astype(np.float32), n=4, seed=0)
    return x, np.arange(6) % 9, base


def test_fold_finds_every_conv_bn_pair_and_keeps_the_function():
    net = _trained_like()
    pairs = batchnorm_pairs(net)
    assert ("stem_conv", "stem_bn") in pairs and ("blocks.0.conv1", "blocks.0.bn1") in pairs
    assert len(pairs) == sum(isinstance(m, nn.BatchNorm1d) for m in net.modules())
    folded = fold_batchnorm(net)
    assert not any(isinstance(m, nn.BatchNorm1d) for m in folded.modules())
    assert folded.last_conv is folded.blocks[-1]  # names and properties survive
    x = torch.randn(5, 12, 300)
    with torch.no_grad():
        ref, got = net(x), folded(x)
    assert torch.allclose(got, ref, atol=1e-5 * float(ref.abs().max()))
    assert net.stem_bn.training is False and isinstance(net.stem_bn, nn.BatchNorm1d)  # untouched


def test_models_that_cannot_be_folded_are_left_alone():
    class Dynamic(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv1d(12, 4, 3)
            self.bn = nn.BatchNorm1d(4)

        def forward(self, x):
            if x.sum() > 0:  # data-dependent control flow: not traceable
                return self.bn(self.conv(x)).mean(-1)
            return self.conv(x).mean(-1)

    assert fold_batchnorm(Dynamic()) is None
    assert fold_batchnorm(nn.Sequential(nn.Conv1d(12, 4, 3), nn.ReLU())) is None


@pytest.mark.parametrize("method", available(paper=True, controls=True, extras=True))
def test_every_method_gives_the_same_maps_on_the_folded_network(nets, beats, method):
    """The proof behind :data:`FOLD_EXACT`: its methods agree within the tolerance on trained
    and randomised networks (explicitly folded copy vs the network); the engine leaves every
    other method's computation alone (bit for bit the unfolded maps)."""
    x, t, base = beats
    n = 3 if method in ("lime", "kernel_shap", "feature_ablation") else len(x)
    for name, net in nets.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            ref = attribute(net, x[:n], t[:n], method, seed=3, baselines=base, fold_bn=False)
            if method in FOLD_EXACT:
                got = attribute(fold_batchnorm(net), x[:n], t[:n], method, seed=3,
                                baselines=base, fold_bn=False)
                peak = float(np.abs(ref).max())
                diff = float(np.abs(got - ref).max())
                assert peak > 0 and diff <= RTOL_PEAK * peak, \
                    f"{method} on {name}: {diff:.2e}, peak {peak:.2e}"
            else:
                got = attribute(net, x[:n], t[:n], method, seed=3, baselines=base)
                assert np.array_equal(got, ref), f"{method} was folded"


def test_fold_exact_lists_the_model_methods_whose_maps_fold_exactly():
    """The registry's exact methods: a method added later must be tested before joining."""
    assert FOLD_EXACT == {"saliency", "input_x_gradient", "guided_backprop", "deconvolution",
                          "gradcam", "guided_gradcam", "deeplift", "deeplift_shap"}


@pytest.mark.parametrize("method", ["saliency", "integrated_gradients", "lrp", "gradcam"])
def test_engine_folds_by_default_and_leaves_the_model_alone(nets, beats, method):
    x, t, base = beats
    net = nets["trained"]
    before = {k: v.clone() for k, v in net.state_dict().items()}
    on = attribute(net, x, t, method, seed=3, baselines=base)
    off = attribute(net, x, t, method, seed=3, baselines=base, fold_bn=False)
    assert np.abs(on - off).max() <= RTOL_PEAK * np.abs(off).max()
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert isinstance(net.stem_bn, nn.BatchNorm1d)


def test_folded_copy_is_reused_until_the_network_changes():
    from ecgsignal.models.folding import folded_cached

    net = _trained_like(1)
    first = folded_cached(net)
    assert folded_cached(net) is first
    with torch.no_grad():
        net.blocks[0].bn1.running_var.mul_(2.0)  # in place: a new version
    second = folded_cached(net)
    assert second is first  # the same network changed in place: the copy is refreshed
    x = torch.randn(3, 12, 300)
    with torch.no_grad():
        assert torch.allclose(second(x), net.eval()(x), atol=1e-5 * float(net(x).abs().max()))


def test_a_refreshed_copy_is_the_fresh_fold_bit_for_bit_through_a_cascade():
    """Layer after layer re-initialised in place (a cascade, as in MPRT): the refreshed copy
    holds exactly the tensors of a new :func:`fold_batchnorm`, and another network of the same
    structure gets a copy of its own."""
    from ecgsignal.evaluation.randomization import reinitialize_, stage_modules
    from ecgsignal.models.folding import folded_cached

    net = _trained_like(2)
    first = folded_cached(net)
    x = torch.randn(4, 12, 300)
    for i, (_, module) in enumerate(stage_modules(net, "module")[:6]):
        reinitialize_(module, torch.Generator().manual_seed(i), bn="reset")
        got = folded_cached(net)
        assert got is first
        ref = fold_batchnorm(net)
        assert list(got.state_dict()) == list(ref.state_dict())
        assert all(torch.equal(got.state_dict()[k], v) for k, v in ref.state_dict().items())
        assert not any(p.requires_grad for p in got.parameters()) and not got.training
        with torch.no_grad():
            assert torch.equal(got(x), ref(x))
    other = _trained_like(2)
    assert folded_cached(other) is not first


def test_a_network_whose_folded_convolutions_share_weights_is_not_folded():
    """Two conv → BatchNorm pairs sharing one weight cannot both be folded into it: the network
    is left unfolded (None), and the engine then runs it as it is, with the unfolded maps."""
    from ecgsignal.models.folding import folded_cached

    class Tied(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Conv1d(12, 4, 3, bias=False)
            self.a, self.bn_a = nn.Conv1d(4, 4, 3, bias=False), nn.BatchNorm1d(4)
            self.b, self.bn_b = nn.Conv1d(4, 4, 3, bias=False), nn.BatchNorm1d(4)
            self.b.weight = self.a.weight

        def forward(self, x):
            return self.bn_b(self.b(self.bn_a(self.a(self.stem(x))))).mean(-1)

    torch.manual_seed(0)
    net = Tied().eval()
    with torch.no_grad():
        for bn in (net.bn_a, net.bn_b):
            bn.running_var.uniform_(0.5, 2.0)
            bn.running_mean.normal_()
    assert batchnorm_pairs(net) == [("a", "bn_a"), ("b", "bn_b")]
    assert fold_batchnorm(net) is None and folded_cached(net) is None
    with torch.no_grad():
        net.bn_a.running_var.mul_(2.0)
    assert folded_cached(net) is None
    x = np.random.default_rng(0).normal(size=(2, 12, 40)).astype(np.float32)
    on = attribute(net, x, np.zeros(2, dtype=np.int64), "saliency")
    off = attribute(net, x, np.zeros(2, dtype=np.int64), "saliency", fold_bn=False)
    assert np.array_equal(on, off)
