"""The beat model of the synthetic generator: wave tables, class draws, rendering, noise, masks.

Split out of :mod:`ecgsignal.data.synthetic` (which holds the configuration, the batch and the
public API) so that each module has one job. Everything here is private to the generator; the
realistic difficulty (:mod:`ecgsignal.data.realism`) reuses the renderer with its own draws.
See :mod:`ecgsignal.data.synthetic` for the model and its sources.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ecgsignal.data.leads import LEAD_INDEX, LEAD_NAMES

#: The nine default classes (PTB-XL SCP codes: NORM, 1AVB, CLBBB, CRBBB, LVH, AMI/ASMI, IMI,
#: INVT/NT_, LNGQT).
CLASS_NAMES: tuple[str, ...] = ("NORM", "1AVB", "LBBB", "RBBB", "LVH", "STEMI", "IMI", "TWI", "LQT")
#: Optional extra classes (``SyntheticConfig.extras``), appended after the nine in this order:
#: Wolff-Parkinson-White pre-excitation [WPW] and left anterior fascicular block [LAFB].
EXTRA_CLASSES: tuple[str, ...] = ("WPW", "LAFB")
_ALL = CLASS_NAMES + EXTRA_CLASSES
_CI = {c: i for i, c in enumerate(_ALL)}

#: Difference-mask threshold, mV: where a beat and its counterfactual differ by more than this.
MASK_THRESHOLD_MV: float = 0.05

#: Criteria masks: class → (leads, (start, end) in s from the R peak). ``"visible P"`` /
#: ``"visible T"`` mean every lead where that wave's amplitude is at least 0.05 mV in the beat.
CRITERIA_WINDOWS: dict[str, tuple[tuple[str, ...] | str, tuple[float, float]]] = {
    "1AVB": ("visible P", (-0.40, -0.05)),
    "LBBB": (("I", "aVL", "V1", "V2", "V5", "V6"), (-0.06, 0.16)),
    "RBBB": (("V1", "V2", "I", "aVL", "V5", "V6"), (0.03, 0.13)),
    "LVH": (("V1", "V2", "V3", "V5", "V6", "aVL"), (-0.06, 0.06)),
    "STEMI": (("V1", "V2", "V3", "V4"), (0.04, 0.36)),
    "IMI": (("II", "III", "aVF"), (-0.06, 0.01)),
    "TWI": (("I", "aVL", "V4", "V5", "V6"), (0.12, 0.45)),
    "LQT": ("visible T", (0.30, 0.62)),
    # optional extras (not in the paper's nine): short PR + delta wave; left axis + qR in aVL
    "WPW": (LEAD_NAMES, (-0.14, 0.02)),
    "LAFB": (("I", "II", "III", "aVL", "aVF"), (-0.06, 0.06)),
}
_VISIBLE_MV = 0.05


# Wave components, in render order: asymmetric Gaussians, then the delta-wave ramp and the ST
# plateau (two logistic edges). RN: LBBB notch; TERM: RBBB terminal R′/wide S; QI: infarct Q.
_WAVES = ("P", "Q", "R", "S", "T", "RN", "TERM", "QI", "DELTA", "ST")
_W = {w: i for i, w in enumerate(_WAVES)}
_NW = len(_WAVES)
_GAUSS = _W["DELTA"]  # components 0.._GAUSS-1 are asymmetric Gaussians; then the ramp, the plateau
_V = slice(2, 8)  # precordial columns in the 8 independent leads (I, II, V1..V6)

# Precordial amplitude tables (mV, V1..V6) of the normal adult beat.
_PREC = {
    "P": (0.05, 0.07, 0.07, 0.07, 0.07, 0.06),
    "Q": (0.15, 0.12, 0.0, -0.05, -0.09, -0.08),
    "R": (0.15, 0.35, 0.70, 1.05, 1.20, 0.95),
    "S": (-0.80, -1.15, -0.80, -0.45, -0.20, -0.10),
    "T": (0.08, 0.40, 0.45, 0.40, 0.30, 0.22),
}
_LBBB_PREC = {
    "R": (0.0, 0.05, 0.15, 0.45, 0.80, 0.85),
    "RN": (0.0, 0.05, 0.20, 0.60, 1.00, 1.05),
    "S": (-1.30, -1.80, -1.50, -0.60, 0.0, 0.0),
    "T": (0.35, 0.50, 0.40, 0.10, -0.25, -0.30),
    "ST": (0.10, 0.15, 0.10, 0.0, -0.08, -0.10),
}


def _u(rng: np.random.Generator, lo: float, hi: float, n: int) -> np.ndarray:
    return rng.uniform(lo, hi, n)


def _lognormal(rng: np.random.Generator, sigma: float, size) -> np.ndarray:
    """Log-normal factors with median 1, clipped at ±2σ (bounded patient variability)."""
    return np.exp(np.clip(rng.normal(0.0, sigma, size), -2 * sigma, 2 * sigma))


def _draw_patients(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Normal adult parameters per beat: rates, intervals, axes, wave sizes, amplitude jitter."""
    p: dict[str, np.ndarray] = {}
    p["hr"] = _u(rng, 55, 95, n)
    p["rr"] = 60.0 / p["hr"]
    p["pr"] = _u(rng, 0.13, 0.19, n)  # s, P onset → QRS onset
    p["qrs"] = _u(rng, 0.08, 0.10, n)  # s
    p["qtcf"] = np.clip(rng.normal(0.410, 0.015, n), 0.375, 0.440)  # s, Fridericia
    p["axis"] = _u(rng, 0, 75, n)  # deg, frontal QRS axis
    p["sig_p"] = _u(rng, 0.020, 0.025, n)
    p["sig_tl"] = _u(rng, 0.045, 0.060, n)
    p["sig_tr"] = _u(rng, 0.030, 0.040, n)
    # frontal dipoles: magnitude (mV) and angle (deg) per wave
    fmag = np.zeros((n, _NW))
    fang = np.zeros((n, _NW))
    fmag[:, _W["P"]] = _u(rng, 0.10, 0.20, n)
    fang[:, _W["P"]] = _u(rng, 40, 70, n)
    fmag[:, _W["Q"]] = _u(rng, 0.04, 0.10, n)
    fang[:, _W["Q"]] = _u(rng, 150, 210, n)
    fmag[:, _W["R"]] = _u(rng, 0.9, 1.5, n)
    fang[:, _W["R"]] = p["axis"]
    fmag[:, _W["S"]] = _u(rng, 0.15, 0.35, n)
    fang[:, _W["S"]] = p["axis"] + 180.0 + _u(rng, -25, 25, n)
    fmag[:, _W["T"]] = _u(rng, 0.25, 0.45, n)
    fang[:, _W["T"]] = np.clip(0.4 * p["axis"] + _u(rng, 15, 35, n), 10, 65)
    p["fmag"], p["fang"] = fmag, fang
    # precordial amplitudes: table × patient gain × per-lead jitter (log-normal, ~15 % overall)
    prec = np.zeros((n, _NW, 6))
    gain = _lognormal(rng, 0.10, (n, 1))
    for w, row in _PREC.items():
        prec[:, _W[w]] = np.asarray(row) * gain * _lognormal(rng, 0.10, (n, 6))
    p["prec"] = prec
    p["st"] = np.zeros((n, 4))  # ST plateau: onset, onset width, offset, offset width (s)
    return p


