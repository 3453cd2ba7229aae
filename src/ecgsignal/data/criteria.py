"""Waveform measurements on median beats and the diagnostic criteria of the nine classes.

Measured on the waveform (best on noise-free beats, e.g. :attr:`SyntheticBatch.clean`), never
copied from generator parameters, so they check what was actually planted:

- QRS onset and offset (J point): where the spatial velocity ``sqrt(Σ_lead (dx/dt)²)`` of the 8
  independent leads stays below 6 mV/s for 12 ms, searching outwards from the R peak;
- P onset: where the spatial magnitude of the P wave falls below 9 % of its peak (≈ μ − 2.2σ of
  a Gaussian P); PR = QRS onset − P onset;
- per lead, relative to the isoelectric level (median before the QRS): R and S amplitudes, R peak
  time, terminal S duration, Q depth and width (initial negative deflection), ST level at J + 60
  ms, T amplitude (signed extreme after J + 80 ms);
- QT by the tangent method (steepest T downslope meets the baseline; Lepeschkin & Surawicz,
  Circulation 1952) in the lead with the largest T, QTcF = QT / RR^(1/3) (Fridericia);
- frontal QRS axis from the net QRS areas of I and aVF.

Criteria follow Surawicz et al. (AHA/ACCF/HRS recommendations Part III, JACC 2009: normal
intervals, LBBB, RBBB), Rautaharju et al. (Part IV: QTc ≥ 450 ms men / 460 ms women), Hancock et
al. (Part V: Sokolow-Lyon ≥ 3.5 mV, Cornell) and Thygesen et al. (Fourth Universal Definition of
MI, 2018: ST elevation, pathological Q, T inversion).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ecgsignal.data.dataset import validate_signals
from ecgsignal.data.leads import LEAD_INDEX
from ecgsignal.errors import DataError

__all__ = ["Measurements", "meets_criteria", "measure"]

_INDEP = (0, 1, 6, 7, 8, 9, 10, 11)  # I, II, V1..V6
_L = LEAD_INDEX
#: Contiguous lead pairs (Cabrera order aVL, I, II, aVF, III, and V1–V6; aVR excluded).
CONTIGUOUS: tuple[tuple[str, str], ...] = (
    ("aVL", "I"), ("I", "II"), ("II", "aVF"), ("aVF", "III"),
    ("V1", "V2"), ("V2", "V3"), ("V3", "V4"), ("V4", "V5"), ("V5", "V6"),
)
VELOCITY_THRESHOLD = 6.0  # mV/s, spatial velocity that ends the QRS


@dataclass(frozen=True)
class Measurements:
    """Per-beat measurements. Times in ms (fiducials in s from R), amplitudes in mV.

    Global ``(n,)``: ``qrs_onset``, ``qrs_offset``, ``p_onset`` (s from R), ``pr``, ``qrs``,
    ``qt``, ``qtcf`` (ms), ``axis`` (deg), ``sokolow``, ``cornell`` (mV), ``upstroke`` (ms from
    QRS onset until the spatial velocity first reaches half its QRS maximum: long with a delta wave).
    Per lead ``(n, 12)``: ``r_amp``, ``s_amp`` (positive depth), ``r_peak_time`` (ms from QRS
    onset), ``s_duration`` (ms of the terminal S below −0.05 mV), ``q_depth``, ``q_width`` (ms),
    ``st_j60`` (ST level at J + 60 ms), ``t_amp`` (signed).
    """

    qrs_onset: np.ndarray
    qrs_offset: np.ndarray
    p_onset: np.ndarray
    pr: np.ndarray
    qrs: np.ndarray
    qt: np.ndarray
    qtcf: np.ndarray
    axis: np.ndarray
    sokolow: np.ndarray
    cornell: np.ndarray
    upstroke: np.ndarray
    r_amp: np.ndarray
    s_amp: np.ndarray
    r_peak_time: np.ndarray
    s_duration: np.ndarray
    q_depth: np.ndarray
    q_width: np.ndarray
    st_j60: np.ndarray
    t_amp: np.ndarray


def _first(mask: np.ndarray, default: int) -> np.ndarray:
    """Index of the first True along the last axis (``default`` where none)."""
    any_ = mask.any(-1)
    return np.where(any_, mask.argmax(-1), default)


def _last(mask: np.ndarray, default: int) -> np.ndarray:
    """Index of the last True along the last axis (``default`` where none)."""
    T = mask.shape[-1]
    any_ = mask.any(-1)
    return np.where(any_, T - 1 - mask[..., ::-1].argmax(-1), default)


def _take(x: np.ndarray, i: np.ndarray) -> np.ndarray:
    """``x[..., i]`` per row: x ``(n, L, T)``, i ``(n,)`` or ``(n, L)`` integer → ``(n, L)``."""
    i = np.clip(i, 0, x.shape[-1] - 1)
    if i.ndim == 1:
        i = np.broadcast_to(i[:, None], x.shape[:2])
    return np.take_along_axis(x, i[..., None], -1)[..., 0]


def _interp(x: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Linear interpolation of ``x`` ``(n, L, T)`` at fractional sample ``pos`` ``(n,)``."""
    i0 = np.floor(pos).astype(int)
    f = (pos - i0)[:, None]
    return (1 - f) * _take(x, i0) + f * _take(x, i0 + 1)


