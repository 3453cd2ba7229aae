"""Perturbation methods: Occlusion (paper), Feature Ablation, LIME, KernelSHAP (extras).

Features are patches of one lead × a window of ``window_ms`` (40 ms by default, ``fs`` turns it
into samples; a shorter last window covers the tail), filled with zeros (0 mV) when removed.
Occlusion and Feature Ablation run all beats × perturbations as rows in forward-only passes
(:mod:`.occlusion_fast`; Captum's classes stay as the tested references ``*_captum``);
LIME and KernelSHAP fit one surrogate per beat (Captum loops over beats itself), each seeded from
(seed, beat index, method) with torch's global RNG forked and restored around the call.
"""

from __future__ import annotations

import numpy as np
import torch
from captum.attr import FeatureAblation, KernelShap, Lime, Occlusion

from ecgsignal.attribution.occlusion_fast import ablate_features, occlude_windows
from ecgsignal.attribution.registry import MethodContext, MethodSpec, register_method
from ecgsignal.attribution.surrogates import ridge_model
from ecgsignal.patches import patch_grid, patch_index, patch_length
from ecgsignal.rng import forked_torch_rng
from ecgsignal.validation import check_int

_ZEILER = ("Zeiler & Fergus 2014, Visualizing and understanding convolutional networks, ECCV, "
           "arXiv:1311.2901")
_CAPTUM = ("Kokhlikyan et al. 2020, Captum: a unified and generic model interpretability library "
           "for PyTorch, arXiv:2009.07896")
_RIBEIRO = ("Ribeiro, Singh & Guestrin 2016, \"Why should I trust you?\" Explaining the "
            "predictions of any classifier, KDD, arXiv:1602.04938")
_LUNDBERG = ("Lundberg & Lee 2017, A unified approach to interpreting model predictions, "
             "NeurIPS, arXiv:1705.07874")


