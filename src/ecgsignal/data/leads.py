"""The 12 standard leads, their order, and the derived limb leads."""

from __future__ import annotations

import numpy as np

from ecgsignal.errors import DataError

#: Lead order used everywhere: axis 1 of every ``(n, 12, T)`` array.
LEAD_NAMES: tuple[str, ...] = (
    "I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6",
)
N_LEADS = len(LEAD_NAMES)
LEAD_INDEX: dict[str, int] = {name: i for i, name in enumerate(LEAD_NAMES)}
_LOWER = {name.lower(): name for name in LEAD_NAMES}


def canonical_lead(name: str) -> str:
    """Canonical spelling of a lead name, matched case-insensitively (``AVR`` → ``aVR``)."""
    key = str(name).strip().lower()
    if key not in _LOWER:
        raise DataError(f"unknown lead name {name!r}; valid: {', '.join(LEAD_NAMES)}")
    return _LOWER[key]


def lead_indices(names: list[str] | tuple[str, ...]) -> list[int]:
    """Indices into :data:`LEAD_NAMES` of the given lead names (case-insensitive)."""
    return [LEAD_INDEX[canonical_lead(n)] for n in names]


def derive_limb_leads(lead_i: np.ndarray, lead_ii: np.ndarray) -> dict[str, np.ndarray]:
    """III, aVR, aVL, aVF from I and II (Einthoven's and Goldberger's laws), any shape, mV."""
    return {
        "III": lead_ii - lead_i,
        "aVR": -(lead_i + lead_ii) / 2.0,
        "aVL": lead_i - lead_ii / 2.0,
        "aVF": lead_ii - lead_i / 2.0,
    }