def measure(signals: np.ndarray, fs: float, r_offset: float, rr: np.ndarray | float = 1.0) -> Measurements:
    """Measure intervals, amplitudes and the axis of median beats.

    Parameters
    ----------
    signals:
        ``(n, 12, T)`` median beats in mV (noise-free beats measure exactly), R peak at ``r_offset``.
    fs:
        Sampling rate, Hz.
    r_offset:
        Time of the R peak in the window, s.
    rr:
        RR interval(s) in s, scalar or ``(n,)`` (for QTcF; a median beat does not carry it).

    Returns
    -------
    Measurements
    """
    validate_signals(signals)
    x = np.asarray(signals, np.float64)
    n, _, T = x.shape
    if not np.isfinite(fs) or fs <= 0:
        raise DataError(f"sampling rate must be positive, got {fs!r}")
    r = int(round(r_offset * fs))
    if not 0 < r < T - 1:
        raise DataError(f"R peak at {r_offset} s lies outside the {T / fs:.3f} s window")
    rr = np.broadcast_to(np.asarray(rr, np.float64), (n,))
    if np.any(rr <= 0):
        raise DataError("RR intervals must be positive seconds")
    ms = 1e3 / fs
    k = np.arange(T)

    # QRS onset / offset from the spatial velocity
    vel = np.sqrt(np.square(np.gradient(x[:, _INDEP], axis=-1) * fs).sum(1))  # (n, T) mV/s
    # a run of ≥ 12 ms below threshold ends the QRS (a wave's own peak dips below it only briefly)
    w = max(2, int(round(0.012 * fs)))
    low = np.concatenate([np.zeros((n, 1), int), np.cumsum(vel < VELOCITY_THRESHOLD, -1)], -1)
    run_after = np.zeros((n, T), bool)  # low on [i, i + w)
    run_after[:, : T - w + 1] = (low[:, w:] - low[:, : T - w + 1]) == w
    run_before = np.zeros((n, T), bool)  # low on (i − w, i]
    run_before[:, w - 1 :] = run_after[:, : T - w + 1]
    on = _last(run_before & (k <= r), 0)
    off = _first(run_after & (k >= r), T - 1)
    on_f, off_f = on.astype(float), off.astype(float)

    in_qrs = (k[None] >= on[:, None]) & (k[None] <= off[:, None])  # (n, T)
    vq = np.where(in_qrs, vel, 0.0)
    upstroke = (_first(vq >= 0.5 * vq.max(-1, keepdims=True), T) - on) * ms

    # isoelectric level: per-lead median before the QRS (the P wave fills < half of it; a
    # PR-segment reference fails when P runs into the QRS, as in pre-excitation)
    pre = np.where((k[None] < (on - round(0.010 * fs))[:, None])[:, None], x, np.nan)
    with warnings.catch_warnings():  # a beat whose QRS starts the window has no pre-QRS part
        warnings.simplefilter("ignore", RuntimeWarning)
        base = np.nan_to_num(np.nanmedian(pre, axis=-1))  # (n, 12)
    y = x - base[:, :, None]

    # P onset: spatial magnitude in [start, QRS onset − 10 ms]
    mag = np.sqrt(np.square(y[:, _INDEP]).sum(1))  # (n, T)
    p_win = k[None] <= (on - round(0.010 * fs))[:, None]
    pm = np.where(p_win, mag, -1.0)
    p_peak = pm.argmax(-1)
    p_amp = pm.max(-1)
    p_on = _last(p_win & (k < p_peak[:, None]) & (mag < 0.09 * p_amp[:, None]), 0)

    # per-lead QRS measures
    yq = np.where(in_qrs[:, None], y, 0.0)
    r_amp = yq.max(-1)
    s_amp = -yq.min(-1)
    r_idx = np.where(in_qrs[:, None], y, -np.inf).argmax(-1)
    r_peak_time = (r_idx - on[:, None]) * ms
    after_r = k[None, None] >= r_idx[..., None]
    s_duration = ((yq < -0.05) & after_r & in_qrs[:, None]).sum(-1) * ms

    # Q wave: initial negative deflection (first beyond ±20 µV is negative), until y ≥ 0 again
    q_win = in_qrs[:, None] & (k[None, None] >= on[:, None, None])
    first_neg = _first(q_win & (y < -0.02), T)
    first_pos = _first(q_win & (y > 0.02), T)
    has_q = first_neg < first_pos
    q_end = _first(q_win & (k[None, None] > first_neg[..., None]) & (y >= 0), T)
    q_end = np.minimum(q_end, off[:, None])
    q_width = np.where(has_q, (q_end - on[:, None]) * ms, 0.0)
    in_q = (k[None, None] >= on[:, None, None]) & (k[None, None] <= q_end[..., None])
    q_depth = np.where(has_q, -np.where(in_q, y, 0.0).min(-1), 0.0)

    # ST at J + 60 ms, T amplitude after J + 80 ms
    st = _interp(y, np.minimum(off_f + 0.060 * fs, T - 2))
    t_win = k[None] >= (off + round(0.080 * fs))[:, None]
    yt = np.where(t_win[:, None], y, 0.0)
    t_idx = np.abs(yt).argmax(-1)
    t_amp = _take(y, t_idx)

    # QT: tangent method in the lead with the largest T
    lead = np.abs(t_amp).argmax(-1)
    z = y[np.arange(n), lead] * np.sign(t_amp[np.arange(n), lead])[:, None]  # T made positive
    tp = t_idx[np.arange(n), lead]
    dz = np.gradient(z, axis=-1) * fs
    down = np.where(k[None] > tp[:, None], dz, np.inf)
    s_i = down.argmin(-1)
    slope = -down[np.arange(n), s_i]
    t_end = s_i + z[np.arange(n), s_i] * fs / np.maximum(slope, 1e-9)  # samples
    qt = (t_end - on_f) * ms
    qtcf = qt / np.cbrt(rr)

    area = yq.sum(-1)
    axis = np.degrees(np.arctan2(area[:, _L["aVF"]], area[:, _L["I"]]))
    sokolow = s_amp[:, _L["V1"]] + np.maximum(r_amp[:, _L["V5"]], r_amp[:, _L["V6"]])
    cornell = r_amp[:, _L["aVL"]] + s_amp[:, _L["V3"]]
    return Measurements(
        qrs_onset=on_f / fs - r_offset,
        qrs_offset=off_f / fs - r_offset,
        p_onset=p_on / fs - r_offset,
        pr=(on_f - p_on) * ms,
        qrs=(off_f - on_f) * ms,
        qt=qt,
        qtcf=qtcf,
        axis=axis,
        sokolow=sokolow,
        cornell=cornell,
        upstroke=upstroke,
        r_amp=r_amp,
        s_amp=s_amp,
        r_peak_time=r_peak_time,
        s_duration=s_duration,
        q_depth=q_depth,
        q_width=q_width,
        st_j60=st,
        t_amp=t_amp,
    )


