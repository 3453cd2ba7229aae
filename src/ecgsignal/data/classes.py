"""The diagnostic classes of the synthetic generator, each defined in one place.

One :class:`ClassSpec` per class holds everything the generator knows about it: the parameter
draws of both difficulties (easy: far from the clinical threshold; realistic: a population that
piles up just past it, :mod:`ecgsignal.data.realism`), the interval change (applied before the wave
layout), the morphology change (after it), the criteria-mask rule (leads × window the diagnostic
criterion inspects), the label priority, the findings it may co-occur with, and the clinical
threshold its population is measured against. :data:`CLASSES` is the registry, in class order;
:mod:`ecgsignal.data.beatmodel` renders by iterating over it.

Criteria after Surawicz et al. (AHA/ACCF/HRS Part III, JACC 2009: 1AVB, bundle-branch and
fascicular blocks, WPW), Hancock et al. (Part V: LVH), Rautaharju et al. (Part IV: ST-T, QT) and
Thygesen et al. (Fourth Universal Definition of MI, 2018: STEMI, Q waves).

Random-stream contract: the draws run class by class in :data:`CLASSES` order, each drawing its
keys in the order written below, so moving code here must not reorder a single draw (the output
is pinned bit for bit by ``tests/test_synthetic_pinned.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ecgsignal.data.leads import LEAD_INDEX, LEAD_NAMES
from ecgsignal.data.waves import _W, _above, _lognormal, _st_edges, _u
from ecgsignal.errors import ConfigError

__all__ = ["CLASSES", "ClassSpec", "class_spec"]

Draw = Callable[[int, np.random.Generator], dict]
Change = Callable[[dict, dict, np.ndarray], None]

#: Amplitude (mV) from which a P or T wave counts as visible in a lead (``"visible P/T"`` masks).
_VISIBLE_MV = 0.05


@dataclass(frozen=True)
class ClassSpec:
    """One diagnostic class of the synthetic generator.

    Attributes
    ----------
    name:
        Class name (PTB-XL-style label).
    draw_easy, draw_realistic:
        ``(n, rng) -> dict`` of ``(n, ...)`` arrays: the class's parameters for all beats (only the
        rows that carry the class are used). ``draw_realistic`` ``None`` means the easy draw.
    intervals:
        ``(p, q, rows) -> None``: change the interval parameters ``p`` of ``rows`` before layout.
    morph:
        ``(p, q, rows) -> None``: plant amplitudes, extra waves and ST-T change after layout.
    criteria_leads, criteria_window:
        The criteria mask: leads (names, or ``"visible P"`` / ``"visible T"`` for every lead where
        that wave is at least 0.05 mV) × window (s from the R peak).
    priority:
        Rank in the single-label rule of co-occurring findings (0 = highest); ``None`` for NORM.
    compatible:
        Findings it may co-occur with in the multi-label option (symmetric).
    secondary:
        Lower-priority findings the realistic difficulty may add to it.
    borderline:
        ``(quantity label, clinical threshold, getter(measurements, lead index))`` rows of
        :func:`ecgsignal.data.realism.borderline_table`.
    extra:
        An optional class (``SyntheticConfig.extras``), not one of the paper's nine.
    """

    name: str
    draw_easy: Draw | None = None
    draw_realistic: Draw | None = None
    intervals: Change | None = None
    morph: Change | None = None
    criteria_leads: tuple[str, ...] | str = ()
    criteria_window: tuple[float, float] = (0.0, 0.0)
    priority: int | None = None
    compatible: tuple[str, ...] = ()
    secondary: tuple[str, ...] = ()
    borderline: tuple[tuple[str, float, Callable], ...] = ()
    extra: bool = False

    def draw(self, difficulty: str, n: int, rng: np.random.Generator) -> dict:
        """The class parameters of ``n`` beats for ``difficulty`` (``"easy"`` or ``"realistic"``)."""
        fn = self.draw_realistic if difficulty == "realistic" and self.draw_realistic else self.draw_easy
        return fn(n, rng)

    def lead_mask(self, info: dict, rows: np.ndarray) -> np.ndarray:
        """``(m, 12)`` bool: the leads the criterion inspects on chunk rows ``rows``."""
        if self.criteria_leads == "visible P":
            return np.abs(info["p_amp"][rows]) >= _VISIBLE_MV
        if self.criteria_leads == "visible T":
            return np.abs(info["t_amp"][rows]) >= _VISIBLE_MV
        on = np.zeros((rows.size, 12), bool)
        on[:, [LEAD_INDEX[ld] for ld in self.criteria_leads]] = True
        return on


# ======================================================================= 1AVB
def _1avb_easy(n, rng):
    return {"pr": _u(rng, 0.24, 0.34, n)}


def _1avb_real(n, rng):
    return {"pr": _above(rng, 0.205, 0.030, 0.34, n), "dmin": np.full(n, 0.025)}


def _1avb_intervals(p, q, s):  # realistic draws add "dmin": the P moves at least that far (s) from the patient's
    p["pr"][s] = np.maximum(q["pr"], p["pr"][s] + q["dmin"]) if "dmin" in q else q["pr"]


# ======================================================================= LBBB
_LBBB_PREC = {
    "R": (0.0, 0.05, 0.15, 0.45, 0.80, 0.85),
    "RN": (0.0, 0.05, 0.20, 0.60, 1.00, 1.05),
    "S": (-1.30, -1.80, -1.50, -0.60, 0.0, 0.0),
    "T": (0.35, 0.50, 0.40, 0.10, -0.25, -0.30),
    "ST": (0.10, 0.15, 0.10, 0.0, -0.08, -0.10),
}


def _lbbb_easy(n, rng):
    return {"qrs": _u(rng, 0.13, 0.17, n), "dax": _u(rng, 10, 30, n), "tmag": _u(rng, 0.25, 0.40, n),
            "jit": _lognormal(rng, 0.08, (n, 6))}


def _lbbb_real(n, rng):
    return {"qrs": _above(rng, 0.124, 0.015, 0.17, n), "dax": _u(rng, 0, 30, n),
            "tmag": _u(rng, 0.10, 0.40, n), "jit": _lognormal(rng, 0.20, (n, 6))}


def _lbbb_intervals(p, q, s):
    extra = q["qrs"] - p["qrs"][s]
    p["qrs"][s] = q["qrs"]
    p["qt"][s] += extra  # JT interval preserved: QT grows with the QRS


def _lbbb_morph(p, q, s):
    mu, sl, sr, fmag, fang, prec = p["mu"], p["sl"], p["sr"], p["fmag"], p["fang"], p["prec"]
    d = p["qrs"][s]
    ax = np.maximum(p["axis"][s] - q["dax"], -30.0)
    fmag[s, _W["Q"]] = 0.0  # no septal q: septum activated right → left
    prec[s, _W["Q"]] = 0.0
    r = fmag[s, _W["R"]]
    mu[s, _W["R"]], sl[s, _W["R"]], sr[s, _W["R"]] = -0.17 * d, 0.12 * d, 0.12 * d
    mu[s, _W["RN"]], sl[s, _W["RN"]], sr[s, _W["RN"]] = 0.17 * d, 0.12 * d, 0.12 * d
    fmag[s, _W["R"]], fang[s, _W["R"]] = 0.8 * r, ax
    fmag[s, _W["RN"]], fang[s, _W["RN"]] = r, ax
    mu[s, _W["S"]], sl[s, _W["S"]], sr[s, _W["S"]] = 0.0, 0.16 * d, 0.16 * d
    fmag[s, _W["S"]] = 0.0
    fmag[s, _W["T"]], fang[s, _W["T"]] = q["tmag"], ax + 180.0  # discordant T
    fmag[s, _W["ST"]], fang[s, _W["ST"]] = 0.3 * q["tmag"], ax + 180.0
    for w in ("R", "RN", "S", "T", "ST"):
        prec[s, _W[w]] = np.asarray(_LBBB_PREC[w]) * q["jit"]
    _st_edges(p, s, rise=0.0, k1=0.008, fall=0.0)
    p["axis"][s] = ax


# ======================================================================= RBBB
def _rbbb_easy(n, rng):
    return {"mu": _u(rng, 0.055, 0.075, n), "sig": _u(rng, 0.014, 0.018, n),
            "rp": _u(rng, 0.5, 0.9, n), "sw": _u(rng, 0.25, 0.40, n),
            "fmag": _u(rng, 0.30, 0.50, n), "fang": _u(rng, 160, 200, n), "tinv": _u(rng, 0.10, 0.25, n)}


def _rbbb_real(n, rng):
    return {"mu": _u(rng, 0.052, 0.072, n), "sig": _u(rng, 0.013, 0.018, n),
            "rp": _u(rng, 0.35, 0.9, n), "sw": _u(rng, 0.15, 0.40, n),
            "fmag": _u(rng, 0.20, 0.45, n), "fang": _u(rng, 160, 200, n), "tinv": _u(rng, 0.0, 0.20, n)}


def _rbbb_intervals(p, q, s):  # late terminal forces widen the QRS; T follows (JT preserved)
    extra = np.maximum(q["mu"] + 2.3 * q["sig"] - 0.5 * p["qrs"][s], 0.0)
    p["qrs_extra"][s] = extra
    p["qt"][s] += extra


def _rbbb_morph(p, q, s):
    mu, sl, sr, fmag, fang, prec = p["mu"], p["sl"], p["sr"], p["fmag"], p["fang"], p["prec"]
    i = _W["TERM"]
    mu[s, i], sl[s, i], sr[s, i] = q["mu"], q["sig"], q["sig"]
    fmag[s, i], fang[s, i] = q["fmag"], q["fang"]
    prec[s, i] = np.stack([q["rp"], 0.7 * q["rp"], 0.25 * q["rp"],
                           -0.5 * q["sw"], -q["sw"], -q["sw"]], 1)
    prec[s, _W["T"], 0] = -q["tinv"]  # secondary T inversion in V1–V2
    prec[s, _W["T"], 1] = -0.5 * q["tinv"]


# ======================================================================= LVH
def _lvh_easy(n, rng):
    return {"rv5": _u(rng, 2.6, 3.2, n), "sv1": _u(rng, 1.6, 2.2, n), "fr": _u(rng, 1.3, 1.6, n),
            "dax": _u(rng, 0, 15, n), "strain": rng.random(n) < 0.5,
            "tinv": _u(rng, 0.15, 0.30, (n, 2)), "std": _u(rng, 0.05, 0.10, n)}


def _lvh_real(n, rng):
    sok = _above(rng, 3.7, 0.45, 5.5, n)
    frac = _u(rng, 0.5, 0.65, n)
    return {"rv5": frac * sok, "sv1": (1 - frac) * sok, "fr": _u(rng, 1.0, 1.4, n),
            "dax": _u(rng, 0, 15, n), "strain": rng.random(n) < 0.3,
            "tinv": _u(rng, 0.10, 0.30, (n, 2)), "std": _u(rng, 0.03, 0.10, n)}


def _lvh_intervals(p, q, s):
    p["qrs"][s] = np.minimum(p["qrs"][s] + 0.008, 0.104)


def _lvh_morph(p, q, s):
    fmag, fang, prec = p["fmag"], p["fang"], p["prec"]
    v5 = np.maximum(prec[s, _W["R"], 4], 1e-3)
    v1 = np.maximum(-prec[s, _W["S"], 0], 1e-3)
    prec[s, _W["R"], 2:] *= (q["rv5"] / v5)[:, None]
    prec[s, _W["S"], :3] *= (q["sv1"] / v1)[:, None]
    fmag[s, _W["R"]] *= q["fr"]
    fang[s, _W["R"]] -= q["dax"]
    p["axis"][s] -= q["dax"]
    st = np.flatnonzero(q["strain"])
    if st.size:  # strain: down-sloping ST depression and T inversion in V5–V6, I, aVL
        rows = s[st]
        prec[rows, _W["T"], 4] = -q["tinv"][st, 0]
        prec[rows, _W["T"], 5] = -q["tinv"][st, 1]
        prec[rows, _W["T"], 3] *= 0.3
        fang[rows, _W["T"]] = p["axis"][rows] + 180.0
        fmag[rows, _W["T"]] = 0.6 * q["tinv"][st].mean(1)
        prec[rows, _W["ST"], 4] = -q["std"][st]
        prec[rows, _W["ST"], 5] = -q["std"][st]
        _st_edges(p, rows, rise=0.0, k1=0.008, fall=-0.06)


# ======================================================================= STEMI (anterior)
def _stemi_easy(n, rng):
    return {"st": _u(rng, 0.30, 0.50, n), "v3": _u(rng, 0.85, 1.0, n), "v1": _u(rng, 0.3, 0.5, n),
            "v4": _u(rng, 0.4, 0.6, n), "hyper": _u(rng, 1.2, 1.5, n)}


def _stemi_real(n, rng):
    return {"st": _above(rng, 0.21, 0.08, 0.5, n), "v3": _u(rng, 0.95, 1.1, n), "v1": _u(rng, 0.5, 0.8, n),
            "v4": _u(rng, 0.5, 0.9, n), "hyper": _u(rng, 1.0, 1.4, n)}


def _stemi_morph(p, q, s):
    prec, lvl = p["prec"], q["st"]
    prec[s, _W["ST"], :4] = np.stack([q["v1"] * lvl, lvl, q["v3"] * lvl, q["v4"] * lvl], 1)
    prec[s, _W["T"], 1:4] *= q["hyper"][:, None]  # hyperacute T in V2–V4
    _st_edges(p, s, rise=-0.010, k1=0.004, fall=0.02)


# ======================================================================= IMI (old inferior MI)
def _imi_easy(n, rng):
    return {"q": _u(rng, 0.50, 0.75, n), "qang": _u(rng, -100, -80, n), "inf": _u(rng, 0.3, 0.5, n)}


def _imi_real(n, rng):
    return {"q": _above(rng, 0.30, 0.12, 0.75, n), "qang": _u(rng, -100, -80, n), "inf": _u(rng, 0.85, 1.0, n)}


def _imi_morph(p, q, s):
    mu, sl, sr, fmag, fang = p["mu"], p["sl"], p["sr"], p["fmag"], p["fang"]
    i = _W["QI"]
    mu[s, i] = p["qrs_onset"][s] + 0.028
    sl[s, i], sr[s, i] = 0.012, 0.016
    fmag[s, i], fang[s, i] = q["q"], q["qang"]
    # loss of inferior forces: the R dipole's inferior (y) component shrinks → left shift
    th = np.deg2rad(fang[s, _W["R"]])
    rx, ry = np.cos(th), q["inf"] * np.sin(th)
    fang[s, _W["R"]] = np.degrees(np.arctan2(ry, rx))
    fmag[s, _W["R"]] *= np.hypot(rx, ry)
    p["axis"][s] = fang[s, _W["R"]]


# ======================================================================= TWI
def _twi_easy(n, rng):
    return {"fang": _u(rng, 130, 160, n), "fmag": _u(rng, 0.25, 0.40, n),
            "v": np.stack([_u(rng, 0.2, 0.4, n), _u(rng, 0.25, 0.45, n), _u(rng, 0.2, 0.35, n)], 1)}


def _twi_real(n, rng):
    return {"fang": _u(rng, 130, 170, n), "fmag": _u(rng, 0.12, 0.35, n),
            "v": np.stack([_above(rng, 0.13, 0.08, 0.4, n), _above(rng, 0.14, 0.09, 0.45, n),
                           _above(rng, 0.13, 0.07, 0.35, n)], 1)}


def _twi_morph(p, q, s):
    fang, fmag, prec = p["fang"], p["fmag"], p["prec"]
    fang[s, _W["T"]], fmag[s, _W["T"]] = q["fang"], q["fmag"]
    prec[s, _W["T"], 3:6] = -q["v"]
    prec[s, _W["T"], 2] *= 0.3


# ======================================================================= LQT
def _lqt_easy(n, rng):
    return {"qtcf": _u(rng, 0.48, 0.56, n), "wr": _u(rng, 1.0, 1.3, n)}


def _lqt_real(n, rng):
    return {"qtcf": _above(rng, 0.456, 0.025, 0.56, n), "wr": _u(rng, 1.0, 1.25, n)}


def _lqt_intervals(p, q, s):
    p["qt"][s] = q["qtcf"] * np.cbrt(p["rr"][s])
    p["sig_tr"][s] *= q["wr"]
    p["sig_tl"][s] *= 1.15


# ======================================================================= WPW (extra)
def _wpw_easy(n, rng):
    return {"pr": _u(rng, 0.08, 0.11, n), "delta": _u(rng, 0.040, 0.060, n),
            "fang": _u(rng, -10, 70, n), "fmag": _u(rng, 0.25, 0.45, n),
            "v": np.concatenate([_u(rng, 0.15, 0.30, (n, 1)), _u(rng, 0.25, 0.45, (n, 5))], 1),
            "tflat": _u(rng, 0.4, 0.7, n)}


def _wpw_intervals(p, q, s):  # pre-excitation: the QRS starts δ earlier with a delta wave; short PR
    p["pr"][s] = q["pr"]
    p["delta"][s] = q["delta"]
    p["qt"][s] += q["delta"]


def _wpw_morph(p, q, s):
    fmag, fang, prec = p["fmag"], p["fang"], p["prec"]
    d = p["qrs"][s]
    i = _W["DELTA"]
    p["ramp"][s, 0] = p["qrs_onset"][s]  # ramp from the (early) QRS onset…
    p["ramp"][s, 1] = -0.5 * d + 0.01  # …into the normally conducted QRS
    p["ramp"][s, 2] = 0.015
    fmag[s, i], fang[s, i] = q["fmag"], q["fang"]
    prec[s, i] = q["v"]
    fmag[s, _W["T"]] *= q["tflat"]  # secondary repolarisation change
    prec[s, _W["T"]] *= q["tflat"][:, None]


# ======================================================================= LAFB (extra)
def _lafb_easy(n, rng):
    return {"ang": _u(rng, -75, -55, n), "qang": _u(rng, 110, 150, n), "qmag": _u(rng, 0.12, 0.20, n),
            "dqrs": _u(rng, 0.005, 0.015, n)}


def _lafb_intervals(p, q, s):
    p["qrs"][s] = np.minimum(p["qrs"][s] + q["dqrs"], 0.102)


def _lafb_morph(p, q, s):  # superior axis; initial forces inferior-rightward: qR in aVL, rS inferior
    fang, fmag = p["fang"], p["fmag"]
    fang[s, _W["R"]] = q["ang"]
    fang[s, _W["Q"]], fmag[s, _W["Q"]] = q["qang"], q["qmag"]
    fmag[s, _W["S"]] *= 0.3
    p["axis"][s] = q["ang"]


# ======================================================================= registry
#: Every class, in class order (the nine of the paper, then the optional extras). Multi-label
#: ``compatible`` pairs leave out findings whose planted changes or criteria would contradict each
#: other (LBBB + RBBB, LBBB + LVH, LVH strain + TWI, RBBB + LAFB whose isolated-LAFB criterion
#: needs QRS < 120 ms, …).
CLASSES: dict[str, ClassSpec] = {s.name: s for s in (
    ClassSpec("NORM"),
    ClassSpec("1AVB", _1avb_easy, _1avb_real, intervals=_1avb_intervals,
              criteria_leads="visible P", criteria_window=(-0.40, -0.05), priority=7,
              compatible=("LBBB", "RBBB", "LVH", "STEMI", "IMI", "TWI", "LQT", "LAFB"),
              borderline=(("PR (ms)", 200.0, lambda m, L: m.pr),)),
    ClassSpec("LBBB", _lbbb_easy, _lbbb_real, _lbbb_intervals, _lbbb_morph,
              ("I", "aVL", "V1", "V2", "V5", "V6"), (-0.06, 0.16), priority=1,
              compatible=("1AVB",), secondary=("1AVB",),
              borderline=(("QRS (ms)", 120.0, lambda m, L: m.qrs),)),
    ClassSpec("RBBB", _rbbb_easy, _rbbb_real, _rbbb_intervals, _rbbb_morph,
              ("V1", "V2", "I", "aVL", "V5", "V6"), (0.03, 0.13), priority=2,
              compatible=("1AVB", "STEMI", "IMI", "TWI", "LQT"), secondary=("IMI", "LQT", "1AVB"),
              borderline=(("QRS (ms)", 120.0, lambda m, L: m.qrs),)),
    ClassSpec("LVH", _lvh_easy, _lvh_real, _lvh_intervals, _lvh_morph,
              ("V1", "V2", "V3", "V5", "V6", "aVL"), (-0.06, 0.06), priority=4,
              compatible=("1AVB", "IMI", "LQT"), secondary=("LQT", "1AVB"),
              borderline=(("Sokolow-Lyon (mV)", 3.5, lambda m, L: m.sokolow),)),
    ClassSpec("STEMI", _stemi_easy, _stemi_real, None, _stemi_morph,
              ("V1", "V2", "V3", "V4"), (0.04, 0.36), priority=0,
              compatible=("1AVB", "RBBB", "IMI", "LAFB"), secondary=("IMI", "1AVB"),
              borderline=(("ST at J+60 ms, min of V2/V3 (mV)", 0.2,
                           lambda m, L: m.st_j60[:, [L["V2"], L["V3"]]].min(1)),)),
    ClassSpec("IMI", _imi_easy, _imi_real, None, _imi_morph,
              ("II", "III", "aVF"), (-0.06, 0.01), priority=3,
              compatible=("1AVB", "RBBB", "LVH", "STEMI", "TWI", "LQT"),
              secondary=("LVH", "LQT", "TWI", "1AVB"),
              borderline=(("Q depth in aVF (mV)", 0.1, lambda m, L: m.q_depth[:, L["aVF"]]),)),
    ClassSpec("TWI", _twi_easy, _twi_real, None, _twi_morph,
              ("I", "aVL", "V4", "V5", "V6"), (0.12, 0.45), priority=6,
              compatible=("1AVB", "RBBB", "IMI", "LQT", "LAFB"), secondary=("1AVB",),
              borderline=(("T inversion, deepest of V4–V6 (mV)", 0.1,
                           lambda m, L: -m.t_amp[:, [L["V4"], L["V5"], L["V6"]]].min(1)),)),
    ClassSpec("LQT", _lqt_easy, _lqt_real, intervals=_lqt_intervals,
              criteria_leads="visible T", criteria_window=(0.30, 0.62), priority=5,
              compatible=("1AVB", "RBBB", "LVH", "IMI", "TWI", "LAFB"), secondary=("TWI", "1AVB"),
              borderline=(("QTcF (ms)", 450.0, lambda m, L: m.qtcf),)),
    # optional extras (not in the paper's nine): short PR + delta wave; left axis + qR in aVL.
    # Both keep their easy draws at the realistic difficulty.
    ClassSpec("WPW", _wpw_easy, None, _wpw_intervals, _wpw_morph,
              LEAD_NAMES, (-0.14, 0.02), priority=8, extra=True),
    ClassSpec("LAFB", _lafb_easy, None, _lafb_intervals, _lafb_morph,
              ("I", "II", "III", "aVL", "aVF"), (-0.06, 0.06), priority=9,
              compatible=("1AVB", "STEMI", "TWI", "LQT"), extra=True),
)}


def class_spec(name: str) -> ClassSpec:
    """The :class:`ClassSpec` of class ``name``."""
    try:
        return CLASSES[name]
    except KeyError:
        raise ConfigError(f"unknown synthetic class {name!r}; valid: {list(CLASSES)}") from None
