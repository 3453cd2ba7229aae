"""A user's own raw recordings: a folder of 10 s 12-lead records + a labels CSV → median beats.

Hospitals and most public sets keep 10 s records, not median beats. This loader reads them and
builds each record's median beat with the package's multi-lead extractor
(:func:`ecgsignal.data.medians.extract_median_beat`, the one the PTB-XL loader uses).

Formats (``format=``, else found from the files in the folder, searched recursively):

- ``wfdb`` — ``.hea`` + ``.dat`` pairs, read with ``wfdb``; rate, units and lead names come from
  each header (a stated ``fs`` or ``lead_order`` must agree with it).
- ``npy`` — one ``(leads, samples)`` (or ``(samples, leads)``) array per record, in ``unit``;
  needs the stated rate ``fs`` and ``lead_order``.
- ``csv`` — one table per record, one column per lead, one row per sample; lead names from its
  header row (else ``lead_order``); needs the stated rate ``fs``.

Labels: a CSV with one row per record: an id column (``id_column``; default the first of
``record``, ``record_id``, ``id``, ``ecg_id``, ``filename`` present, else the first column) whose
values are the records' file names without extension (or their paths relative to the folder),
then ``label_column`` (class names) or ``multilabel_columns`` (0/1, one per class), and an
optional ``split_column`` (else a seeded stratified split). Label ids without a record fail,
naming the first of them; records without a label row are left out, counted and listed.

Records whose median beat cannot be trusted — NaN samples, a flat or saturated lead, too few
beats that agree with the median (see :class:`~ecgsignal.data.medians.MedianExtractionError`) —
are skipped, counted in ``meta["counts"]``, listed with the reason in ``meta["skipped"]`` and
announced in a warning; never dropped silently. Extraction runs in ``n_jobs`` processes with a
progress bar; the beats are cached atomically under ``paths.cache_dir("records")``, keyed by the
config and the size and modification time of every file read.

Alignment: as for PTB-XL, the R peak of a median beat is the centre of the QRS's largest
*spatial magnitude* (:func:`~ecgsignal.data.medians.locate_r_peak`). For a narrow QRS that is the
R apex; for left bundle-branch block the largest magnitude lies late in the broad QRS, so LBBB
medians come out later than a record's own QRS reference point — 32–40 ms on an independently
written PTB-XL-shaped test tree, 3–8 ms on the package's synthetic LBBB (see
:mod:`ecgsignal.data.medians`). Compare fiducials across sources with that in mind.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ecgsignal.config import config_hash, to_dict
from ecgsignal.data.arrays import _encode_labels, _parse_split, reorder_leads, unit_scale
from ecgsignal.data.dataset import ECGDataset, stratified_split
from ecgsignal.data.dataset_cache import file_identity, load_cached, store_cache
from ecgsignal.data.leads import LEAD_NAMES, canonical_lead
from ecgsignal.data.medians import MedianConfig, MedianExtractionError, extract_median_beat
from ecgsignal.errors import ConfigError, DataError
from ecgsignal.io import (
    array_file_kind,
    load_failure_reason,
)

__all__ = ["RecordsConfig", "find_records", "lead_problems", "load_records", "read_record"]

FORMATS = ("wfdb", "npy", "csv")
_ID_COLUMNS = ("record", "record_id", "id", "ecg_id", "filename")
#: A lead is flat when its standard deviation is below this (mV): an electrode off, or zeros.
FLAT_MV = 0.002
#: A lead is saturated when this share of its samples sit at its extreme values (clipping).
SATURATED_SHARE = 0.02


@dataclass(frozen=True)
class RecordsConfig:
    """How the records are stored and how their median beats are built.

    Attributes
    ----------
    fs:
        Rate of the returned beats (the model's), Hz.
    stored_fs:
        Rate of ``npy``/``csv`` records, Hz (WFDB headers state their own).
    lead_order:
        Names of the stored leads in storage order (``npy``; ``csv`` without a header row).
    unit:
        Amplitude unit of ``npy``/``csv`` values: mV, uV or V.
    layout:
        ``"NCT"`` (each record ``(leads, samples)``) or ``"NTC"`` (``(samples, leads)``); None
        finds the lead axis from the number of lead names (a 10 s record has far more samples).
    format:
        ``"wfdb"``, ``"npy"`` or ``"csv"``; None finds it from the folder.
    min_seconds:
        Records shorter than this are skipped.
    on_error:
        ``"raise"`` on an unreadable record file, or ``"skip"`` it (listed like the others).
    median:
        Median-beat extraction settings.
    """

    fs: float = 250.0
    stored_fs: float | None = None
    lead_order: tuple[str, ...] | None = None
    unit: str = "mV"
    layout: str | None = None
    format: str | None = None
    min_seconds: float = 2.0
    on_error: str = "raise"
    median: MedianConfig = field(default_factory=MedianConfig)

    def __post_init__(self) -> None:
        if not np.isfinite(self.fs) or self.fs <= 0:
            raise ConfigError(f"fs must be a positive number of Hz, got {self.fs!r}")
        if self.stored_fs is not None and (not np.isfinite(self.stored_fs) or self.stored_fs <= 0):
            raise ConfigError(f"stored_fs must be a positive number of Hz, got {self.stored_fs!r}")
        if self.format is not None and self.format not in FORMATS:
            raise ConfigError(f"format must be one of {', '.join(FORMATS)}, got {self.format!r}")
        if self.layout is not None and self.layout not in ("NCT", "NTC"):
            raise ConfigError(f"layout must be 'NCT' (leads, samples) or 'NTC' (samples, leads), got {self.layout!r}")
        if self.on_error not in ("raise", "skip"):
            raise ConfigError(f"on_error must be 'raise' or 'skip', got {self.on_error!r}")
        unit_scale(self.unit)
        if self.lead_order is not None:
            for name in self.lead_order:
                try:
                    canonical_lead(name)
                except ValueError:
                    raise ConfigError(f"lead_order: unknown lead name {name!r}; valid: {', '.join(LEAD_NAMES)}") from None


# --------------------------------------------------------------------------- files
def find_records(folder: str | os.PathLike, fmt: str | None = None,
                 exclude: Sequence[str | os.PathLike] = ()) -> tuple[str, list[Path]]:
    """The record files under ``folder`` (recursively, sorted) and their format.

    Returns ``(format, paths)``; WFDB paths are the headers. ``exclude`` (e.g. the labels CSV)
    is never taken for a record. Mixed formats without ``fmt`` fail naming what was found.
    """
    root = Path(folder).expanduser()
    if not root.exists():
        raise DataError(f"records folder not found: {root}")
    if not root.is_dir():
        raise DataError(f"dataset 'records' reads a folder of records; {root} is a file "
                        "(for one array of median beats use dataset 'arrays')")
    skip = {Path(e).resolve() for e in exclude}
    found: dict[str, list[Path]] = {f: [] for f in FORMATS}
    suffix = {".hea": "wfdb", ".npy": "npy", ".csv": "csv"}
    for p in sorted(root.rglob("*")):
        kind = suffix.get(p.suffix.lower())
        if kind and p.is_file() and p.resolve() not in skip and not p.name.startswith("."):
            found[kind].append(p)
    if fmt is not None:
        if fmt not in FORMATS:
            raise ConfigError(f"records format must be one of {', '.join(FORMATS)}, got {fmt!r}")
        if not found[fmt]:
            raise DataError(f"{root}: no {fmt} records found (found: "
                            f"{ {k: len(v) for k, v in found.items()} })")
        return fmt, found[fmt]
    present = [k for k in FORMATS if found[k]]
    if not present:
        raise DataError(f"{root}: no records found (looked for .hea/.dat WFDB pairs, .npy and .csv files)")
    if present == ["wfdb", "csv"]:  # tables beside WFDB records (a database file) are not records
        present = ["wfdb"]
    if len(present) > 1:
        raise DataError(f"{root} holds records of several formats ({ {k: len(found[k]) for k in present} }); "
                        f"state which: records_format = one of {', '.join(present)}")
    return present[0], found[present[0]]


def record_id(path: Path, root: Path) -> str:
    """A record's id: its path relative to ``root`` without extension (``sub/00001_hr``)."""
    return path.relative_to(root).with_suffix("").as_posix()


def read_record(path: str | os.PathLike, fmt: str, cfg: RecordsConfig) -> tuple[np.ndarray, float]:
    """One record as ``(12, N)`` float64 mV in :data:`LEAD_NAMES` order, and its rate in Hz.

    Raises :class:`DataError` naming the file when it cannot be read or contradicts ``cfg``.
    """
    path = Path(path)
    if fmt == "wfdb":
        from ecgsignal.data.wfdb_io import WfdbReader, require_wfdb

        wfdb = require_wfdb()
        base = path.with_suffix("")
        if cfg.lead_order is not None:
            try:
                names = wfdb.rdheader(str(base)).sig_name
            except Exception as exc:
                raise DataError(f"malformed WFDB header {path}: {load_failure_reason(exc)}") from None
            if [canonical_lead(n) for n in names] != [canonical_lead(n) for n in cfg.lead_order]:
                raise DataError(f"{path}: the header names the leads {names}, but lead_order="
                                f"{list(cfg.lead_order)} was given; drop lead_order for WFDB records")
        with WfdbReader() as reader:
            rec = reader.read(base)
        if cfg.stored_fs is not None and float(cfg.stored_fs) != rec.fs:
            raise DataError(f"{path}: the header says {rec.fs:g} Hz but stored_fs={cfg.stored_fs:g} was given; "
                            "drop stored_fs for WFDB records")
        return rec.signal, rec.fs
    if cfg.stored_fs is None:
        raise ConfigError(f"{path}: the sampling rate of {fmt} records is unknown; state it "
                          "(stored_fs=<Hz> in the profile, --stored-fs on the command line)")
    names = list(cfg.lead_order) if cfg.lead_order is not None else None
    if fmt == "npy":
        if array_file_kind(path) != "npy":
            raise DataError(f"{path} is not a valid .npy/.npz file: it does not start with the .npy signature")
        try:
            x = np.load(path, allow_pickle=False)
        except Exception as exc:
            raise DataError(f"{path} is not a valid .npy/.npz file: {load_failure_reason(exc)}") from None
    elif fmt == "csv":
        try:
            table = pd.read_csv(path)
        except Exception as exc:
            raise DataError(f"cannot read record CSV {path}: {exc}") from None
        header = [str(c) for c in table.columns]
        try:
            from_header = [canonical_lead(c) for c in header]
        except ValueError:
            from_header = None
        if from_header is not None:
            if names is not None and [canonical_lead(n) for n in names] != from_header:
                raise DataError(f"{path}: the header names the leads {header}, but lead_order={names} was given")
            names = header
        else:
            try:
                float(header[0])
            except ValueError:
                raise DataError(f"{path}: header {header[:12]} is neither lead names nor numbers; "
                                f"name the columns with lead names ({', '.join(LEAD_NAMES)})") from None
            table = pd.read_csv(path, header=None)
        x = table.to_numpy().T  # one column per lead
    else:
        raise ConfigError(f"records format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if names is None:
        raise ConfigError(f"{path}: the lead order of {fmt} records is unknown; state it "
                          f"(lead_order: [{', '.join(LEAD_NAMES)}] in the profile, --lead-order on the command line)")
    if not np.issubdtype(np.asarray(x).dtype, np.number):
        raise DataError(f"{path}: record values must be numbers, got dtype {np.asarray(x).dtype}")
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise DataError(f"{path}: a record must be 2-D (leads, samples), got shape {x.shape}")
    L = len(names)
    if fmt == "npy":
        if cfg.layout == "NTC" or (cfg.layout is None and x.shape[0] != L and x.shape[1] == L):
            x = x.T
        if x.shape[0] != L:
            raise DataError(f"{path}: {L} lead names were given but the record has shape {x.shape}")
    elif x.shape[0] != L:
        raise DataError(f"{path}: {L} lead names for {x.shape[0]} columns")
    return reorder_leads(x * unit_scale(cfg.unit), names, source=str(path)), float(cfg.stored_fs)


def lead_problems(signal: np.ndarray, lead_names: Sequence[str] = LEAD_NAMES) -> list[str]:
    """What makes a ``(leads, N)`` record (mV) untrustworthy, one phrase per problem lead.

    NaN/inf samples; a flat lead (standard deviation under :data:`FLAT_MV`); a saturated lead
    (at least :data:`SATURATED_SHARE` of its samples at exactly its maximum or minimum: clipping;
    not judged on leads with under 50 distinct values, whose peaks repeat through quantisation).
    """
    x = np.asarray(signal, dtype=np.float64)
    out: list[str] = []
    for i, name in enumerate(lead_names):
        v = x[i]
        bad = ~np.isfinite(v)
        if bad.any():
            out.append(f"lead {name} has {int(bad.sum())} NaN/inf samples")
            continue
        if v.std() < FLAT_MV:
            out.append(f"lead {name} is flat (sd {1000 * v.std():.2g} µV; electrode off?)")
            continue
        if np.unique(v).size < 50:  # coarsely quantised low-amplitude lead: peaks repeat, no clipping
            continue
        for extreme, word in ((v.max(), "maximum"), (v.min(), "minimum")):
            share = float(np.mean(np.abs(v - extreme) < 1e-9))
            if share >= SATURATED_SHARE:
                out.append(f"lead {name} is saturated ({100 * share:.0f} % of samples at its {word}, "
                           f"{extreme:.3g} mV)")
                break
    return out


def _extract(job: tuple[str, str, RecordsConfig]) -> tuple[str, Any]:
    """Worker: read one record and extract its median. Returns ``(status, payload)``."""
    path, fmt, cfg = job
    try:
        x, fs = read_record(path, fmt, cfg)
    except ConfigError:
        raise
    except DataError as exc:
        if cfg.on_error == "raise":
            raise
        return "unreadable", str(exc)
    problems = lead_problems(x)
    if problems:
        return "untrusted", "; ".join(problems)
    if x.shape[-1] / fs < cfg.min_seconds:
        return "untrusted", f"only {x.shape[-1] / fs:.2f} s long (need {cfg.min_seconds:g} s)"
    try:
        mb = extract_median_beat(x, fs, fs_out=cfg.fs, config=cfg.median)
    except MedianExtractionError as exc:
        return "no_median", str(exc)
    return "ok", (mb.beat, mb.n_detected, mb.n_used, mb.mean_corr)


# --------------------------------------------------------------------------- labels
def read_labels(labels_path: str | os.PathLike, id_column: str | None) -> tuple[pd.DataFrame, str]:
    """The labels table and the name of its id column."""
    path = Path(labels_path)
    if not path.is_file():
        raise DataError(f"labels file not found: {path}")
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except Exception as exc:
        raise DataError(f"cannot read labels CSV {path}: {exc}") from None
    if table.empty:
        raise DataError(f"{path}: the labels CSV has no rows")
    if id_column is None:
        id_column = next((c for c in _ID_COLUMNS if c in table.columns), table.columns[0])
    elif id_column not in table.columns:
        raise DataError(f"{path}: no id column {id_column!r}; columns are {list(table.columns)}")
    ids = table[id_column].astype(str).str.strip()
    dup = sorted(set(ids[ids.duplicated()]))
    if dup:
        raise DataError(f"{path}: record id(s) {dup[:5]} appear more than once in column {id_column!r}")
    return table.assign(**{id_column: ids}), id_column


def match_labels(table: pd.DataFrame, id_column: str, ids: Sequence[str], labels_path: Path,
                 root: Path) -> tuple[list[int | None], list[str]]:
    """For each record id, its row in ``table`` (None when unlabelled); fails on label ids
    without a record, naming the first ones. Ids match the relative path or the file stem."""
    rows = {v: i for i, v in enumerate(table[id_column])}
    stems = {Path(i).name: i for i in ids}
    id_set = set(ids)
    by_label: dict[str, int] = {}
    unmatched = []
    for v, i in rows.items():
        key = v[:-4] if v.lower().endswith((".hea", ".dat", ".npy", ".csv")) else v
        if key in id_set:
            by_label[key] = i
        elif key in stems:
            by_label[stems[key]] = i
        else:
            unmatched.append(v)
    if unmatched:
        raise DataError(
            f"{labels_path}: {len(unmatched)} of {len(rows)} label ids match no record in {root}, "
            f"first {unmatched[:5]}; record ids there look like {list(ids)[:3]} (file names without "
            f"extension, or paths relative to the folder; id column {id_column!r})")
    order = [by_label.get(i) for i in ids]
    return order, [i for i, r in zip(ids, order) if r is None]


# --------------------------------------------------------------------------- cache
# --------------------------------------------------------------------------- loading
def load_records(
    data_root: str | os.PathLike,
    labels_path: str | os.PathLike | None = None,
    *,
    target_fs: float = 250.0,
    fs: float | None = None,
    lead_order: Sequence[str] | None = None,
    unit: str = "mV",
    layout: str | None = None,
    format: str | None = None,
    label_column: str = "label",
    multilabel_columns: Sequence[str] | None = None,
    class_names: Sequence[str] | None = None,
    id_column: str | None = None,
    split_column: str = "split",
    split_seed: int = 0,
    on_error: str = "raise",
    median: MedianConfig | None = None,
    n_jobs: int = 1,
    cache: bool = True,
    progress: bool = True,
) -> ECGDataset:
    """Median beats of a folder of raw records, with labels (see the module docstring).

    Parameters
    ----------
    data_root:
        Folder of records (searched recursively).
    labels_path:
        Labels CSV; default ``labels.csv`` in ``data_root``.
    target_fs:
        Rate of the returned beats (the model's), Hz.
    fs:
        Stored rate of ``npy``/``csv`` records, Hz.
    lead_order, unit, layout, format:
        How ``npy``/``csv`` records are stored (see :class:`RecordsConfig`).
    n_jobs:
        Worker processes (results do not depend on it).

    Returns
    -------
    :class:`ECGDataset` with beats ``(n, 12, round(1.2 target_fs))`` float32 mV, R at 0.4 s;
    ``meta`` holds ``record_ids``, ``counts`` and ``skipped`` (``[{"record", "reason"}]``).
    """
    if n_jobs < 1:
        raise ConfigError(f"n_jobs must be >= 1, got {n_jobs}")
    cfg = RecordsConfig(fs=float(target_fs), stored_fs=None if fs is None else float(fs),
                        lead_order=None if lead_order is None else tuple(lead_order), unit=unit,
                        layout=layout, format=format, on_error=on_error, median=median or MedianConfig())
    root = Path(data_root).expanduser()
    if labels_path is None:
        labels_path = root / "labels.csv"
        if not labels_path.is_file():
            raise DataError(f"no labels for the records in {root}: pass labels_path=<csv> "
                            "(labels: in a profile, --labels on the command line) or put labels.csv there")
    labels_path = Path(labels_path)
    fmt, files = find_records(root, cfg.format, exclude=[labels_path])
    if fmt == "npy" or fmt == "csv":
        if cfg.stored_fs is None:
            raise ConfigError(f"{root}: the sampling rate of the {fmt} records is unknown; state it "
                              "(stored_fs: <Hz> in a profile, --stored-fs on the command line, fs= here)")
    ids = [record_id(p, root) for p in files]
    table, id_col = read_labels(labels_path, id_column)
    rows, unlabelled = match_labels(table, id_col, ids, labels_path, root)
    keep = [i for i, r in enumerate(rows) if r is not None]
    files, ids = [files[i] for i in keep], [ids[i] for i in keep]
    table = table.iloc[[rows[i] for i in keep]].reset_index(drop=True)

    read = files if fmt != "wfdb" else [f for p in files for f in (p, *sorted(p.parent.glob(p.stem + ".dat")))]
    key = config_hash(to_dict(cfg), [file_identity(p) for p in [labels_path, *read]], label_column, multilabel_columns,
                      class_names, id_col, split_column, split_seed)
    if cache:
        hit = load_cached("records", key, folder="records")
        if hit is not None:
            return hit

    from ecgsignal.data.ptbxl import _run

    t0 = time.perf_counter()
    results = _run([(str(p), fmt, cfg) for p in files], _extract, n_jobs, progress, f"{fmt} records → medians")
    elapsed = time.perf_counter() - t0
    ok = np.array([s == "ok" for s, _ in results], bool)
    skipped = [{"record": i, "reason": f"{s}: {payload}"} for (s, payload), i in zip(results, ids) if s != "ok"]
    skipped += [{"record": i, "reason": "no row in the labels CSV"} for i in unlabelled]
    if not ok.any():
        first = skipped[0] if skipped else {"record": None, "reason": "no records"}
        raise DataError(f"{root}: no median beat could be built from {len(files)} records; first problem: "
                        f"{first['record']}: {first['reason']}")

    table = table[ok].reset_index(drop=True)
    where = f"{labels_path}"
    if multilabel_columns is not None:
        cols = list(multilabel_columns)
        absent = [c for c in cols if c not in table.columns]
        if absent:
            raise DataError(f"{where}: multilabel column(s) {absent} missing; columns are {list(table.columns)}")
        try:
            labels = table[cols].astype(float).to_numpy()
        except ValueError:
            raise DataError(f"{where}: multilabel columns must hold only 0 and 1") from None
        if not np.isin(labels, (0, 1)).all():
            raise DataError(f"{where}: multilabel columns must hold only 0 and 1")
        names_c = tuple(cols)
    else:
        if label_column not in table.columns:
            raise DataError(f"{where}: no label column {label_column!r}; columns are {list(table.columns)}")
        col = table[label_column].replace("", np.nan)
        labels, names_c = _encode_labels(col, class_names, f"{where} column {label_column!r}")
    if split_column in table.columns:
        split = _parse_split(table[split_column], labels_path, split_column)
        split_source = f"column {split_column!r} of {labels_path.name}"
    else:
        split = stratified_split(np.asarray(labels), split_seed)
        split_source = f"seeded stratified (seed {split_seed})"

    if skipped:
        listing = "; ".join(f"{s['record']}: {s['reason']}" for s in skipped[:3])
        warnings.warn(f"{len(skipped)} of {len(ids) + len(unlabelled)} records in {root} skipped "
                      f"(all listed in dataset.meta['skipped']): {listing}", stacklevel=2)
    kept = [i for i, k in zip(ids, ok) if k]
    meta = {
        "source": "records",
        "data_root": str(root.resolve()),
        "labels_path": str(labels_path),
        "format": fmt,
        "config": to_dict(cfg),
        "record_ids": kept,
        "n_beats_used": [int(p[2]) for (s, p) in results if s == "ok"],
        "mean_beat_corr": [round(float(p[3]), 4) for (s, p) in results if s == "ok"],
        "counts": {
            "records_found": len(ids) + len(unlabelled),
            "unlabelled": len(unlabelled),
            "unreadable": sum(s == "unreadable" for s, _ in results),
            "untrusted": sum(s == "untrusted" for s, _ in results),
            "no_median": sum(s == "no_median" for s, _ in results),
            "loaded": int(ok.sum()),
        },
        "skipped": skipped,
        "seconds_per_record": elapsed / max(1, len(files)),
        "n_jobs": n_jobs,
        "split": split_source,
    }
    beats = np.stack([p[0] for (s, p) in results if s == "ok"])
    ds = ECGDataset(signals=beats, labels=labels, class_names=names_c, fs=float(cfg.fs), split=split, meta=meta)
    if cache:
        store_cache("records", key, folder="records", ds=ds)
        ds.meta["cache"] = {"key": key, "hit": False}
    return ds
