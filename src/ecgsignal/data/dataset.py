"""The one dataset type every source returns (synthetic, PTB-XL, PTB-XL+, a user's arrays)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from ecgsignal.data.leads import LEAD_NAMES, N_LEADS
from ecgsignal.errors import DataError

SPLITS = ("train", "val", "test")


@dataclass(frozen=True, eq=False)
class ECGDataset:
    """Median beats with labels, metadata and optional ground-truth masks.

    Attributes
    ----------
    signals:
        ``(n, 12, T)`` float32 array in millivolts, leads in :data:`LEAD_NAMES` order.
    labels:
        ``(n,)`` int64 class indices (single-label), or ``(n, C)`` {0, 1} uint8 (multi-label).
    class_names:
        The ``C`` class names; ``labels`` index into it.
    fs:
        Sampling rate in Hz.
    lead_names:
        The 12 lead names (must equal :data:`LEAD_NAMES`; reorder with ``arrays.reorder_leads``).
    diff_mask, criteria_mask:
        Optional ``(n, 12, T)`` bool ground-truth masks (synthetic data only): where the beat
        differs from its counterfactual, and the leads × window a diagnostic criterion inspects.
    split:
        Optional ``(n,)`` int8 array: 0 train, 1 validation, 2 test.
    label_flipped:
        Optional ``(n,)`` bool: beats whose label was deliberately flipped (the synthetic data's
        documented label noise), so ground-truth analyses can leave them out.
    meta:
        Free-form provenance (source, seed, record ids…); JSON-serialisable values only.
    """

    signals: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    fs: float
    lead_names: tuple[str, ...] = LEAD_NAMES
    diff_mask: np.ndarray | None = None
    criteria_mask: np.ndarray | None = None
    split: np.ndarray | None = None
    meta: dict = field(default_factory=dict)
    label_flipped: np.ndarray | None = None

    def __post_init__(self) -> None:
        validate_signals(self.signals)
        object.__setattr__(self, "signals", np.ascontiguousarray(self.signals, dtype=np.float32))
        object.__setattr__(self, "class_names", tuple(str(c) for c in self.class_names))
        object.__setattr__(self, "lead_names", tuple(str(c) for c in self.lead_names))
        n = self.signals.shape[0]
        if len(self.class_names) < 1:
            raise DataError("class_names is empty")
        if len(set(self.class_names)) != len(self.class_names):
            raise DataError(f"duplicate class names: {list(self.class_names)}")
        if tuple(self.lead_names) != LEAD_NAMES:
            raise DataError(
                f"lead order {list(self.lead_names)} differs from the expected {list(LEAD_NAMES)}; "
                "reorder the leads first (ecgsignal.data.arrays.reorder_leads)"
            )
        fs_ok = not isinstance(self.fs, bool) and isinstance(self.fs, (int, float, np.number))
        if not fs_ok or not np.isfinite(self.fs) or self.fs <= 0:
            raise DataError(f"sampling rate must be a positive number of Hz, got {self.fs!r}")
        labels = np.asarray(self.labels)
        n_classes = len(self.class_names)
        if labels.dtype.kind not in "biuf":
            raise DataError(f"labels must be integer class indices (or 0/1), got dtype {labels.dtype}; "
                            "map class names to their index in class_names first")
        if labels.ndim == 1:
            if labels.shape[0] != n:
                raise DataError(f"{labels.shape[0]} labels for {n} beats")
            if labels.size and not np.issubdtype(labels.dtype, np.integer):
                if not np.all(np.equal(np.mod(labels, 1), 0)):
                    raise DataError("labels must be integer class indices")
            labels = labels.astype(np.int64)
            if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
                bad = labels[(labels < 0) | (labels >= n_classes)]
                raise DataError(
                    f"labels out of range: found {sorted(set(bad.tolist()))[:5]}, "
                    f"valid 0..{n_classes - 1} for {n_classes} classes"
                )
        elif labels.ndim == 2:
            if labels.shape != (n, n_classes):
                raise DataError(f"multi-label array has shape {labels.shape}, expected {(n, n_classes)}")
            if not np.isin(labels, (0, 1)).all():
                raise DataError("multi-label array must hold only 0 and 1")
            labels = labels.astype(np.uint8)
        else:
            raise DataError(f"labels must be (n,) or (n, C), got shape {labels.shape}")
        object.__setattr__(self, "labels", labels)
        for name in ("diff_mask", "criteria_mask"):
            m = getattr(self, name)
            if m is not None:
                m = np.asarray(m)
                if m.shape != self.signals.shape:
                    raise DataError(f"{name} has shape {m.shape}, expected {self.signals.shape}")
                object.__setattr__(self, name, m.astype(bool))
        if self.split is not None:
            s = np.asarray(self.split)
            if s.shape != (n,) or not np.isin(s, (0, 1, 2)).all():
                raise DataError("split must be an (n,) array of 0 (train), 1 (val), 2 (test)")
            object.__setattr__(self, "split", s.astype(np.int8))
        if self.label_flipped is not None:
            f = np.asarray(self.label_flipped)
            if f.shape != (n,) or f.dtype != bool:
                raise DataError(f"label_flipped must be an (n,) bool array, got {f.dtype} {f.shape}")

    # ------------------------------------------------------------------ properties
    @property
    def n(self) -> int:
        """Number of beats."""
        return int(self.signals.shape[0])

    @property
    def n_samples(self) -> int:
        """Samples per beat, ``T``."""
        return int(self.signals.shape[2])

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def multilabel(self) -> bool:
        return self.labels.ndim == 2

    @property
    def has_masks(self) -> bool:
        return self.diff_mask is not None and self.criteria_mask is not None

    def onehot(self) -> np.ndarray:
        """``(n, C)`` float32 targets (one-hot, or the multi-hot labels)."""
        if self.multilabel:
            return self.labels.astype(np.float32)
        out = np.zeros((self.n, self.n_classes), np.float32)
        out[np.arange(self.n), self.labels] = 1.0
        return out

    def positives(self, class_index: int) -> np.ndarray:
        """Boolean ``(n,)``: beats that carry class ``class_index``."""
        return self.onehot()[:, class_index] > 0

    # ------------------------------------------------------------------ subsets
    def subset(self, index: np.ndarray) -> ECGDataset:
        """A new dataset with the beats at ``index`` (bool mask or integer indices)."""
        index = np.asarray(index)
        if index.dtype == bool:
            index = np.flatnonzero(index)

        def take(a):
            return None if a is None else a[index]

        return replace(
            self,
            signals=self.signals[index],
            labels=self.labels[index],
            diff_mask=take(self.diff_mask),
            criteria_mask=take(self.criteria_mask),
            split=take(self.split),
            label_flipped=take(self.label_flipped),
            meta=dict(self.meta),
        )

    def indices(self, which: str) -> np.ndarray:
        """Integer indices of the ``"train"``, ``"val"`` or ``"test"`` split."""
        if which not in SPLITS:
            raise DataError(f"unknown split {which!r}; valid: {', '.join(SPLITS)}")
        if self.split is None:
            raise DataError("dataset has no split; call with_split(seed) first")
        return np.flatnonzero(self.split == SPLITS.index(which))

    def part(self, which: str) -> ECGDataset:
        """The ``"train"``, ``"val"`` or ``"test"`` subset."""
        return self.subset(self.indices(which))

    def with_split(self, seed: int, fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)) -> ECGDataset:
        """A copy with a seeded split, stratified by class (by first label if multi-label)."""
        return replace(self, split=stratified_split(self.labels, seed, fractions), meta=dict(self.meta))

    def __repr__(self) -> str:
        return (
            f"ECGDataset(n={self.n}, leads=12, T={self.n_samples}, fs={self.fs:g} Hz, "
            f"classes={list(self.class_names)}, masks={self.has_masks}, "
            f"split={'yes' if self.split is not None else 'no'})"
        )


def validate_signals(signals: np.ndarray) -> None:
    """Raise :class:`DataError` unless ``signals`` is a finite, non-empty ``(n, 12, T)`` array."""
    if isinstance(signals, (list, tuple)):
        lengths = {np.shape(s) for s in signals}
        if len(lengths) > 1:
            raise DataError(f"ragged beats: found shapes {sorted(lengths)[:4]}; all must be (12, T)")
    try:
        a = np.asarray(signals)
    except ValueError as exc:
        raise DataError(f"signals could not be stacked into an array (ragged lengths?): {exc}") from exc
    if a.dtype == object:
        raise DataError("signals are ragged (object array); every beat must be (12, T)")
    if not np.issubdtype(a.dtype, np.number):
        raise DataError(f"signals must be numeric, got dtype {a.dtype}")
    if np.issubdtype(a.dtype, np.complexfloating):
        raise DataError(f"signals must be real numbers (mV), got dtype {a.dtype}")
    if a.ndim != 3:
        raise DataError(f"signals must have shape (n, 12, T), got {a.shape}")
    if a.shape[0] == 0:
        raise DataError("empty dataset: signals hold 0 beats")
    if a.shape[1] != N_LEADS:
        raise DataError(f"expected {N_LEADS} leads on axis 1, got {a.shape[1]} (shape {a.shape})")
    if a.shape[2] < 8:
        raise DataError(f"beats have only {a.shape[2]} samples")
    finite = np.isfinite(a)
    if not finite.all():
        bad = np.argwhere(~finite)
        n_nan = int(np.isnan(a).sum())
        n_inf = int(np.isinf(a).sum())
        b, lead, t = bad[0]
        raise DataError(
            f"signals contain {n_nan} NaN and {n_inf} inf values "
            f"(first at beat {b}, lead {LEAD_NAMES[lead]}, sample {t})"
        )


def stratified_split(
    labels: np.ndarray, seed: int, fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
) -> np.ndarray:
    """Seeded per-class split into 0 train / 1 val / 2 test, as an ``(n,)`` int8 array."""
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-6:
        raise DataError(f"split fractions must be three non-negative numbers summing to 1, got {fractions}")
    labels = np.asarray(labels)
    strata = labels if labels.ndim == 1 else labels.argmax(1)
    rng = np.random.default_rng(seed)
    split = np.zeros(len(strata), np.int8)
    for c in np.unique(strata):
        idx = rng.permutation(np.flatnonzero(strata == c))
        n_val = int(round(fractions[1] * len(idx)))
        n_test = int(round(fractions[2] * len(idx)))
        split[idx[:n_test]] = 2
        split[idx[n_test : n_test + n_val]] = 1
    return split
