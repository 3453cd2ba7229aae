"""The per-beat reference: what a user writes without the engine, one plain Captum call per beat.

Each method's loop body is one small function registered in :data:`NAIVE_LOOPS` under the
method's name (``@per_beat("saliency")``); :func:`naive_attribute` looks the body up and runs it
beat by beat. Adding a method to the engine comparison is adding one function here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ecgsignal.errors import ConfigError

__all__ = ["NAIVE_LOOPS", "BeatCall", "naive_attribute", "per_beat"]


@dataclass(frozen=True)
class BeatCall:
    """Everything one beat's Captum call needs.

    Attributes
    ----------
    model:
        The network, eval mode, frozen parameters.
    x:
        ``(1, 12, T)`` beat (mV) that requires grad.
    target:
        ``(1,)`` class explained.
    index:
        The beat's index in the call (its noise comes from (seed, index, method)).
    options:
        The method's registered default options.
    baselines:
        ``(b, 12, T)`` reference beats on the device, or ``None``.
    rng:
        ``rng()`` → the beat's own generator, as the engine draws it
        (:meth:`~ecgsignal.attribution.MethodContext.beat_rngs`).
    fs:
        Sampling rate, Hz.
    """

    model: nn.Module
    x: torch.Tensor
    target: torch.Tensor
    index: int
    options: dict[str, Any]
    baselines: torch.Tensor | None
    rng: Callable[[], np.random.Generator]
    fs: float


NAIVE_LOOPS: dict[str, Callable[[BeatCall], torch.Tensor]] = {}
"""Method name → the body of its per-beat loop (``BeatCall`` → ``(1, 12, T)`` map)."""


def per_beat(name: str) -> Callable[[Callable[[BeatCall], torch.Tensor]],
                                    Callable[[BeatCall], torch.Tensor]]:
    """Register the decorated function as the per-beat loop body of method ``name``."""
    def register(fn: Callable[[BeatCall], torch.Tensor]) -> Callable[[BeatCall], torch.Tensor]:
        if name in NAIVE_LOOPS:
            raise ConfigError(f"a per-beat loop for {name!r} is already registered")
        NAIVE_LOOPS[name] = fn
        return fn
    return register


@per_beat("saliency")
def _saliency(c: BeatCall) -> torch.Tensor:
    from captum.attr import Saliency

    return Saliency(c.model).attribute(c.x, target=c.target, abs=False)


@per_beat("input_x_gradient")
def _input_x_gradient(c: BeatCall) -> torch.Tensor:
    from captum.attr import InputXGradient

    return InputXGradient(c.model).attribute(c.x, target=c.target)


@per_beat("integrated_gradients")
def _integrated_gradients(c: BeatCall) -> torch.Tensor:
    from captum.attr import IntegratedGradients

    return IntegratedGradients(c.model).attribute(
        c.x, baselines=torch.zeros_like(c.x), target=c.target, n_steps=int(c.options["n_steps"]),
        method=c.options["quadrature"])


@per_beat("smoothgrad")
def _smoothgrad(c: BeatCall) -> torch.Tensor:
    from captum.attr import Saliency

    k = int(c.options["n_samples"])
    noise = torch.from_numpy(c.rng().standard_normal((k,) + tuple(c.x.shape[1:]),
                                                     dtype=np.float32)).to(c.x.device)
    sigma = float(c.options["sigma_frac"]) * (c.x.amax() - c.x.amin())
    noisy = (c.x + sigma * noise).requires_grad_(True)
    return Saliency(c.model).attribute(noisy, target=c.target.expand(k), abs=False).mean(
        0, keepdim=True)


@per_beat("guided_backprop")
def _guided_backprop(c: BeatCall) -> torch.Tensor:
    from captum.attr import GuidedBackprop

    return GuidedBackprop(c.model).attribute(c.x, target=c.target)


@per_beat("gradcam")
def _gradcam(c: BeatCall) -> torch.Tensor:
    import torch.nn.functional as F
    from captum.attr import LayerGradCam

    cam = LayerGradCam(c.model, c.model.last_conv).attribute(c.x, target=c.target,
                                                             relu_attributions=True)
    return F.interpolate(cam, size=c.x.shape[-1], mode="linear",
                         align_corners=False).expand(-1, c.x.shape[1], -1)


@per_beat("guided_gradcam")
def _guided_gradcam(c: BeatCall) -> torch.Tensor:
    from captum.attr import GuidedGradCam

    return GuidedGradCam(c.model, c.model.last_conv).attribute(c.x, target=c.target,
                                                               interpolate_mode="linear")


@per_beat("deeplift")
def _deeplift(c: BeatCall) -> torch.Tensor:
    from captum.attr import DeepLift

    return DeepLift(c.model).attribute(c.x, baselines=torch.zeros_like(c.x), target=c.target)


@per_beat("deeplift_shap")
def _deeplift_shap(c: BeatCall) -> torch.Tensor:
    from captum.attr import DeepLiftShap

    return DeepLiftShap(c.model).attribute(c.x, baselines=c.baselines, target=c.target)


@per_beat("gradient_shap")
def _gradient_shap(c: BeatCall) -> torch.Tensor:
    from captum.attr import Saliency

    if c.baselines is None:
        raise ConfigError("gradient_shap needs baselines")
    k = int(c.options["n_samples"])
    r = c.rng()
    idx = r.integers(0, c.baselines.shape[0], k)
    alpha = torch.from_numpy(r.random(k, dtype=np.float32)).to(c.x.device).view(k, 1, 1)
    b = c.baselines[torch.from_numpy(idx).to(c.x.device)]
    diff = c.x - b
    grads = Saliency(c.model).attribute((b + alpha * diff).requires_grad_(True),
                                        target=c.target.expand(k), abs=False)
    return (grads * diff).mean(0, keepdim=True)


@per_beat("lrp")
def _lrp(c: BeatCall) -> torch.Tensor:
    """zennit, EpsilonGammaBox with the beat's own box, one beat a call."""
    import torch.nn.functional as F

    from ecgsignal.attribution.lrp_zennit import lrp_composite

    with lrp_composite(c.model, c.x.amin(), c.x.amax(), epsilon=float(c.options["epsilon"]),
                       gamma=float(c.options["gamma"])) as attributor:
        onehot = F.one_hot(c.target, int(c.model(c.x).shape[1])).to(c.x.dtype)
        return attributor(c.x, lambda out: out * onehot)[1]


