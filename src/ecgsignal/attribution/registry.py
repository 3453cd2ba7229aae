"""The attribution-method registry: one :class:`MethodSpec` per method, looked up by name.

The 12 methods of the paper (Arends et al. 2026), the three "null explainer" controls of Binder
et al. (2023) and the off-by-default extras of PROTOCOLS.md all live in :data:`METHODS`. Each
spec carries the metadata tables need (kind, whether it multiplies by the input, whether it is
stochastic, whether it resolves leads) and the function that computes it, so the engine
(:func:`ecgsignal.attribution.attribute`) has no if/elif chain and tests loop over what is
registered.
"""

from __future__ import annotations

import inspect
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from ecgsignal.errors import ConfigError, UnknownNameError
from ecgsignal.registry import Registry

KINDS = ("gradient", "perturbation", "control", "counterfactual")

PAPER_METHODS: tuple[str, ...] = (
    "saliency",
    "input_x_gradient",
    "integrated_gradients",
    "smoothgrad",
    "guided_backprop",
    "gradcam",
    "guided_gradcam",
    "deeplift",
    "deeplift_shap",
    "gradient_shap",
    "lrp",
    "occlusion",
)
"""The 12 attribution methods compared in the paper, in its order."""

CONTROLS: tuple[str, ...] = ("random", "input", "edge", "input_noise")
"""Null explainers (Binder et al. 2023; Adebayo et al. 2018): no model, no target.

``input_noise`` (x ⊙ noise) is the matched null of every method that multiplies by the input."""

EXTRAS: tuple[str, ...] = ("deconvolution", "feature_ablation", "lime", "kernel_shap", "vargrad",
                           "lrp_epsilon_captum")
"""Registered but off by default: not in the paper; some are slow (LIME, KernelSHAP)."""

COUNTERFACTUALS: tuple[str, ...] = ("counterfactual_signal", "counterfactual_params")
"""Counterfactual explanations (beat − nearest beat the model calls NORM), off by default: the
alternative the paper recommends (chapter 13); ``counterfactual_params`` needs synthetic data."""


@dataclass(frozen=True)
class MethodContext:
    """What a method implementation gets besides the beats and targets of one chunk.

    Attributes
    ----------
    model:
        The network, in eval mode, parameters frozen, on :attr:`device`.
    device:
        Where the chunk's tensors live.
    fs:
        Sampling rate in Hz (for windows given in ms and for time derivatives).
    seed:
        The call's seed; stochastic methods draw per beat from :meth:`beat_rngs`.
    offset:
        Index of the chunk's first beat within the call (so per-beat noise does not depend on
        how the call was chunked).
    baselines:
        ``(b, 12, T)`` reference beats on :attr:`device`, or ``None``.
    chunk_size:
        Beats per Captum call.
    max_rows:
        Rows per forward/backward pass: methods doing ``r > 1`` rows per beat split a chunk's
        ``chunk_size * r`` rows into passes of at most this many (IG's ``internal_batch_size``,
        Occlusion's ``perturbations_per_eval``, sample blocks for SmoothGrad/GradientSHAP).
    method:
        The registered name (salts the per-beat random streams).
    """

    model: nn.Module
    device: torch.device
    fs: float
    seed: int
    offset: int
    baselines: torch.Tensor | None
    chunk_size: int
    max_rows: int
    method: str

    def beat_seeds(self, n: int) -> list[np.random.SeedSequence]:
        """One :class:`numpy.random.SeedSequence` per beat, from (seed, beat index, method)."""
        salt = _salt(self.method)
        return [np.random.SeedSequence([self.seed, self.offset + i, salt]) for i in range(n)]

    def beat_rngs(self, n: int) -> list[np.random.Generator]:
        """Independent generators for the chunk's ``n`` beats (seeded, no global state)."""
        return [np.random.default_rng(s) for s in self.beat_seeds(n)]


