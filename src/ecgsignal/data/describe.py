"""Tables that describe a set of median beats: the class criteria, what the beats measure, Einthoven.

Used by the data chapter of the book (and by anyone checking their own beats):

- :data:`CLASS_CRITERIA` — the nine synthetic classes: PTB-XL SCP code, the diagnostic criterion
  and its source, what the generator plants, and the criteria mask (SYNTHETIC_ECG.md);
- :func:`criteria_table` — the fraction of beats of each class that meets each diagnostic
  criterion, measured on the waveform (:mod:`ecgsignal.data.criteria`), with Wilson 95 % CIs;
- :func:`measurement_summary` — median and interquartile range of the key measurements per class;
- :func:`mask_summary` — how large the two ground-truth masks are per class and how they overlap;
- :func:`limb_lead_residuals` — how far the limb leads are from Einthoven's and Goldberger's laws.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.stats import norm

from ecgsignal.data.criteria import Measurements, meets_criteria
from ecgsignal.data.dataset import validate_signals
from ecgsignal.data.leads import LEAD_INDEX, canonical_lead
from ecgsignal.errors import DataError

__all__ = [
    "CLASS_CRITERIA",
    "class_criteria_frame",
    "criteria_table",
    "limb_lead_residuals",
    "mask_summary",
    "measurement_summary",
    "wilson_interval",
]

#: The nine default classes: PTB-XL code, the criterion (and source), what is planted, and the
#: criteria mask (leads / window in s from the R peak). Sources: [P3] Surawicz et al. 2009,
#: [P4] Rautaharju et al. 2009, [P5] Hancock et al. 2009 (AHA/ACCF/HRS recommendations),
#: [UDMI] Thygesen et al. 2018 (Fourth Universal Definition of MI).
CLASS_CRITERIA: tuple[dict[str, str], ...] = (
    {"class": "NORM", "scp": "NORM",
     "criterion": "PR 120–200 ms, QRS ≤ 110 ms, axis −30…+90°", "source": "P3",
     "planted": "nothing", "mask": "none (empty)"},
    {"class": "1AVB", "scp": "1AVB", "criterion": "PR > 200 ms", "source": "P3",
     "planted": "P wave earlier: PR 240–340 ms",
     "mask": "leads with a visible P / −0.40…−0.05 s"},
    {"class": "LBBB", "scp": "CLBBB",
     "criterion": "QRS ≥ 120 ms; broad notched R in I, aVL, V5, V6; no q there; discordant ST-T",
     "source": "P3", "planted": "no septal q; broad R + notch; deep broad S V1–V3; T opposite to QRS",
     "mask": "I, aVL, V1, V2, V5, V6 / −0.06…0.16 s"},
    {"class": "RBBB", "scp": "CRBBB",
     "criterion": "QRS ≥ 120 ms; rsR′ in V1/V2; wide S in I and V6", "source": "P3",
     "planted": "R′ 0.5–0.9 mV at ≈ +70 ms in V1–V2; wide S in I, aVL, V4–V6",
     "mask": "V1, V2, I, aVL, V5, V6 / 0.03…0.13 s"},
    {"class": "LVH", "scp": "LVH",
     "criterion": "Sokolow-Lyon SV1 + RV5/6 ≥ 3.5 mV, or Cornell", "source": "P5",
     "planted": "RV5 2.6–3.2 mV, SV1 1.6–2.2 mV; half with strain ST-T in V5–V6",
     "mask": "V1–V3, V5, V6, aVL / −0.06…0.06 s"},
    {"class": "STEMI", "scp": "AMI/ASMI",
     "criterion": "J-point ST elevation ≥ 0.1 mV in 2 contiguous leads (≥ 0.2 mV in V2–V3)",
     "source": "UDMI", "planted": "ST plateau 0.3–0.5 mV in V2–V3, smaller in V1, V4",
     "mask": "V1–V4 / 0.04…0.36 s"},
    {"class": "IMI", "scp": "IMI",
     "criterion": "Q ≥ 30 ms and ≥ 0.1 mV deep in II, III, aVF", "source": "UDMI",
     "planted": "inferior Q ≈ 40 ms, 0.35–0.6 mV", "mask": "II, III, aVF / −0.06…0.01 s"},
    {"class": "TWI", "scp": "INVT/NT_",
     "criterion": "T < −0.1 mV in ≥ 2 contiguous leads with a dominant R", "source": "UDMI",
     "planted": "T inverted in I, aVL, V4–V6", "mask": "I, aVL, V4–V6 / 0.12…0.45 s"},
    {"class": "LQT", "scp": "LNGQT",
     "criterion": "QTc ≥ 450 ms (men) / ≥ 460 ms (women)", "source": "P4",
     "planted": "QTcF 480–560 ms", "mask": "leads with a visible T / 0.30…0.62 s"},
)


def class_criteria_frame() -> pd.DataFrame:
    """:data:`CLASS_CRITERIA` as a table, one row per class, indexed by class name."""
    return pd.DataFrame(list(CLASS_CRITERIA)).set_index("class")


def wilson_interval(k: np.ndarray | int, n: np.ndarray | int, ci: float = 0.95,
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a binomial proportion ``k / n`` (Wilson, JASA 1927).

    Unlike the normal (Wald) interval it stays inside [0, 1] and is not degenerate at 0 % or
    100 %, which is where criteria fractions usually sit.

    Parameters
    ----------
    k, n:
        Successes and trials (arrays broadcast); ``n`` must be ≥ 1.
    ci:
        Coverage in (0, 1).

    Returns
    -------
    (low, high):
        Arrays of the interval's bounds, in [0, 1].
    """
    k = np.asarray(k, np.float64)
    n = np.asarray(n, np.float64)
    if np.any(n < 1) or np.any(k < 0) or np.any(k > n):
        raise DataError("wilson_interval needs 0 ≤ k ≤ n and n ≥ 1")
    if not 0.0 < ci < 1.0:
        raise DataError(f"ci must lie in (0, 1), got {ci!r}")
    z = float(norm.ppf(0.5 + ci / 2.0))
    p = k / n
    den = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    lo = np.where(k == 0, 0.0, np.clip(centre - half, 0.0, 1.0))  # exact at the ends (no
    hi = np.where(k == n, 1.0, np.clip(centre + half, 0.0, 1.0))  # rounding below 1 at k = n)
    return lo, hi


