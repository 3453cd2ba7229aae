"""The *realistic* difficulty of the synthetic generator (the default): what makes it hard.

The *easy* setting (each :class:`~ecgsignal.data.classes.ClassSpec`'s ``draw_easy``) plants every
class far from its clinical threshold, with 5–20 µV white noise and ~15 % amplitude jitter: a CNN
reaches AUROC 1.000 and a ridge classifier on raw samples ~99 % accuracy. Real 12-lead
classifiers, the paper's included (Arends et al. 2026), sit around AUROC 0.95–0.99. The
realistic setting changes only the *draws* (each class's ``draw_realistic``), the noise and the
labelling; the renderer is the same:

* **Overlapping populations, labelled by the clinical threshold.** Each class's defining
  quantity is drawn from a population that piles up at the threshold (a shifted exponential),
  and the normal population reaches up to just below it: PR 128–194 ms vs 1AVB from 205 ms;
  QTcF ≤ 443 ms vs LQT from 455 ms; QRS ≤ 100 ms vs bundle-branch blocks from ~122 ms; Sokolow
  ≤ 3.0 mV vs LVH from 3.6 mV; normal early-repolarisation ST elevation ≤ 0.08 mV in V1–V4 vs
  STEMI from 0.1 mV (V1, V4) / 0.2 mV (V2–V3); inferior Q dipole from 0.3 mV; T inversion from −0.12 mV.
* **Noise** (:func:`noise`): broadband EMG-like noise, σ 10–50 µV per beat (white noise shaped to
  the muscle band above ~15 Hz), residual powerline (50 or 60 Hz, ≤ 20 µV, folded to its alias
  when the rate is below twice the mains frequency) and baseline wander (≤ 0.1 mV, 0.05–0.6 Hz).
* **Patients** (:func:`draw_patients`): log-normal amplitude gain σ 0.25 (limb and chest apart)
  times 12 % per-lead jitter, ≈ 30 % overall; frontal axis −20…+80°; precordial electrode
  position shifted by N(0, 0.35) lead spacings (the R/S transition moves).
* **Co-occurring findings** (:func:`add_cooccurring`): with probability :data:`COOCCUR_PROB` a
  non-NORM beat also carries a compatible finding of *lower* priority. Label rule
  (single-label): a beat is labelled with its highest-priority finding, in the order
  :data:`PRIORITY`; the masks of the label are those of that finding alone.
* **Label noise** (:func:`flip_labels`): a documented fraction :data:`LABEL_NOISE` of beats get a
  uniformly drawn wrong label, flagged in ``label_flipped`` so the ground truth knows them.
* **Masks relative to the noise**: the difference mask is ``|clean − counterfactual| > σ`` with σ
  the beat's EMG noise level (:data:`MASK_NOISE_MULTIPLE` × σ), so a sub-noise difference does not
  count; :func:`difference_weights` gives the soft ``|Δ|`` weights.
* **Lead-local evidence** where physiology is local: the inferior infarct Q is a dipole pointing
  up (−80…−100°, so lead I is nearly untouched) and leaves the R wave almost as it was; anterior
  STEMI acts in V1–V4 only; RBBB's R′ is planted in V1–V2.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ecgsignal.data.beatmodel import _CI
from ecgsignal.data.classes import CLASSES
from ecgsignal.data.waves import _NW, _PREC, _W, _lognormal, _u

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "AMP_GAIN_SIGMA",
    "AMP_JITTER_SIGMA",
    "AXIS_RANGE_DEG",
    "COOCCUR_PROB",
    "DIFFICULTIES",
    "ELECTRODE_SHIFT_SD",
    "LABEL_NOISE",
    "MAINS_HZ",
    "MASK_NOISE_MULTIPLE",
    "NOISE_SIGMA_MV",
    "POWERLINE_MAX_MV",
    "PRIORITY",
    "WANDER_MAX_MV",
    "add_cooccurring",
    "borderline_table",
    "difference_weights",
    "draw_patients",
    "flip_labels",
    "noise",
]

#: Generator settings: ``"realistic"`` (the default) and ``"easy"`` (the first build's ranges).
DIFFICULTIES: tuple[str, ...] = ("realistic", "easy")
#: Fraction of beats whose label is flipped to a wrong class (realistic default).
LABEL_NOISE: float = 0.02
#: Probability that a non-NORM beat also carries a compatible lower-priority finding.
COOCCUR_PROB: float = 0.15
#: Difference-mask threshold in units of the beat's noise σ.
MASK_NOISE_MULTIPLE: float = 1.0
#: Range of the per-beat EMG noise σ (mV), drawn uniformly.
NOISE_SIGMA_MV: tuple[float, float] = (0.010, 0.050)
#: Mains frequencies (Hz) of the residual powerline, each drawn with probability 1/2.
MAINS_HZ: tuple[float, float] = (50.0, 60.0)
#: Largest residual powerline amplitude per beat (mV, before a per-lead log-normal factor).
POWERLINE_MAX_MV: float = 0.02
#: Largest baseline-wander amplitude per lead (mV).
WANDER_MAX_MV: float = 0.10
#: Frontal QRS axis range (deg) of the normal population, drawn uniformly.
AXIS_RANGE_DEG: tuple[int, int] = (-20, 80)
#: Log-normal σ of the per-patient amplitude gain (limb and chest leads drawn apart).
AMP_GAIN_SIGMA: float = 0.25
#: Log-normal σ of the per-lead precordial amplitude jitter.
AMP_JITTER_SIGMA: float = 0.12
#: Standard deviation of the precordial electrode shift, in lead spacings (clipped at ±0.8).
ELECTRODE_SHIFT_SD: float = 0.35
#: Label priority (highest first) for single-label beats with co-occurring findings
#: (:attr:`ClassSpec.priority <ecgsignal.data.classes.ClassSpec.priority>`).
PRIORITY: tuple[str, ...] = tuple(sorted((c for c, sp in CLASSES.items() if sp.priority is not None),
                                         key=lambda c: CLASSES[c].priority))


def draw_patients(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Normal-population parameters per beat, reaching up to the clinical thresholds.

    Same keys as the easy draw (``beatmodel._draw_patients``) plus ``er``: nothing else differs
    in the renderer except an early-repolarisation ST plateau in V1–V4 (``prec[:, ST]``).
    """
    p: dict[str, np.ndarray] = {}
    p["hr"] = _u(rng, 50, 105, n)
    p["rr"] = 60.0 / p["hr"]
    p["pr"] = np.clip(rng.normal(0.158, 0.020, n), 0.128, 0.194)
    p["qrs"] = np.clip(rng.normal(0.090, 0.007, n), 0.074, 0.100)
    p["qtcf"] = np.clip(rng.normal(0.415, 0.014, n), 0.370, 0.443)
    p["axis"] = _u(rng, AXIS_RANGE_DEG[0], AXIS_RANGE_DEG[1], n)
    p["sig_p"] = _u(rng, 0.018, 0.027, n)
    p["sig_tl"] = _u(rng, 0.040, 0.065, n)
    p["sig_tr"] = _u(rng, 0.028, 0.042, n)
    fmag, fang = np.zeros((n, _NW)), np.zeros((n, _NW))
    limb = _lognormal(rng, AMP_GAIN_SIGMA, (n,))
    fmag[:, _W["P"]] = _u(rng, 0.08, 0.22, n) * limb
    fang[:, _W["P"]] = _u(rng, 30, 75, n)
    fmag[:, _W["Q"]] = _u(rng, 0.02, 0.10, n) * limb
    fang[:, _W["Q"]] = _u(rng, 150, 210, n)
    fmag[:, _W["R"]] = _u(rng, 0.8, 1.5, n) * limb
    fang[:, _W["R"]] = p["axis"]
    fmag[:, _W["S"]] = _u(rng, 0.10, 0.40, n) * limb
    fang[:, _W["S"]] = p["axis"] + 180.0 + _u(rng, -30, 30, n)
    fmag[:, _W["T"]] = _u(rng, 0.18, 0.50, n) * limb
    fang[:, _W["T"]] = np.clip(0.4 * p["axis"] + _u(rng, 10, 40, n), 5, 70)
    # precordial table read at shifted electrode positions, × gain × per-lead jitter
    shift = np.clip(rng.normal(0.0, ELECTRODE_SHIFT_SD, n), -0.8, 0.8)
    pos = np.clip(np.arange(6)[None, :] + shift[:, None], 0.0, 5.0)
    i0 = np.minimum(np.floor(pos).astype(int), 4)
    fr = pos - i0
    gain = _lognormal(rng, AMP_GAIN_SIGMA, (n, 1))
    prec = np.zeros((n, _NW, 6))
    for w, row in _PREC.items():
        r = np.asarray(row)
        prec[:, _W[w]] = (r[i0] * (1 - fr) + r[i0 + 1] * fr) * gain * _lognormal(rng, AMP_JITTER_SIGMA, (n, 6))
    # keep the normal population below the voltage criteria (Sokolow < 3.0, Cornell < 2.2 mV)
    sok = -prec[:, _W["S"], 0] + prec[:, _W["R"], 4:6].max(1)
    prec[:, [_W["Q"], _W["R"], _W["S"]]] *= np.minimum(1.0, 3.0 / np.maximum(sok, 1e-6))[:, None, None]
    th = np.deg2rad(fang[:, _W["R"]])
    ravl = fmag[:, _W["R"]] * np.abs(np.cos(th) - 0.5 * np.cos(th - np.pi / 3))
    corn = ravl - prec[:, _W["S"], 2]
    over = np.minimum(1.0, 2.2 / np.maximum(corn, 1e-6))
    fmag[:, _W["R"]] *= over
    prec[:, [_W["Q"], _W["R"], _W["S"]]] *= over[:, None, None]
    # early repolarisation: J-point ST elevation ≤ 0.08 mV in V1–V4 on about half the beats
    er = np.where(rng.random(n) < 0.5, _u(rng, 0.0, 0.08, n), 0.0)
    prec[:, _W["ST"], :4] = er[:, None] * np.array([0.4, 1.0, 0.9, 0.5])
    p["er"] = er
    p["fmag"], p["fang"], p["prec"] = fmag, fang, prec
    p["st"] = np.zeros((n, 4))
    return p


