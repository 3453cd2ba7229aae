"""Captum LRP rules for 1D CNNs, set per layer type: the extra ``lrp_epsilon_captum`` only.

The paper's ``lrp`` is zennit's (:mod:`.lrp_zennit`). This module serves the extra
``lrp_epsilon_captum``, kept to show a pitfall: Captum's ε-rule on every layer of a ReLU network
*is* Input×Gradient (Ancona et al. 2018). With ε → 0 the ε-rule passes relevance ``R_j`` back as
``x_i w_ij R_j / z_j``; writing ``R_j = z_j · c_j`` one finds ``R_i = x_i Σ_j w_ij c_j``, and the
ratio ``relu(z)/z`` Captum uses at a ReLU is exactly its derivative (1 or 0). So the relevance
is ``x ⊙ ∂f/∂x`` layer by layer, whatever the biases (they change ``z_j``, not the identity).
Captum's ε-LRP on this network therefore says nothing Input×Gradient does not.

Captum's :class:`~captum.attr.LRP` knows default rules for ``Conv2d``, ``BatchNorm2d``,
``Linear``, 2D pooling and its own ``Addition_Module``; any other leaf module without a ``rule``
attribute makes it raise. :func:`attach_lrp_rules` attaches, for the duration of a call:

* the ε-rule (:class:`~captum.attr._utils.lrp_rules.EpsilonRule`; Bach et al. 2015, Montavon
  et al. 2019) to every linear map: ``Conv1d``, ``Linear``, ``BatchNorm1d`` (affine in eval mode),
  average pooling, and the residual sum :class:`~ecgsignal.models.cnn.Add` (relevance split in
  proportion to the two summands);
* :class:`PassRule` to shape-only modules (``Flatten``, ``Identity``), which must not touch
  relevance at all (see below);
* nothing to ``ReLU``/``Dropout``, which Captum already passes relevance through.

Why not Captum's ``IdentityRule`` for the identity skip of a residual block: Captum converts the
gradient into relevance by multiplying it by a layer's input inside a hook on the input tensor,
and registers that hook only once per tensor. With an identity skip, the block input ``x`` feeds
both the first convolution (which owns the hook) and the skip; an ``IdentityRule`` would add a
second hook dividing by ``x`` again, leaving the convolution branch's share un-multiplied. The
pass rule registers no hooks, so both branches' gradients meet at ``x`` and are multiplied once:
``R_x = x · (c_conv + c_skip)``, the ε-rule for a sum of two layers. The test that pins this is
the identity above, with and without BatchNorm shifts (``test_lrp_epsilon_captum_is_input_x_
gradient``): with the identity rule it fails.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from captum.attr._utils.custom_modules import Addition_Module
from captum.attr._utils.lrp_rules import EpsilonRule, PropagationRule
from torch import nn

from ecgsignal.errors import ConfigError
from ecgsignal.models.cnn import Add

DEFAULT_EPSILON = 1e-9
"""Captum's own default ε (its ``EpsilonRule()``); override with ``attribute(..., epsilon=)``."""

EPSILON_LAYERS: tuple[type[nn.Module], ...] = (
    nn.Conv1d,
    nn.Conv2d,
    nn.Linear,
    nn.BatchNorm1d,
    nn.BatchNorm2d,
    nn.AdaptiveAvgPool1d,
    nn.AdaptiveAvgPool2d,
    nn.AvgPool1d,
    nn.AvgPool2d,
    nn.MaxPool1d,
    nn.MaxPool2d,
    Add,
    Addition_Module,
)
"""Leaf types given the ε-rule."""

PASS_LAYERS: tuple[type[nn.Module], ...] = (nn.Flatten, nn.Identity, nn.Unflatten)
"""Shape-only leaf types given :class:`PassRule`."""

NONLINEAR_LAYERS: tuple[type[nn.Module], ...] = (nn.ReLU, nn.Dropout, nn.Tanh)
"""Leaf types Captum handles itself (relevance passed through unchanged)."""


class PassRule(PropagationRule):
    """No-op rule for shape-only modules: registers no hooks, so relevance flows unchanged."""

    def forward_hook(self, module: nn.Module, inputs: Any, outputs: Any) -> None:
        return None

    def _manipulate_weights(self, module: nn.Module, inputs: Any, outputs: Any) -> None:
        return None


def _leaves(model: nn.Module) -> list[nn.Module]:
    """Leaf modules in the order Captum's LRP collects them."""
    out: list[nn.Module] = []
    for child in model.children():
        if len(list(child.children())) == 0:
            out.append(child)
        else:
            out.extend(_leaves(child))
    return out


def rule_for(module: nn.Module, epsilon: float = DEFAULT_EPSILON) -> PropagationRule | None:
    """The rule :func:`lrp_rules` gives a leaf module (``None``: Captum's pass-through).

    Raises
    ------
    ConfigError
        A leaf type with no rule here; set ``module.rule`` yourself to use LRP on it.
    """
    if isinstance(module, EPSILON_LAYERS):
        return EpsilonRule(epsilon=epsilon)
    if isinstance(module, PASS_LAYERS):
        return PassRule()
    if type(module) in NONLINEAR_LAYERS:
        return None
    supported = ", ".join(t.__name__ for t in EPSILON_LAYERS + PASS_LAYERS + NONLINEAR_LAYERS)
    raise ConfigError(
        f"LRP has no rule for layer type {type(module).__name__}; supported: {supported}. "
        "Set `module.rule` to a captum PropagationRule to use LRP on this model."
    )


@contextmanager
def attach_lrp_rules(model: nn.Module, epsilon: float = DEFAULT_EPSILON) -> Iterator[nn.Module]:
    """Attach LRP rules to ``model``'s leaf modules, and take them off again afterwards.

    Modules that already carry a ``rule`` keep it. On exit every ``rule`` and ``activations``
    attribute this function or Captum added is removed (Captum's LRP deletes ``rule`` but leaves
    ``activations``, which holds the last batch's tensors).

    Parameters
    ----------
    model:
        The network (leaf modules of the supported types, each used once per forward).
    epsilon:
        ε of the ε-rule: the stabiliser added to each layer's pre-activations (same units).
    """
    if not epsilon >= 0:
        raise ConfigError(f"LRP epsilon must be >= 0, got {epsilon!r}")
    leaves = _leaves(model)
    own_rules = {m: m.rule for m in leaves if hasattr(m, "rule")}
    had_activations = {m for m in leaves if hasattr(m, "activations")}
    try:
        for m in leaves:
            if m not in own_rules:
                rule = rule_for(m, epsilon)
                if rule is not None:
                    m.rule = rule
        yield model
    finally:
        for m in leaves:
            if m in own_rules:
                m.rule = own_rules[m]
            elif hasattr(m, "rule"):
                del m.rule
            if m not in had_activations and hasattr(m, "activations"):
                del m.activations
