"""Dilated convolutions as interleaved undilated ones: the same function as ``F.conv1d``."""

from __future__ import annotations

import copy
import pickle

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ecgsignal.models import phase_conv
from ecgsignal.models.cnn import ECGCNN, build_model
from ecgsignal.models.phase_conv import PhaseConv1d, phase_conv1d

CASES = [  # (length, kernel, stride, padding, dilation)
    (75, 7, 1, 12, 4),   # the default CNN's blocks 2 and 3 (length not a multiple of d)
    (75, 7, 1, 24, 8),
    (76, 7, 1, 12, 4),   # a multiple of d
    (75, 7, 1, 6, 2),
    (150, 7, 2, 6, 2),   # block 1's first conv: stride = dilation reads phase 0 only
    (151, 7, 2, 6, 2),
    (9, 3, 1, 3, 3),     # shorter than the receptive field
    (40, 5, 1, 0, 2),    # no padding: a shorter output
    (40, 5, 1, 4, 2),    # padding larger than "same"
    (40, 3, 3, 3, 3),
    (150, 1, 2, 0, 1),   # the residual skip: a strided 1x1 convolution reads every s-th sample
    (151, 1, 3, 0, 1),
]


@pytest.mark.parametrize("n,k,s,p,d", CASES)
def test_values_and_gradients_match_conv1d(n: int, k: int, s: int, p: int, d: int) -> None:
    g = torch.Generator().manual_seed(n * 31 + d)
    x = torch.randn(5, 6, n, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(4, 6, k, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(4, generator=g, dtype=torch.float64, requires_grad=True)
    ref = F.conv1d(x, w, b, s, p, d)
    got = phase_conv1d(x, w, b, s, p, d)
    assert got.shape == ref.shape
    torch.testing.assert_close(got, ref, rtol=1e-12, atol=1e-12)
    up = torch.randn(ref.shape, generator=g, dtype=torch.float64)
    g_ref = torch.autograd.grad(ref, (x, w, b), up)
    g_got = torch.autograd.grad(got, (x, w, b), up)
    for a, e in zip(g_got, g_ref):
        torch.testing.assert_close(a, e, rtol=1e-12, atol=1e-12)


def test_float32_within_rounding_and_without_bias() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 32, 75, generator=g)
    w = torch.randn(32, 32, 7, generator=g) * 0.1
    ref = F.conv1d(x, w, None, 1, 12, 4)
    got = phase_conv1d(x, w, None, 1, 12, 4)
    assert (got - ref).abs().max() <= 1e-5 * ref.abs().max()


def test_other_configurations_run_as_conv1d() -> None:
    """Stride ≠ dilation with stride > 1, or padding not a multiple of d, are not split."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 3, 50, generator=g, dtype=torch.float64)
    w = torch.randn(2, 3, 5, generator=g, dtype=torch.float64)
    for s, p, d in ((2, 4, 4), (1, 3, 2), (3, 6, 2)):
        torch.testing.assert_close(phase_conv1d(x, w, None, s, p, d), F.conv1d(x, w, None, s, p, d))


def test_switch_off_gives_conv1d_bit_for_bit(monkeypatch: pytest.MonkeyPatch) -> None:
    x = torch.randn(8, 32, 75)
    w = torch.randn(32, 32, 7)
    monkeypatch.setattr(phase_conv, "ENABLED", False)
    assert torch.equal(phase_conv1d(x, w, None, 1, 12, 4), F.conv1d(x, w, None, 1, 12, 4))


def test_module_is_a_conv1d_with_its_state_dict() -> None:
    """Checkpoints of the plain nn.Conv1d network load into the PhaseConv1d one and give the same
    logits (float rounding); hooks fire; the repr and parameter names are Conv1d's; it pickles
    and deep-copies as a PhaseConv1d."""
    torch.manual_seed(0)
    model = build_model(9).eval()
    convs = [m for m in model.modules() if isinstance(m, PhaseConv1d)]
    assert len(convs) == 9 and all(isinstance(m, nn.Conv1d) for m in convs)
    assert "PhaseConv1d" not in repr(model)
    plain = copy.deepcopy(model)
    for m in plain.modules():
        if type(m) is PhaseConv1d:
            m.__class__ = nn.Conv1d
    plain.load_state_dict(model.state_dict())
    x = torch.randn(16, 12, 300)
    seen = []
    h = convs[-1].register_forward_hook(lambda mod, inp, out: seen.append(out.shape))
    with torch.no_grad():
        a, b = model(x), plain(x)
    h.remove()
    assert seen == [torch.Size([16, 32, 75])]
    assert (a - b).abs().max() <= 1e-5 * b.abs().max()
    back = pickle.loads(pickle.dumps(model))
    assert isinstance(back, ECGCNN) and type(back.blocks[3].conv2) is PhaseConv1d
    with torch.no_grad():
        assert torch.equal(back(x), a)


def test_training_gradients_match_plain_model() -> None:
    """One training step's gradients of the default CNN, PhaseConv1d vs nn.Conv1d, in float64."""
    torch.manual_seed(0)
    model = build_model(9).double().train()
    plain = copy.deepcopy(model)
    for m in plain.modules():
        if type(m) is PhaseConv1d:
            m.__class__ = nn.Conv1d
    x = torch.randn(12, 12, 300, dtype=torch.float64)
    y = torch.arange(12) % 9
    grads = []
    for net in (model, plain):
        torch.manual_seed(1)  # the same dropout mask
        F.cross_entropy(net(x), y).backward()
        grads.append([p.grad for p in net.parameters()])
    for a, e in zip(*grads):
        torch.testing.assert_close(a, e, rtol=1e-10, atol=1e-12)