def _class_index(labels: np.ndarray, n: int) -> np.ndarray:
    y = np.asarray(labels)
    if y.ndim == 2:
        y = y.argmax(1)
    if y.ndim != 1 or y.shape[0] != n:
        raise DataError(f"labels must be (n,) class indices or (n, C) for {n} beats, got {y.shape}")
    return y.astype(np.int64)


def criteria_table(measurements: Measurements, labels: np.ndarray, class_names: Sequence[str],
                   criteria: Sequence[str] | None = None, ci: float = 0.95) -> pd.DataFrame:
    """Fraction of each class's beats meeting each diagnostic criterion, with Wilson CIs.

    Parameters
    ----------
    measurements:
        :func:`ecgsignal.data.criteria.measure` of the beats (best on noise-free beats).
    labels:
        ``(n,)`` class indices (or ``(n, C)``: the first positive class counts).
    class_names:
        Names of the classes indexed by ``labels``.
    criteria:
        Criteria to report (keys of :func:`~ecgsignal.data.criteria.meets_criteria`); default:
        those named like a class in ``class_names``.
    ci:
        Coverage of the intervals.

    Returns
    -------
    pandas.DataFrame
        Tidy rows ``class``, ``criterion``, ``n`` (beats of the class), ``k`` (meeting it),
        ``fraction``, ``ci_low``, ``ci_high``; classes without beats are left out.
    """
    met = meets_criteria(measurements)
    n_beats = measurements.pr.shape[0]
    y = _class_index(labels, n_beats)
    names = list(criteria) if criteria is not None else [c for c in class_names if c in met]
    unknown = [c for c in names if c not in met]
    if unknown:
        raise DataError(f"unknown criteria {unknown}; valid: {sorted(met)}")
    rows = []
    for ci_, cls in enumerate(class_names):
        sel = y == ci_
        n = int(sel.sum())
        if n == 0:
            continue
        for crit in names:
            k = int(met[crit][sel].sum())
            lo, hi = wilson_interval(k, n, ci)
            rows.append({"class": cls, "criterion": crit, "n": n, "k": k, "fraction": k / n,
                         "ci_low": float(lo), "ci_high": float(hi)})
    return pd.DataFrame(rows)


#: Measurements summarised by :func:`measurement_summary`: column → (label, how to get it).
_SUMMARY = {
    "PR (ms)": lambda m: m.pr,
    "QRS (ms)": lambda m: m.qrs,
    "QTcF (ms)": lambda m: m.qtcf,
    "axis (°)": lambda m: m.axis,
    "Sokolow-Lyon (mV)": lambda m: m.sokolow,
    "max ST J+60, V1–V4 (mV)": lambda m: m.st_j60[:, [LEAD_INDEX[v] for v in ("V1", "V2", "V3", "V4")]].max(1),
    "min Q width II/III/aVF (ms)": lambda m: m.q_width[:, [LEAD_INDEX[v] for v in ("II", "III", "aVF")]].min(1),
    "min T, I/aVL/V4–V6 (mV)": lambda m: m.t_amp[:, [LEAD_INDEX[v] for v in ("I", "aVL", "V4", "V5", "V6")]].min(1),
}


