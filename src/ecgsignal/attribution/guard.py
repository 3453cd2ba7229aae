"""Leave the model exactly as we found it after an attribution call.

Captum attaches hooks, sets attributes (its LRP's ``rule`` and ``activations``) and, for LRP, swaps
weights and loads them back; zennit (the paper's LRP) registers hooks and canonizers that fold
BatchNorm into the convolutions' weights and override :class:`~ecgsignal.models.cnn.Add`'s forward
until they are removed. An attribution call must not change the model a chapter holds, even
when a method fails half-way, so :func:`frozen_eval` snapshots what it can change and restores it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

_HOOK_DICTS = (
    "_forward_hooks",
    "_forward_hooks_with_kwargs",
    "_forward_hooks_always_called",
    "_forward_pre_hooks",
    "_forward_pre_hooks_with_kwargs",
    "_backward_hooks",
    "_backward_pre_hooks",
    "_state_dict_hooks",
    "_state_dict_pre_hooks",
    "_load_state_dict_pre_hooks",
    "_load_state_dict_post_hooks",
)


@contextmanager
def frozen_eval(model: nn.Module) -> Iterator[nn.Module]:
    """Run a block with ``model`` in eval mode and its parameters frozen, then restore it.

    Restored on exit (also after an exception): every module's train/eval flag, each
    parameter's ``requires_grad``, the values of all parameters and buffers, the module
    attributes (new ones such as LRP's ``rule``/``activations`` are deleted, changed ones reset)
    and the hook dictionaries (hooks left behind are removed).

    Freezing parameters is also a speed-up: backward passes then compute input gradients only.
    """
    modules = list(model.modules())
    training = [m.training for m in modules]
    attrs = [dict(vars(m)) for m in modules]
    hooks = [{k: dict(d[k]) for k in _HOOK_DICTS if k in d} for d in map(vars, modules)]
    params = list(model.parameters())
    requires = [p.requires_grad for p in params]
    # every parameter and buffer, by its module and name (what state_dict walks, without its
    # per-module hooks and prefixes: a call costs about half as much)
    state = [(d[kind], name, t.detach().clone()) for d in map(vars, modules)
             for kind in ("_parameters", "_buffers") for name, t in d[kind].items()
             if t is not None]
    try:
        model.eval()
        for p in params:
            p.requires_grad_(False)
        yield model
    finally:
        for m, was_training, before, hk in zip(modules, training, attrs, hooks):
            d = vars(m)
            for key in [k for k in d if k not in before]:
                delattr(m, key)
            for key, value in before.items():
                if d.get(key) is not value:
                    d[key] = value
            for name, saved in hk.items():
                current = d[name]
                for hid in [h for h in current if h not in saved]:
                    del current[hid]
            if m.training != was_training:
                m.training = was_training
        for p, r in zip(params, requires):
            p.requires_grad_(r)
        with torch.no_grad():
            for held, name, saved in state:
                cur = held.get(name)
                if cur is not None and not torch.equal(cur.detach(), saved):
                    cur.detach().copy_(saved)
