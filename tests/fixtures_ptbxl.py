"""Builders of small PTB-XL- and PTB-XL+-shaped trees for tests (no real data needed).

Beats come from the synthetic generator (noise-free ``clean`` beats at 500 Hz, R at 0.4 s) when
``ecgsignal.data.synthetic`` is importable, else from a small sum-of-Gaussians template of our
own. They are placed in 10 s rhythms with a chosen heart rate, RR jitter, white noise and
baseline wander, and written with ``wfdb.wrsamp`` exactly as PTB-XL stores them (format 16,
ADC gain 1000/mV, baseline 0, lead names in capitals: ``AVR``, ``AVL``, ``AVF``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.signal.windows import tukey

from ecgsignal.data.leads import LEAD_NAMES, derive_limb_leads
from ecgsignal.data.medians import realign_median
from ecgsignal.data.resampling import resample

FS = 500
PTBXL_LEADS = ["I", "II", "III", "AVR", "AVL", "AVF", "V1", "V2", "V3", "V4", "V5", "V6"]

#: A realistic subset of PTB-XL's scp_statements.csv (index column has no name, as in the file).
STATEMENTS = pd.DataFrame(
    [
        ("NORM", "normal ECG", 1.0, np.nan, np.nan, "NORM", "NORM"),
        ("1AVB", "first degree AV block", 1.0, np.nan, np.nan, "CD", "_AVB"),
        ("CLBBB", "complete left bundle branch block", 1.0, np.nan, np.nan, "CD", "CLBBB"),
        ("CRBBB", "complete right bundle branch block", 1.0, np.nan, np.nan, "CD", "CRBBB"),
        ("IRBBB", "incomplete right bundle branch block", 1.0, np.nan, np.nan, "CD", "IRBBB"),
        ("LAFB", "left anterior fascicular block", 1.0, np.nan, np.nan, "CD", "LAFB/LPFB"),
        ("LVH", "left ventricular hypertrophy", 1.0, np.nan, np.nan, "HYP", "LVH"),
        ("AMI", "anterior myocardial infarction", 1.0, np.nan, np.nan, "MI", "AMI"),
        ("ASMI", "anteroseptal myocardial infarction", 1.0, np.nan, np.nan, "MI", "AMI"),
        ("IMI", "inferior myocardial infarction", 1.0, np.nan, np.nan, "MI", "IMI"),
        ("NT_", "non-specific T-wave changes", 1.0, np.nan, np.nan, "STTC", "STTC"),
        ("LNGQT", "long QT-interval", 1.0, np.nan, np.nan, "STTC", "STTC"),
        ("INVT", "inverted T-waves", np.nan, 1.0, np.nan, np.nan, np.nan),
        ("SR", "sinus rhythm", np.nan, np.nan, 1.0, np.nan, np.nan),
        ("AFIB", "atrial fibrillation", np.nan, np.nan, 1.0, np.nan, np.nan),
    ],
    columns=["", "description", "diagnostic", "form", "rhythm", "diagnostic_class", "diagnostic_subclass"],
).set_index("")


# --------------------------------------------------------------------------- templates
def _own_template(kind: str, fs: float = FS) -> tuple[np.ndarray, float, float]:
    """A 12-lead beat (R at 0.4 s, 1.2 s) from Gaussian bumps; ``kind`` "wide" gives LBBB-like QRS."""
    t = np.arange(int(round(1.2 * fs))) / fs - 0.4
    wide = kind in ("LBBB", "wide")

    def g(mu, sd, a):
        return a * np.exp(-0.5 * ((t - mu) / sd) ** 2)

    # amplitudes per independent lead: I, II, V1..V6 (mV); (P, Q, R, S, T)
    amp = np.array([
        [0.08, -0.05, 0.7, -0.1, 0.2], [0.12, -0.08, 1.1, -0.15, 0.3],
        [0.05, 0.0, 0.2, -0.9, -0.05], [0.06, 0.0, 0.4, -1.2, 0.4], [0.06, -0.02, 0.8, -0.8, 0.45],
        [0.06, -0.05, 1.3, -0.5, 0.4], [0.06, -0.08, 1.4, -0.2, 0.3], [0.06, -0.08, 1.1, -0.1, 0.25],
    ])
    r_sd, s_mu, s_sd, t_mu = (0.035, 0.07, 0.03, 0.3) if wide else (0.012, 0.028, 0.012, 0.25)
    if wide:
        amp[:, 4] *= -np.sign(amp[:, 2] + amp[:, 3])  # discordant T
    x8 = np.stack([g(-0.16, 0.025, a[0]) + g(-0.03, 0.008, a[1]) + g(0.0, r_sd, a[2])
                   + g(s_mu, s_sd, a[3]) + g(t_mu, 0.045, a[4]) for a in amp])
    limb = derive_limb_leads(x8[0], x8[1])
    x = np.stack([x8[0], x8[1], limb["III"], limb["aVR"], limb["aVL"], limb["aVF"], *x8[2:]])
    return x, -0.22, t_mu + 0.15


def template(kind: str = "NORM", seed: int = 0) -> tuple[np.ndarray, float, float]:
    """Noise-free ``(12, 600)`` beat at 500 Hz (R at 0.4 s), P onset and T end (s from R).

    Uses :func:`ecgsignal.data.synthetic.generate` when present (class ``kind``), else our own.
    """
    try:
        from ecgsignal.data.synthetic import CLASS_NAMES, generate
    except ImportError:
        x, p_on, t_end = _own_template(kind)
    else:
        b = generate(n=9 * 4, fs=FS, seed=seed, noise=False, keep_clean=True)
        i = int(np.flatnonzero(b.primary == CLASS_NAMES.index(kind))[0])
        x = b.clean[i].astype(np.float64)
        p_on, t_end = float(b.params["p_onset"][i]), float(b.params["t_end"][i])
    return x * tukey(x.shape[-1], 0.1)[None, :], p_on, t_end


# --------------------------------------------------------------------------- rhythms
def make_rhythm(beat: np.ndarray, hr: float, rng: np.random.Generator, duration: float = 10.0,
                rr_jitter: float = 0.04, noise_mv: float = 0.01, wander_mv: float = 0.08,
                fs: float = FS) -> tuple[np.ndarray, np.ndarray, float]:
    """``(12, N)`` record: ``beat`` (R at 0.4 s) repeated at ``hr`` bpm ± jitter, plus noise.

    Returns ``(record, r_samples, min_rr_s)``.
    """
    n = int(round(duration * fs))
    pre = int(round(0.4 * fs))
    L = beat.shape[-1]
    x = np.zeros((12, n + 2 * L))
    rr = 60.0 / hr
    r = []
    t = 0.3 + rng.uniform(0, rr)
    while t < duration + 0.4:
        r.append(int(round(t * fs)))
        t += rr * (1 + rr_jitter * rng.standard_normal())
    r = np.array(r)
    for ri in r:
        x[:, L + ri - pre : L + ri - pre + L] += beat
    x = x[:, L : L + n]
    tt = np.arange(n) / fs
    for f, a in ((rng.uniform(0.1, 0.2), wander_mv), (rng.uniform(0.25, 0.45), wander_mv / 2)):
        x += a * np.sin(2 * np.pi * f * tt + rng.uniform(0, 2 * np.pi, (12, 1)))
    x += noise_mv * rng.standard_normal(x.shape)
    r = r[r < n]
    return x, r, float(np.diff(r / fs).min())


# --------------------------------------------------------------------------- comparisons
def compare(extracted: np.ndarray, fs: float, beat500: np.ndarray, region_s: tuple[float, float]) -> tuple[float, float]:
    """Pearson correlation and RMSE (µV) of ``extracted`` vs the true ``beat500`` over ``region_s``
    (s from R). The truth is put in the same frame by :func:`realign_median` (R peak = largest
    spatial magnitude at 0.4 s, PR segment at 0 mV, resampled to ``fs``)."""
    truth, _ = realign_median(beat500, FS, fs)
    a, b = int(round((0.4 + region_s[0]) * fs)), int(round((0.4 + region_s[1]) * fs))
    e, t = extracted[:, a:b].astype(np.float64), truth[:, a:b]
    corr = float(np.corrcoef(e.ravel(), t.ravel())[0, 1])
    rmse = float(np.sqrt(np.mean((e - t) ** 2)) * 1000)
    return corr, rmse


def clean_region(p_on: float, t_end: float, min_rr: float) -> tuple[float, float]:
    """Window (s from R) free of the neighbouring beats' P and T waves, inside −0.4…+0.8 s."""
    return max(-0.4, -min_rr + t_end + 0.02), min(0.8, min_rr + p_on - 0.02)


