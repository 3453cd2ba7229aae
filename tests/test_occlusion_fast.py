"""Our vectorised Occlusion / feature ablation against Captum's classes (the reference).

Tolerance per beat: ``max |ours − Captum| ≤ max(1e-5 · max |Captum|, 4 ε · max |logit|)``
(ε: float32's machine epsilon). A map value is a difference of two logits, so the float32
rounding of other batch sizes is relative to the logits, not to the map: on these nets the drops
are ~1e-3 of the logits. On an AVX-512 CPU (AMD Zen 4) the maps happened to agree within the
first term; on an AVX2 one (Zen 3) other convolution kernels round differently, up to
1.8e-7 (≈ 1.5 ε of the logits, measured). Networks: the default CNN with trained-like BatchNorms and a cascading
randomisation of it (Experiment 3's networks).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from nets import trained_like as _trained_like
from torch import nn

from ecgsignal.attribution import attribute
from ecgsignal.attribution.guard import frozen_eval
from ecgsignal.attribution.occlusion_fast import ablate_features
from ecgsignal.attribution.perturbation_methods import (
    feature_ablation_captum,
    occlusion_captum,
    patch_ids,
)
from ecgsignal.attribution.registry import MethodContext
from ecgsignal.evaluation.randomization import randomized_copy

RTOL_PEAK = 1e-5




@pytest.fixture(scope="module")
def nets():
    base = _trained_like()
    return {"trained": base,
            "random": randomized_copy(base, 3, "top_down", seed=1, bn="reset")}


@pytest.fixture(scope="module")
def beats():
    rng = np.random.default_rng(0)
    return (0.3 * rng.normal(size=(5, 12, 300))).astype(np.float32), np.arange(5) % 9


def _captum(fn, net, x, target, rows, **kw):
    ctx = MethodContext(model=net, device=torch.device("cpu"), fs=250.0, seed=0, offset=0,
                        baselines=None, chunk_size=x.shape[0], max_rows=rows, method="x")
    with frozen_eval(net):
        return fn(ctx, torch.from_numpy(x), torch.from_numpy(target), **kw).detach().numpy()


def _logit_scale(net, x):
    """Per beat ``4 ε · max |logit|``: the float32 rounding scale of a difference of logits."""
    with frozen_eval(net), torch.no_grad():
        logits = net(torch.from_numpy(np.ascontiguousarray(x))).abs().amax(1).numpy()
    return 4 * np.finfo(np.float32).eps * logits


def _assert_close_per_beat(got, ref, net, x):
    peak = np.abs(ref).reshape(len(ref), -1).max(1)
    err = np.abs(got - ref).reshape(len(ref), -1).max(1)
    assert (peak > 0).all()
    tol = np.maximum(RTOL_PEAK * peak, _logit_scale(net, x))
    assert (err <= tol).all(), (err / peak).max()


@pytest.mark.parametrize("name", ["trained", "random"])
@pytest.mark.parametrize("window_ms", [40.0, 44.0])  # 44 ms = 11 samples: a 3-sample last window
def test_occlusion_equals_captum(nets, beats, name, window_ms):
    x, target = beats
    got = attribute(nets[name], x, target, "occlusion", window_ms=window_ms, max_rows=50)
    ref = _captum(occlusion_captum, nets[name], x, target, 50, window_ms=window_ms)
    _assert_close_per_beat(got, ref, nets[name], x)
    w = int(round(window_ms * 0.25))
    assert np.array_equal(got[..., -1], got[..., (299 // w) * w])  # one value per last window


@pytest.mark.parametrize("name", ["trained", "random"])
def test_feature_ablation_equals_captum(nets, beats, name):
    x, target = beats
    got = attribute(nets[name], x, target, "feature_ablation", max_rows=7)
    ref = _captum(feature_ablation_captum, nets[name], x, target, 7)
    _assert_close_per_beat(got, ref, nets[name], x)


def test_pass_size_changes_rounding_only(nets, beats):
    x, target = beats
    net = nets["trained"]
    xt, tt = torch.from_numpy(x), torch.from_numpy(target)
    ids = patch_ids(12, 300, 10)[0]
    with frozen_eval(net):
        one = ablate_features(net, xt, tt, ids, 1).numpy()  # a pass per row
        big = ablate_features(net, xt, tt, ids, 10_000).numpy()  # one pass
        logit = float(net(xt).abs().max())
    # other batch sizes round the logits differently: differences at float32 rounding of the
    # logits (this net's drops are ~1e-3 of its logits, so this is not relative to the peak)
    np.testing.assert_allclose(one, big, rtol=0, atol=4 * np.finfo(np.float32).eps * logit)
    with torch.no_grad():  # the definition, row by row, for one window
        masked = xt[2:3].clone()
        masked[0, 4, 20:30] = 0.0
        drop = net(xt[2:3])[0, target[2]] - net(masked)[0, target[2]]
    assert one[2, 4, 25] == pytest.approx(float(drop), abs=1e-6)


def test_local_recompute_is_used_and_equals_the_generic_path(nets, beats):
    """Bit for bit on an AVX-512 CPU (Zen 4); on AVX2 (Zen 3) the convolutions on a slice round
    differently from the full ones: within the logits' float32 rounding (measured 1.8e-7)."""
    from ecgsignal.attribution.occlusion_fast import _local_ok, occlude_windows

    x, target = beats
    xt, tt = torch.from_numpy(x), torch.from_numpy(target)
    ids = patch_ids(12, 300, 10)[0]
    for net in nets.values():
        with frozen_eval(net):
            assert _local_ok(net)
            local = occlude_windows(net, xt, tt, 10, 37).numpy()
            generic = ablate_features(net, xt, tt, ids, 37).numpy()
        tol = _logit_scale(net, x)[:, None, None]
        assert (np.abs(local - generic) <= tol).all()


def test_local_recompute_falls_back_for_hooks_and_other_models(nets, beats):
    from ecgsignal.attribution.occlusion_fast import _local_ok

    net = nets["trained"]
    handle = net.blocks[0].conv1.register_forward_hook(lambda m, i, o: o * 2)
    try:
        assert not _local_ok(net)  # the hook must run: the generic path
        x, target = beats
        got = attribute(net, x[:2], target[:2], "occlusion", max_rows=50)
        ref = _captum(occlusion_captum, net, x[:2], target[:2], 50)
        _assert_close_per_beat(got, ref, net, x[:2])
    finally:
        handle.remove()
    assert _local_ok(net)
    assert not _local_ok(nn.Sequential(nn.Conv1d(12, 2, 3), nn.Flatten(), nn.LazyLinear(2)))
    net.train()
    assert not _local_ok(net)
    net.eval()
