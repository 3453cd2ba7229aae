"""How an attribution map divides its weight over the 12 leads.

The share of lead ``l`` in a beat's map is ``Σ_t |a[l, t]| / Σ_{l', t} |a[l', t]|``. Shares sum
to 1 per beat; a map spread evenly over the leads gives 1/12 each. Grad-CAM has no lead axis (its
map is broadcast to every lead), so its shares are exactly 1/12 whatever the beat: a lead ranking
from Grad-CAM is a tie.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ecgsignal.data.leads import LEAD_NAMES
from ecgsignal.errors import DataError
from ecgsignal.evaluation.statistics import bootstrap_ci_many

__all__ = ["lead_share_table", "lead_shares"]


def lead_shares(maps: np.ndarray) -> np.ndarray:
    """``(n, L)`` share of each lead in each beat's total |attribution| (rows sum to 1).

    Beats whose map is zero everywhere get NaN shares (no weight to divide).

    Parameters
    ----------
    maps:
        ``(n, L, T)`` attribution maps.
    """
    a = np.asarray(maps, np.float64)
    if a.ndim != 3:
        raise DataError(f"maps must be (n, leads, T), got shape {a.shape}")
    per_lead = np.abs(a).sum(axis=2)
    total = per_lead.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, per_lead / np.where(total > 0, total, 1.0), np.nan)


def lead_share_table(maps: Mapping[str, np.ndarray], *, n_boot: int = 1000, seed: int = 0,
                     lead_names: Sequence[str] = LEAD_NAMES) -> pd.DataFrame:
    """Mean lead shares per method over beats, with 95 % percentile-bootstrap CIs.

    Parameters
    ----------
    maps:
        ``{method: (n, 12, T) maps}`` on the same beats.
    n_boot, seed:
        Bootstrap resamples over beats and their seed.
    lead_names:
        Names of the lead axis.

    Returns
    -------
    pandas.DataFrame
        Tidy rows ``method``, ``lead``, ``value`` (mean share), ``ci_low``, ``ci_high``, ``n``.
    """
    if not maps:
        raise DataError("no maps given")
    rows = []
    for method, m in maps.items():
        s = lead_shares(m)
        if s.shape[1] != len(lead_names):
            raise DataError(f"{method}: {s.shape[1]} leads but {len(lead_names)} lead names")
        est, lo, hi = bootstrap_ci_many(s, n_boot=n_boot, seed=seed)
        n = int(np.isfinite(s).all(axis=1).sum())
        rows += [{"method": method, "lead": ld, "value": float(est[j]), "ci_low": float(lo[j]),
                  "ci_high": float(hi[j]), "n": n} for j, ld in enumerate(lead_names)]
    return pd.DataFrame(rows)
