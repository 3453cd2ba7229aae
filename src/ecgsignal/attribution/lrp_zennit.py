"""Layer-wise relevance propagation through zennit: the EpsilonGammaBox composite, BatchNorm folded.

The paper's ``lrp`` is computed with zennit (Anders et al. 2021), the LRP library of the group that
defined the method, with its published composite :class:`~zennit.composites.EpsilonGammaBox`
(Montavon et al. 2019, "Layer-wise relevance propagation: an overview", sec. 10.2: ε for dense
layers near the output, γ for the convolutional layers, z^B for the input layer). Rules per layer
type of :class:`~ecgsignal.models.cnn.ECGCNN` (:data:`RULES` holds the same table):

============================  ===============================================================
layer                          rule
============================  ===============================================================
first ``Conv1d`` (the stem)    z^B (``ZBox``) with the box ``[low, high]`` of the input: by
                               default each beat's own ``[min, max]`` over leads and samples
other ``Conv1d`` (block convs, LRP-γ, γ = 0.25 (``Gamma``; positive contributions favoured,
1×1 skip convs)                negative ones kept), the folded BatchNorm's shift as bias
``BatchNorm1d``                folded into the conv before it (zennit's
                               ``SequentialMergeBatchNorm``), then the identity: passed
``ReLU``                       passed unchanged (``Pass``)
residual sum (:class:`Add`)    ``Norm``: relevance split in proportion to the two summands
                               (``z_i / (z_1 + z_2)``), via a stacked ``Sum`` (canonizer below)
``AdaptiveAvgPool1d``          ``Norm`` (proportional to each position's contribution)
``Flatten``, eval ``Dropout``, identity maps: relevance passes unchanged
identity skip
``Linear`` head                LRP-ε, ε = 1e-6
============================  ===============================================================

Why EpsilonGammaBox and not EpsilonPlusFlat: the input is a signed voltage (mV). The flat rule of
EpsilonPlusFlat spreads the first layer's relevance uniformly over each receptive field, so the
map at the input ignores the sample values altogether (28 ms blur for a kernel of 7 at stride 2
on 250 Hz); and its z⁺ rule drops every negative contribution, while ECG evidence is signed
(an inverted T wave). z^B is the rule for a bounded real-valued input, and γ keeps negative
evidence while staying stable.

The relevance at the output is the target logit (``attr_output`` = one-hot × logits), so the
map sums to the logit minus what the biases absorb (the folded BatchNorm shifts and the head's
bias each take their share, as zennit documents) and what the stabilisers absorb (≈ 1e-6).

zennit imports ``torchvision`` at import time, only for canonizers of torchvision's ResNets;
when torchvision is missing (or its compiled ops do not match the installed torch, as with a
CPU-only torch build), :func:`_zennit` provides an empty placeholder for that one import and
removes it again, so nothing else sees a fake torchvision.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from ecgsignal.errors import ConfigError
from ecgsignal.models.cnn import Add

DEFAULT_EPSILON = 1e-6
"""ε of the head's ε-rule (zennit's default for EpsilonGammaBox)."""

DEFAULT_GAMMA = 0.25
"""γ of the convolutional layers' γ-rule (zennit's default; Montavon et al. 2019)."""

RULES: dict[str, str] = {
    "first Conv1d": "ZBox (z^B), box = each beat's [min, max] (or bounds_mv)",
    "Conv1d": "Gamma (γ = 0.25), BatchNorm folded in",
    "BatchNorm1d": "folded into the preceding Conv1d, then passed",
    "ReLU": "Pass",
    "Add (residual sum)": "Norm: proportional to the two summands",
    "AdaptiveAvgPool1d": "Norm: proportional to each position's contribution",
    "Flatten / Dropout / Identity": "unchanged",
    "Linear": "Epsilon (ε = 1e-6)",
}
"""The rule zennit applies per layer type of the default CNN (composite EpsilonGammaBox)."""


def _zennit() -> dict[str, Any]:
    """zennit's pieces we use, imported once (see the module docstring about torchvision)."""
    if importlib.util.find_spec("zennit") is None:
        raise ConfigError(
            "the paper's LRP needs zennit: pip install --no-deps zennit==0.5.1 (--no-deps keeps "
            "your torch; zennit's torchvision requirement is only for torchvision's ResNets)"
        )
    try:
        importlib.import_module("torchvision.models.resnet")
    except Exception:  # absent, or compiled against another torch: zennit only needs two names
        for key in [k for k in sys.modules if k == "torchvision" or k.startswith("torchvision.")]:
            del sys.modules[key]
        placeholder = {name: types.ModuleType(name) for name in
                       ("torchvision", "torchvision.models", "torchvision.models.resnet")}
        resnet = placeholder["torchvision.models.resnet"]
        resnet.Bottleneck = type("Bottleneck", (nn.Module,), {})  # type: ignore[attr-defined]
        resnet.BasicBlock = type("BasicBlock", (nn.Module,), {})  # type: ignore[attr-defined]
        sys.modules.update(placeholder)
        try:
            importlib.import_module("zennit")
        finally:
            for name, mod in placeholder.items():
                if sys.modules.get(name) is mod:
                    del sys.modules[name]
    from zennit.attribution import Gradient
    from zennit.canonizers import AttributeCanonizer, SequentialMergeBatchNorm
    from zennit.composites import EpsilonGammaBox
    from zennit.layer import Sum

    return {"Gradient": Gradient, "AttributeCanonizer": AttributeCanonizer,
            "SequentialMergeBatchNorm": SequentialMergeBatchNorm,
            "EpsilonGammaBox": EpsilonGammaBox, "Sum": Sum}


