"""Synthetic 12-lead median beats with planted diagnostic changes and ground-truth masks.

Each beat is a sum of per-wave bumps (P, septal q, R, S, T; asymmetric Gaussians as in ECGSYN,
McSharry et al., IEEE Trans Biomed Eng 50:289, 2003) plus the shapes some classes need (an LBBB
notch, an RBBB terminal R′/wide S, an infarct Q, an ST plateau made of two logistic edges, a
delta-wave ramp).
Timing is shared across leads; amplitudes are per lead. Limb leads come from a frontal-plane
dipole per wave projected on I (0°) and II (60°); III, aVR, aVL and aVF are derived, so
Einthoven's and Goldberger's laws hold to float precision. V1–V6 come from a per-lead table
(adult R/S progression: V1 rS … V5 tall R).

Nine classes (SYNTHETIC_ECG.md): NORM, 1AVB, LBBB, RBBB, LVH, anterior STEMI, old inferior MI,
T-wave inversion and long QT, planted after the criteria of Surawicz et al. (AHA/ACCF/HRS Part
III, JACC 2009), Rautaharju et al. (Part IV), Hancock et al. (Part V) and Thygesen et al. (Fourth
Universal Definition of MI, 2018). Every positive beat carries two masks: the *difference mask*
``|clean − counterfactual| > 0.05 mV`` (the same patient rendered without the class change), and
the *criteria mask* (the leads × window the diagnostic criterion inspects). The optional extras
of the spec, WPW and LAFB, are added with ``SyntheticConfig(extras=("WPW", "LAFB"))``; a
multi-label option adds co-occurring findings (e.g. 1AVB + LBBB) with one mask per finding.
:mod:`ecgsignal.data.criteria` measures the generated beats to check every class is what it says.

Everything is vectorised over beats (loops run over classes and chunks of beats only) and seeded
with :class:`numpy.random.Generator` streams spawned from one :class:`~numpy.random.SeedSequence`:
patient parameters, class assignment and noise each have their own stream, so the same seed gives
the same patients at 250 Hz and at 500 Hz.

``SyntheticConfig.difficulty`` chooses the draws: ``"realistic"`` (default;
:mod:`ecgsignal.data.realism`: overlapping populations labelled at the clinical thresholds,
EMG/powerline/wander noise, patient and electrode variability, co-occurring findings, flagged label
noise, noise-relative masks) or ``"easy"`` (the ranges above, far from every threshold). Each class
is defined once, as a :class:`~ecgsignal.data.classes.ClassSpec` (draws of both difficulties,
interval and morphology changes, criteria mask, priority) in :mod:`ecgsignal.data.classes`; the
renderer lives in :mod:`ecgsignal.data.beatmodel`.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from ecgsignal.config import to_dict
from ecgsignal.data import realism
from ecgsignal.data.beatmodel import (
    _ALL,
    _CI,
    _FINDINGS,
    CLASS_NAMES,
    CRITERIA_WINDOWS,
    EXTRA_CLASSES,
    MASK_THRESHOLD_MV,
    _criteria_masks,
    _draw_patients,
    _noise,
    _render,
    _twelve,
    _window_mask,
)
from ecgsignal.data.classes import CLASSES
from ecgsignal.data.dataset import ECGDataset, stratified_split
from ecgsignal.data.leads import LEAD_NAMES
from ecgsignal.errors import ConfigError, DataError
from ecgsignal.validation import check_int, check_number

__all__ = [
    "CLASS_NAMES",
    "COMPATIBLE",
    "CRITERIA_WINDOWS",
    "EXTRA_CLASSES",
    "MASK_THRESHOLD_MV",
    "SyntheticBatch",
    "SyntheticConfig",
    "benchmark_generator",
    "generate",
    "make_synthetic",
]

#: Findings that may co-occur on one beat in the multi-label option (symmetric; a view of
#: :attr:`ClassSpec.compatible <ecgsignal.data.classes.ClassSpec.compatible>`). NORM never co-occurs.
COMPATIBLE: dict[str, tuple[str, ...]] = {c: spec.compatible for c, spec in CLASSES.items()}


_CHUNK = 1024  # beats rendered at once (bounds memory; noise is drawn per chunk)


# =============================================================================== config
@dataclass(frozen=True)
class SyntheticConfig:
    """Parameters of the synthetic median-beat set.

    Attributes
    ----------
    n:
        Number of beats, balanced over the nine classes (primary class, if multi-label).
    fs:
        Sampling rate in Hz (250 default; 500 works, as does anything ≥ 50).
    seed:
        Seed of every random draw (patients, class assignment, noise).
    duration:
        Window length in s; ``T = round(duration · fs)`` samples.
    r_offset:
        Time of the R peak in the window, s. The window must span at least 0.40 s before and
        0.65 s after R (the criteria windows).
    noise:
        Add noise to the beats: easy, 5–20 µV white noise and a small baseline wander (≤ 30 µV);
        realistic, 10–50 µV EMG-like noise, residual powerline and wander ≤ 0.1 mV
        (:func:`ecgsignal.data.realism.noise`).
    multilabel:
        Return ``(n, 9)`` multi-hot labels; with ``cooccur_prob > 0`` some beats carry a second,
        compatible finding (:data:`COMPATIBLE`), e.g. 1AVB + LBBB.
    cooccur_prob:
        Probability that a non-NORM beat gets a second finding (multi-label only).
    split, split_seed:
        Train/validation/test fractions and the seed of the stratified split.
    extras:
        Optional extra classes from :data:`EXTRA_CLASSES` (``"WPW"``, ``"LAFB"``), appended to
        the nine; the beats are then balanced over all classes.
    difficulty:
        ``"realistic"`` (default): overlapping populations labelled at the clinical thresholds,
        EMG/powerline/wander noise, ~30 % amplitude and electrode-position variability,
        co-occurring findings and flagged label noise (:mod:`ecgsignal.data.realism`).
        ``"easy"``: the first build's well-separated ranges (every class trivially separable).
    label_noise:
        Fraction of single labels flipped to a wrong class (flagged in ``label_flipped``);
        ``None`` means the difficulty's default (realistic 0.02, easy 0).
    """

    n: int = 5400
    fs: float = 250.0
    seed: int = 0
    duration: float = 1.2
    r_offset: float = 0.4
    noise: bool = True
    multilabel: bool = False
    cooccur_prob: float = 0.0
    split: tuple[float, float, float] = (0.7, 0.15, 0.15)
    split_seed: int = 0
    extras: tuple[str, ...] = ()
    difficulty: str = "realistic"
    label_noise: float | None = None

    def __post_init__(self) -> None:
        if self.difficulty not in realism.DIFFICULTIES:
            raise ConfigError(f"SyntheticConfig.difficulty must be one of {list(realism.DIFFICULTIES)}, "
                              f"got {self.difficulty!r}")
        ln = self.label_noise
        if ln is not None and (isinstance(ln, bool) or not isinstance(ln, (int, float, np.number))
                               or not 0.0 <= ln <= 0.5):
            raise ConfigError(f"SyntheticConfig.label_noise must be None or a fraction in [0, 0.5], got {ln!r}")
        check_int(self.n, "SyntheticConfig.n")
        for name in ("fs", "duration", "r_offset", "cooccur_prob"):
            check_number(getattr(self, name), f"SyntheticConfig.{name}")
        if self.fs < 50:
            raise ConfigError(f"SyntheticConfig.fs must be at least 50 Hz, got {self.fs!r}")
        if self.r_offset < 0.40 - 1e-9 or self.duration - self.r_offset < 0.65 - 1e-9:
            raise ConfigError(
                "the window must span at least 0.40 s before and 0.65 s after the R peak; got "
                f"duration={self.duration!r}, r_offset={self.r_offset!r}"
            )
        if not 0.0 <= self.cooccur_prob <= 1.0:
            raise ConfigError(f"SyntheticConfig.cooccur_prob must lie in [0, 1], got {self.cooccur_prob!r}")
        if self.cooccur_prob > 0 and not self.multilabel:
            raise ConfigError("cooccur_prob > 0 needs multilabel=True (co-occurring findings)")
        split = tuple(self.split)
        if len(split) != 3 or any(f < 0 for f in split) or abs(sum(split) - 1) > 1e-6:
            raise ConfigError(f"SyntheticConfig.split must be three fractions summing to 1, got {self.split!r}")
        object.__setattr__(self, "split", tuple(float(f) for f in split))
        extras = (self.extras,) if isinstance(self.extras, str) else tuple(self.extras)
        unknown = [e for e in extras if e not in EXTRA_CLASSES]
        if unknown:
            raise ConfigError(f"unknown extra class(es) {unknown}; valid: {list(EXTRA_CLASSES)}")
        object.__setattr__(self, "extras", tuple(e for e in EXTRA_CLASSES if e in extras))

    @property
    def class_names(self) -> tuple[str, ...]:
        """The nine classes, then the chosen extras (in :data:`EXTRA_CLASSES` order)."""
        return CLASS_NAMES + self.extras

    @property
    def label_rate(self) -> float:
        """The label-noise fraction in effect (``label_noise``, or the difficulty's default)."""
        if self.label_noise is not None:
            return float(self.label_noise)
        return realism.LABEL_NOISE if self.difficulty == "realistic" else 0.0

    @property
    def n_samples(self) -> int:
        """Samples per beat, ``T``."""
        return int(round(self.duration * self.fs))


def _resolve(config: SyntheticConfig | None, overrides: dict) -> SyntheticConfig:
    cfg = config if config is not None else SyntheticConfig()
    if not isinstance(cfg, SyntheticConfig):
        raise ConfigError(f"expected a SyntheticConfig, got {type(cfg).__name__}")
    if overrides:
        valid = {f.name for f in dataclasses.fields(SyntheticConfig)}
        unknown = set(overrides) - valid
        if unknown:
            raise ConfigError(f"unknown SyntheticConfig field(s) {sorted(unknown)}; valid: {sorted(valid)}")
        cfg = dataclasses.replace(cfg, **overrides)
    return cfg


# =============================================================================== batch
@dataclass(frozen=True, eq=False)
class SyntheticBatch:
    """Everything the generator knows about a batch of synthetic beats.

    Attributes
    ----------
    beats:
        ``(n, 12, T)`` float32, mV: what a model sees (noise included if ``config.noise``).
    clean:
        ``(n, 12, T)`` float32, mV: the same beats without noise (``None`` if not kept).
    counterfactual:
        ``(n, 12, T)`` float32, mV: each patient rendered noise-free with every class change
        removed (for NORM beats it equals ``clean``); ``None`` if not kept.
    labels:
        ``(n,)`` int64 indices into ``class_names``, or ``(n, C)`` uint8 multi-hot if
        ``config.multilabel`` (``C`` = 9 + number of extras).
    primary:
        ``(n,)`` int64 primary class of each beat (the balanced one).
    findings:
        ``(n, K)`` int8 class indices of the planted findings (−1 pads; NORM beats have none).
    diff_mask, criteria_mask:
        ``(n, 12, T)`` bool ground truth, the union over a beat's findings.
    finding_diff_mask, finding_criteria_mask:
        ``(n, K, 12, T)`` bool, one mask per finding (multi-label only, else ``None``).
    params:
        Per-beat parameters and fiducials, ``(n,)`` arrays: ``hr`` (bpm), ``rr`` (s), ``pr``,
        ``qrs``, ``qt``, ``qtcf`` (ms, as planted), ``axis`` (deg, of the rendered QRS dipole),
        ``p_onset``, ``qrs_onset``, ``j_point``, ``t_peak``, ``t_end`` (s from R), ``noise_uv``
        (σ of the white noise, µV); ``(n, 12)``: ``p_amp``, ``t_amp`` (P and T amplitude per lead,
        mV, which decide the "visible P/T" leads of the criteria masks); ``mask_threshold_mv``
        (the difference-mask threshold of each beat: 0.05 mV easy, the noise σ realistic).
    label_flipped:
        ``(n,)`` bool: labels deliberately flipped to a wrong class (realistic label noise);
        ``labels`` differ from ``primary`` exactly there (single-label data).
    """

    beats: np.ndarray
    clean: np.ndarray | None
    counterfactual: np.ndarray | None
    labels: np.ndarray
    primary: np.ndarray
    findings: np.ndarray
    diff_mask: np.ndarray
    criteria_mask: np.ndarray
    finding_diff_mask: np.ndarray | None
    finding_criteria_mask: np.ndarray | None
    params: dict[str, np.ndarray]
    config: SyntheticConfig
    class_names: tuple[str, ...] = CLASS_NAMES
    lead_names: tuple[str, ...] = LEAD_NAMES
    meta: dict = field(default_factory=dict)
    label_flipped: np.ndarray | None = None

    @property
    def n(self) -> int:
        """Number of beats."""
        return int(self.beats.shape[0])

    @property
    def fs(self) -> float:
        """Sampling rate, Hz."""
        return float(self.config.fs)

    @property
    def t(self) -> np.ndarray:
        """``(T,)`` time axis in s relative to the R peak."""
        return _time_axis(self.config)

    def mask_for(self, class_index: int, kind: str = "diff") -> np.ndarray:
        """``(n, 12, T)`` bool mask of one class: its own change on beats that carry it, else empty.

        ``kind`` is ``"diff"`` (difference mask) or ``"criteria"``.
        """
        if kind not in ("diff", "criteria"):
            raise DataError(f"unknown mask kind {kind!r}; valid: diff, criteria")
        if not 0 <= class_index < len(self.class_names):
            raise DataError(f"class index {class_index} out of range 0..{len(self.class_names) - 1}")
        per = self.finding_diff_mask if kind == "diff" else self.finding_criteria_mask
        union = self.diff_mask if kind == "diff" else self.criteria_mask
        hit = self.findings == class_index  # (n, K)
        if per is None:  # single label: one finding per beat, the union is that finding's mask
            return union & hit.any(1)[:, None, None]
        return (per & hit[:, :, None, None]).any(1)

    def to_dataset(self) -> ECGDataset:
        """The :class:`ECGDataset` view (beats, labels, masks, seeded split, provenance)."""
        split = stratified_split(self.labels, self.config.split_seed, self.config.split)
        return ECGDataset(
            signals=self.beats,
            labels=self.labels,
            class_names=self.class_names,
            fs=self.fs,
            lead_names=self.lead_names,
            diff_mask=self.diff_mask,
            criteria_mask=self.criteria_mask,
            split=split,
            meta=dict(self.meta),
            label_flipped=self.label_flipped,
        )


# =============================================================================== public API
def make_synthetic(config: SyntheticConfig | None = None, **overrides) -> ECGDataset:
    """Generate the synthetic median-beat dataset (beats, labels, masks, split).

    Parameters
    ----------
    config:
        A :class:`SyntheticConfig` (default: 5,400 beats at 250 Hz, seed 0).
    **overrides:
        Field values replacing those of ``config`` (e.g. ``n=900, fs=500``).

    Returns
    -------
    ECGDataset
        ``signals`` ``(n, 12, T)`` float32 mV; ``labels``; ``diff_mask`` and ``criteria_mask``;
        a stratified ``split`` seeded by ``config.split_seed``; ``meta`` holding
        ``{"source": "synthetic", "config": to_dict(config), ...}``.
    """
    return generate(_resolve(config, overrides), keep_clean=False).to_dataset()


def generate(
    config: SyntheticConfig | None = None, *, keep_clean: bool = True, **overrides
) -> SyntheticBatch:
    """Render synthetic beats, their counterfactuals, masks and per-beat parameters.

    Parameters
    ----------
    config, **overrides:
        As in :func:`make_synthetic`.
    keep_clean:
        Keep the noise-free ``clean`` and ``counterfactual`` arrays (2 × the memory of the beats);
        masks and parameters are computed either way.

    Returns
    -------
    SyntheticBatch
    """
    cfg = _resolve(config, overrides)
    n, T = cfg.n, cfg.n_samples
    t = _time_axis(cfg)
    realistic = cfg.difficulty == "realistic"
    pop = _draw_population(cfg)
    base, draws, has, findings, rng_noise = pop.base, pop.draws, pop.has, pop.findings, pop.rng_noise
    K = findings.shape[1]

    beats = np.empty((n, 12, T), np.float32)
    clean_all = np.empty((n, 12, T), np.float32) if keep_clean else None
    cf_all = np.empty((n, 12, T), np.float32) if keep_clean else None
    diff_mask = np.zeros((n, 12, T), bool)
    crit_mask = np.zeros((n, 12, T), bool)
    per_finding = cfg.multilabel or K > 1
    fdiff = np.zeros((n, K, 12, T), bool) if per_finding else None
    fcrit = np.zeros((n, K, 12, T), bool) if per_finding else None
    out_params: dict[str, np.ndarray] = {}
    noise_uv = np.zeros(n, np.float32)
    mask_thr = np.full(n, MASK_THRESHOLD_MV, np.float32)
    windows = {c: _window_mask(c, t) for c in CRITERIA_WINDOWS}

    for lo in range(0, n, _CHUNK):
        idx = np.arange(lo, min(lo + _CHUNK, n))
        h = has[idx]
        x8, info = _render(base, draws, idx, h, t)
        cf8, _ = _render(base, draws, idx, np.zeros_like(h), t)
        clean = _twelve(x8)
        cf = _twelve(cf8)
        for k, v in info.items():
            out_params.setdefault(k, np.empty((n,) + v.shape[1:], v.dtype))[idx] = v
        if realistic:  # drawn even without noise, so the noise-relative masks do not depend on it
            w, sd = realism.noise(len(idx), t, cfg.fs, rng_noise)
            thr_all = np.maximum(realism.MASK_NOISE_MULTIPLE * sd / 1e3, 0.005)
            mask_thr[idx] = thr_all
            if cfg.noise:
                noise_uv[idx] = sd
        elif cfg.noise:
            w, noise_uv[idx] = _noise(len(idx), t, rng_noise)
        # masks, per finding
        for k in range(K):
            f = findings[idx, k]
            rows = np.flatnonzero(f >= 0)
            if rows.size == 0:
                continue
            ref = cf[rows]
            multi = np.flatnonzero(h[rows].sum(1) > 1)
            if multi.size:  # the same beat without this one finding
                h_wo = h[rows[multi]].copy()
                h_wo[np.arange(multi.size), f[rows[multi]]] = False
                ref = ref.copy()
                ref[multi] = _twelve(_render(base, draws, idx[rows[multi]], h_wo, t)[0])
            thr = thr_all[rows, None, None] if realistic else MASK_THRESHOLD_MV
            d = np.abs(clean[rows] - ref) > thr
            c_mask = _criteria_masks(f[rows], info, rows, windows)
            if cfg.multilabel or k == 0:  # single label: the masks are those of the labelled finding
                diff_mask[idx[rows]] |= d
                crit_mask[idx[rows]] |= c_mask
            if fdiff is not None:
                fdiff[idx[rows], k] = d
                fcrit[idx[rows], k] = c_mask
        if cfg.noise:
            x8 += w
        beats[idx] = _twelve(x8)
        if keep_clean:
            clean_all[idx] = clean
            cf_all[idx] = cf

    out_params["noise_uv"] = noise_uv
    out_params["mask_threshold_mv"] = mask_thr
    active = np.array([_CI[c] for c in cfg.class_names])
    to_out = np.full(len(_ALL) + 1, -1, np.int8)  # internal → output index; -1 stays -1
    to_out[active] = np.arange(active.size)
    primary = to_out[pop.primary].astype(np.int64)
    findings = to_out[findings]
    if cfg.multilabel:
        labels = has[:, active].astype(np.uint8)
        labels[primary == 0, 0] = 1  # NORM
    else:
        labels = primary
    flipped = np.zeros(n, bool)
    if cfg.label_rate > 0 and not cfg.multilabel:
        labels, flipped = realism.flip_labels(labels, len(cfg.class_names), cfg.label_rate, pop.rng_real)
    meta = {
        "source": "synthetic",
        "config": to_dict(cfg),
        "difficulty": cfg.difficulty,
        "mask_threshold_mv": (f"{realism.MASK_NOISE_MULTIPLE:g} x noise sigma" if realistic
                              else MASK_THRESHOLD_MV),
        "label_noise": cfg.label_rate,
        "n_label_flipped": int(flipped.sum()),
        "r_offset": float(cfg.r_offset),
        "criteria_windows": {c: [list(ld) if not isinstance(ld, str) else ld, list(w)]
                             for c, (ld, w) in CRITERIA_WINDOWS.items() if c in cfg.class_names},
    }
    return SyntheticBatch(
        beats=beats,
        clean=clean_all,
        counterfactual=cf_all,
        labels=labels,
        primary=primary,
        findings=findings,
        diff_mask=diff_mask,
        criteria_mask=crit_mask,
        finding_diff_mask=fdiff,
        finding_criteria_mask=fcrit,
        params=out_params,
        config=cfg,
        class_names=cfg.class_names,
        meta=meta,
        label_flipped=flipped,
    )


def benchmark_generator(n: int = 10_000, fs: float = 250.0, seed: int = 0) -> dict:
    """Time :func:`generate` (beats, counterfactuals, both masks) and report beats per second.

    Returns
    -------
    dict
        ``{"n", "fs", "n_samples", "seconds", "beats_per_s", "masks": True}``.
    """
    cfg = SyntheticConfig(n=n, fs=fs, seed=seed)
    t0 = time.perf_counter()
    batch = generate(cfg, keep_clean=True)
    dt = time.perf_counter() - t0
    return {
        "masks": bool(batch.diff_mask.shape == batch.beats.shape == batch.criteria_mask.shape),
        "n": int(n),
        "fs": float(fs),
        "n_samples": cfg.n_samples,
        "seconds": round(dt, 4),
        "beats_per_s": round(n / dt, 1),
    }


# =============================================================================== internals
def _time_axis(cfg: SyntheticConfig) -> np.ndarray:
    return (np.arange(cfg.n_samples) / cfg.fs - cfg.r_offset).astype(np.float32)


class _Population(NamedTuple):
    """Everything :func:`generate` draws before rendering (internal class indices, into ``_ALL``)."""

    primary: np.ndarray  # (n,) the balanced primary class
    findings: np.ndarray  # (n, K) int8 planted findings, −1 pads
    has: np.ndarray  # (n, C) bool finding flags
    base: dict  # patient parameters
    draws: dict  # class → class parameters of all n beats
    rng_noise: np.random.Generator
    rng_real: np.random.Generator  # co-occurring findings and label flips (realistic)


def _draw_population(cfg: SyntheticConfig) -> _Population:
    """Seed streams, class assignment, patient and class draws, in the generator's fixed order.

    One :class:`~numpy.random.SeedSequence` spawns the parameter, class and noise streams, then a
    fourth stream for the realistic extras, so the easy data do not depend on the realistic draws.
    """
    ss = np.random.SeedSequence(cfg.seed)
    rng_params, rng_class, rng_noise = (np.random.default_rng(s) for s in ss.spawn(3))
    primary, findings = _assign_classes(cfg, rng_class)
    rng_real = np.random.default_rng(ss.spawn(1)[0])  # after the three streams the easy setting uses
    if cfg.difficulty == "realistic":
        if not cfg.multilabel:  # co-occurring lower-priority findings; the label stays the primary
            findings = np.concatenate(
                [findings, realism.add_cooccurring(primary, cfg.class_names, rng_real)[:, None]], 1)
        base = realism.draw_patients(cfg.n, rng_params)
    else:
        base = _draw_patients(cfg.n, rng_params)
    draws = {c: CLASSES[c].draw(cfg.difficulty, cfg.n, rng_params) for c in _FINDINGS if c in cfg.class_names}
    has = np.zeros((cfg.n, len(_ALL)), bool)
    for k in range(findings.shape[1]):
        ok = findings[:, k] >= 0
        has[np.flatnonzero(ok), findings[ok, k]] = True
    return _Population(primary, findings, has, base, draws, rng_noise, rng_real)


def _assign_classes(cfg: SyntheticConfig, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Balanced primary classes and, if multi-label, an optional second compatible finding."""
    n, names = cfg.n, cfg.class_names
    active = np.array([_CI[c] for c in names])
    primary = active[rng.permutation(np.arange(n) % len(names))]
    if not cfg.multilabel:
        f = np.where(primary == _CI["NORM"], -1, primary).astype(np.int8)
        return primary, f[:, None]
    second = np.full(n, -1, np.int8)
    extra = (rng.random(n) < cfg.cooccur_prob) & (primary != _CI["NORM"])
    pick = rng.random(n)
    for c in names[1:]:
        sel = extra & (primary == _CI[c])
        options = np.array([_CI[o] for o in COMPATIBLE[c] if o in names], np.int8)
        if sel.any() and options.size:
            second[sel] = options[(pick[sel] * options.size).astype(int)]
    first = np.where(primary == _CI["NORM"], -1, primary).astype(np.int8)
    return primary, np.stack([first, second], 1)