# ------------------------------------------------------------------ class draws (all n beats)
def _draw_1avb(n, rng):
    return {"pr": _u(rng, 0.24, 0.34, n)}


def _draw_lbbb(n, rng):
    return {"qrs": _u(rng, 0.13, 0.17, n), "dax": _u(rng, 10, 30, n), "tmag": _u(rng, 0.25, 0.40, n),
            "jit": _lognormal(rng, 0.08, (n, 6))}


def _draw_rbbb(n, rng):
    return {"mu": _u(rng, 0.055, 0.075, n), "sig": _u(rng, 0.014, 0.018, n),
            "rp": _u(rng, 0.5, 0.9, n), "sw": _u(rng, 0.25, 0.40, n),
            "fmag": _u(rng, 0.30, 0.50, n), "fang": _u(rng, 160, 200, n), "tinv": _u(rng, 0.10, 0.25, n)}


def _draw_lvh(n, rng):
    return {"rv5": _u(rng, 2.6, 3.2, n), "sv1": _u(rng, 1.6, 2.2, n), "fr": _u(rng, 1.3, 1.6, n),
            "dax": _u(rng, 0, 15, n), "strain": rng.random(n) < 0.5,
            "tinv": _u(rng, 0.15, 0.30, (n, 2)), "std": _u(rng, 0.05, 0.10, n)}


