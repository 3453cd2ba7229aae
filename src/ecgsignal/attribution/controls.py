"""Null explainers: maps that ignore the model and the target, reported beside every method.

Binder et al. (2023) showed that sanity checks can rank such "explanations" as well as real ones;
Adebayo et al. (2018) used an edge detector as the model-free reference. A method that does not
beat these controls in an experiment tells us nothing that the input alone would not.
"""

from __future__ import annotations

import numpy as np
import torch

from ecgsignal.attribution.registry import MethodContext, MethodSpec, register_method
from ecgsignal.errors import ConfigError

_BINDER = ("Binder et al. 2023, Shortcomings of top-down randomization-based sanity checks for "
           "evaluations of deep neural network explanations, CVPR, arXiv:2211.12486; "
           "Kokhlikyan et al. 2021, Investigating sanity checks for saliency maps with image and "
           "text classification, arXiv:2106.07475")
_ADEBAYO = ("Adebayo et al. 2018, Sanity checks for saliency maps, NeurIPS, arXiv:1810.03292; "
            f"{_BINDER}")


@register_method(MethodSpec(
    name="random", kind="control", paper=False, stochastic=True, multiplies_input=False,
    lead_resolved=True, citation=_BINDER, target_dependent=False,
    description="Standard normal noise, seeded per beat; independent of model, input and target.",
))
def random_control(ctx: MethodContext, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """N(0, 1) noise ``(c, 12, T)`` from the per-beat generators (seed, beat index)."""
    shape = tuple(x.shape[1:])
    noise = np.stack([r.standard_normal(shape, dtype=np.float32)
                      for r in ctx.beat_rngs(x.shape[0])])
    return torch.from_numpy(noise).to(x.device)


@register_method(MethodSpec(
    name="input", kind="control", paper=False, stochastic=False, multiplies_input=True,
    lead_resolved=True, citation=_BINDER, target_dependent=False,
    description="|x| in mV: the input itself (what input-multiplying methods drift towards).",
))
def input_control(ctx: MethodContext, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The absolute input ``|x|`` (mV)."""
    return x.abs()


@register_method(MethodSpec(
    name="edge", kind="control", paper=False, stochastic=False, multiplies_input=False,
    lead_resolved=True, citation=_ADEBAYO, target_dependent=False,
    description="|dx/dt| in mV/s per lead (central differences): an edge detector.",
))
def edge_control(ctx: MethodContext, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Edge detector ``|dx/dt|`` (mV/s): central differences inside, one-sided at the ends."""
    if x.shape[-1] < 2:
        raise ConfigError("the edge control needs at least 2 samples per lead")
    (grad,) = torch.gradient(x, spacing=1.0 / ctx.fs, dim=-1)
    return grad.abs()


@register_method(MethodSpec(
    name="input_noise", kind="control", paper=False, stochastic=True, multiplies_input=True,
    lead_resolved=True, citation=_BINDER, target_dependent=False,
    description="x ⊙ n with n ~ N(0, 1) seeded per beat (fresh per model): the matched null of "
                "the methods that multiply by the input.",
))
def input_noise_control(ctx: MethodContext, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``x ⊙ n`` (mV), ``n`` standard normal from the per-beat generators (seed, beat index).

    Two such maps with independent noise correlate at Spearman(|x⊙n₁|, |x⊙n₂|) ≈ 0.64 on
    synthetic beats (the matched null of Experiment 3): the share of "similarity after full randomisation" that an
    input-multiplying method keeps from the input alone, whatever the weights.
    """
    shape = tuple(x.shape[1:])
    noise = np.stack([r.standard_normal(shape, dtype=np.float32)
                      for r in ctx.beat_rngs(x.shape[0])])
    return x * torch.from_numpy(noise).to(x.device)
