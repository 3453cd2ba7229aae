"""Our DeepLiftSHAP (reference activations once per chunk) against Captum's ``DeepLiftShap``.

Tolerance: ``max |ours − Captum| ≤ 1e-5 · max |Captum|`` per beat. Networks: the default CNN
with trained-like BatchNorms and a cascading randomisation of it, each with BatchNorm folded
(what the engine runs, ``deeplift_shap`` is in FOLD_EXACT) and not.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from nets import trained_like as _trained_like
from torch import nn

from ecgsignal.attribution import attribute, make_baselines
from ecgsignal.attribution.deeplift_fast import deeplift_shap_maps, supported
from ecgsignal.attribution.gradient_methods import deeplift_captum, deeplift_shap_captum
from ecgsignal.attribution.guard import frozen_eval
from ecgsignal.attribution.registry import MethodContext
from ecgsignal.evaluation.randomization import randomized_copy
from ecgsignal.models.folding import fold_batchnorm

RTOL_PEAK = 1e-5
pytestmark = pytest.mark.filterwarnings("ignore:Setting forward, backward hooks")




@pytest.fixture(scope="module")
def nets():
    base = _trained_like()
    random = randomized_copy(base, 3, "top_down", seed=1, bn="reset")
    return {"trained": base, "random": random, "trained_folded": fold_batchnorm(base),
            "random_folded": fold_batchnorm(random)}


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = (0.3 * rng.normal(size=(5, 12, 300))).astype(np.float32)
    base = make_baselines((0.3 * rng.normal(size=(9, 12, 300))).astype(np.float32), n=6, seed=0)
    return torch.from_numpy(x), torch.from_numpy(np.arange(5) % 9), torch.from_numpy(base)


def _captum(net, x, target, base, rows):
    ctx = MethodContext(model=net, device=torch.device("cpu"), fs=250.0, seed=0, offset=0,
                        baselines=base, chunk_size=x.shape[0], max_rows=rows, method="x")
    with frozen_eval(net):
        return deeplift_shap_captum(ctx, x, target).detach().numpy()


def _assert_close_per_beat(got, ref):
    peak = np.abs(ref).reshape(len(ref), -1).max(1)
    err = np.abs(got - ref).reshape(len(ref), -1).max(1)
    assert (peak > 0).all()
    assert (err <= RTOL_PEAK * peak).all(), (err / peak).max()


@pytest.mark.parametrize("name", ["trained", "random", "trained_folded", "random_folded"])
@pytest.mark.parametrize("rows", [6, 24])  # one beat's pairs per pass; four beats'
def test_deeplift_shap_equals_captum(nets, data, name, rows):
    x, target, base = data
    net = nets[name]
    with frozen_eval(net):
        got = deeplift_shap_maps(net, x, target, base, rows).numpy()
    _assert_close_per_beat(got, _captum(net, x, target, base, 2 * rows))


@pytest.mark.parametrize("name", ["trained", "random_folded"])
def test_deeplift_zero_baseline_equals_captum(nets, data, name):
    x, target, _ = data
    net = nets[name]
    got = attribute(net, x.numpy(), target.numpy(), "deeplift", fold_bn=False)
    ctx = MethodContext(model=net, device=torch.device("cpu"), fs=250.0, seed=0, offset=0,
                        baselines=None, chunk_size=5, max_rows=256, method="x")
    with frozen_eval(net):
        ref = deeplift_captum(ctx, x, target).detach().numpy()
    _assert_close_per_beat(got, ref)


def test_engine_uses_it_and_the_summation_property_holds(nets, data):
    x, target, base = data
    net = nets["trained"]
    got = attribute(net, x.numpy(), target.numpy(), "deeplift_shap", baselines=base.numpy())
    _assert_close_per_beat(got, _captum(fold_batchnorm(net), x, target, base, 24))
    with torch.no_grad():  # rescale rule: each pair's map sums to f(x) − f(b_k); mean over k
        fx = net(x).gather(1, target[:, None])[:, 0]
        fb = net(base)[:, target].T  # (c, b)
    expect = (fx[:, None] - fb).mean(1).numpy()
    np.testing.assert_allclose(got.sum(axis=(1, 2)), expect, rtol=1e-3, atol=1e-4)


def test_unsupported_models_fall_back_to_captum(data):
    x, target, base = data
    pooled = nn.Sequential(nn.Conv1d(12, 4, 5), nn.ReLU(), nn.MaxPool1d(2), nn.Flatten(),
                           nn.Linear(4 * 148, 3)).eval()
    assert not supported(pooled)
    with frozen_eval(pooled):
        assert deeplift_shap_maps(pooled, x, target % 3, base, 12) is None
    got = attribute(pooled, x.numpy(), target.numpy() % 3, "deeplift_shap", baselines=base.numpy(),
                    fold_bn=False)
    _assert_close_per_beat(got, _captum(pooled, x, target % 3, base, 24))
    shared = nn.ReLU()
    reused = nn.Sequential(nn.Conv1d(12, 4, 5), shared, nn.Conv1d(4, 4, 5), shared,
                           nn.Flatten(), nn.Linear(4 * 292, 3)).eval()
    assert supported(reused)
    with frozen_eval(reused):  # a ReLU module called twice: Captum's semantics are not ours
        assert deeplift_shap_maps(reused, x, target % 3, base, 12) is None