def patch_ids(n_leads: int, n_samples: int, length: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """``(1, n_leads, n_samples)`` int64 feature ids: lead-major patches of ``length`` samples
    (``lead · P + patch``, the order of :func:`~ecgsignal.patches.patch_grid`; Captum's ``feature_mask``)."""
    t = torch.as_tensor(patch_index(n_samples, length), device=device)
    lead = torch.arange(n_leads, device=device)[:, None] * (int(t[-1]) + 1)
    return (lead + t[None, :])[None]


def window_samples(window_ms: float, fs: float) -> int:
    """Samples in a window of ``window_ms`` at ``fs`` Hz (:func:`~ecgsignal.patches.patch_length`)."""
    return patch_length(window_ms, fs, "window_ms")


def _occlusion_rows(o, t: int, fs: float, nb: int) -> int:
    return 12 * patch_grid(t, fs, o["window_ms"], name="window_ms")[0] + 1


def _per_eval(ctx: MethodContext, n_beats: int) -> int:
    return max(1, ctx.max_rows // max(1, n_beats))


@register_method(MethodSpec(
    name="occlusion", kind="perturbation", paper=True, stochastic=False,
    multiplies_input=False, lead_resolved=True, citation=_ZEILER,
    description="Drop in the target logit when one lead × 40 ms window is set to 0 mV "
                "(non-overlapping windows).",
    own_perturbation=("patch", "zero"),
    rows_per_beat=_occlusion_rows,
))
def occlusion(ctx: MethodContext, x: torch.Tensor, target: torch.Tensor, *,
              window_ms: float = 40.0) -> torch.Tensor:
    """Occlusion (Zeiler & Fergus 2014): per lead, windows of ``window_ms`` set to 0 mV.

    Window = stride, so each sample gets the logit drop of the one window covering it (a
    shorter last window covers the tail). Computed by :func:`.occlusion_fast.occlude_windows`,
    all (beat, window) rows in forward-only passes of ``ctx.max_rows`` (for the default CNN
    recomputing only the span a window reaches in the early layers); the maps equal Captum's
    ``Occlusion(sliding_window_shapes=(1, w), strides=(1, w), baselines=0)`` up to float
    rounding (:func:`occlusion_captum` is that reference, tested side by side).
    """
    w = window_samples(window_ms, ctx.fs)
    return occlude_windows(ctx.model, x, target, w, ctx.max_rows)


def occlusion_captum(ctx: MethodContext, x: torch.Tensor, target: torch.Tensor, *,
                     window_ms: float = 40.0) -> torch.Tensor:
    """The reference: Captum's ``Occlusion`` with the settings of :func:`occlusion`."""
    w = window_samples(window_ms, ctx.fs)
    return Occlusion(ctx.model).attribute(
        x, sliding_window_shapes=(1, w), strides=(1, w), baselines=0.0, target=target,
        perturbations_per_eval=_per_eval(ctx, x.shape[0]),
    )


@register_method(MethodSpec(
    name="feature_ablation", kind="perturbation", paper=False, stochastic=False,
    multiplies_input=False, lead_resolved=True, citation=_CAPTUM,
    description="Drop in the target logit when a whole lead is set to 0 mV (one value per lead).",
    own_perturbation=("lead", "zero"),
    rows_per_beat=lambda o, t, fs, nb: 13,
))
def feature_ablation(ctx: MethodContext, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Drop of the target logit when a whole lead is set to 0 mV (the lead view of Experiment
    4), by :func:`.occlusion_fast.ablate_features`; equals Captum's ``FeatureAblation`` with one
    feature per lead up to float rounding (:func:`feature_ablation_captum`, tested)."""
    lead = torch.arange(x.shape[1], device=x.device)[:, None].expand(-1, x.shape[2])
    return ablate_features(ctx.model, x, target, lead, ctx.max_rows)


def feature_ablation_captum(ctx: MethodContext, x: torch.Tensor,
                            target: torch.Tensor) -> torch.Tensor:
    """The reference: Captum ``FeatureAblation`` with one feature per lead."""
    mask = torch.arange(x.shape[1], device=x.device).view(1, -1, 1).expand(1, -1, x.shape[2])
    return FeatureAblation(ctx.model).attribute(
        x, baselines=0.0, target=target, feature_mask=mask,
        perturbations_per_eval=_per_eval(ctx, x.shape[0]),
    )


def _surrogate(ctx: MethodContext, x: torch.Tensor, target: torch.Tensor, explainer,
               n_samples: int, window_ms: float) -> torch.Tensor:
    n_samples = check_int(n_samples, "n_samples", 2)
    w = window_samples(window_ms, ctx.fs)
    mask = patch_ids(x.shape[1], x.shape[2], w, x.device)
    out = torch.empty_like(x)
    seeds = ctx.beat_seeds(x.shape[0])
    with forked_torch_rng(x.device):  # Captum samples from the global RNG
        for i in range(x.shape[0]):  # Captum fits one surrogate per beat anyway
            torch.manual_seed(int(seeds[i].generate_state(1, dtype=np.uint64)[0] >> 1))
            out[i:i + 1] = explainer.attribute(
                x[i:i + 1], target=target[i:i + 1], baselines=0.0, feature_mask=mask,
                n_samples=int(n_samples), perturbations_per_eval=min(int(n_samples),
                                                                     ctx.max_rows),
            )
    return out


@register_method(MethodSpec(
    name="lime", kind="perturbation", paper=False, stochastic=True, multiplies_input=False,
    lead_resolved=True, citation=_RIBEIRO,
    description="LIME over lead × 40 ms patches (400 samples, exponential cosine kernel), "
                "weighted ridge surrogate.",
    own_perturbation=("patch", "zero"),
    rows_per_beat=lambda o, t, fs, nb: int(o["n_samples"]),
))
def lime(ctx: MethodContext, x: torch.Tensor, target: torch.Tensor, *, n_samples: int = 400,
         window_ms: float = 40.0, ridge: float = 1e-2) -> torch.Tensor:
    """LIME (Ribeiro et al. 2016) via Captum's ``Lime``: patches kept with probability 1/2,
    samples weighted by Captum's default exponential kernel on cosine distance (width 1), and a
    closed-form weighted ridge surrogate (:mod:`.surrogates`; Captum's default is a scikit-learn
    Lasso with α = 0.01)."""
    return _surrogate(ctx, x, target, Lime(ctx.model, interpretable_model=ridge_model(ridge)),
                      n_samples, window_ms)


@register_method(MethodSpec(
    name="kernel_shap", kind="perturbation", paper=False, stochastic=True,
    multiplies_input=False, lead_resolved=True, citation=_LUNDBERG,
    description="KernelSHAP over lead × 40 ms patches (400 coalitions), zero-filled.",
    own_perturbation=("patch", "zero"),
    rows_per_beat=lambda o, t, fs, nb: int(o["n_samples"]),
))
def kernel_shap(ctx: MethodContext, x: torch.Tensor, target: torch.Tensor, *,
                n_samples: int = 400, window_ms: float = 40.0) -> torch.Tensor:
    """KernelSHAP (Lundberg & Lee 2017) via Captum's ``KernelShap``: coalitions drawn from the
    Shapley kernel, fitted by weighted least squares (tiny ridge, :mod:`.surrogates`)."""
    ks = KernelShap(ctx.model)
    ks.interpretable_model = ridge_model(1e-6)
    return _surrogate(ctx, x, target, ks, n_samples, window_ms)