def measurement_summary(measurements: Measurements, labels: np.ndarray,
                        class_names: Sequence[str]) -> pd.DataFrame:
    """Median [interquartile range] of the key measurements per class.

    Returns
    -------
    pandas.DataFrame
        Tidy rows ``class``, ``measurement``, ``n``, ``median``, ``q25``, ``q75``; the
        measurements are PR, QRS, QTcF, the frontal axis, Sokolow-Lyon, the largest ST level at
        J + 60 ms in V1–V4, the narrowest inferior Q and the lowest lateral T (see
        :class:`~ecgsignal.data.criteria.Measurements`).
    """
    y = _class_index(labels, measurements.pr.shape[0])
    rows = []
    for ci_, cls in enumerate(class_names):
        sel = y == ci_
        if not sel.any():
            continue
        for name, get in _SUMMARY.items():
            v = np.asarray(get(measurements), np.float64)[sel]
            q25, med, q75 = np.nanpercentile(v, [25, 50, 75])
            rows.append({"class": cls, "measurement": name, "n": int(sel.sum()),
                         "median": float(med), "q25": float(q25), "q75": float(q75)})
    return pd.DataFrame(rows)


def mask_summary(diff_mask: np.ndarray, criteria_mask: np.ndarray, labels: np.ndarray,
                 class_names: Sequence[str]) -> pd.DataFrame:
    """Size and overlap of the difference and criteria masks per class.

    Parameters
    ----------
    diff_mask, criteria_mask:
        ``(n, 12, T)`` bool ground truth.
    labels, class_names:
        As for :func:`criteria_table`.

    Returns
    -------
    pandas.DataFrame
        One row per class with beats: ``n``; ``diff_pct`` and ``criteria_pct`` (mean % of the
        12·T entries a mask covers); ``diff_in_criteria`` (mean fraction of the difference mask
        inside the criteria mask: below 1 where the class change has effects the criterion does
        not inspect, e.g. reciprocal changes); ``criteria_covered`` (mean fraction of the
        criteria mask that the beat actually changes); ``leads_diff`` (mean number of leads the
        difference mask touches). Fractions are NaN for a class whose masks are empty (NORM).
    """
    d = np.asarray(diff_mask, bool)
    c = np.asarray(criteria_mask, bool)
    if d.shape != c.shape or d.ndim != 3:
        raise DataError(f"masks must share one (n, 12, T) shape, got {d.shape} and {c.shape}")
    y = _class_index(labels, d.shape[0])
    size = d.shape[1] * d.shape[2]
    nd = d.reshape(len(d), -1).sum(1).astype(np.float64)
    nc = c.reshape(len(c), -1).sum(1).astype(np.float64)
    both = (d & c).reshape(len(d), -1).sum(1).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        inside = np.where(nd > 0, both / np.where(nd > 0, nd, 1), np.nan)
        covered = np.where(nc > 0, both / np.where(nc > 0, nc, 1), np.nan)
    rows = []
    for ci_, cls in enumerate(class_names):
        sel = y == ci_
        if not sel.any():
            continue
        fin_i, fin_c = inside[sel], covered[sel]
        rows.append({"class": cls, "n": int(sel.sum()),
                     "diff_pct": float(100 * nd[sel].mean() / size),
                     "criteria_pct": float(100 * nc[sel].mean() / size),
                     "diff_in_criteria": float(np.nanmean(fin_i)) if np.isfinite(fin_i).any() else np.nan,
                     "criteria_covered": float(np.nanmean(fin_c)) if np.isfinite(fin_c).any() else np.nan,
                     "leads_diff": float(d[sel].any(axis=2).sum(1).mean())})
    return pd.DataFrame(rows)


def limb_lead_residuals(signals: np.ndarray, lead_names: Sequence[str]) -> pd.DataFrame:
    """Largest deviation from Einthoven's and Goldberger's laws over all beats and samples.

    Checks ``III = II − I``, ``aVR = −(I + II)/2``, ``aVL = I − II/2``, ``aVF = II − I/2``.

    Parameters
    ----------
    signals:
        ``(n, 12, T)`` beats in mV.
    lead_names:
        The 12 lead names in the order of ``signals`` (matched case-insensitively).

    Returns
    -------
    pandas.DataFrame
        One row per law: ``law``, ``max_abs_residual_mv``, ``rms_residual_mv``.
    """
    validate_signals(signals)
    idx = {canonical_lead(n): i for i, n in enumerate(lead_names)}
    missing = [ld for ld in ("I", "II", "III", "aVR", "aVL", "aVF") if ld not in idx]
    if missing:
        raise DataError(f"limb leads {missing} are not among the lead names {list(lead_names)}")
    x = np.asarray(signals, np.float64)
    lead_i, lead_ii = x[:, idx["I"]], x[:, idx["II"]]
    laws = {
        "III = II − I": x[:, idx["III"]] - (lead_ii - lead_i),
        "aVR = −(I + II)/2": x[:, idx["aVR"]] + (lead_i + lead_ii) / 2,
        "aVL = I − II/2": x[:, idx["aVL"]] - (lead_i - lead_ii / 2),
        "aVF = II − I/2": x[:, idx["aVF"]] - (lead_ii - lead_i / 2),
    }
    return pd.DataFrame([{"law": k, "max_abs_residual_mv": float(np.abs(r).max()),
                          "rms_residual_mv": float(np.sqrt(np.mean(r * r)))}
                         for k, r in laws.items()])