class MethodFn(Protocol):
    """``fn(ctx, x, target, **options) -> (c, 12, T)`` tensor on ``ctx.device``."""

    def __call__(self, ctx: MethodContext, x: torch.Tensor, target: torch.Tensor,
                 **options: Any) -> torch.Tensor: ...


def _one_row(options: Mapping[str, Any], n_samples: int, fs: float, n_baselines: int) -> int:
    return 1


@dataclass(frozen=True)
class MethodSpec:
    """Metadata of one attribution method, plus the function computing it.

    Attributes
    ----------
    name:
        Registry name (``snake_case``).
    kind:
        ``"gradient"`` (backpropagation-based, including LRP and Grad-CAM), ``"perturbation"``
        (forward passes on altered inputs), ``"control"`` (a null explainer) or
        ``"counterfactual"`` (beat minus a nearby beat the model assigns to NORM).
    paper:
        One of the 12 methods of the paper (selected by default).
    stochastic:
        Draws random numbers; seeded by ``attribute(..., seed=)``.
    multiplies_input:
        The map is (something) × the input (or input − baseline): such maps keep the input's
        structure whatever the weights (a pitfall of Experiment 3).
    lead_resolved:
        Gives each lead its own values (``False`` for Grad-CAM: leads are input channels, so the
        class-activation map has no lead axis and is broadcast to all 12 leads).
    citation:
        The paper introducing the method.
    description:
        One line: what is computed, with our settings.
    target_dependent:
        The map depends on the explained class (``False`` for the controls).
    needs_baselines:
        Requires ``baselines=`` (reference training beats): DeepLiftSHAP and GradientSHAP.
    fn:
        The implementation (see :class:`MethodFn`); its keyword-only parameters are the
        method's options, overridable through ``attribute(**overrides)``.
    own_perturbation:
        For perturbation methods: ``(unit, fill)`` of the perturbation the map is made of —
        ``("patch", "zero")`` for Occlusion (one lead × ``window_ms`` windows from sample 0 set
        to 0 mV), ``("lead", "zero")`` for Feature Ablation. Experiment 4 marks the rows where
        it would grade a method with that same perturbation
        (:func:`ecgsignal.attribution.graded_on_own_perturbation`).
    rows_per_beat:
        ``rows_per_beat(options, n_samples, fs, n_baselines) -> int``: model rows one beat costs
        (``n_samples`` = ``T``), used to pick chunk sizes that keep each forward/backward pass
        near the measured sweet spot (:data:`ecgsignal.attribution.engine.GRAD_ROWS`).
    """

    name: str
    kind: str
    paper: bool
    stochastic: bool
    multiplies_input: bool
    lead_resolved: bool
    citation: str
    description: str
    target_dependent: bool = True
    needs_baselines: bool = False
    own_perturbation: tuple[str, str] | None = None
    fn: MethodFn | None = field(default=None, compare=False, repr=False)
    rows_per_beat: Callable[[Mapping[str, Any], int, float, int], int] = field(
        default=_one_row, compare=False, repr=False
    )

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"method {self.name!r}: kind {self.kind!r} not in {KINDS}")

    def options(self) -> dict[str, Any]:
        """The method's options and their defaults (keyword-only parameters of :attr:`fn`)."""
        if self.fn is None:
            return {}
        return {
            p.name: p.default
            for p in inspect.signature(self.fn).parameters.values()
            if p.kind is inspect.Parameter.KEYWORD_ONLY
        }


METHODS: Registry[MethodSpec] = Registry("attribution method")
"""Every registered method, by name."""


def register_method(spec: MethodSpec) -> Callable[[MethodFn], MethodFn]:
    """Decorator registering ``fn`` under ``spec.name`` (duplicates are refused)."""

    def deco(fn: MethodFn) -> MethodFn:
        METHODS.register(spec.name, replace(spec, fn=fn))
        return fn

    return deco


def _group(spec: MethodSpec) -> int:
    if spec.paper:
        return 0
    if spec.kind == "counterfactual":
        return 3
    return 1 if spec.kind == "control" else 2