def _draw_stemi(n, rng):
    return {"st": _u(rng, 0.30, 0.50, n), "v3": _u(rng, 0.85, 1.0, n), "v1": _u(rng, 0.3, 0.5, n),
            "v4": _u(rng, 0.4, 0.6, n), "hyper": _u(rng, 1.2, 1.5, n)}


def _draw_imi(n, rng):
    return {"q": _u(rng, 0.50, 0.75, n), "qang": _u(rng, -100, -80, n), "inf": _u(rng, 0.3, 0.5, n)}


def _draw_twi(n, rng):
    return {"fang": _u(rng, 130, 160, n), "fmag": _u(rng, 0.25, 0.40, n),
            "v": np.stack([_u(rng, 0.2, 0.4, n), _u(rng, 0.25, 0.45, n), _u(rng, 0.2, 0.35, n)], 1)}


def _draw_lqt(n, rng):
    return {"qtcf": _u(rng, 0.48, 0.56, n), "wr": _u(rng, 1.0, 1.3, n)}


def _draw_wpw(n, rng):
    return {"pr": _u(rng, 0.08, 0.11, n), "delta": _u(rng, 0.040, 0.060, n),
            "fang": _u(rng, -10, 70, n), "fmag": _u(rng, 0.25, 0.45, n),
            "v": np.concatenate([_u(rng, 0.15, 0.30, (n, 1)), _u(rng, 0.25, 0.45, (n, 5))], 1),
            "tflat": _u(rng, 0.4, 0.7, n)}


def _draw_lafb(n, rng):
    return {"ang": _u(rng, -75, -55, n), "qang": _u(rng, 110, 150, n), "qmag": _u(rng, 0.12, 0.20, n),
            "dqrs": _u(rng, 0.005, 0.015, n)}


_DRAW: dict[str, Callable[[int, np.random.Generator], dict]] = {
    "1AVB": _draw_1avb, "LBBB": _draw_lbbb, "RBBB": _draw_rbbb, "LVH": _draw_lvh,
    "STEMI": _draw_stemi, "IMI": _draw_imi, "TWI": _draw_twi, "LQT": _draw_lqt,
    "WPW": _draw_wpw, "LAFB": _draw_lafb,
}


# ------------------------------------------------------------------ phase 1: intervals
def _intervals(p: dict, q: dict, c: str, s: np.ndarray) -> None:
    """Change the interval parameters of rows ``s`` for class ``c`` (before layout)."""
    if c == "1AVB":  # realistic draws add "dmin": the P moves at least that far (s) from the patient's
        p["pr"][s] = np.maximum(q["pr"], p["pr"][s] + q["dmin"]) if "dmin" in q else q["pr"]
    elif c == "LBBB":
        extra = q["qrs"] - p["qrs"][s]
        p["qrs"][s] = q["qrs"]
        p["qt"][s] += extra  # JT interval preserved: QT grows with the QRS
    elif c == "RBBB":  # late terminal forces widen the QRS; T follows (JT preserved)
        extra = np.maximum(q["mu"] + 2.3 * q["sig"] - 0.5 * p["qrs"][s], 0.0)
        p["qrs_extra"][s] = extra
        p["qt"][s] += extra
    elif c == "LVH":
        p["qrs"][s] = np.minimum(p["qrs"][s] + 0.008, 0.104)
    elif c == "LQT":
        p["qt"][s] = q["qtcf"] * np.cbrt(p["rr"][s])
        p["sig_tr"][s] *= q["wr"]
        p["sig_tl"][s] *= 1.15
    elif c == "WPW":  # pre-excitation: the QRS starts δ earlier with a delta wave; short PR
        p["pr"][s] = q["pr"]
        p["delta"][s] = q["delta"]
        p["qt"][s] += q["delta"]
    elif c == "LAFB":
        p["qrs"][s] = np.minimum(p["qrs"][s] + q["dqrs"], 0.102)


