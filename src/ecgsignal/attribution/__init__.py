"""Attribution methods behind one call: ``attribute(model, x, target, method) -> (n, 12, T)``.

The registry :data:`METHODS` holds the 12 methods of the paper (:data:`PAPER_METHODS`), the
null-explainer controls (:data:`CONTROLS`) and off-by-default extras (:data:`EXTRAS`); see
PROTOCOLS.md for their settings. Importing this package registers them all.
"""

from ecgsignal.attribution import (  # noqa: F401  (register the methods)
    cam_methods,
    controls,
    counterfactual,
    counterfactual_params,
    gradient_methods,
    perturbation_methods,
)
from ecgsignal.attribution.baselines import make_baselines
from ecgsignal.attribution.engine import (
    FOLD_EXACT,
    FORWARD_ROWS,
    GRAD_ROWS,
    MIN_CHUNK,
    attribute,
    model_device,
    plan_chunks,
)
from ecgsignal.attribution.lrp_rules import attach_lrp_rules
from ecgsignal.attribution.lrp_zennit import preload_zennit
from ecgsignal.attribution.registry import (
    CONTROLS,
    COUNTERFACTUALS,
    EXTRAS,
    METHODS,
    PAPER_METHODS,
    MethodContext,
    MethodSpec,
    available,
    graded_on_own_perturbation,
    register_method,
    resolve_methods,
)

preload_zennit()  # before anyone else (Quantus) imports zennit: see lrp_zennit's docstring

__all__ = [
    "CONTROLS",
    "COUNTERFACTUALS",
    "EXTRAS",
    "FOLD_EXACT",
    "FORWARD_ROWS",
    "GRAD_ROWS",
    "METHODS",
    "MIN_CHUNK",
    "PAPER_METHODS",
    "MethodContext",
    "MethodSpec",
    "attribute",
    "available",
    "graded_on_own_perturbation",
    "attach_lrp_rules",
    "make_baselines",
    "model_device",
    "plan_chunks",
    "register_method",
    "resolve_methods",
]