# ------------------------------------------------------------------ noise
def noise(m: int, t: np.ndarray, fs: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """EMG-like broadband noise, residual powerline and baseline wander on the 8 independent leads.

    Returns ``(m, 8, T)`` float32 mV and the per-beat EMG σ in µV (10–50 µV). The EMG part is white
    noise shaped to the muscle band (a smooth high-pass at ~15 Hz), scaled to σ exactly per lead;
    the powerline is 50 or 60 Hz (≤ 20 µV), at its alias ``|f − fs·round(f/fs)|`` if ``fs < 2f``.
    """
    T = t.size
    sd = rng.uniform(NOISE_SIGMA_MV[0], NOISE_SIGMA_MV[1], m).astype(np.float32)
    white = rng.standard_normal((m, 8, T), dtype=np.float32)
    f = np.fft.rfftfreq(T, 1.0 / fs)
    shape = (1.0 - np.exp(-((f / 15.0) ** 2))).astype(np.float32)
    emg = np.fft.irfft(np.fft.rfft(white, axis=-1) * shape, n=T, axis=-1).astype(np.float32)
    emg /= np.maximum(emg.std(-1, keepdims=True), 1e-6)
    w = emg * sd[:, None, None]
    mains = np.where(rng.random(m) < 0.5, MAINS_HZ[0], MAINS_HZ[1])
    alias = np.abs(mains - fs * np.round(mains / fs))
    pa = rng.uniform(0, POWERLINE_MAX_MV, (m, 1, 1)) * _lognormal(rng, 0.3, (m, 8, 1))
    ph = rng.uniform(0, 2 * np.pi, (m, 8, 1))
    w += (pa * np.sin(2 * np.pi * alias[:, None, None] * t[None, None, :] + ph)).astype(np.float32)
    a = rng.uniform(0, WANDER_MAX_MV, (m, 8, 1))
    fw = rng.uniform(0.05, 0.6, (m, 8, 1))
    ph = rng.uniform(0, 2 * np.pi, (m, 8, 1))
    w += (a * np.sin(2 * np.pi * fw * t[None, None, :] + ph)).astype(np.float32)
    return w, sd * 1e3


# ------------------------------------------------------------------ labels
def add_cooccurring(primary: np.ndarray, active: tuple[str, ...], rng: np.random.Generator,
                    prob: float = COOCCUR_PROB) -> np.ndarray:
    """``(n,)`` int8 internal class index of a second, lower-priority finding (−1 if none).

    ``primary`` holds internal class indices; only classes in ``active`` are drawn.
    """
    n = primary.shape[0]
    second = np.full(n, -1, np.int8)
    extra = rng.random(n) < prob
    pick = rng.random(n)
    for c, spec in CLASSES.items():
        if not spec.secondary:
            continue
        opts = np.array([_CI[o] for o in spec.secondary if o in active], np.int8)
        sel = extra & (primary == _CI[c])
        if sel.any() and opts.size:
            second[sel] = opts[(pick[sel] * opts.size).astype(int)]
    return second


def flip_labels(labels: np.ndarray, n_classes: int, rate: float,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Flip a fraction ``rate`` of single labels to a uniformly drawn *other* class.

    Returns ``(labels, flipped)``: the new ``(n,)`` int64 labels and the ``(n,)`` bool flags.
    """
    flipped = rng.random(labels.shape[0]) < rate
    shift = rng.integers(1, n_classes, labels.shape[0])
    out = np.where(flipped, (labels + shift) % n_classes, labels).astype(np.int64)
    return out, flipped


# ------------------------------------------------------------------ soft masks
def difference_weights(clean: np.ndarray, reference: np.ndarray, noise_uv: np.ndarray,
                       multiple: float = MASK_NOISE_MULTIPLE) -> np.ndarray:
    """Soft difference-mask weights: ``|clean − reference|`` where it exceeds ``multiple`` × σ, else 0.

    ``clean``, ``reference``: ``(n, 12, T)`` mV; ``noise_uv``: ``(n,)`` noise σ in µV.
    Returns ``(n, 12, T)`` float32 mV (the binary difference mask is ``weights > 0``).
    """
    d = np.abs(np.asarray(clean, np.float32) - np.asarray(reference, np.float32))
    thr = (multiple * np.asarray(noise_uv, np.float32) / 1e3)[:, None, None]
    return np.where(d > thr, d, 0.0).astype(np.float32)


# ------------------------------------------------------------------ description
def borderline_table(measurements, planted: np.ndarray, class_names) -> pd.DataFrame:
    """How close the populations come to each clinical threshold, measured on the beats.

    ``measurements``: :class:`ecgsignal.data.criteria.Measurements` of the noise-free beats;
    ``planted``: ``(n,)`` planted class per beat (``SyntheticBatch.primary``, not the noisy labels).
    Returns one row per (quantity, class): the threshold, the NORM maximum and 95th percentile,
    and the class's 5th percentile and minimum. On the easy data the gap is wide; on the realistic
    data both populations reach the threshold.
    """
    import pandas as pd

    from ecgsignal.data.leads import LEAD_INDEX

    names = list(class_names)
    planted = np.asarray(planted)
    norm = planted == names.index("NORM")
    rows = []
    borderline = [(cls, *row) for cls, spec in CLASSES.items() if cls in names for row in spec.borderline]
    for cls, label, thr, get in borderline:
        v = np.asarray(get(measurements, LEAD_INDEX), float)
        pos = planted == names.index(cls)
        if not pos.any() or not norm.any():
            continue
        rows.append({"quantity": label, "class": cls, "threshold": thr,
                     "NORM max": float(v[norm].max()), "NORM 95th pct": float(np.percentile(v[norm], 95)),
                     "class 5th pct": float(np.percentile(v[pos], 5)), "class min": float(v[pos].min())})
    return pd.DataFrame(rows)
