"""BatchNorm folded into the preceding convolution: the same function in eval mode, fewer ops.

In eval mode a ``BatchNorm1d`` after a convolution is an affine map per channel,
``y = γ (z − μ) / √(σ² + ε) + β``, so ``BN(conv(x))`` equals one convolution with weights
``W · γ/√(σ² + ε)`` (per output channel) and bias ``(b − μ) · γ/√(σ² + ε) + β``. Folding removes
the BatchNorm's forward and backward passes; it changes the network's outputs, and every input
gradient, by float32 rounding only (tested for every attribution method it is used for,
``tests/test_folding.py``).

The pairs are found by tracing the model with :mod:`torch.fx`: a ``Conv1d`` whose only user is a
``BatchNorm1d`` (with running statistics and the same number of channels). The folded copy keeps
the module tree and names (the BatchNorm becomes :class:`torch.nn.Identity`), so layer names and
properties such as :attr:`ECGCNN.last_conv` still resolve. A model that cannot be traced is not
folded (:func:`fold_batchnorm` returns ``None``).
"""

from __future__ import annotations

import copy
import weakref
from collections import Counter, OrderedDict

import torch
from torch import nn

from ecgsignal.models.phase_conv import PhaseConv1d

__all__ = ["batchnorm_pairs", "clone_module", "fold_batchnorm", "folded_cached"]

_LAST: list = []  # [(key, folded copy, weakref to the network, plan)]: the last fold


_PAIRS: dict[tuple, list[tuple[str, str]] | None] = {}


def _structure(model: nn.Module) -> tuple:
    return (type(model), tuple((n, type(m), getattr(m, "num_features", None),
                                getattr(m, "out_channels", None))
                               for n, m in model.named_modules()))


def batchnorm_pairs(model: nn.Module) -> list[tuple[str, str]] | None:
    """``(conv name, batchnorm name)`` pairs that can be folded, or ``None`` if untraceable.

    The trace is cached per model class and module tree (names, types, channels): the
    randomised copies of a network share it.
    """
    key = _structure(model)
    if key not in _PAIRS:
        _PAIRS[key] = _trace_pairs(model)
    pairs = _PAIRS[key]
    return None if pairs is None else list(pairs)


def _trace_pairs(model: nn.Module) -> list[tuple[str, str]] | None:
    try:
        import torch.fx as fx

        class _Tracer(fx.Tracer):  # a PhaseConv1d is a Conv1d: a leaf, as torch.nn's layers
            def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
                return isinstance(m, PhaseConv1d) or super().is_leaf_module(m, qualname)

        graph = _Tracer().trace(model)
    except Exception:  # noqa: BLE001  (any tracing failure means: do not fold)
        return None
    mods = dict(model.named_modules())
    pairs = []
    for node in graph.nodes:
        if node.op != "call_module" or not isinstance(mods.get(node.target), nn.Conv1d):
            continue
        users = list(node.users)
        if len(users) != 1 or users[0].op != "call_module":
            continue
        bn = mods.get(users[0].target)
        conv = mods[node.target]
        if (isinstance(bn, nn.BatchNorm1d) and bn.track_running_stats
                and bn.running_mean is not None and bn.num_features == conv.out_channels
                and users[0].args[0] is node):
            pairs.append((str(node.target), str(users[0].target)))
    return pairs


_ATOMIC = frozenset({type(None), bool, int, float, complex, str, bytes, type, torch.dtype,
                     torch.device})
_EMPTY = frozenset({dict, OrderedDict, set})
_PLAIN = {getattr(nn.Module, a, None) for a in ("__deepcopy__", "__reduce_ex__", "__reduce__",
                                                "__getstate__", "__copy__")}


def _plain_module(cls: type) -> bool:
    """``cls`` is copied by :func:`copy.deepcopy` through ``nn.Module``'s generic path (no
    ``__deepcopy__``, ``__reduce__``, ``__getstate__`` or ``__slots__`` of its own)."""
    return all(getattr(cls, a, None) in _PLAIN for a in ("__deepcopy__", "__reduce_ex__",
                                                         "__reduce__", "__getstate__",
                                                         "__copy__")) and not any(
        "__slots__" in vars(k) for k in cls.__mro__ if k is not object)


