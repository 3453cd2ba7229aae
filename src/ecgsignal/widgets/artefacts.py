"""Recording artefacts applied to chosen leads, for the lead-perturbation explorer.

Every kind is an affine change of the chosen leads, with one ``strength`` knob whose value
``0`` leaves the beat unchanged::

    x'[lead] = gain · x[lead] + offset + noise_sd · ε[lead]        (other leads untouched)

where ``ε`` is standard normal white noise drawn once per beat from a seeded generator. Because
the browser-side (static) explorer applies the very same formula to the stored beat and the stored
``ε``, the site shows exactly the beat the model saw.

=========  ===================================  ==========  ==========================
kind       effect of strength ``s``             unit of s   default grid
=========  ===================================  ==========  ==========================
zero       gain = 1 − s (s = 1: lead set to 0)  fraction    0, 0.25, 0.5, 0.75, 1
noise      noise_sd = s                         mV (σ)      0, 0.025, 0.05, 0.1, 0.2
scale      gain = 1 + s                         × (gain−1)  0, 0.25, 0.5, 1, 2
shift      offset = s (baseline shift)          mV          0, 0.1, 0.25, 0.5, 1
=========  ===================================  ==========  ==========================

Removing a lead (``zero`` at ``s = 1``) is how occlusion-style faithfulness tests delete features
(Samek et al. 2017, "Evaluating the visualization of what a deep neural network has learned",
IEEE TNNLS); noise, gain and baseline shifts are the recording artefacts a real ECG carries.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ecgsignal.data.leads import LEAD_NAMES, N_LEADS, canonical_lead
from ecgsignal.errors import ConfigError, DataError
from ecgsignal.registry import Registry

__all__ = [
    "PERTURBATIONS",
    "Perturbation",
    "apply_perturbation",
    "coefficients",
    "lead_mask",
    "noise_for",
]


@dataclass(frozen=True)
class Perturbation:
    """One kind of lead perturbation: how ``strength`` maps to (gain, offset, noise σ).

    Attributes
    ----------
    name:
        Registry name.
    unit:
        Unit of ``strength`` shown to the reader.
    grid:
        Default strengths of the static explorer (first is ``0``, the identity).
    max_strength:
        Largest strength accepted (``None``: no upper bound).
    description:
        One line for legends and docs.
    """

    name: str
    unit: str
    grid: tuple[float, ...]
    max_strength: float | None
    description: str

    def coefficients(self, strength: float) -> tuple[float, float, float]:
        """``(gain, offset_mV, noise_sd_mV)`` for ``strength``."""
        s = float(strength)
        if not np.isfinite(s) or s < 0 or (self.max_strength is not None and s > self.max_strength):
            top = "" if self.max_strength is None else f", at most {self.max_strength:g}"
            raise ConfigError(f"{self.name} strength must be a number >= 0{top}; got {strength!r}")
        if self.name == "zero":
            return 1.0 - s, 0.0, 0.0
        if self.name == "noise":
            return 1.0, 0.0, s
        if self.name == "scale":
            return 1.0 + s, 0.0, 0.0
        return 1.0, s, 0.0  # shift


PERTURBATIONS: Registry[Perturbation] = Registry("lead perturbation")
for _p in (
    Perturbation("zero", "fraction removed", (0.0, 0.25, 0.5, 0.75, 1.0), 1.0,
                 "attenuate the lead towards 0 mV (1 = lead removed)"),
    Perturbation("noise", "mV (σ)", (0.0, 0.025, 0.05, 0.1, 0.2), None,
                 "add Gaussian white noise of standard deviation s mV"),
    Perturbation("scale", "gain − 1", (0.0, 0.25, 0.5, 1.0, 2.0), None,
                 "multiply the lead's amplitude by 1 + s"),
    Perturbation("shift", "mV", (0.0, 0.1, 0.25, 0.5, 1.0), None,
                 "add a constant baseline offset of s mV"),
):
    PERTURBATIONS.register(_p.name, _p)


def coefficients(kind: str, strength: float) -> tuple[float, float, float]:
    """``(gain, offset_mV, noise_sd_mV)`` of perturbation ``kind`` at ``strength``."""
    return PERTURBATIONS.get(kind).coefficients(strength)


def lead_mask(leads: Sequence[str | int] | str | int) -> np.ndarray:
    """``(12,)`` bool mask of the chosen leads, given by name (any case) or index."""
    if isinstance(leads, (str, int, np.integer)):
        leads = [leads]
    mask = np.zeros(N_LEADS, bool)
    for lead in leads:
        if isinstance(lead, (int, np.integer)):
            if not 0 <= int(lead) < N_LEADS:
                raise ConfigError(f"lead index {lead} out of range 0..{N_LEADS - 1}")
            mask[int(lead)] = True
        else:
            try:
                mask[LEAD_NAMES.index(canonical_lead(lead))] = True
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
    return mask


def noise_for(shape: tuple[int, ...], seed: int) -> np.ndarray:
    """Standard normal ``ε`` of ``shape`` (float32) from ``numpy.random.default_rng(seed)``."""
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def apply_perturbation(x: np.ndarray, leads: Sequence[str | int] | np.ndarray | str | int,
                       kind: str, strength: float, noise: np.ndarray | None = None,
                       seed: int = 0) -> np.ndarray:
    """Perturb the chosen leads of beats ``x``.

    Parameters
    ----------
    x:
        ``(n, 12, T)`` or ``(12, T)`` beats in mV.
    leads:
        Lead names/indices, or a ``(12,)`` bool mask.
    kind:
        A name in :data:`PERTURBATIONS` (``zero``, ``noise``, ``scale``, ``shift``).
    strength:
        ``s ≥ 0``; ``0`` returns an unchanged copy (see the module table for units).
    noise:
        ``ε`` of ``x``'s shape; default: :func:`noise_for` with ``seed``.
    seed:
        Seed of ``ε`` when ``noise`` is not given.

    Returns
    -------
    numpy.ndarray
        float32 array of ``x``'s shape, mV.
    """
    x = np.asarray(x, dtype=np.float32)
    if x.ndim not in (2, 3) or x.shape[-2] != N_LEADS:
        raise DataError(f"beats must be (n, 12, T) or (12, T), got shape {x.shape}")
    mask = np.asarray(leads, bool) if isinstance(leads, np.ndarray) and leads.dtype == bool \
        else lead_mask(leads)
    if mask.shape != (N_LEADS,):
        raise ConfigError(f"lead mask must have shape (12,), got {mask.shape}")
    gain, offset, sd = coefficients(kind, strength)
    if noise is None:
        noise = noise_for(x.shape, seed)
    elif np.shape(noise) != x.shape:
        raise DataError(f"noise has shape {np.shape(noise)}, expected {x.shape}")
    out = x.copy()
    sel = (Ellipsis, mask, slice(None))
    out[sel] = gain * x[sel] + offset + sd * np.asarray(noise, np.float32)[sel]
    return out.astype(np.float32)