# --------------------------------------------------------------------------- trees
@dataclass
class Rec:
    """One fixture record."""

    ecg_id: int
    scp_codes: dict
    fold: int
    kind: str = "NORM"
    hr: float = 60.0
    patient_id: int = 0
    truth: np.ndarray | None = field(default=None, repr=False)
    p_on: float = -0.25
    t_end: float = 0.45
    min_rr: float = 1.0


def wrsamp(*args, **kwargs) -> None:
    """``wfdb.wrsamp`` without the pandas-3 deprecation warnings wfdb itself triggers."""
    import wfdb

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"wfdb\.")
        wfdb.wrsamp(*args, **kwargs)


def _write_wfdb(base: Path, sig_mv: np.ndarray, fs: float, fmt: str = "16", gain: float = 1000.0,
                names: list[str] | None = None) -> None:
    base.parent.mkdir(parents=True, exist_ok=True)
    wrsamp(base.name, fs=fs, units=["mV"] * 12, sig_name=names or PTBXL_LEADS,
                p_signal=np.ascontiguousarray(sig_mv.T), fmt=[fmt] * 12,
                adc_gain=None if fmt == "32" else [gain] * 12, baseline=None if fmt == "32" else [0] * 12,
                write_dir=str(base.parent))


def write_ptbxl_tree(root: Path, records: list[Rec], seed: int = 0, with_lr: bool = True,
                     with_statements: bool = True) -> Path:
    """A PTB-XL-shaped folder with ``ptbxl_database.csv``, ``scp_statements.csv``,
    ``records500/`` (and ``records100/``). Fills each ``Rec``'s truth/p_on/t_end/min_rr."""
    rng = np.random.default_rng(seed)
    rows = []
    for rec in records:
        beat, p_on, t_end = template(rec.kind, seed=rec.ecg_id)
        x, _, min_rr = make_rhythm(beat, rec.hr, rng)
        rec.truth, rec.p_on, rec.t_end, rec.min_rr = beat, p_on, t_end, min_rr
        sub = f"{(rec.ecg_id // 1000) * 1000:05d}"
        hr_name = f"records500/{sub}/{rec.ecg_id:05d}_hr"
        lr_name = f"records100/{sub}/{rec.ecg_id:05d}_lr"
        _write_wfdb(root / hr_name, x, FS)
        if with_lr:
            _write_wfdb(root / lr_name, resample(x, FS, 100), 100)
        rows.append({
            "ecg_id": rec.ecg_id, "patient_id": float(rec.patient_id or rec.ecg_id + 1000), "age": 60.0,
            "sex": 0, "scp_codes": repr(rec.scp_codes), "strat_fold": rec.fold,
            "filename_lr": lr_name, "filename_hr": hr_name,
        })
    pd.DataFrame(rows).to_csv(root / "ptbxl_database.csv", index=False)
    if with_statements:
        STATEMENTS.to_csv(root / "scp_statements.csv")
    return root


