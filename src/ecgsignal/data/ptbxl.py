"""PTB-XL (PhysioNet, v1.0.x): 10 s 12-lead records → median beats with our nine classes.

Expected local layout (Wagner et al., Sci Data 7:154, 2020; nothing is downloaded)::

    <root>/ptbxl_database.csv      ecg_id, patient_id, scp_codes ("{'NORM': 100.0, ...}"),
                                   strat_fold (1-10), filename_lr, filename_hr, ...
    <root>/scp_statements.csv      one row per SCP code (index), diagnostic, diagnostic_class, ...
    <root>/records100/00000/00001_lr.{hea,dat}   100 Hz, WFDB format 16, 1 µV/LSB
    <root>/records500/00000/00001_hr.{hea,dat}   500 Hz

``data_root`` may be that folder or a parent of it (e.g. the ``physionet.org/files/ptb-xl/1.0.3``
tree of a ``wget -r`` download). Records are read with ``wfdb`` (lead names such as ``AVR`` are
matched case-insensitively), median beats are extracted with :mod:`ecgsignal.data.medians`,
labels assigned with :mod:`ecgsignal.data.scp_mapping`, and the split follows PTB-XL's
recommendation: ``strat_fold`` 1–8 train, 9 validation, 10 test. The extracted beats are cached
under ``paths.cache_dir("ptbxl")``, keyed by the config hash and the database file's identity.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ecgsignal.config import config_hash, from_dict, to_dict
from ecgsignal.data.dataset import ECGDataset
from ecgsignal.data.dataset_cache import file_identity, load_cached, store_cache
from ecgsignal.data.medians import MedianConfig, MedianExtractionError, extract_median_beat
from ecgsignal.data.scp_mapping import (
    CLASS_NAMES,
    CLASS_PRIORITY,
    SCP_TO_CLASS,
    SUPERCLASS_PRIORITY,
    SUPERCLASSES,
    LabelAssignment,
    assign_labels,
    classes_of,
    parse_scp_codes,
    superclass_map,
)
from ecgsignal.data.wfdb_io import WfdbReader
from ecgsignal.errors import ConfigError, DataError
from ecgsignal.validation import check_choice, check_int

__all__ = [
    "DATABASE_FILE",
    "STATEMENTS_FILE",
    "PTBXLBaseConfig",
    "PTBXLConfig",
    "find_root",
    "fold_split",
    "load_ptbxl",
    "read_database",
    "read_scp_statements",
]

DATABASE_FILE = "ptbxl_database.csv"
STATEMENTS_FILE = "scp_statements.csv"
_REQUIRED = ("ecg_id", "scp_codes", "strat_fold", "filename_lr", "filename_hr")


@dataclass(frozen=True)
class PTBXLBaseConfig:
    """The fields PTB-XL (:class:`PTBXLConfig`) and PTB-XL+ (``PTBXLPlusConfig``) share.

    Attributes
    ----------
    fs:
        Sampling rate of the returned beats (the model's), Hz.
    label_scheme:
        ``"nine"`` (our classes) or ``"superclass"`` (NORM, MI, STTC, CD, HYP).
    label_mode:
        ``"priority"``, ``"exclusive"`` or ``"multilabel"`` (see :mod:`~ecgsignal.data.scp_mapping`).
    min_likelihood:
        Ignore SCP codes below this likelihood.
    folds:
        ``strat_fold`` values to load.
    max_records, max_per_class:
        Keep at most this many labelled records (in ``ecg_id`` order), or per class (by the
        first label), for quick runs; ``None`` keeps all.
    on_error:
        ``"raise"`` on a missing or malformed record file, or ``"skip"`` it (counted in meta).
    median:
        Median-beat extraction settings.
    """

    fs: float = 250.0
    label_scheme: str = "nine"
    label_mode: str = "priority"
    min_likelihood: float = 0.0
    folds: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
    max_records: int | None = None
    max_per_class: int | None = None
    on_error: str = "raise"
    median: MedianConfig = field(default_factory=MedianConfig)

    def __post_init__(self) -> None:
        if not np.isfinite(self.fs) or self.fs <= 0:
            raise ConfigError(f"fs must be a positive number of Hz, got {self.fs!r}")
        check_choice(self.label_scheme, ("nine", "superclass"), "label_scheme")
        check_choice(self.label_mode, ("priority", "exclusive", "multilabel"), "label_mode")
        check_choice(self.on_error, ("raise", "skip"), "on_error")
        for name in ("max_records", "max_per_class"):
            v = getattr(self, name)
            if v is not None:
                check_int(v, name, what="or None")
        if not isinstance(self.median, MedianConfig):
            raise ConfigError(f"median must be a MedianConfig, got {type(self.median).__name__}")


@dataclass(frozen=True)
class PTBXLConfig(PTBXLBaseConfig):
    """What to load from PTB-XL and how: the shared fields of :class:`PTBXLBaseConfig`, plus

    Attributes
    ----------
    source_fs:
        Which records to read: 500 (``records500``, default, best R-peak timing) or 100.
    """

    source_fs: int = 500

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.source_fs not in (100, 500):
            raise ConfigError(f"source_fs must be 100 (records100) or 500 (records500), got {self.source_fs!r}")
        bad = [f for f in self.folds if f not in range(1, 11)]
        if bad or not self.folds:
            raise ConfigError(f"folds must be a non-empty subset of 1..10, got {self.folds!r}")


def resolve_config(cls: type, config: Any, overrides: dict) -> Any:
    """``config`` (a ``cls``, a dict, or None for the defaults) with ``overrides`` applied.

    Goes through :func:`ecgsignal.config.from_dict`, so unknown fields and values of the wrong
    type raise :class:`ConfigError` naming the field.
    """
    if config is None:
        config = cls()
    elif isinstance(config, dict):
        config = from_dict(cls, config)
    if not isinstance(config, cls):
        raise ConfigError(f"expected a {cls.__name__}, got {type(config).__name__}")
    if not overrides:
        return config
    return from_dict(cls, {**to_dict(config), **overrides})


# --------------------------------------------------------------------------- files
def find_root(data_root: str | os.PathLike, marker: str = DATABASE_FILE, max_depth: int = 5) -> Path:
    """The folder at or below ``data_root`` (up to ``max_depth`` levels) holding ``marker``."""
    root = Path(data_root).expanduser()
    if not root.exists():
        raise DataError(f"data folder not found: {root}")
    if not root.is_dir():
        raise DataError(f"data_root must be a folder, got the file {root}")
    if (root / marker).exists():
        return root
    for depth in range(1, max_depth + 1):
        hits = sorted(root.glob("/".join(["*"] * depth) + "/" + marker))
        if hits:
            return hits[0].parent
    raise DataError(f"no {marker} found in {root} or up to {max_depth} folders below it")


def read_table(path: Path, what: str, **kwargs: Any) -> pd.DataFrame:
    """``pd.read_csv(path, **kwargs)``, or :class:`DataError` naming ``what`` and the file when it
    is missing or unreadable."""
    if not path.is_file():
        raise DataError(f"missing {what} {path}")
    try:
        return pd.read_csv(path, **kwargs)
    except Exception as exc:
        raise DataError(f"cannot read {path}: {exc}") from exc


def read_database(root: str | os.PathLike) -> pd.DataFrame:
    """Read and check ``ptbxl_database.csv``.

    Returns
    -------
    DataFrame indexed by ``ecg_id`` (int) with ``scp_codes`` parsed to dicts, ``strat_fold``
    as int, and every other column as stored. Malformed files raise :class:`DataError` naming
    the file (and the row).
    """
    path = Path(root) / DATABASE_FILE
    df = read_table(path, "PTB-XL database file")
    missing = [c for c in _REQUIRED if c not in df.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}; found {list(df.columns)[:12]}")
    ids = pd.to_numeric(df["ecg_id"], errors="coerce")
    if ids.isna().any():
        row = int(np.flatnonzero(ids.isna())[0])
        raise DataError(f"{path}: row {row} has a non-numeric ecg_id {df['ecg_id'].iloc[row]!r}")
    if ids.duplicated().any():
        raise DataError(f"{path}: duplicate ecg_id(s) {sorted(ids[ids.duplicated()].astype(int).tolist())[:5]}")
    folds = pd.to_numeric(df["strat_fold"], errors="coerce")
    bad = folds.isna() | ~folds.isin(range(1, 11))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataError(f"{path}: row {row} (ecg_id {int(ids.iloc[row])}) has strat_fold "
                        f"{df['strat_fold'].iloc[row]!r}; expected 1..10")
    df = df.assign(ecg_id=ids.astype(np.int64), strat_fold=folds.astype(np.int64))
    df["scp_codes"] = [parse_scp_codes(t, f"{path} (ecg_id {i})") for i, t in zip(df["ecg_id"], df["scp_codes"])]
    return df.set_index("ecg_id", drop=False).sort_index()


def read_scp_statements(root: str | os.PathLike) -> pd.DataFrame:
    """Read ``scp_statements.csv`` (indexed by SCP code); :class:`DataError` naming it on failure."""
    path = Path(root) / STATEMENTS_FILE
    df = read_table(path, "SCP statements file", index_col=0)
    try:
        superclass_map(df)
    except DataError as exc:
        raise DataError(f"{path}: {exc}") from None
    return df


def fold_split(folds: np.ndarray) -> np.ndarray:
    """PTB-XL's recommended split: ``strat_fold`` 1–8 → 0 (train), 9 → 1 (val), 10 → 2 (test)."""
    f = np.asarray(folds)
    if not np.isin(f, np.arange(1, 11)).all():
        raise DataError(f"strat_fold values must lie in 1..10, got {sorted(set(f.tolist()) - set(range(1, 11)))}")
    return np.where(f <= 8, 0, np.where(f == 9, 1, 2)).astype(np.int8)


# --------------------------------------------------------------------------- labels
def label_records(codes: Sequence[dict], cfg: Any, statements: pd.DataFrame | None) -> tuple[LabelAssignment, str]:
    """Labels of ``codes`` under ``cfg.label_scheme`` / ``label_mode``, and the rule in words."""
    if cfg.label_scheme == "nine":
        assignment = assign_labels(codes, CLASS_NAMES, SCP_TO_CLASS, CLASS_PRIORITY,
                                   cfg.label_mode, cfg.min_likelihood)
        order = CLASS_PRIORITY
    else:
        if statements is None:
            raise DataError(f"label_scheme='superclass' needs PTB-XL's {STATEMENTS_FILE}")
        assignment = assign_labels(codes, SUPERCLASSES, superclass_map(statements), SUPERCLASS_PRIORITY,
                                   cfg.label_mode, cfg.min_likelihood)
        order = SUPERCLASS_PRIORITY
    rule = {
        "priority": f"records matching several classes take the first of {list(order)}",
        "exclusive": "records matching several classes are dropped",
        "multilabel": "every matching class is kept (multi-hot labels)",
    }[cfg.label_mode]
    return assignment, rule


def cap_records(labels: np.ndarray, max_records: int | None, max_per_class: int | None) -> np.ndarray:
    """Indices of the records kept by the caps (first ones in order, per first label)."""
    idx = np.arange(len(labels))
    if max_per_class is not None:
        first = labels if labels.ndim == 1 else labels.argmax(1)
        counts: dict[int, int] = {}
        sel = []
        for i, c in enumerate(first.tolist()):
            if counts.get(c, 0) < max_per_class:
                counts[c] = counts.get(c, 0) + 1
                sel.append(i)
        idx = np.asarray(sel, np.int64)
    if max_records is not None:
        idx = idx[:max_records]
    return idx


# --------------------------------------------------------------------------- cache
# --------------------------------------------------------------------------- loading
def _extract_one(args: tuple[str, float, MedianConfig, str]) -> tuple[str, Any]:
    """Worker: read one record and extract its median. Returns ``(status, payload)``."""
    path, fs, mcfg, on_error = args
    with WfdbReader() as reader:
        try:
            rec = reader.read(path)
        except DataError as exc:
            if on_error == "raise":
                raise
            return "unreadable", str(exc)
    try:
        mb = extract_median_beat(rec.signal, rec.fs, fs_out=fs, config=mcfg)
    except MedianExtractionError as exc:
        return "no_median", str(exc)
    return "ok", (mb.beat, mb.n_detected, mb.n_used, mb.mean_corr)


def _run(jobs: list, fn: Callable, n_jobs: int, progress: bool, desc: str) -> list:
    from tqdm.auto import tqdm

    if n_jobs > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(max_workers=n_jobs) as ex:
            it = ex.map(fn, jobs, chunksize=max(1, len(jobs) // (8 * n_jobs)))
            return list(tqdm(it, total=len(jobs), desc=desc, disable=not progress))
    return [fn(j) for j in tqdm(jobs, desc=desc, disable=not progress)]


def load_ptbxl(
    data_root: str | os.PathLike,
    config: PTBXLConfig | dict | None = None,
    *,
    cache: bool = True,
    n_jobs: int = 1,
    progress: bool = False,
    **overrides: Any,
) -> ECGDataset:
    """Load PTB-XL as median beats (see the module docstring).

    Parameters
    ----------
    data_root:
        Local PTB-XL folder (or a parent of it).
    config:
        A :class:`PTBXLConfig` (or dict); ``**overrides`` replace its fields (e.g. ``fs=500``).
    cache:
        Reuse / write the extracted beats under ``cache_dir("ptbxl")``.
    n_jobs:
        Worker processes for extraction (results do not depend on it).
    progress:
        Show a progress bar.

    Returns
    -------
    :class:`ECGDataset`: ``(n, 12, round(1.2 fs))`` float32 mV beats, R at 0.4 s; split from
    ``strat_fold``; ``meta`` with ``record_ids``, ``patient_ids``, ``strat_fold``,
    ``superclasses`` per beat, and counts of dropped records.
    """
    cfg = resolve_config(PTBXLConfig, config, overrides)
    root = find_root(data_root)
    db_path = root / DATABASE_FILE
    key = config_hash(cfg, file_identity(db_path))
    if cache:
        hit = load_cached("ptbxl", key)
        if hit is not None:
            return hit

    db = read_database(root)
    statements = read_scp_statements(root) if (root / STATEMENTS_FILE).is_file() else None
    n_total = len(db)
    db = db[db["strat_fold"].isin(cfg.folds)]
    assignment, rule = label_records(list(db["scp_codes"]), cfg, statements)
    sel = db[assignment.keep]
    labels = assignment.labels
    cap = cap_records(labels, cfg.max_records, cfg.max_per_class)
    sel, labels = sel.iloc[cap], labels[cap]
    if len(sel) == 0:
        raise DataError(f"{db_path}: no record in folds {list(cfg.folds)} matches the classes {list(assignment.class_names)}")

    col = "filename_hr" if cfg.source_fs == 500 else "filename_lr"
    jobs = [(str(root / fn), float(cfg.fs), cfg.median, cfg.on_error) for fn in sel[col]]
    t0 = time.perf_counter()
    results = _run(jobs, _extract_one, n_jobs, progress, "PTB-XL medians")
    elapsed = time.perf_counter() - t0

    ok = np.array([s == "ok" for s, _ in results], bool)
    failures = {"no_median": [], "unreadable": []}
    for (s, payload), eid in zip(results, sel["ecg_id"]):
        if s != "ok":
            failures[s].append({"ecg_id": int(eid), "reason": payload})
    if not ok.any():
        raise DataError(f"{db_path}: no median beat could be built from {len(sel)} records; first problem: "
                        f"{(failures['no_median'] + failures['unreadable'])[0]['reason']}")
    beats = np.stack([p[0] for (s, p) in results if s == "ok"])
    kept = sel[ok]
    smap = superclass_map(statements) if statements is not None else None
    meta = {
        "source": "ptbxl",
        "data_root": str(root.resolve()),
        "config": to_dict(cfg),
        "class_rule": rule,
        "scp_to_class": dict(SCP_TO_CLASS) if cfg.label_scheme == "nine" else smap,
        "record_ids": [int(i) for i in kept["ecg_id"]],
        "patient_ids": [None if pd.isna(p) else int(p) for p in kept.get("patient_id", pd.Series([None] * len(kept)))],
        "strat_fold": [int(f) for f in kept["strat_fold"]],
        "superclasses": None if smap is None else [sorted(classes_of(c, smap, cfg.min_likelihood)) for c in kept["scp_codes"]],
        "n_beats_used": [int(p[2]) for (s, p) in results if s == "ok"],
        "mean_beat_corr": [round(float(p[3]), 4) for (s, p) in results if s == "ok"],
        "counts": {
            "records_in_database": int(n_total),
            "records_in_folds": int(len(db)),
            "dropped_no_class": assignment.counts["no_match"],
            "dropped_ambiguous": assignment.counts["ambiguous_dropped"],
            "resolved_by_priority": assignment.counts["resolved_by_priority"],
            "selected": int(len(sel)),
            "no_median": len(failures["no_median"]),
            "unreadable": len(failures["unreadable"]),
            "loaded": int(ok.sum()),
        },
        "failures": {k: v[:20] for k, v in failures.items()},
        "seconds_per_record": elapsed / max(1, len(sel)),
        "split": "strat_fold 1-8 train, 9 val, 10 test",
    }
    ds = ECGDataset(signals=beats, labels=labels[ok], class_names=assignment.class_names, fs=float(cfg.fs),
                    split=fold_split(kept["strat_fold"].to_numpy()), meta=meta)
    if cache:
        store_cache("ptbxl", key, ds)
        ds.meta["cache"] = {"key": key, "hit": False}
    return ds