_Z: dict[str, Any] = {}


def zennit_api() -> dict[str, Any]:
    """Cached :func:`_zennit`."""
    if not _Z:
        _Z.update(_zennit())
    return _Z


def preload_zennit() -> None:
    """Import zennit (if installed) the way :func:`_zennit` does, before another package does.

    Quantus imports zennit whenever it is installed; without a working torchvision that import
    fails. Called before ``import quantus``, this puts a working zennit in ``sys.modules`` first.
    """
    if importlib.util.find_spec("zennit") is not None:
        zennit_api()


def _stacked_sum(self: nn.Module, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a + b`` as zennit's ``Sum`` over a stacked last axis (so its Norm rule applies)."""
    return self.canonizer_sum(torch.stack([a, b], dim=-1))


def _add_attributes(name: str, module: nn.Module) -> dict[str, Any] | None:
    """Attribute map of the residual-sum canonizer: each :class:`Add` sums through a ``Sum``."""
    if isinstance(module, Add):
        return {"forward": types.MethodType(_stacked_sum, module),
                "canonizer_sum": zennit_api()["Sum"](dim=-1)}
    return None


def canonizers() -> list[Any]:
    """BatchNorm folding (``SequentialMergeBatchNorm``) and the residual-sum canonizer."""
    z = zennit_api()
    return [z["SequentialMergeBatchNorm"](), z["AttributeCanonizer"](_add_attributes)]


def unfolded_batchnorms(model: nn.Module) -> list[str]:
    """Names of BatchNorm layers that are not the identity (i.e. were not folded into a conv)."""
    out = []
    for name, m in model.named_modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats:
            ident = (torch.all(m.running_mean == 0) and torch.all(m.running_var == 1)
                     and (m.weight is None or torch.all(m.weight == 1))
                     and (m.bias is None or torch.all(m.bias == 0)))
            if not ident:
                out.append(name)
    return out


def box(x: torch.Tensor, bounds_mv: tuple[float, float] | None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(low, high)`` of the z^B rule, broadcastable to ``x`` ``(c, 12, T)`` (mV).

    ``None``: each beat's own ``[min, max]`` over leads and samples (independent of chunking).
    A pair: a fixed box that must contain every sample of ``x``.
    """
    if bounds_mv is None:
        return x.amin(dim=(1, 2), keepdim=True), x.amax(dim=(1, 2), keepdim=True)
    try:
        lo, hi = (float(v) for v in bounds_mv)
    except (TypeError, ValueError):
        raise ConfigError(f"bounds_mv must be None or (low, high) in mV, got {bounds_mv!r}") from None
    if not lo < hi:
        raise ConfigError(f"bounds_mv must have low < high, got {bounds_mv!r}")
    if float(x.min()) < lo or float(x.max()) > hi:
        raise ConfigError(
            f"bounds_mv={bounds_mv!r} does not contain the beats (range {float(x.min()):.3g} .. "
            f"{float(x.max()):.3g} mV); z^B needs low <= x <= high"
        )
    return (torch.full((1, 1, 1), lo, device=x.device, dtype=x.dtype),
            torch.full((1, 1, 1), hi, device=x.device, dtype=x.dtype))


@contextmanager
def lrp_composite(model: nn.Module, low: torch.Tensor, high: torch.Tensor, *,
                  epsilon: float = DEFAULT_EPSILON,
                  gamma: float = DEFAULT_GAMMA) -> Iterator[Any]:
    """zennit's ``Gradient`` attributor with EpsilonGammaBox registered on ``model``.

    Inside the block the BatchNorms are folded and the rules' hooks attached; on exit zennit
    removes its hooks and canonizers (the parameters and the forward of :class:`Add` are back).

    Raises
    ------
    ConfigError
        A BatchNorm that does not directly follow a linear layer (it could not be folded, and
        passing relevance through it unchanged would be wrong).
    """
    if not epsilon > 0 or not gamma >= 0:
        raise ConfigError(f"LRP needs epsilon > 0 and gamma >= 0, got {epsilon!r}, {gamma!r}")
    z = zennit_api()
    composite = z["EpsilonGammaBox"](low=low, high=high, epsilon=float(epsilon),
                                     gamma=float(gamma), canonizers=canonizers())
    with z["Gradient"](model=model, composite=composite) as attributor:
        left = unfolded_batchnorms(model)
        if left:
            raise ConfigError(
                f"LRP: BatchNorm layer(s) {', '.join(left)} do not follow a Conv/Linear layer "
                "directly, so zennit cannot fold them"
            )
        yield attributor


def lrp_zennit(model: nn.Module, x: torch.Tensor, target: torch.Tensor, *,
               epsilon: float = DEFAULT_EPSILON, gamma: float = DEFAULT_GAMMA,
               bounds_mv: tuple[float, float] | None = None) -> torch.Tensor:
    """LRP maps ``(c, 12, T)`` of the target logits (relevance at the output = the logit)."""
    low, high = box(x, bounds_mv)
    with lrp_composite(model, low, high, epsilon=epsilon, gamma=gamma) as attributor:
        inp = x.detach().clone().requires_grad_(True)
        _, relevance = attributor(
            inp, lambda out: out * nn.functional.one_hot(target, out.shape[1]).to(out.dtype)
        )
    return relevance.detach()