def _copy_value(value: object, memo: dict) -> object:
    """``copy.deepcopy(value, memo)``, short-cut for the values a module's ``__dict__`` mostly
    holds: atoms (returned as they are, as deepcopy does), tuples of atoms, empty containers."""
    t = type(value)
    if t in _ATOMIC:
        return value
    if t is tuple and all(type(v) in _ATOMIC for v in value):
        return value
    if t in _EMPTY and not value:
        return t()
    return copy.deepcopy(value, memo)


def clone_module(module: nn.Module, memo: dict | None = None) -> nn.Module:
    """The same result as ``copy.deepcopy(module)``, about 10x faster on a module tree.

    Each module of a plain class (:func:`_plain_module`) is rebuilt as deepcopy's generic path
    would (``cls.__new__``, a copied ``__dict__``, ``__setstate__``) with fresh ``_parameters``,
    ``_buffers`` and ``_modules`` dicts; tensors and every other non-trivial value go through
    :func:`copy.deepcopy` with the shared ``memo``, so shared parameters, buffers and submodules
    stay shared and hooks, flags and odd attributes are copied exactly. Modules of other
    classes are deep-copied whole.

    Parameters
    ----------
    module:
        Any network (not modified).
    memo:
        A :func:`copy.deepcopy` memo (``id → copy``) shared across the tree; ``None`` starts one.

    Returns
    -------
    torch.nn.Module
        The copy (train/eval flags, ``requires_grad`` and hooks as in ``module``).
    """
    memo = {} if memo is None else memo
    hit = memo.get(id(module))
    if hit is not None:
        return hit
    cls = type(module)
    if not _plain_module(cls):
        return copy.deepcopy(module, memo)
    new = cls.__new__(cls)
    memo[id(module)] = new
    memo.setdefault(id(memo), []).append(module)  # keep the original alive, as deepcopy does
    state = {}
    for key, value in module.__dict__.items():
        if key in ("_parameters", "_buffers") and type(value) is dict:
            state[key] = {k: (None if v is None else copy.deepcopy(v, memo))
                          for k, v in value.items()}
        elif key == "_modules" and type(value) is dict:
            state[key] = {k: (None if m is None else clone_module(m, memo))
                          for k, m in value.items()}
        else:
            state[key] = _copy_value(value, memo)
    new.__setstate__(state)
    return new


def _set(model: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, leaf = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, leaf, module)


@torch.no_grad()
def fold_batchnorm(model: nn.Module) -> nn.Module | None:
    """An eval-mode copy of ``model`` with each ``Conv1d → BatchNorm1d`` pair folded.

    Parameters
    ----------
    model:
        Any network; it is not modified (its train/eval flag included).

    Returns
    -------
    torch.nn.Module or None
        The folded copy (eval mode, parameters with ``requires_grad=False``), or ``None`` when
        the model cannot be traced, holds no foldable pair, or a folded convolution shares its
        weight or bias with another layer (folding would scale the shared tensor for both).
    """
    pairs = batchnorm_pairs(model)
    if not pairs:
        return None
    # a BatchNorm held once in the tree is replaced by an Identity below: not copying it (its
    # 5 tensors) halves the clone; its statistics are read from the original (equal values)
    seen = Counter(id(m) for _, m in model.named_modules(remove_duplicate=False))
    held = _holders(model)
    bns = {name: model.get_submodule(name) for _, name in pairs}
    memo: dict = {id(m): nn.Identity() for m in bns.values() if seen[id(m)] == 1}
    # the folded weights and biases enter the copy through the memo: the clone takes them
    # instead of copying the trained tensors only to overwrite them (the same values, bit for bit:
    # the same float64 products rounded once to the weights' dtype)
    late = []  # (conv name, bias) of convolutions without a bias of their own
    for conv_name, bn_name in pairs:
        conv, bn = model.get_submodule(conv_name), bns[bn_name]
        if held[id(conv.weight)] != 1 or (conv.bias is not None and held[id(conv.bias)] != 1):
            return None  # a weight held twice cannot take two BatchNorms' scales: not folded
        weight, bias = _folded(conv, bn)
        memo[id(conv.weight)] = nn.Parameter(weight, requires_grad=False)
        if conv.bias is None:
            late.append((conv_name, bias))
        else:
            memo[id(conv.bias)] = nn.Parameter(bias, requires_grad=False)
    work = clone_module(model, memo)  # eval mode set once, below (the Identities too)
    for conv_name, bias in late:
        work.get_submodule(conv_name).bias = nn.Parameter(bias, requires_grad=False)
    for _, bn_name in pairs:
        _set(work, bn_name, nn.Identity())
    for p in work.parameters():
        p.requires_grad_(False)
    return work.eval()


