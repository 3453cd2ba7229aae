"""Model-parameter randomisation: seeded, documented re-initialisation of a network's layers.

The sanity check of Adebayo et al. (2018, "Sanity checks for saliency maps", NeurIPS) replaces the
trained weights of a network, layer by layer, with random ones and asks whether an attribution
map changes. This module supplies the randomised networks; Experiment 3
(:mod:`ecgsignal.evaluation.experiments.randomization`) compares their maps.

Re-initialisation policy (explicit, and the same for every experiment)
-----------------------------------------------------------------------
* ``Conv1d``/``Conv2d``/``Conv3d``/``ConvTranspose*`` and ``Linear``: the layer's own default
  initialisation, as ``reset_parameters()`` does in torch — weight ``kaiming_uniform_(a=√5)``,
  i.e. ``U(-1/√fan_in, 1/√fan_in)``, bias ``U(-1/√fan_in, 1/√fan_in)`` — but drawn from a
  **seeded** :class:`torch.Generator`, never from torch's global RNG. With the generator seeded
  ``s``, the draws equal those of ``torch.manual_seed(s); layer.reset_parameters()`` bit for bit
  (a test pins this), which is what lets the Quantus cross-check match draw for draw.
* ``BatchNorm`` (any ``_BatchNorm``/``_NormBase``), option ``bn``:

  - ``"reset"`` (default; what Quantus' MPRT does by calling ``reset_parameters()``):
    ``γ = 1``, ``β = 0``, running mean ``0``, running variance ``1``, batch counter ``0``. In
    eval mode the layer becomes (almost) the identity, ``x / √(1 + ε)``: the randomised network
    is then *not* normalised any more, so activations may grow or shrink layer by layer.
  - ``"keep"``: the trained ``γ, β`` and running statistics are left as they are; only the
    convolution/linear weights of the stage are re-drawn. The trained normalisation then
    rescales random features with statistics that no longer fit them.

* Any other module with its own parameters (``LayerNorm``, ``GroupNorm``, …) is reset with its own
  ``reset_parameters()`` inside :func:`torch.random.fork_rng` seeded from the stage's generator,
  so the global RNG state is restored afterwards. A parameterised module without
  ``reset_parameters`` raises :class:`~ecgsignal.errors.ConfigError`.

Stages and orders
-----------------
The stages are the model's :meth:`randomizable_layers` (for :class:`~ecgsignal.models.cnn.ECGCNN`:
``head``, ``blocks.3`` … ``blocks.0``, ``stem``), listed **top (logits) to bottom (input)**. Models
without that method, or ``granularity="module"``, use every module that owns parameters (or
BatchNorm buffers), in reverse registration order — the granularity of Quantus' MPRT.

``randomized_copy(model, k, order)`` randomises ``k`` stages (``0 ≤ k ≤ L``):

* ``"top_down"`` (cascading, Adebayo et al. 2018): stages ``0 … k-1`` (the top ``k``).
* ``"bottom_up"`` (cascading from the input; recommended by Hedström et al. 2023, "Sanity checks
  revisited", TMLR / the "eMPRT" paper): the bottom ``k`` stages, ``L-k … L-1``.
* ``"independent"``: only stage ``k-1`` (top-down numbering), every other stage trained;
  ``k = 0`` is the trained model.

Every stage draws from its own generator, seeded from ``(seed, stage index in top-down order)``,
so a given stage gets the same random weights whichever order reaches it.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Iterator

import numpy as np
import torch
from torch import nn
from torch.nn.modules.batchnorm import _NormBase
from torch.nn.modules.conv import _ConvNd

from ecgsignal.errors import ConfigError
from ecgsignal.rng import forked_torch_rng
from ecgsignal.validation import check_choice

__all__ = [
    "BN_POLICIES",
    "GRANULARITIES",
    "ORDERS",
    "iter_randomized",
    "randomized_copy",
    "randomized_stage_copy",
    "randomized_stages",
    "reinitialize_",
    "stage_generator",
    "stage_modules",
    "stages",
]

ORDERS: tuple[str, ...] = ("top_down", "bottom_up", "independent")
BN_POLICIES: tuple[str, ...] = ("reset", "keep")
GRANULARITIES: tuple[str, ...] = ("stage", "module")


def _owns_state(m: nn.Module) -> bool:
    """Whether ``m`` itself (not a child) has parameters, or is a norm layer with running stats."""
    return isinstance(m, _NormBase) or any(True for _ in m.parameters(recurse=False))


def stage_modules(model: nn.Module, granularity: str = "stage") -> list[tuple[str, nn.Module]]:
    """The randomisable stages of ``model``, top (logits) to bottom (input).

    Parameters
    ----------
    model:
        The network. With ``granularity="stage"`` its ``randomizable_layers()`` is used when it
        has one; otherwise (and with ``granularity="module"``) every module owning parameters or
        BatchNorm statistics, in reverse registration order (Quantus' MPRT granularity).
    granularity:
        ``"stage"`` or ``"module"``.

    Returns
    -------
    list of (name, module)
        ``L ≥ 1`` entries, top first.
    """
    check_choice(granularity, GRANULARITIES, "granularity")
    if granularity == "stage" and hasattr(model, "randomizable_layers"):
        out = list(model.randomizable_layers())
    else:
        out = [(name, m) for name, m in model.named_modules() if _owns_state(m)][::-1]
    if not out:
        raise ConfigError("the model has no parameterised layers to randomise")
    return out


def stages(model: nn.Module, granularity: str = "stage") -> list[str]:
    """Names of the randomisable stages, top (logits) to bottom (input); see :func:`stage_modules`."""
    return [name for name, _ in stage_modules(model, granularity)]


def stage_generator(seed: int, stage_index: int) -> torch.Generator:
    """The CPU generator stage ``stage_index`` (top-down numbering) draws from, for ``seed``."""
    state = np.random.SeedSequence([int(seed), int(stage_index)]).generate_state(2, np.uint32)
    g = torch.Generator(device="cpu")
    g.manual_seed(int(state[0]) << 32 | int(state[1]))
    return g


def _uniform_like(t: torch.Tensor, bound: float, gen: torch.Generator) -> torch.Tensor:
    out = torch.empty(t.shape, dtype=t.dtype, device="cpu")
    out.uniform_(-bound, bound, generator=gen)
    return out


@torch.no_grad()
def _reinit_affine(m: nn.Module, gen: torch.Generator) -> None:
    """Conv/Linear default init (torch ``reset_parameters``) drawn from ``gen``."""
    w = m.weight
    tmp = torch.empty(w.shape, dtype=w.dtype, device="cpu")
    nn.init.kaiming_uniform_(tmp, a=math.sqrt(5), generator=gen)
    w.copy_(tmp)
    if getattr(m, "bias", None) is not None:
        fan_in, _ = nn.init._calculate_fan_in_and_fan_out(tmp)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        m.bias.copy_(_uniform_like(m.bias, bound, gen))


@torch.no_grad()
def _reset_norm(m: _NormBase) -> None:
    if m.track_running_stats:
        m.running_mean.zero_()
        m.running_var.fill_(1)
        m.num_batches_tracked.zero_()
    if m.affine:
        m.weight.fill_(1.0)
        if m.bias is not None:
            m.bias.zero_()


def reinitialize_(module: nn.Module, generator: torch.Generator, bn: str = "reset") -> nn.Module:
    """Re-initialise, in place, every parameterised sub-module of ``module`` (module policy above).

    Sub-modules are visited in registration order, each Conv/Linear drawing its weight then its
    bias from ``generator`` (so the result depends only on the generator's seed, not on the
    trained weights).

    Parameters
    ----------
    module:
        A layer or a stage (a module holding several layers).
    generator:
        CPU :class:`torch.Generator` the new weights are drawn from.
    bn:
        BatchNorm policy, ``"reset"`` or ``"keep"`` (see the module docstring).

    Returns
    -------
    nn.Module
        ``module`` itself, modified.
    """
    check_choice(bn, BN_POLICIES, "BatchNorm policy")
    for m in module.modules():
        if isinstance(m, (_ConvNd, nn.Linear)):
            _reinit_affine(m, generator)
        elif isinstance(m, _NormBase):
            if bn == "reset":
                _reset_norm(m)
        elif any(True for _ in m.parameters(recurse=False)):
            if not hasattr(m, "reset_parameters"):
                raise ConfigError(
                    f"cannot re-initialise {type(m).__name__}: it has parameters but no "
                    "reset_parameters()"
                )
            sub_seed = int(torch.randint(0, 2**62, (1,), generator=generator))
            with forked_torch_rng(seed=sub_seed):
                m.reset_parameters()
    return module


def randomized_stages(n_stages: int, n_layers: int, order: str = "top_down") -> list[int]:
    """Top-down indices of the stages randomised by ``randomized_copy(…, n_layers, order)``.

    Parameters
    ----------
    n_stages:
        ``L``, the number of stages.
    n_layers:
        ``0 ≤ n_layers ≤ L``.
    order:
        ``"top_down"``, ``"bottom_up"`` or ``"independent"``.
    """
    check_choice(order, ORDERS, "randomisation order")
    if not 0 <= n_layers <= n_stages:
        raise ConfigError(f"n_layers must be between 0 and {n_stages}, got {n_layers}")
    if order == "top_down":
        return list(range(n_layers))
    if order == "bottom_up":
        return list(range(n_stages - n_layers, n_stages))
    return [] if n_layers == 0 else [n_layers - 1]


def randomized_copy(model: nn.Module, n_layers: int, order: str = "top_down", seed: int = 0,
                    bn: str = "reset", granularity: str = "stage") -> nn.Module:
    """A deep copy of ``model`` with ``n_layers`` stages re-initialised; ``model`` is untouched.

    Parameters
    ----------
    model:
        The trained network.
    n_layers:
        How many stages to randomise (``0`` = an unchanged copy); for ``"independent"`` the
        single stage ``n_layers - 1`` (top-down numbering).
    order:
        ``"top_down"`` (cascade from the logits), ``"bottom_up"`` (cascade from the input) or
        ``"independent"`` (one stage at a time).
    seed:
        Seed of the new weights (each stage draws from :func:`stage_generator`).
    bn:
        BatchNorm policy, ``"reset"`` (γ=1, β=0, mean 0, var 1; as Quantus) or ``"keep"``.
    granularity:
        ``"stage"`` (the model's ``randomizable_layers``) or ``"module"`` (every parameterised
        module, as Quantus).

    Returns
    -------
    nn.Module
        The copy, in the same train/eval mode and on the same device as ``model``.
    """
    n_stages = len(stage_modules(model, granularity))
    chosen = randomized_stages(n_stages, n_layers, order)
    return randomized_stage_copy(model, chosen, seed, bn, granularity)


def randomized_stage_copy(model: nn.Module, stage_indices: Iterable[int], seed: int = 0,
                          bn: str = "reset", granularity: str = "stage") -> nn.Module:
    """A deep copy of ``model`` with the stages ``stage_indices`` (top-down numbering)
    re-initialised, stage ``i`` from :func:`stage_generator` ``(seed, i)``.

    Each stage draws from its own generator, so the network depends only on the set of stages,
    not on the order they are re-drawn in: the cascades of :func:`iter_randomized` and
    :func:`randomized_copy` reach exactly these networks. Other parameters as
    :func:`randomized_copy`; ``model`` is untouched.
    """
    check_choice(bn, BN_POLICIES, "BatchNorm policy")
    out = copy.deepcopy(model)
    mods = stage_modules(out, granularity)
    chosen = sorted({int(i) for i in stage_indices})
    if chosen and not (0 <= chosen[0] and chosen[-1] < len(mods)):
        raise ConfigError(f"stage indices must be in 0 … {len(mods) - 1}, got {chosen}")
    for i in chosen:
        reinitialize_(mods[i][1], stage_generator(seed, i), bn=bn)
    return out


def iter_randomized(model: nn.Module, order: str = "top_down", seed: int = 0, bn: str = "reset",
                    granularity: str = "stage", include_trained: bool = True,
                    ) -> Iterator[tuple[int, str, nn.Module]]:
    """Walk the randomisation: yields ``(stage_index, stage_name, model_copy)``.

    ``stage_index`` ``k`` is the ``n_layers`` of :func:`randomized_copy` (``0`` = the trained
    model, named ``"trained"``, yielded first when ``include_trained``); ``stage_name`` is the
    stage randomised last (cascades) or the only one (``"independent"``). Each yielded model is a
    separate copy the caller may keep; ``model`` is never modified.

    Parameters are those of :func:`randomized_copy`.
    """
    check_choice(order, ORDERS, "randomisation order")
    check_choice(bn, BN_POLICIES, "BatchNorm policy")
    names = stages(model, granularity)
    n = len(names)
    if include_trained:
        yield 0, "trained", copy.deepcopy(model)
    if order == "independent":
        for k in range(1, n + 1):
            yield k, names[k - 1], randomized_copy(model, k, order, seed, bn, granularity)
        return
    work = copy.deepcopy(model)
    mods = stage_modules(work, granularity)
    for k in range(1, n + 1):
        i = k - 1 if order == "top_down" else n - k
        reinitialize_(mods[i][1], stage_generator(seed, i), bn=bn)
        yield k, names[i], copy.deepcopy(work)
