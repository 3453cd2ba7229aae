"""The five experiments of PROTOCOLS.md, registered by name in :data:`EXPERIMENTS`.

``similarity`` (Exp 1), ``consistency`` (Exp 2), ``randomization`` (Exp 3), ``perturbation``
(Exp 4), ``localization`` (Exp 5, synthetic data only); beyond the paper, ``counterfactual``
(synthetic data only) and ``interpretable`` (chapter 13, :mod:`.beyond`). Run one with :func:`run_experiment`.
"""

from ecgsignal.evaluation.experiments import (  # noqa: E402,F401  (registration side effects)
    beyond,
    consistency,
    localization,
    perturbation,
    randomization,
    similarity,
)
from ecgsignal.evaluation.experiments.base import (
    EXPERIMENTS,
    Experiment,
    resolve_params,
    run_experiment,
)

__all__ = ["EXPERIMENTS", "Experiment", "resolve_params", "run_experiment"]