def _holders(model: nn.Module) -> Counter:
    """How many distinct modules hold each parameter (by id): 2 or more is a tied weight; a
    module registered under two names counts once."""
    return Counter(id(p) for m in model.modules() for p in m._parameters.values()
                   if p is not None)


def _folded(conv: nn.Conv1d, bn: nn.BatchNorm1d) -> tuple[torch.Tensor, torch.Tensor]:
    """The folded ``(weight, bias)`` of ``conv → bn``, computed in float64 and rounded once to
    the weight's dtype."""
    var, mean = bn.running_var.double(), bn.running_mean.double()  # fold in float64
    scale = (bn.weight.double() if bn.affine else torch.ones_like(var)) / torch.sqrt(var + bn.eps)
    shift = bn.bias.double() if bn.affine else torch.zeros_like(mean)
    bias = conv.bias.double() if conv.bias is not None else torch.zeros_like(mean)
    dtype = conv.weight.dtype
    return ((conv.weight.double() * scale.view(-1, 1, 1)).to(dtype),
            ((bias - mean) * scale + shift).to(dtype))


def _state_key(model: nn.Module) -> tuple:
    """Identity and version of every tensor: any in-place change (a re-initialised layer, an
    optimiser step, ``load_state_dict``) bumps a version counter and so changes the key."""
    tensors = [*model.parameters(), *model.buffers()]
    return (id(model), tuple((t.data_ptr(), t._version, t.device.type) for t in tensors))


def folded_cached(model: nn.Module) -> nn.Module | None:
    """:func:`fold_batchnorm`, reusing the last folded copy while ``model`` is unchanged
    (the same object, no tensor modified in place since): repeated attribution calls on one
    network fold it once.

    When the same network has changed in place since (a cascade re-initialising one layer after
    another, an optimiser step), the last copy is refreshed in place instead of rebuilt: every
    tensor is copied again from ``model`` and each folded pair recomputed, which gives the
    tensors :func:`fold_batchnorm` would give, bit for bit, without cloning the module tree
    (about 5x cheaper on the default CNN). A copy returned earlier is therefore only valid until
    the next call; the engine uses it within one :func:`~ecgsignal.attribution.attribute` call.
    """
    key = _state_key(model)
    if _LAST and _LAST[0][0] == key:
        return _LAST[0][1]
    plan = _plan(model)  # once per call that cannot reuse the copy as it is
    if _LAST:
        _, folded, source, last_plan = _LAST[0]
        if folded is not None and plan is not None and source() is model and plan == last_plan:
            _refresh(folded, model, plan[0])
            _LAST[0] = (key, folded, source, plan)
            return folded
    folded = fold_batchnorm(model)
    _LAST[:] = [(key, folded, weakref.ref(model), plan)]
    return folded


def _plan(model: nn.Module) -> tuple | None:
    """What a refresh needs to be exact: the folded pairs and every tensor's name, shape, dtype
    and device (``None``: not refreshable, e.g. tied weights)."""
    pairs = batchnorm_pairs(model)
    if not pairs:
        return None
    held = _holders(model)
    if any(n > 1 for n in held.values()):
        return None
    return (tuple(pairs), tuple((n, tuple(t.shape), t.dtype, t.device) for n, t in
                                (*model.named_parameters(), *model.named_buffers())))


@torch.no_grad()
def _refresh(folded: nn.Module, model: nn.Module, pairs: tuple) -> None:
    """Copy every tensor of ``model`` into its folded copy, refolding each pair (in place)."""
    bn_of = dict(pairs)
    folded_bns = set(bn_of.values())
    dst = dict(folded.named_modules())
    for name, m in model.named_modules():
        if name in folded_bns:
            continue
        d = dst[name]
        if name in bn_of:
            weight, bias = _folded(m, model.get_submodule(bn_of[name]))
            d.weight.copy_(weight)
            d.bias.copy_(bias)
            continue
        for kind in ("_parameters", "_buffers"):
            mine = vars(d)[kind]
            for k, t in vars(m)[kind].items():
                if t is not None:
                    mine[k].copy_(t)
