"""Class-activation maps: Grad-CAM and Guided Grad-CAM on the last convolutional stage.

Leads are the CNN's input channels, so a Grad-CAM map over the last convolutional layer's time
axis has no lead axis: it is upsampled to ``T`` by linear interpolation and *broadcast to all 12
leads* (the spec says so: ``lead_resolved=False``). Guided Grad-CAM multiplies that map by Guided
Backpropagation, which does resolve leads.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from captum.attr import GuidedGradCam, LayerGradCam
from torch import nn

from ecgsignal.attribution.registry import MethodContext, MethodSpec, register_method
from ecgsignal.errors import ConfigError

_SELVARAJU = ("Selvaraju et al. 2017, Grad-CAM: visual explanations from deep networks via "
              "gradient-based localization, ICCV, arXiv:1610.02391")


def resolve_layer(model: nn.Module, layer: nn.Module | str | None) -> nn.Module:
    """The layer a CAM is computed on: ``model.last_conv`` by default, or a name / submodule.

    Raises
    ------
    ConfigError
        No ``last_conv`` on the model and no layer given, an unknown name, or a module that is
        not part of ``model``.
    """
    if layer is None:
        last = getattr(model, "last_conv", None)
        if not isinstance(last, nn.Module):
            raise ConfigError(
                f"{type(model).__name__} has no `last_conv`; pass layer=<submodule or its name> "
                "for Grad-CAM"
            )
        return last
    named = dict(model.named_modules())
    if isinstance(layer, str):
        if layer not in named:
            raise ConfigError(f"no layer {layer!r} in the model; layers: {', '.join(named)}")
        return named[layer]
    if isinstance(layer, nn.Module) and any(m is layer for m in named.values()):
        return layer
    raise ConfigError(f"layer must be a submodule of the model or its name, got {layer!r}")


@register_method(MethodSpec(
    name="gradcam", kind="gradient", paper=True, stochastic=False, multiplies_input=False,
    lead_resolved=False, citation=_SELVARAJU,
    description="Grad-CAM on the last conv stage with its ReLU (>= 0), linearly upsampled to T, "
                "broadcast to all 12 leads (no lead axis: leads are channels).",
))
def gradcam(ctx: MethodContext, x: torch.Tensor, target: torch.Tensor, *,
            layer: nn.Module | str | None = None,
            relu_attributions: bool = True) -> torch.Tensor:
    """Grad-CAM (Selvaraju et al. 2017, eq. 2) via Captum's ``LayerGradCam``.

    The map on the layer's time axis ``T'`` is ``ReLU(Σ_k α_k A^k)``: the channel sum of
    activations weighted by their time-averaged gradients, then the paper's ReLU, which keeps
    only evidence *for* the class (so the map is >= 0 everywhere, also for an explained negative
    or a randomised model). Upsampled to ``T`` with ``F.interpolate(mode="linear",
    align_corners=False)`` (a convex combination, so it stays >= 0) and repeated over the 12
    leads. ``relu_attributions=False`` gives the signed map without the ReLU (not the paper's
    method; for inspection only).
    """
    cam = LayerGradCam(ctx.model, resolve_layer(ctx.model, layer)).attribute(
        x, target=target, relu_attributions=bool(relu_attributions)
    )
    if cam.dim() != 3 or cam.shape[1] != 1:
        raise ConfigError(
            f"Grad-CAM layer must output (n, channels, time); its map has shape {tuple(cam.shape)}"
        )
    up = F.interpolate(cam, size=x.shape[-1], mode="linear", align_corners=False)
    return up.expand(-1, x.shape[1], -1)


@register_method(MethodSpec(
    name="guided_gradcam", kind="gradient", paper=True, stochastic=False,
    multiplies_input=False, lead_resolved=True, citation=_SELVARAJU,
    description="Guided Backprop times ReLU(Grad-CAM) on the last conv stage, linearly upsampled.",
    rows_per_beat=lambda o, t, fs, nb: 2,
))
def guided_gradcam(ctx: MethodContext, x: torch.Tensor, target: torch.Tensor, *,
                   layer: nn.Module | str | None = None) -> torch.Tensor:
    """Guided Grad-CAM (Selvaraju et al. 2017) via Captum's ``GuidedGradCam``.

    Captum applies the ReLU to the CAM (as the paper and :func:`gradcam` do) and upsamples it to
    ``T``; we ask for linear interpolation, as for :func:`gradcam`. So Guided Grad-CAM =
    Guided Backprop ⊙ (the upsampled ``gradcam`` map of the same layer).
    """
    return GuidedGradCam(ctx.model, resolve_layer(ctx.model, layer)).attribute(
        x, target=target, interpolate_mode="linear"
    )