def _layout(p: dict) -> None:
    """Wave centres and widths (s, relative to R) from the interval parameters."""
    n = p["hr"].shape[0]
    d = p["qrs"]
    mu, sl, sr = np.zeros((n, _NW)), np.ones((n, _NW)), np.ones((n, _NW))
    p["qrs_onset"] = -0.5 * d - p["delta"]
    p["j_point"] = 0.5 * d + p["qrs_extra"]
    p["pr"] = np.minimum(p["pr"], 0.39 + p["qrs_onset"])  # keep the P inside the window
    p["p_onset"] = p["qrs_onset"] - p["pr"]
    mu[:, _W["P"]] = p["p_onset"] + 2.2 * p["sig_p"]
    sl[:, _W["P"]] = sr[:, _W["P"]] = p["sig_p"]
    mu[:, _W["Q"]], sl[:, _W["Q"]], sr[:, _W["Q"]] = -0.30 * d, 0.10 * d, 0.10 * d
    mu[:, _W["R"]], sl[:, _W["R"]], sr[:, _W["R"]] = 0.0, 0.13 * d, 0.13 * d
    mu[:, _W["S"]], sl[:, _W["S"]], sr[:, _W["S"]] = 0.22 * d, 0.095 * d, 0.095 * d
    p["t_end"] = p["qrs_onset"] + p["qt"]
    mu[:, _W["T"]] = p["t_end"] - 2.0 * p["sig_tr"]  # tangent-method T end = μ + 2σ_right
    # an ST segment: the T upstroke starts ≥ 2.2 σ after J + 60 ms, even at fast rates
    p["sig_tl"] = np.clip((mu[:, _W["T"]] - p["j_point"] - 0.06) / 2.2, 0.02, p["sig_tl"])
    sl[:, _W["T"]], sr[:, _W["T"]] = p["sig_tl"], p["sig_tr"]
    p["t_peak"] = mu[:, _W["T"]].copy()
    p["mu"], p["sl"], p["sr"] = mu, sl, sr


# ------------------------------------------------------------------ phase 2: morphology
def _morph(p: dict, q: dict, c: str, s: np.ndarray) -> None:
    """Plant class ``c`` in rows ``s`` (after layout): amplitudes, extra waves, ST-T."""
    mu, sl, sr, fmag, fang, prec = p["mu"], p["sl"], p["sr"], p["fmag"], p["fang"], p["prec"]
    d = p["qrs"][s]
    if c == "LBBB":
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
    elif c == "RBBB":
        i = _W["TERM"]
        mu[s, i], sl[s, i], sr[s, i] = q["mu"], q["sig"], q["sig"]
        fmag[s, i], fang[s, i] = q["fmag"], q["fang"]
        prec[s, i] = np.stack([q["rp"], 0.7 * q["rp"], 0.25 * q["rp"],
                               -0.5 * q["sw"], -q["sw"], -q["sw"]], 1)
        prec[s, _W["T"], 0] = -q["tinv"]  # secondary T inversion in V1–V2
        prec[s, _W["T"], 1] = -0.5 * q["tinv"]
    elif c == "LVH":
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
    elif c == "STEMI":
        lvl = q["st"]
        prec[s, _W["ST"], :4] = np.stack([q["v1"] * lvl, lvl, q["v3"] * lvl, q["v4"] * lvl], 1)
        prec[s, _W["T"], 1:4] *= q["hyper"][:, None]  # hyperacute T in V2–V4
        _st_edges(p, s, rise=-0.010, k1=0.004, fall=0.02)
    elif c == "IMI":
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
    elif c == "TWI":
        fang[s, _W["T"]], fmag[s, _W["T"]] = q["fang"], q["fmag"]
        prec[s, _W["T"], 3:6] = -q["v"]
        prec[s, _W["T"], 2] *= 0.3
    elif c == "WPW":
        i = _W["DELTA"]
        p["ramp"][s, 0] = p["qrs_onset"][s]  # ramp from the (early) QRS onset…
        p["ramp"][s, 1] = -0.5 * d + 0.01  # …into the normally conducted QRS
        p["ramp"][s, 2] = 0.015
        fmag[s, i], fang[s, i] = q["fmag"], q["fang"]
        prec[s, i] = q["v"]
        fmag[s, _W["T"]] *= q["tflat"]  # secondary repolarisation change
        prec[s, _W["T"]] *= q["tflat"][:, None]
    elif c == "LAFB":  # superior axis; initial forces inferior-rightward: qR in aVL, rS inferior
        fang[s, _W["R"]] = q["ang"]
        fang[s, _W["Q"]], fmag[s, _W["Q"]] = q["qang"], q["qmag"]
        fmag[s, _W["S"]] *= 0.3
        p["axis"][s] = q["ang"]
    # 1AVB and LQT change intervals only (phase 1)


