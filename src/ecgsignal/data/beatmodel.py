"""The beat model of the synthetic generator: normal patients, wave layout, rendering, noise, masks.

Split out of :mod:`ecgsignal.data.synthetic` (which holds the configuration, the batch and the
public API) so that each module has one job. The diagnostic classes are defined one per
:class:`~ecgsignal.data.classes.ClassSpec` in :mod:`ecgsignal.data.classes`; the renderer here
applies them in registry order. Everything here is private to the generator; the realistic
difficulty (:mod:`ecgsignal.data.realism`) reuses the renderer with its own draws. See
:mod:`ecgsignal.data.synthetic` for the model and its sources.
"""

from __future__ import annotations

import numpy as np

from ecgsignal.data.classes import CLASSES
from ecgsignal.data.waves import _GAUSS, _NW, _PREC, _V, _W, _lognormal, _st_edges, _u

#: The nine default classes (PTB-XL SCP codes: NORM, 1AVB, CLBBB, CRBBB, LVH, AMI/ASMI, IMI,
#: INVT/NT_, LNGQT).
CLASS_NAMES: tuple[str, ...] = tuple(c for c, s in CLASSES.items() if not s.extra)
#: Optional extra classes (``SyntheticConfig.extras``), appended after the nine in this order:
#: Wolff-Parkinson-White pre-excitation [WPW] and left anterior fascicular block [LAFB].
EXTRA_CLASSES: tuple[str, ...] = tuple(c for c, s in CLASSES.items() if s.extra)
_ALL = CLASS_NAMES + EXTRA_CLASSES
_CI = {c: i for i, c in enumerate(_ALL)}
_FINDINGS = _ALL[1:]  # every class but NORM: drawn, planted and masked in this order

#: Difference-mask threshold, mV: where a beat and its counterfactual differ by more than this.
MASK_THRESHOLD_MV: float = 0.05

#: Criteria masks: class → (leads, (start, end) in s from the R peak). ``"visible P"`` /
#: ``"visible T"`` mean every lead where that wave's amplitude is at least 0.05 mV in the beat.
#: A view of the class specs (:attr:`ClassSpec.criteria_leads`, :attr:`ClassSpec.criteria_window`).
CRITERIA_WINDOWS: dict[str, tuple[tuple[str, ...] | str, tuple[float, float]]] = {
    c: (CLASSES[c].criteria_leads, CLASSES[c].criteria_window) for c in _FINDINGS
}

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


def _wave_params(base: dict, draws: dict, idx: np.ndarray, has: np.ndarray) -> dict:
    """Wave parameters of beats ``idx`` with the findings flagged in ``has`` ``(m, C)``.

    Applies each class's interval change, then the layout, then each class's morphology change
    (:data:`~ecgsignal.data.classes.CLASSES` order). Returns the parameter dict with ``amp``
    ``(m, W, 8)``: the amplitude of every wave in the 8 independent leads (mV).
    """
    p = {k: v[idx].copy() for k, v in base.items()}
    p["qt"] = p["qtcf"] * np.cbrt(p["rr"])
    p["qrs_extra"] = np.zeros(len(idx))
    p["delta"] = np.zeros(len(idx))
    p["ramp"] = np.zeros((len(idx), 3))  # delta wave: start, end (s), fall-off σ (s)
    sel = {c: np.flatnonzero(has[:, _CI[c]]) for c in _FINDINGS}
    qs = {c: {k: v[idx[s]] for k, v in draws[c].items()} for c, s in sel.items() if s.size}
    for c in _FINDINGS:
        if sel[c].size and CLASSES[c].intervals is not None:
            CLASSES[c].intervals(p, qs[c], sel[c])
    _layout(p)
    if "er" in p:  # realistic patients: an early-repolarisation ST plateau (prec[:, ST]) on every beat
        _st_edges(p, np.arange(len(idx)), rise=0.0, k1=0.004, fall=0.02)
    for c in _FINDINGS:
        if sel[c].size and CLASSES[c].morph is not None:
            CLASSES[c].morph(p, qs[c], sel[c])
    # amplitudes of the 8 independent leads: limb from the frontal dipole, chest from the table
    th = np.deg2rad(p["fang"])
    amp = np.empty((len(idx), _NW, 8))
    amp[:, :, 0] = p["fmag"] * np.cos(th)
    amp[:, :, 1] = p["fmag"] * np.cos(th - np.pi / 3)
    amp[:, :, _V] = p["prec"]
    p["amp"] = amp
    return p


def _synthesise(q: dict, t: np.ndarray) -> np.ndarray:
    """``(m, 8, T)`` mV of the independent leads from wave parameters (``mu``, ``sl``, ``sr``,
    ``ramp``, ``st``, ``amp`` as :func:`_wave_params` returns them)."""
    m = q["mu"].shape[0]
    g = np.empty((m, _NW, t.size), np.float32)
    dt = t[None, None, :] - q["mu"][:, :_GAUSS, None].astype(np.float32)
    sig = np.where(dt < 0, q["sl"][:, :_GAUSS, None], q["sr"][:, :_GAUSS, None]).astype(np.float32)
    np.exp(-0.5 * np.square(dt / sig), out=g[:, :_GAUSS])
    r0, r1, rs = (q["ramp"][:, k : k + 1].astype(np.float32) for k in range(3))
    up = np.clip((t[None] - r0) / np.maximum(r1 - r0, 1e-3), 0.0, 1.0)
    g[:, _GAUSS] = np.where(t[None] <= r1, up, np.exp(-0.5 * np.square((t[None] - r1) / np.maximum(rs, 1e-3))))
    st = q["st"].astype(np.float32)
    with np.errstate(over="ignore"):
        rise = 1.0 / (1.0 + np.exp(-(t[None] - st[:, :1]) / np.maximum(st[:, 1:2], 1e-4)))
        fall = 1.0 / (1.0 + np.exp(-(st[:, 2:3] - t[None]) / np.maximum(st[:, 3:4], 1e-4)))
    g[:, _GAUSS + 1] = rise * fall
    return np.matmul(q["amp"].transpose(0, 2, 1).astype(np.float32), g)  # (m, 8, T)


def _render(base: dict, draws: dict, idx: np.ndarray, has: np.ndarray, t: np.ndarray):
    """Render beats ``idx`` with the findings flagged in ``has`` ``(m, C)``: ``(m, 8, T)`` mV and
    the per-beat intervals, fiducials and P/T amplitudes."""
    p = _wave_params(base, draws, idx, has)
    amp = p["amp"]
    x8 = _synthesise(p, t)
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
    lo, hi = CLASSES[c].criteria_window
    return (t >= lo - 1e-6) & (t <= hi + 1e-6)


def _criteria_masks(f: np.ndarray, info: dict, rows: np.ndarray, windows: dict) -> np.ndarray:
    """``(m, 12, T)`` criteria masks of findings ``f`` (class indices) on chunk rows ``rows``."""
    m, T = f.size, next(iter(windows.values())).size
    out = np.zeros((m, 12, T), bool)
    for c in _FINDINGS:
        sel = np.flatnonzero(f == _CI[c])
        if sel.size == 0:
            continue
        lead_on = CLASSES[c].lead_mask(info, rows[sel])
        out[sel] = lead_on[:, :, None] & windows[c][None, None, :]
    return out