def _pairs(flag: np.ndarray) -> np.ndarray:
    """True where some contiguous lead pair is flagged in both leads; flag ``(n, 12)``."""
    return np.any([flag[:, _L[a]] & flag[:, _L[b]] for a, b in CONTIGUOUS], axis=0)


def meets_criteria(m: Measurements) -> dict[str, np.ndarray]:
    """Which diagnostic criteria each beat meets: class name → ``(n,)`` bool.

    ``NORM`` is the normal-ECG criterion (PR 120–200 ms, QRS ≤ 110 ms, axis −30…+90°); the other
    eight are the abnormal findings, then the optional extras: WPW (PR < 120 ms, QRS > 120 ms, a
    slurred upstroke ≥ 50 ms) and LAFB (axis −45…−90°, QRS < 120 ms, qR in aVL, rS in II, III,
    aVF; Surawicz et al. 2009). A normal beat meets ``NORM`` and none of the others.
    """
    L = _L
    no_q = lambda lead: m.q_depth[:, L[lead]] < 0.05  # noqa: E731
    st_thr = np.full(12, 0.1)
    st_thr[[L["V2"], L["V3"]]] = 0.2
    upright = (m.r_amp >= 0.3) & (m.r_amp > m.s_amp)
    return {
        "NORM": (m.pr >= 120) & (m.pr <= 200) & (m.qrs <= 110) & (m.axis >= -30) & (m.axis <= 90),
        "1AVB": m.pr > 200,
        "LBBB": (m.qrs >= 120) & (m.r_peak_time[:, L["V6"]] > 60) & no_q("I") & no_q("V5")
        & no_q("V6") & (m.s_amp[:, L["V1"]] > m.r_amp[:, L["V1"]]),
        "RBBB": (m.qrs >= 120) & (m.r_peak_time[:, L["V1"]] > 50)
        & (m.s_duration[:, L["I"]] > 40) & (m.s_duration[:, L["V6"]] > 40),
        "LVH": (m.sokolow >= 3.5) | (m.cornell > 2.8),
        "STEMI": _pairs(m.st_j60 >= st_thr[None]),
        "IMI": np.all([(m.q_width[:, L[ld]] >= 30) & (m.q_depth[:, L[ld]] >= 0.1)
                       for ld in ("II", "III", "aVF")], axis=0),
        "TWI": _pairs((m.t_amp < -0.1) & upright),
        "LQT": m.qtcf >= 450,
        # optional extras
        "WPW": (m.pr < 120) & (m.qrs > 120) & (m.upstroke >= 50),
        "LAFB": (m.axis <= -45) & (m.axis >= -90) & (m.qrs < 120) & (m.q_depth[:, L["aVL"]] > 0)
        & (m.r_amp[:, L["aVL"]] > m.s_amp[:, L["aVL"]])
        & np.all([m.s_amp[:, L[ld]] > m.r_amp[:, L[ld]] for ld in ("II", "III", "aVF")], axis=0),
    }