@per_beat("occlusion")
def _occlusion(c: BeatCall) -> torch.Tensor:
    """All of a beat's windows in one pass (Captum's default of one window per pass would be
    far slower still)."""
    from captum.attr import Occlusion

    from ecgsignal.attribution.perturbation_methods import window_samples

    w = window_samples(c.options["window_ms"], c.fs)
    n_windows = c.x.shape[1] * -(-c.x.shape[2] // w)
    return Occlusion(c.model).attribute(c.x, sliding_window_shapes=(1, w), strides=(1, w),
                                        baselines=0.0, target=c.target,
                                        perturbations_per_eval=n_windows)


def naive_attribute(model: nn.Module, x: np.ndarray, target: np.ndarray, method: str, *,
                    seed: int = 0, baselines: np.ndarray | None = None, fs: float = 250.0,
                    device: str | torch.device = "cpu") -> np.ndarray:
    """The per-beat reference: one plain Captum call per beat, our settings, our noise draws.

    What a user writes without the engine: ``for i in range(n): Explainer(model).attribute(
    x[i:i+1], target=t[i], ...)`` with Captum's defaults for batching inside a beat (IG's 50
    steps, DeepLiftShap's baselines and a beat's SmoothGrad/GradientSHAP samples in one pass;
    Occlusion with all of a beat's windows in one pass). The model runs in eval mode with frozen
    parameters, as in the engine, so both sides compute input gradients only. SmoothGrad and
    GradientSHAP draw their noise from the same per-beat generators as the engine
    (:meth:`MethodContext.beat_rngs`), so the two must agree to rounding.

    Parameters
    ----------
    model:
        A network ``(n, 12, T) -> (n, C)`` on ``device``.
    x:
        ``(n, 12, T)`` beats, mV.
    target:
        ``(n,)`` classes explained.
    method:
        A method with a registered loop (:data:`NAIVE_LOOPS`: the 12 paper methods).
    seed, baselines, fs:
        As in :func:`~ecgsignal.attribution.attribute`.

    Returns
    -------
    numpy.ndarray
        ``(n, 12, T)`` float32 maps.
    """
    from ecgsignal.attribution import METHODS, MethodContext
    from ecgsignal.attribution.engine import _quiet_captum
    from ecgsignal.attribution.guard import frozen_eval

    if method not in NAIVE_LOOPS:
        raise ConfigError(f"no naive loop for {method!r}; valid: {', '.join(NAIVE_LOOPS)}")
    body = NAIVE_LOOPS[method]
    dev = torch.device(device)
    opts = METHODS.get(method).options()
    xs = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(dev)
    ts = torch.from_numpy(np.asarray(target, dtype=np.int64)).to(dev)
    base = None if baselines is None else torch.from_numpy(
        np.ascontiguousarray(baselines, dtype=np.float32)).to(dev)
    if METHODS.get(method).needs_baselines and base is None:
        raise ConfigError(f"{method} needs baselines")
    out = np.empty(xs.shape, dtype=np.float32)

    def beat_rng(i: int) -> Callable[[], np.random.Generator]:
        def draw() -> np.random.Generator:
            ctx = MethodContext(model=model, device=dev, fs=fs, seed=seed, offset=i,
                                baselines=None, chunk_size=1, max_rows=1, method=method)
            return ctx.beat_rngs(1)[0]
        return draw

    with frozen_eval(model), torch.enable_grad(), _quiet_captum():
        for i in range(xs.shape[0]):
            call = BeatCall(model=model, x=xs[i:i + 1].clone().requires_grad_(True),
                            target=ts[i:i + 1], index=i, options=opts, baselines=base,
                            rng=beat_rng(i), fs=fs)
            out[i] = body(call).detach().to("cpu", torch.float32).numpy()[0]
    return out