def write_ptbxlplus_tree(root: Path, records: list[Rec], provider: str = "12sl", r_at_s: float = 0.33,
                         broken_header: bool = True, seed: int = 0, statements: bool = True) -> Path:
    """A PTB-XL+-shaped folder with ``median_beats/<provider>/`` and ``labels/ptbxl_statements.csv``.

    12SL: format 32, 5-digit names, header with the stale ``ge_median_beats_wfdb/`` prefix.
    Uni-G: 6-digit names, values stored in µV under a ``/mV`` header (the ~1000× defect).
    The R peak sits at ``r_at_s`` in the 600-sample beat (PTB-XL+ does not put it at 0.4 s).
    """
    rng = np.random.default_rng(seed)
    for rec in records:
        beat, p_on, t_end = template(rec.kind, seed=rec.ecg_id)
        shift = int(round((0.4 - r_at_s) * FS))
        stored = np.concatenate([beat[:, shift:], np.repeat(beat[:, -1:], shift, axis=1)], axis=1)
        stored = stored + 0.005 * rng.standard_normal(stored.shape)
        rec.truth, rec.p_on, rec.t_end, rec.min_rr = beat, p_on, t_end, 10.0
        sub = root / "median_beats" / provider / f"{(rec.ecg_id // 1000) * 1000:05d}"
        if provider == "12sl":
            name = f"{rec.ecg_id:05d}_medians"
            _write_wfdb(sub / name, stored, FS, fmt="32", names=list(LEAD_NAMES))
            if broken_header:
                hea = sub / f"{name}.hea"
                lines = hea.read_text().splitlines()
                hea.write_text("\n".join("ge_median_beats_wfdb/" + ln if ln.strip() else ln for ln in lines) + "\n")
        else:
            name = f"{rec.ecg_id:06d}_medians"
            _write_wfdb(sub / name, stored * 1000.0, FS, fmt="16", gain=10.0, names=list(LEAD_NAMES))
    if statements:
        (root / "labels").mkdir(parents=True, exist_ok=True)
        pd.DataFrame({
            "ecg_id": [r.ecg_id for r in records],
            "scp_codes": [repr(sorted(r.scp_codes.items())) for r in records],
        }).to_csv(root / "labels" / "ptbxl_statements.csv", index=False)
    return root