def available(paper: bool = True, controls: bool = True, extras: bool = False,
              counterfactuals: bool = False) -> list[str]:
    """Registered method names of the chosen groups: paper methods, controls, extras, counterfactuals.

    Parameters
    ----------
    paper, controls, extras, counterfactuals:
        Include the 12 methods of the paper, the null-explainer controls, the extras, the
        counterfactual explanations (:data:`COUNTERFACTUALS`).
    """
    wanted = {0: paper, 1: controls, 2: extras, 3: counterfactuals}
    specs = [METHODS.get(n) for n in METHODS.available()]
    order = {name: i for i, name in enumerate(PAPER_METHODS + CONTROLS + EXTRAS + COUNTERFACTUALS)}
    specs.sort(key=lambda s: (_group(s), order.get(s.name, len(order))))
    return [s.name for s in specs if wanted[_group(s)]]


_GROUPS = {
    "all": dict(paper=True, controls=True, extras=False),
    "paper": dict(paper=True, controls=False, extras=False),
    "controls": dict(paper=False, controls=True, extras=False),
    "extras": dict(paper=False, controls=False, extras=True),
    "everything": dict(paper=True, controls=True, extras=True),
    "counterfactuals": dict(paper=False, controls=False, extras=False, counterfactuals=True),
}


def resolve_methods(spec: str | Sequence[str]) -> list[str]:
    """Method names from a user's choice, validated, duplicates dropped, order kept.

    Parameters
    ----------
    spec:
        ``"all"`` (the 12 paper methods + controls), ``"paper"``, ``"controls"``, ``"extras"``,
        ``"everything"``, ``"counterfactuals"``, ``"NAME,NAME,..."`` or a sequence of such strings.

    Raises
    ------
    UnknownNameError
        A name that is neither registered nor a group; the message lists the valid names.
    ConfigError
        An empty selection or a non-string entry.
    """
    items: list[str]
    if isinstance(spec, str):
        items = spec.split(",")
    elif isinstance(spec, Sequence):
        items = []
        for s in spec:
            if not isinstance(s, str):
                raise ConfigError(f"method names must be strings, got {s!r}")
            items.extend(s.split(","))
    else:
        raise ConfigError(f"methods must be a string or a sequence of strings, got {spec!r}")
    out: list[str] = []
    for raw in items:
        name = raw.strip()
        if not name:
            continue
        names = available(**_GROUPS[name]) if name in _GROUPS else [name]
        for n in names:
            if n not in METHODS:
                raise UnknownNameError(
                    f"unknown attribution method {n!r}; valid: "
                    f"{', '.join(available(True, True, True))} (or one of {', '.join(_GROUPS)})"
                )
            if n not in out:
                out.append(n)
    if not out:
        raise ConfigError(f"no attribution method selected by {spec!r}")
    return out


def _salt(name: str) -> int:
    """A stable 32-bit number for a method name (``hash()`` is salted per process)."""
    return zlib.crc32(name.encode("utf-8"))


def graded_on_own_perturbation(method: str, replacement: str, unit: str,
                               patch_ms: float = 40.0) -> bool:
    """Would Experiment 4 grade ``method`` with the very perturbation its map is made of?

    True for a perturbation method whose spec declares ``own_perturbation = (unit, fill)``
    matching this ``unit`` and ``replacement``, and (for patches) whose window equals
    ``patch_ms`` on the same grid (both start at sample 0): Occlusion under zero replacement on
    40 ms patches, whose map is then nearly the MoRF oracle of the test. Such rows are marked
    (column ``own_perturbation``) and kept out of rankings of methods. Unknown names (the
    random ranking, an oracle) are never their own perturbation.
    """
    if method not in METHODS:
        return False
    spec = METHODS.get(method)
    if spec.own_perturbation is None or spec.own_perturbation != (unit, replacement):
        return False
    if unit != "patch":
        return True
    window = spec.options().get("window_ms")
    return window is not None and abs(float(window) - float(patch_ms)) < 1e-9