def _st_edges(p: dict, s: np.ndarray, rise: float, k1: float, fall: float) -> None:
    """ST plateau from the J point (+ ``rise`` s) to the T peak (+ ``fall`` s)."""
    p["st"][s, 0] = p["j_point"][s] + rise
    p["st"][s, 1] = k1
    p["st"][s, 2] = p["mu"][s, _W["T"]] + fall
    p["st"][s, 3] = 0.03


_ORDER = ("1AVB", "LBBB", "RBBB", "LVH", "STEMI", "IMI", "TWI", "LQT", "WPW", "LAFB")


def _render(base: dict, draws: dict, idx: np.ndarray, has: np.ndarray, t: np.ndarray):
    """Render beats ``idx`` with the findings flagged in ``has`` ``(m, C)``: ``(m, 8, T)`` mV."""
    p = {k: v[idx].copy() for k, v in base.items()}
    p["qt"] = p["qtcf"] * np.cbrt(p["rr"])
    p["qrs_extra"] = np.zeros(len(idx))
    p["delta"] = np.zeros(len(idx))
    p["ramp"] = np.zeros((len(idx), 3))  # delta wave: start, end (s), fall-off σ (s)
    sel = {c: np.flatnonzero(has[:, _CI[c]]) for c in _ORDER}
    qs = {c: {k: v[idx[s]] for k, v in draws[c].items()} for c, s in sel.items() if s.size}
    for c in _ORDER:
        if sel[c].size:
            _intervals(p, qs[c], c, sel[c])
    _layout(p)
    if "er" in p:  # realistic patients: an early-repolarisation ST plateau (prec[:, ST]) on every beat
        _st_edges(p, np.arange(len(idx)), rise=0.0, k1=0.004, fall=0.02)
    for c in _ORDER:
        if sel[c].size:
            _morph(p, qs[c], c, sel[c])
    # amplitudes of the 8 independent leads: limb from the frontal dipole, chest from the table
    th = np.deg2rad(p["fang"])
    amp = np.empty((len(idx), _NW, 8))
    amp[:, :, 0] = p["fmag"] * np.cos(th)
    amp[:, :, 1] = p["fmag"] * np.cos(th - np.pi / 3)
    amp[:, :, _V] = p["prec"]
    # wave shapes (m, W, T)
    g = np.empty((len(idx), _NW, t.size), np.float32)
    dt = t[None, None, :] - p["mu"][:, :_GAUSS, None].astype(np.float32)
    sig = np.where(dt < 0, p["sl"][:, :_GAUSS, None], p["sr"][:, :_GAUSS, None]).astype(np.float32)
    np.exp(-0.5 * np.square(dt / sig), out=g[:, :_GAUSS])
    r0, r1, rs = (p["ramp"][:, k : k + 1].astype(np.float32) for k in range(3))
    up = np.clip((t[None] - r0) / np.maximum(r1 - r0, 1e-3), 0.0, 1.0)
    g[:, _GAUSS] = np.where(t[None] <= r1, up, np.exp(-0.5 * np.square((t[None] - r1) / np.maximum(rs, 1e-3))))
    st = p["st"].astype(np.float32)
    with np.errstate(over="ignore"):
        rise = 1.0 / (1.0 + np.exp(-(t[None] - st[:, :1]) / np.maximum(st[:, 1:2], 1e-4)))
        fall = 1.0 / (1.0 + np.exp(-(st[:, 2:3] - t[None]) / np.maximum(st[:, 3:4], 1e-4)))
    g[:, _GAUSS + 1] = rise * fall
    x8 = np.matmul(amp.transpose(0, 2, 1).astype(np.float32), g)  # (m, 8, T)
    info = {
        "hr": p["hr"], "rr": p["rr"], "pr": p["pr"] * 1e3, "qrs": (p["qrs"] + p["qrs_extra"] + p["delta"]) * 1e3,
        "qt": p["qt"] * 1e3, "qtcf": p["qt"] / np.cbrt(p["rr"]) * 1e3, "axis": _net_axis(p, amp),
        "p_onset": p["p_onset"], "qrs_onset": p["qrs_onset"], "j_point": p["j_point"],
        "t_peak": p["t_peak"], "t_end": p["t_end"],
        "p_amp": _twelve(amp[:, _W["P"], :, None])[..., 0],
        "t_amp": _twelve(amp[:, _W["T"], :, None])[..., 0],
    }
    return x8, info


