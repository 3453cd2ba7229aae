"""Interactive explorers: live (ipywidgets on the real model) and static (precomputed cubes).

* Layer randomisation — choose a method, a beat and how many layers (top-down) are randomised;
  see the map over the beat and its Spearman(|a|) similarity to the trained model's map.
* Lead perturbation — choose leads, a perturbation kind and strength; see the perturbed beat,
  the class probabilities and the attribution.

Live: :class:`RandomizationExplorer`, :class:`PerturbationExplorer` (a kernel computes on the fly).
Static: :func:`randomization_cube` / :func:`perturbation_cube` precompute every state, and
:func:`randomization_figure` / :func:`perturbation_figure` draw a cube as one plotly figure whose
sliders and buttons work in the published site with no kernel.
"""

from ecgsignal.widgets.artefacts import PERTURBATIONS, apply_perturbation, lead_mask, noise_for
from ecgsignal.widgets.cubes import (
    check_cube,
    default_lead_sets,
    load_cube,
    load_or_build_cube,
    perturbation_cube,
    randomization_cube,
    save_cube,
)
from ecgsignal.widgets.live import PerturbationExplorer, RandomizationExplorer
from ecgsignal.widgets.static import StaticExplorer, perturbation_figure, randomization_figure

__all__ = [
    "PERTURBATIONS",
    "PerturbationExplorer",
    "RandomizationExplorer",
    "StaticExplorer",
    "apply_perturbation",
    "check_cube",
    "default_lead_sets",
    "lead_mask",
    "load_cube",
    "load_or_build_cube",
    "noise_for",
    "perturbation_cube",
    "perturbation_figure",
    "randomization_cube",
    "randomization_figure",
    "save_cube",
]
