"""PTB-XL+ (PhysioNet, v1.0.1): ready-made 12SL and Uni-G median beats of PTB-XL's records.

Expected local layout (Strodthoff et al., Sci Data 10:279, 2023; nothing is downloaded)::

    <root>/median_beats/12sl/00000/00001_medians.{hea,dat}    GE Marquette 12SL, 5-digit ids
    <root>/median_beats/unig/00000/000001_medians.{hea,dat}   Glasgow Uni-G, 6-digit ids
    <root>/labels/ptbxl_statements.csv                        ecg_id, scp_codes ("[('NORM', 100.0), ...]")

Each median is ``12 × 600`` samples at 500 Hz (1.2 s). Known defects, all handled here:

- **Broken 12SL headers** — the record line reads ``ge_median_beats_wfdb/00001_medians 12 500
  600``; wfdb rejects the ``/`` (wfdb-python #528). :class:`~ecgsignal.data.wfdb_io.WfdbReader`
  strips the stale prefix in a private copy of the header; the data folder is not modified.
- **Uni-G amplitudes ~1000× off** — values are µV while the header says mV.
  ``amplitude_unit="auto"`` (default) divides by 1000 any beat whose largest peak-to-peak
  amplitude exceeds 30 "mV" (no human median beat reaches that; a µV beat always does), and
  counts how many it rescaled.
- **File names** — 5-digit stems for 12SL, 6-digit for Uni-G; both are found by scanning.
- **Missing medians** — 885 records lack a 12SL median and 5 a Uni-G one; they are skipped and
  counted (``meta["counts"]["no_median"]``).

Labels and folds come from PTB-XL's ``ptbxl_database.csv`` when found (``ptbxl_root``, else in
or below ``data_root``), so PTB-XL+ beats share PTB-XL's official split; without it the labels
come from ``labels/ptbxl_statements.csv`` and the split is a seeded stratified one (flagged in
``meta["split"]``). Each beat is realigned so that its R peak sits at 0.4 s, referenced to its
PR segment and resampled to ``fs``.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ecgsignal.config import config_hash, to_dict
from ecgsignal.data.dataset import ECGDataset, stratified_split
from ecgsignal.data.dataset_cache import file_identity, load_cached, store_cache
from ecgsignal.data.medians import realign_median
from ecgsignal.data.ptbxl import (
    DATABASE_FILE,
    STATEMENTS_FILE,
    PTBXLBaseConfig,
    cap_records,
    find_root,
    fold_split,
    label_records,
    read_database,
    read_scp_statements,
    read_table,
    resolve_config,
)
from ecgsignal.data.scp_mapping import SCP_TO_CLASS, classes_of, parse_scp_codes, superclass_map
from ecgsignal.data.wfdb_io import WfdbReader
from ecgsignal.errors import ConfigError, DataError

__all__ = ["PROVIDERS", "PTBXLPlusConfig", "find_medians", "load_ptbxlplus", "read_plus_statements", "to_millivolts"]

PROVIDERS = ("12sl", "unig")
PLUS_STATEMENTS = Path("labels") / "ptbxl_statements.csv"
_STEM = re.compile(r"^(\d+)_medians$")
#: A beat whose largest lead peak-to-peak exceeds this many "mV" is taken to be in µV.
UV_THRESHOLD = 30.0
#: Beats flatter than this (mV peak-to-peak on every lead) are unusable.
FLAT_MV = 0.05


@dataclass(frozen=True)
class PTBXLPlusConfig(PTBXLBaseConfig):
    """What to load from PTB-XL+ and how: the shared fields of
    :class:`~ecgsignal.data.ptbxl.PTBXLBaseConfig`, plus

    Attributes
    ----------
    provider:
        ``"12sl"`` (GE Marquette 12SL) or ``"unig"`` (Glasgow Uni-G) median beats.
    amplitude_unit:
        ``"auto"`` (detect µV beats, module docstring), ``"mV"`` or ``"uV"``: the real unit of
        the stored values.
    split_seed:
        Seed of the stratified split used only when no ``ptbxl_database.csv`` is found.
    """

    provider: str = "12sl"
    amplitude_unit: str = "auto"
    split_seed: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.provider not in PROVIDERS:
            raise ConfigError(f"provider must be one of {list(PROVIDERS)}, got {self.provider!r}")
        if self.amplitude_unit not in ("auto", "mV", "uV"):
            raise ConfigError(f"amplitude_unit must be 'auto', 'mV' or 'uV', got {self.amplitude_unit!r}")


def find_medians(root: str | os.PathLike, provider: str) -> dict[int, Path]:
    """``{ecg_id: record path without extension}`` of every median header of ``provider``.

    Accepts 5- and 6-digit stems (``00001_medians``, ``000001_medians``) in any sub-folder.
    """
    if provider not in PROVIDERS:
        raise ConfigError(f"provider must be one of {list(PROVIDERS)}, got {provider!r}")
    folder = Path(root) / "median_beats" / provider
    if not folder.is_dir():
        raise DataError(f"no median-beat folder {folder} (expected PTB-XL+ layout median_beats/{provider}/)")
    out: dict[int, Path] = {}
    for hea in sorted(folder.rglob("*_medians.hea")):
        m = _STEM.match(hea.stem)
        if m:
            out.setdefault(int(m.group(1)), hea.with_suffix(""))
    return out


def read_plus_statements(root: str | os.PathLike) -> pd.DataFrame:
    """PTB-XL+ ``labels/ptbxl_statements.csv`` → DataFrame indexed by ``ecg_id`` with parsed ``scp_codes``."""
    path = Path(root) / PLUS_STATEMENTS
    df = read_table(path, "PTB-XL+ statements file")
    for c in ("ecg_id", "scp_codes"):
        if c not in df.columns:
            raise DataError(f"{path}: missing column {c!r}; found {list(df.columns)}")
    ids = pd.to_numeric(df["ecg_id"], errors="coerce")
    if ids.isna().any():
        raise DataError(f"{path}: row {int(np.flatnonzero(ids.isna())[0])} has a non-numeric ecg_id")
    df = df.assign(ecg_id=ids.astype(np.int64))
    df["scp_codes"] = [parse_scp_codes(t, f"{path} (ecg_id {i})") for i, t in zip(df["ecg_id"], df["scp_codes"])]
    return df.set_index("ecg_id", drop=False).sort_index()


def to_millivolts(beat: np.ndarray, unit: str = "auto") -> tuple[np.ndarray, bool]:
    """Convert a stored median beat to mV; returns ``(beat_mV, rescaled)``.

    ``unit="auto"`` treats a beat whose largest lead peak-to-peak exceeds :data:`UV_THRESHOLD`
    as µV (Uni-G's ~1000× unit defect).
    """
    b = np.asarray(beat, dtype=np.float64)
    if unit == "uV" or (unit == "auto" and float(np.ptp(b, axis=-1).max()) > UV_THRESHOLD):
        return b / 1000.0, True
    if unit not in ("auto", "mV"):
        raise ConfigError(f"unit must be 'auto', 'mV' or 'uV', got {unit!r}")
    return b, False


def _ptbxl_labels(data_root: Path, ptbxl_root: str | os.PathLike | None) -> tuple[Path | None, pd.DataFrame | None, pd.DataFrame | None]:
    """PTB-XL database (and statements) for labels and folds, if reachable."""
    if ptbxl_root is not None:
        root = find_root(ptbxl_root)
    else:
        try:
            root = find_root(data_root)
        except DataError:
            return None, None, None
    stm = read_scp_statements(root) if (root / STATEMENTS_FILE).is_file() else None
    return root, read_database(root), stm


def load_ptbxlplus(
    data_root: str | os.PathLike,
    config: PTBXLPlusConfig | dict | None = None,
    *,
    ptbxl_root: str | os.PathLike | None = None,
    cache: bool = True,
    progress: bool = False,
    **overrides: Any,
) -> ECGDataset:
    """Load PTB-XL+ median beats (see the module docstring).

    Parameters
    ----------
    data_root:
        Local PTB-XL+ folder (holding ``median_beats/``), or a parent of it.
    config:
        A :class:`PTBXLPlusConfig` (or dict); ``**overrides`` replace its fields.
    ptbxl_root:
        Local PTB-XL folder for labels and the official folds (default: searched in ``data_root``).
    cache:
        Reuse / write the beats under ``cache_dir("ptbxl")``.

    Returns
    -------
    :class:`ECGDataset`: ``(n, 12, round(1.2 fs))`` float32 mV, R at 0.4 s.
    """
    from tqdm.auto import tqdm

    cfg = resolve_config(PTBXLPlusConfig, config, overrides)
    root = find_root(data_root, marker="median_beats")
    db_root, db, statements = _ptbxl_labels(root, ptbxl_root)
    if db is None:
        label_file = root / PLUS_STATEMENTS
        table = read_plus_statements(root)
    else:
        label_file = db_root / DATABASE_FILE
        table = db[db["strat_fold"].isin(cfg.folds)]
    medians = find_medians(root, cfg.provider)
    ident = {"labels": file_identity(label_file), "medians": str((root / "median_beats" / cfg.provider).resolve()),
             "n_medians": len(medians)}
    key = config_hash(cfg, ident)
    if cache:
        hit = load_cached("ptbxlplus", key)
        if hit is not None:
            return hit

    assignment, rule = label_records(list(table["scp_codes"]), cfg, statements)
    sel = table[assignment.keep]
    labels = assignment.labels
    has_median = np.array([int(i) in medians for i in sel["ecg_id"]], bool)
    no_median_ids = [int(i) for i in sel["ecg_id"][~has_median]]
    sel, labels = sel[has_median], labels[has_median]
    cap = cap_records(labels, cfg.max_records, cfg.max_per_class)
    sel, labels = sel.iloc[cap], labels[cap]
    if len(sel) == 0:
        raise DataError(f"{root}: no labelled record has a {cfg.provider} median beat")

    beats, ok, rescaled = [], np.zeros(len(sel), bool), 0
    failures: dict[str, list] = {"unreadable": [], "flat": []}
    t0 = time.perf_counter()
    with WfdbReader() as reader:
        for j, eid in enumerate(tqdm(sel["ecg_id"], desc=f"PTB-XL+ {cfg.provider}", disable=not progress)):
            try:
                rec = reader.read(medians[int(eid)])
            except DataError as exc:
                if cfg.on_error == "raise":
                    raise
                failures["unreadable"].append({"ecg_id": int(eid), "reason": str(exc)})
                continue
            b, was_uv = to_millivolts(rec.signal, cfg.amplitude_unit)
            if float(np.ptp(b, axis=-1).max()) < FLAT_MV:
                failures["flat"].append({"ecg_id": int(eid), "reason": "flat median beat"})
                continue
            beat, _ = realign_median(b, rec.fs, cfg.fs, cfg.median)
            beats.append(beat)
            ok[j] = True
            rescaled += int(was_uv)
    elapsed = time.perf_counter() - t0
    if not beats:
        raise DataError(f"{root}: no usable {cfg.provider} median beat among {len(sel)} records")
    kept = sel[ok]
    if db is not None:
        split = fold_split(kept["strat_fold"].to_numpy())
        split_note = f"strat_fold of {label_file} (1-8 train, 9 val, 10 test)"
    else:
        split = stratified_split(labels[ok], cfg.split_seed)
        split_note = (f"seeded stratified (seed {cfg.split_seed}): no {DATABASE_FILE} found; pass ptbxl_root= "
                      "to use PTB-XL's official folds")
    smap = superclass_map(statements) if statements is not None else None
    meta = {
        "source": "ptbxlplus",
        "provider": cfg.provider,
        "data_root": str(root.resolve()),
        "labels_from": str(label_file),
        "config": to_dict(cfg),
        "class_rule": rule,
        "scp_to_class": dict(SCP_TO_CLASS) if cfg.label_scheme == "nine" else smap,
        "record_ids": [int(i) for i in kept["ecg_id"]],
        "strat_fold": [int(f) for f in kept["strat_fold"]] if "strat_fold" in kept else None,
        "superclasses": None if smap is None else [sorted(classes_of(c, smap, cfg.min_likelihood)) for c in kept["scp_codes"]],
        "counts": {
            "records_labelled_source": int(len(table)),
            "dropped_no_class": assignment.counts["no_match"],
            "dropped_ambiguous": assignment.counts["ambiguous_dropped"],
            "resolved_by_priority": assignment.counts["resolved_by_priority"],
            "no_median": len(no_median_ids),
            "medians_found": len(medians),
            "unreadable": len(failures["unreadable"]),
            "flat": len(failures["flat"]),
            "rescaled_uV_to_mV": rescaled,
            "loaded": int(ok.sum()),
        },
        "no_median_ids": no_median_ids[:50],
        "failures": {k: v[:20] for k, v in failures.items()},
        "seconds_per_record": elapsed / max(1, len(sel)),
        "split": split_note,
    }
    ds = ECGDataset(signals=np.stack(beats), labels=labels[ok], class_names=assignment.class_names,
                    fs=float(cfg.fs), split=split, meta=meta)
    if cache:
        store_cache("ptbxlplus", key, ds)
        ds.meta["cache"] = {"key": key, "hit": False}
    return ds