def _net_axis(p: dict, amp: np.ndarray) -> np.ndarray:
    """Frontal QRS axis (deg) of the rendered dipoles: the direction of the net QRS area in I and aVF."""
    qrs = [_W[w] for w in ("Q", "R", "S", "RN", "TERM", "QI")]
    area = amp[:, qrs, :2] * (np.sqrt(np.pi / 2) * (p["sl"][:, qrs] + p["sr"][:, qrs]))[:, :, None]
    r = p["ramp"]
    ramp_area = 0.5 * (r[:, 1] - r[:, 0]) + np.sqrt(np.pi / 2) * r[:, 2]
    i, ii = area.sum(1).T + (amp[:, _W["DELTA"], :2] * ramp_area[:, None]).T
    return np.degrees(np.arctan2(ii - i / 2, i))


def _twelve(x8: np.ndarray) -> np.ndarray:
    """``(m, 8, T)`` independent leads (I, II, V1–V6) → ``(m, 12, T)`` in :data:`LEAD_NAMES` order."""
    i, ii = x8[:, 0], x8[:, 1]
    out = np.empty((x8.shape[0], 12, x8.shape[2]), x8.dtype)
    out[:, 0], out[:, 1] = i, ii
    out[:, 2] = ii - i
    out[:, 3] = -(i + ii) / 2
    out[:, 4] = i - ii / 2
    out[:, 5] = ii - i / 2
    out[:, 6:] = x8[:, 2:]
    return out


def _noise(m: int, t: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """White noise (σ 5–20 µV per beat) plus a slow baseline wander (≤ 30 µV) on the 8
    independent leads: ``(m, 8, T)`` mV, and the per-beat noise σ in µV."""
    sd = rng.uniform(0.005, 0.020, m).astype(np.float32)
    w = rng.standard_normal((m, 8, t.size), dtype=np.float32) * sd[:, None, None]
    a = rng.uniform(0, 0.03, (m, 8, 1)).astype(np.float32)
    f = rng.uniform(0.05, 0.5, (m, 8, 1)).astype(np.float32)
    ph = rng.uniform(0, 2 * np.pi, (m, 8, 1)).astype(np.float32)
    w += a * np.sin(2 * np.pi * f * t[None, None, :] + ph)
    return w, sd * 1e3


def _window_mask(c: str, t: np.ndarray) -> np.ndarray:
    lo, hi = CRITERIA_WINDOWS[c][1]
    return (t >= lo - 1e-6) & (t <= hi + 1e-6)


def _criteria_masks(f: np.ndarray, info: dict, rows: np.ndarray, windows: dict) -> np.ndarray:
    """``(m, 12, T)`` criteria masks of findings ``f`` (class indices) on chunk rows ``rows``."""
    m, T = f.size, next(iter(windows.values())).size
    out = np.zeros((m, 12, T), bool)
    for c, (leads, _) in CRITERIA_WINDOWS.items():
        sel = np.flatnonzero(f == _CI[c])
        if sel.size == 0:
            continue
        if leads == "visible P":
            lead_on = np.abs(info["p_amp"][rows[sel]]) >= _VISIBLE_MV
        elif leads == "visible T":
            lead_on = np.abs(info["t_amp"][rows[sel]]) >= _VISIBLE_MV
        else:
            lead_on = np.zeros((sel.size, 12), bool)
            lead_on[:, [LEAD_INDEX[ld] for ld in leads]] = True
        out[sel] = lead_on[:, :, None] & windows[c][None, None, :]
    return out
