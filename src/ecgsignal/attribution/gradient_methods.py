"""Backpropagation-based methods: gradients, path integrals, DeepLIFT (Captum), LRP (zennit).

Every function takes one chunk of beats ``x`` ``(c, 12, T)`` (mV, on ``ctx.device``) and the
target classes ``(c,)`` and returns signed maps ``(c, 12, T)``. Settings follow PROTOCOLS.md;
each keyword-only parameter is an option ``attribute(..., name=value)`` can override.

SmoothGrad, VarGrad and GradientSHAP draw their noise / baselines / interpolation points from
per-beat numpy generators (seed, beat index, method) instead of Captum's ``NoiseTunnel``, whose
draws come from torch's global RNG and whose ``stdevs`` is one number per input tensor, not per
beat. The estimators are Captum's: the mean (variance) of ``Saliency`` over noisy copies, and
``mean_k ∇f(b_k + α_k (x − b_k)) ⊙ (x − b_k)`` for GradientSHAP with ``stdevs=0``. Drawing on
the CPU makes the noise identical on every device and independent of the chunking.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import torch
from captum.attr import (
    LRP,
    Deconvolution,
    DeepLift,
    DeepLiftShap,
    GuidedBackprop,
    InputXGradient,
    IntegratedGradients,
)

from ecgsignal.attribution.deeplift_fast import deeplift_shap_maps
from ecgsignal.attribution.lrp_rules import DEFAULT_EPSILON, attach_lrp_rules
from ecgsignal.attribution.lrp_zennit import DEFAULT_EPSILON as ZENNIT_EPSILON
from ecgsignal.attribution.lrp_zennit import DEFAULT_GAMMA, lrp_zennit
from ecgsignal.attribution.registry import MethodContext, MethodSpec, register_method
from ecgsignal.errors import ConfigError
from ecgsignal.validation import check_int

_SIMONYAN = ("Simonyan, Vedaldi & Zisserman 2014, Deep inside convolutional networks: visualising "
             "image classification models and saliency maps, ICLR workshop, arXiv:1312.6034")
_SHRIKUMAR16 = ("Shrikumar et al. 2016, Not just a black box: learning important features through "
                "propagating activation differences, arXiv:1605.01713")
_SUNDARARAJAN = ("Sundararajan, Taly & Yan 2017, Axiomatic attribution for deep networks, ICML, "
                 "arXiv:1703.01365")
_SMILKOV = ("Smilkov et al. 2017, SmoothGrad: removing noise by adding noise, "
            "arXiv:1706.03825")
_ADEBAYO_VG = ("Adebayo et al. 2018, Local explanation methods for deep neural networks lack "
               "sensitivity to parameter values, ICLR workshop, arXiv:1810.03307")
_SPRINGENBERG = ("Springenberg et al. 2015, Striving for simplicity: the all convolutional net, "
                 "ICLR workshop, arXiv:1412.6806")
_ZEILER = ("Zeiler & Fergus 2014, Visualizing and understanding convolutional networks, ECCV, "
           "arXiv:1311.2901")
_SHRIKUMAR17 = ("Shrikumar, Greenside & Kundaje 2017, Learning important features through "
                "propagating activation differences, ICML, arXiv:1704.02685")
_LUNDBERG = ("Lundberg & Lee 2017, A unified approach to interpreting model predictions, "
             "NeurIPS, arXiv:1705.07874")
_ERION = ("Erion et al. 2021, Improving performance of deep learning models with axiomatic "
          "attribution priors and expected gradients, Nat Mach Intell, arXiv:1906.10670")
_BACH = ("Bach et al. 2015, On pixel-wise explanations for non-linear classifier decisions by "
         "layer-wise relevance propagation, PLoS ONE, doi:10.1371/journal.pone.0130140; "
         "Montavon et al. 2019, Layer-wise relevance propagation: an overview")
_ANDERS = ("Anders et al. 2021, Software for dataset-wide XAI: from local explanations to global "
           "insights with Zennit, CoRelAy, and ViRelAy, arXiv:2106.13200")
_ANCONA = ("Ancona et al. 2018, Towards better understanding of gradient-based attribution "
           "methods for deep neural networks, ICLR, arXiv:1711.06104")


def _rows_gradients(model: torch.nn.Module, rows: torch.Tensor, target: torch.Tensor,
                    max_rows: int) -> torch.Tensor:
    """Signed input gradients of the target logits of ``rows`` ``(m, 12, T)``, in passes of
    ``max_rows`` rows: ``(m, 12, T)``.

    Captum's ``Saliency(model).attribute(block, target=t, abs=False)`` without its wrapper: the
    same forward, ``gather`` of the target logits and backward (a ``sum`` of the selected logits
    instead of Captum's ``unbind``: the same unit output gradients), so the same numbers bit for
    bit (tested) with less per-pass overhead.
    """
    parts = []
    with torch.enable_grad():
        for start in range(0, rows.shape[0], max_rows):
            block = rows[start:start + max_rows].detach().requires_grad_(True)
            out = model(block)
            chosen = out.gather(1, target[start:start + max_rows].reshape(-1, 1))
            parts.append(torch.autograd.grad(chosen.sum(), block)[0])
    return torch.cat(parts) if len(parts) > 1 else parts[0]


def _n_samples_rows(options: Mapping[str, Any], n_samples: int, fs: float, nb: int) -> int:
    return int(options["n_samples"])


# ----------------------------------------------------------------------------- plain gradients
@register_method(MethodSpec(
    name="saliency", kind="gradient", paper=True, stochastic=False, multiplies_input=False,
    lead_resolved=True, citation=_SIMONYAN,
    description="Signed gradient of the target logit w.r.t. the input (abs taken at evaluation).",
))
def saliency(ctx: MethodContext, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Saliency: ``∂f_c/∂x`` (Simonyan et al. 2014), signed (Captum ``abs=False``; computed by
    :func:`_rows_gradients` in one pass, the same numbers as Captum's ``Saliency``)."""
    return _rows_gradients(ctx.model, x, target, max(1, x.shape[0]))


@register_method(MethodSpec(
    name="input_x_gradient", kind="gradient", paper=True, stochastic=False,
    multiplies_input=True, lead_resolved=True, citation=_SHRIKUMAR16,
    description="Input times the gradient of the target logit.",
))
def input_x_gradient(ctx: MethodContext, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Gradient × Input: ``x ⊙ ∂f_c/∂x`` (Shrikumar et al. 2016)."""
    return InputXGradient(ctx.model).attribute(x, target=target)


@register_method(MethodSpec(
    name="integrated_gradients", kind="gradient", paper=True, stochastic=False,
    multiplies_input=True, lead_resolved=True, citation=_SUNDARARAJAN,
    description="Path integral of gradients from a zero baseline, 50 Gauss-Legendre steps.",
    rows_per_beat=lambda o, t, fs, nb: int(o["n_steps"]),
))
def integrated_gradients(ctx: MethodContext, x: torch.Tensor, target: torch.Tensor, *,
                         n_steps: int = 50, quadrature: str = "gausslegendre") -> torch.Tensor:
    """Integrated Gradients (Sundararajan et al. 2017) from the zero beat (0 mV).

    ``n_steps`` points of Captum's ``quadrature`` rule (its ``method``: ``"gausslegendre"``, the
    default, or ``"riemann_trapezoid"`` etc.); the
    ``c * n_steps`` rows run in passes of ``ctx.max_rows`` (Captum's ``internal_batch_size``).
    """
    n_steps = check_int(n_steps, "n_steps")
    rows = x.shape[0] * n_steps
    ibs = None if rows <= ctx.max_rows else max(ctx.max_rows, x.shape[0])
    return IntegratedGradients(ctx.model).attribute(
        x, baselines=torch.zeros_like(x), target=target, n_steps=n_steps, method=quadrature,
        internal_batch_size=ibs,
    )


def _beat_groups(c: int, max_rows: int, n_samples: int) -> Iterator[tuple[int, int]]:
    """``(start, stop)`` of consecutive groups of whole beats out of ``c``, each of at most
    ``max_rows // n_samples`` beats (at least one), so that a group's ``n_samples`` rows per beat
    fill about one pass."""
    group = max(1, max_rows // n_samples)
    for s in range(0, c, group):
        yield s, min(c, s + group)


def _noisy_gradients(ctx: MethodContext, x: torch.Tensor, target: torch.Tensor,
                     n_samples: int, sigma_frac: float, reduce: str) -> torch.Tensor:
    """The mean (``reduce="mean"``) or population variance (``"var"``) of the gradients at
    ``n_samples`` noisy copies per beat: ``(c, 12, T)``.

    Noise: N(0, σ²) with σ = ``sigma_frac`` · (max − min) of the beat (all leads), one draw
    ``(n_samples, 12, T)`` per beat from its generator in ``ctx.beat_rngs``. Streamed in groups
    of whole beats (``max(1, ctx.max_rows // n_samples)`` per group): each group's noisy rows
    and gradients are made, reduced into the output and dropped, so memory stays at one pass
    (the noise, and so the maps, are those of drawing all rows at once).
    """
    n_samples = check_int(n_samples, "n_samples")
    if not (isinstance(sigma_frac, (int, float)) and sigma_frac >= 0):
        raise ConfigError(f"sigma_frac must be a number >= 0, got {sigma_frac!r}")
    c = x.shape[0]
    shape = (n_samples,) + tuple(x.shape[1:])
    rngs = ctx.beat_rngs(c)
    sigma = sigma_frac * (x.amax(dim=(1, 2)) - x.amin(dim=(1, 2)))
    out = torch.empty_like(x)
    for s, e in _beat_groups(c, ctx.max_rows, n_samples):
        noise = np.empty((e - s,) + shape, dtype=np.float32)
        for i in range(s, e):
            rngs[i].standard_normal(shape, dtype=np.float32, out=noise[i - s])
        noisy = torch.from_numpy(noise).to(x.device)
        noisy.mul_(sigma[s:e].view(-1, 1, 1, 1)).add_(x[s:e, None])  # x + σ·ε, as before
        grads = _rows_gradients(ctx.model, noisy.view((-1,) + shape[1:]),
                                target[s:e].repeat_interleave(n_samples), ctx.max_rows)
        grads = grads.view((e - s,) + shape)
        out[s:e] = grads.mean(dim=1) if reduce == "mean" else grads.var(dim=1, correction=0)
    return out


@register_method(MethodSpec(
    name="smoothgrad", kind="gradient", paper=True, stochastic=True, multiplies_input=False,
    lead_resolved=True, citation=_SMILKOV,
    description="Mean gradient over 25 noisy copies, σ = 0.1·(max − min) of each beat.",
    rows_per_beat=_n_samples_rows,
))
def smoothgrad(ctx: MethodContext, x: torch.Tensor, target: torch.Tensor, *,
               n_samples: int = 25, sigma_frac: float = 0.1) -> torch.Tensor:
    """SmoothGrad (Smilkov et al. 2017): ``mean_k ∂f_c/∂x (x + ε_k)``, ε_k ~ N(0, σ²)."""
    return _noisy_gradients(ctx, x, target, n_samples, sigma_frac, "mean")


@register_method(MethodSpec(
    name="vargrad", kind="gradient", paper=False, stochastic=True, multiplies_input=False,
    lead_resolved=True, citation=_ADEBAYO_VG,
    description="Variance of the gradient over 25 noisy copies (SmoothGrad's noise); >= 0.",
    rows_per_beat=_n_samples_rows,
))
def vargrad(ctx: MethodContext, x: torch.Tensor, target: torch.Tensor, *,
            n_samples: int = 25, sigma_frac: float = 0.1) -> torch.Tensor:
    """VarGrad (Adebayo et al. 2018): population variance of SmoothGrad's gradients."""
    return _noisy_gradients(ctx, x, target, n_samples, sigma_frac, "var")


# ----------------------------------------------------------------------------- modified backprop
@register_method(MethodSpec(
    name="guided_backprop", kind="gradient", paper=True, stochastic=False,
    multiplies_input=False, lead_resolved=True, citation=_SPRINGENBERG,
    description="Gradient with ReLUs passing only positive gradients backwards.",
))
def guided_backprop(ctx: MethodContext, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Guided Backpropagation (Springenberg et al. 2015)."""
    return GuidedBackprop(ctx.model).attribute(x, target=target)


@register_method(MethodSpec(
    name="deconvolution", kind="gradient", paper=False, stochastic=False,
    multiplies_input=False, lead_resolved=True, citation=_ZEILER,
    description="Deconvnet: ReLU applied to the backward signal instead of the forward mask.",
))
def deconvolution(ctx: MethodContext, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Deconvolution (Zeiler & Fergus 2014)."""
    return Deconvolution(ctx.model).attribute(x, target=target)


# ----------------------------------------------------------------------------- reference-based
@register_method(MethodSpec(
    name="deeplift", kind="gradient", paper=True, stochastic=False, multiplies_input=True,
    lead_resolved=True, citation=_SHRIKUMAR17,
    description="DeepLIFT (rescale rule) against the zero beat.",
    rows_per_beat=lambda o, t, fs, nb: 2,
))
def deeplift(ctx: MethodContext, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """DeepLIFT, rescale rule (Shrikumar et al. 2017), zero baseline; sums to f(x) − f(0).

    By :func:`.deeplift_fast.deeplift_shap_maps` with the one zero beat as the baseline (its
    activations once per chunk: ``c`` rows instead of Captum's ``2c``; equal to Captum's
    ``DeepLift``, tested), Captum (:func:`deeplift_captum`) where that does not apply.
    """
    maps = deeplift_shap_maps(ctx.model, x, target, torch.zeros_like(x[:1]), ctx.max_rows)
    return deeplift_captum(ctx, x, target) if maps is None else maps


def deeplift_captum(ctx: MethodContext, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The reference: Captum's ``DeepLift`` against the zero beat."""
    return DeepLift(ctx.model).attribute(x, baselines=torch.zeros_like(x), target=target)


@register_method(MethodSpec(
    name="deeplift_shap", kind="gradient", paper=True, stochastic=False,
    multiplies_input=True, lead_resolved=True, citation=_LUNDBERG,
    description="DeepLIFT averaged over a fixed random sample of training beats as baselines.",
    needs_baselines=True,
    rows_per_beat=lambda o, t, fs, nb: 2 * max(nb, 1),
))
def deeplift_shap(ctx: MethodContext, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """DeepLiftSHAP (Lundberg & Lee 2017): mean DeepLIFT map over all ``b`` baselines.

    Deterministic given the baselines (choose them with :func:`make_baselines`, seeded).
    Computed by :func:`.deeplift_fast.deeplift_shap_maps` (Captum's rescale rule, the baselines'
    activations once per chunk, ``c · b`` rows forward+backward instead of Captum's ``2 · c · b``;
    maps equal to Captum's ``DeepLiftShap``, tested; measured 1.8-2.1x faster), with Captum
    (:func:`deeplift_shap_captum`) for models whose non-linearities it does not cover.
    """
    assert ctx.baselines is not None
    maps = deeplift_shap_maps(ctx.model, x, target, ctx.baselines, ctx.max_rows)
    return deeplift_shap_captum(ctx, x, target) if maps is None else maps


def deeplift_shap_captum(ctx: MethodContext, x: torch.Tensor,
                         target: torch.Tensor) -> torch.Tensor:
    """The reference: Captum's ``DeepLiftShap``, in calls of at most ``ctx.max_rows`` rows
    (``2 · c · b`` rows each; 128-256-row passes measured fastest with ``ecgsignal bench``)."""
    assert ctx.baselines is not None
    step = max(1, ctx.max_rows // (2 * ctx.baselines.shape[0]))
    parts = [DeepLiftShap(ctx.model).attribute(x[i:i + step], baselines=ctx.baselines,
                                               target=target[i:i + step])
             for i in range(0, x.shape[0], step)]
    return torch.cat(parts) if len(parts) > 1 else parts[0]


@register_method(MethodSpec(
    name="gradient_shap", kind="gradient", paper=True, stochastic=True, multiplies_input=True,
    lead_resolved=True, citation=f"{_LUNDBERG}; {_ERION}",
    description="Expected gradients: 25 draws of a training-beat baseline and a point on the path.",
    needs_baselines=True,
    rows_per_beat=_n_samples_rows,
))
def gradient_shap(ctx: MethodContext, x: torch.Tensor, target: torch.Tensor, *,
                  n_samples: int = 25) -> torch.Tensor:
    """GradientSHAP (Lundberg & Lee 2017; Captum's ``GradientShap`` with ``stdevs=0``).

    Per beat, ``n_samples`` draws of a baseline ``b_k`` (uniform over the given baselines) and
    ``α_k ~ U(0, 1)``; the map is ``mean_k ∇f(b_k + α_k (x − b_k)) ⊙ (x − b_k)``. Streamed in
    groups of whole beats as :func:`_noisy_gradients` (the draws are made per beat first, as
    before, so they do not depend on the grouping).
    """
    n_samples = check_int(n_samples, "n_samples")
    base = ctx.baselines
    assert base is not None
    c = x.shape[0]
    idx = np.empty((c, n_samples), dtype=np.int64)
    alpha = np.empty((c, n_samples), dtype=np.float32)
    for i, r in enumerate(ctx.beat_rngs(c)):
        idx[i] = r.integers(0, base.shape[0], n_samples)
        alpha[i] = r.random(n_samples, dtype=np.float32)
    idx_t = torch.from_numpy(idx).to(x.device)
    alpha_t = torch.from_numpy(alpha).to(x.device)
    out = torch.empty_like(x)
    for s, e in _beat_groups(c, ctx.max_rows, n_samples):
        b = base[idx_t[s:e]]  # (g, S, 12, T)
        diff = x[s:e, None] - b
        points = (b + alpha_t[s:e].view(e - s, n_samples, 1, 1) * diff).reshape(
            ((e - s) * n_samples,) + tuple(x.shape[1:]))
        grads = _rows_gradients(ctx.model, points, target[s:e].repeat_interleave(n_samples),
                                ctx.max_rows)
        out[s:e] = (grads.view_as(diff) * diff).mean(dim=1)
    return out


# ----------------------------------------------------------------------------- LRP
@register_method(MethodSpec(
    name="lrp", kind="gradient", paper=True, stochastic=False, multiplies_input=True,
    lead_resolved=True, citation=f"{_BACH}; {_ANDERS}",
    description="LRP through zennit, composite EpsilonGammaBox: z^B (box = the beat's range) on "
                "the first conv, γ = 0.25 on the other convs (BatchNorm folded in), Norm on the "
                "residual sum and pooling, ε = 1e-6 on the head; sums to the logit.",
    rows_per_beat=lambda o, t, fs, nb: 4,
))
def lrp(ctx: MethodContext, x: torch.Tensor, target: torch.Tensor, *,
        epsilon: float = ZENNIT_EPSILON, gamma: float = DEFAULT_GAMMA,
        bounds_mv: tuple[float, float] | None = None) -> torch.Tensor:
    """LRP (Bach et al. 2015) with zennit's EpsilonGammaBox composite (Montavon et al. 2019).

    Rules per layer type (:data:`ecgsignal.attribution.lrp_zennit.RULES`):

    * first ``Conv1d``: z^B, box ``[low, high]`` = each beat's ``[min, max]`` over leads and
      samples (``bounds_mv=(low, high)`` fixes one box for all beats);
    * other ``Conv1d`` (block and 1×1 skip convolutions): γ-rule, ``gamma`` = 0.25;
    * ``BatchNorm1d``: folded into the preceding convolution by zennit's
      ``SequentialMergeBatchNorm`` (then the identity);
    * ``ReLU``: passed; ``Flatten``, eval ``Dropout``, the identity skip: unchanged;
    * residual sum ``Add`` and ``AdaptiveAvgPool1d``: ``Norm``, relevance split in proportion to
      each input's contribution;
    * ``Linear`` head: ε-rule, ``epsilon`` = 1e-6.

    The relevance put on the output is the target logit, so a map sums to the logit minus what
    the biases (folded BatchNorm shifts, head bias) and the stabilisers absorb. Why this
    composite and not EpsilonPlusFlat: see :mod:`ecgsignal.attribution.lrp_zennit`.
    """
    return lrp_zennit(ctx.model, x, target, epsilon=float(epsilon), gamma=float(gamma),
                      bounds_mv=bounds_mv)


@register_method(MethodSpec(
    name="lrp_epsilon_captum", kind="gradient", paper=False, stochastic=False,
    multiplies_input=True, lead_resolved=True, citation=f"{_BACH}; {_ANCONA}",
    description="Captum's LRP with the ε-rule (ε = 1e-9) on every layer: on a ReLU network this "
                "IS Input×Gradient (Ancona et al. 2018), a pitfall kept for chapter 09.",
    rows_per_beat=lambda o, t, fs, nb: 2,
))
def lrp_epsilon_captum(ctx: MethodContext, x: torch.Tensor, target: torch.Tensor, *,
                       epsilon: float = DEFAULT_EPSILON) -> torch.Tensor:
    """LRP-ε via Captum's ``LRP`` with the rules of :mod:`.lrp_rules` (not the paper's ``lrp``).

    Identity (Ancona et al. 2018, "Towards better understanding of gradient-based attribution
    methods", Prop. on ε-LRP): with ε → 0 the ε-rule's ratio ``f(z)/z`` is the ReLU's derivative,
    so on a network of linear layers and ReLUs ε-LRP equals Gradient × Input exactly, with or
    without biases. A widely used LRP configuration is thus Input×Gradient in disguise; the
    test ``test_lrp_epsilon_captum_is_input_x_gradient`` pins the identity.
    """
    with attach_lrp_rules(ctx.model, epsilon=float(epsilon)):
        return LRP(ctx.model).attribute(x, target=target)
