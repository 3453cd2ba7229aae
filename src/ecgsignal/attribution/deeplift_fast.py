"""DeepLiftSHAP with the reference activations computed once, not once per (beat, baseline).

Captum's ``DeepLiftShap`` expands ``c`` beats × ``b`` baselines into ``c·b`` pairs and runs its
``DeepLift`` on them: one forward **and backward** pass over a doubled batch of ``2·c·b`` rows
(beats repeated, baselines tiled), so each baseline's activations are recomputed for every beat
and the reference half is back-propagated although only the input half's gradient is used.

The rescale rule (Shrikumar et al. 2017) as Captum implements it (``captum/attr/_core/
deep_lift.py``, ``nonlinear``): at every ``nn.ReLU`` module the gradient of the input half is
replaced by ``grad_output · Δout / Δin`` with ``Δin = z − z_ref``, ``Δout = relu(z) −
relu(z_ref)`` (``z`` the ReLU's input), except where ``|Δin| < eps`` (1e-10), where the ordinary
ReLU gradient stays; every other module (convolutions, BatchNorm, pooling, the residual sum, the
head) keeps its gradient. The map is ``mean_k (x − b_k) · multiplier_k``.

Here the ``b`` reference pre-activations are recorded once per call in a forward pass without
gradients, and one forward+backward over the ``c·b`` pairs (beats repeated, in passes of
``max_rows`` pairs) applies the same rule through a custom autograd function at each ReLU: half
the rows of Captum's passes. The maps equal Captum's within float rounding (tested within 1e-5 of
each beat's peak on trained-like and randomised networks, BatchNorm folded and not,
``tests/test_deeplift_fast.py``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

__all__ = ["CAPTUM_EPS", "deeplift_shap_maps", "supported"]

CAPTUM_EPS = 1e-10
"""Captum's ``DeepLift(eps=1e-10)``: below this |Δin| the ordinary ReLU gradient is kept."""


def supported(model: nn.Module) -> bool:
    """Whether the rule can be applied here exactly as Captum does: the only non-linear modules
    Captum's DeepLift knows are ``nn.ReLU`` (no MaxPool, Sigmoid, …; functional activations are
    treated as linear by both), and no ReLU already carries backward hooks."""
    from captum.attr._core.deep_lift import SUPPORTED_NON_LINEAR

    for m in model.modules():
        if type(m) in SUPPORTED_NON_LINEAR and type(m) is not nn.ReLU:
            return False
        if type(m) is nn.ReLU and (m._backward_hooks or m.inplace):
            return False
    return True


class _Rescale(torch.autograd.Function):
    """ReLU whose backward is Captum's rescale rule for the pairs (z row, reference row)."""

    @staticmethod
    def forward(ctx: Any, z: torch.Tensor, z_in: torch.Tensor, z_ref: torch.Tensor,
                eps: float) -> torch.Tensor:
        ctx.save_for_backward(z_in, z_ref)
        ctx.eps = eps
        return torch.relu(z)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        z_in, z_ref = ctx.saved_tensors  # (k·b, …) pairs' rows, (b, …) references
        pairs = (-1,) + tuple(z_ref.shape)
        delta_in = (z_in.view(pairs) - z_ref).view_as(z_in)
        delta_out = (torch.relu(z_in).view(pairs) - torch.relu(z_ref)).view_as(z_in)
        plain = grad * (torch.relu(z_in) > 0)  # autograd's ReLU gradient (threshold_backward)
        return (torch.where(abs(delta_in) < ctx.eps, plain, grad * delta_out / delta_in),
                None, None, None)


def _rescale_hook(z_ref: torch.Tensor, eps: float) -> Any:
    """Forward hook replacing a ReLU's output by :class:`_Rescale` of its input vs ``z_ref``."""

    def hook(m: nn.Module, inp: tuple[torch.Tensor, ...], _out: torch.Tensor) -> torch.Tensor:
        return _Rescale.apply(inp[0], inp[0].detach(), z_ref, eps)

    return hook


def _pre_activations(model: nn.Module, relus: list[nn.Module],
                     x: torch.Tensor) -> list[torch.Tensor] | None:
    """Each ReLU's input on ``x`` (no gradients); ``None`` when a ReLU runs other than once."""
    seen: dict[int, list[torch.Tensor]] = {id(m): [] for m in relus}

    def hook(m: nn.Module, inp: tuple[torch.Tensor, ...]) -> None:
        seen[id(m)].append(inp[0].detach())

    handles = [m.register_forward_pre_hook(hook) for m in relus]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    if any(len(v) != 1 for v in seen.values()):
        return None
    return [seen[id(m)][0] for m in relus]


def deeplift_shap_maps(model: nn.Module, x: torch.Tensor, target: torch.Tensor,
                       baselines: torch.Tensor, max_rows: int,
                       eps: float = CAPTUM_EPS) -> torch.Tensor | None:
    """DeepLiftSHAP maps ``(c, 12, T)``: ``mean_k (x − b_k) ·`` rescale multipliers.

    ``x`` ``(c, 12, T)``, ``target`` ``(c,)``, ``baselines`` ``(b, 12, T)``; passes of at most
    ``max_rows`` (beat, baseline) pairs (at least one beat's ``b`` pairs). Returns ``None``
    where Captum's semantics cannot be reproduced here (:func:`supported`, a ReLU module used
    more or less than once per forward): the caller then uses Captum.
    """
    if not supported(model):
        return None
    relus = [m for m in model.modules() if type(m) is nn.ReLU]
    c, b = x.shape[0], baselines.shape[0]
    z_ref = _pre_activations(model, relus, baselines)
    if z_ref is None:
        return None
    step = max(1, int(max_rows) // b)
    out = torch.empty_like(x)
    for s in range(0, c, step):
        k = min(c, s + step) - s
        handles = [m.register_forward_hook(_rescale_hook(zr, eps)) for m, zr in zip(relus, z_ref)]
        try:
            inp = x[s:s + k].repeat_interleave(b, dim=0).requires_grad_(True)
            logits = model(inp)
            sel = logits.gather(1, target[s:s + k].repeat_interleave(b)[:, None])
            (grad,) = torch.autograd.grad(sel.sum(), inp)
        finally:
            for h in handles:
                h.remove()
        base = baselines.repeat((k,) + (1,) * (baselines.dim() - 1))
        attr = (inp.detach() - base) * grad
        out[s:s + k] = attr.view((k, b) + tuple(x.shape[1:])).mean(dim=1)
    return out
