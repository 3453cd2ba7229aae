"""Tidy result tables, written atomically beside the config that produced them.

One row per (experiment, method, class, seed, stage/fraction, measure): the value and its 95 %
bootstrap CI. Extra factor columns (``other`` method, ``mask``, ``order``, ``replacement``…) are
allowed; the columns in :data:`COLUMNS` always exist, in that order, first.
"""

from __future__ import annotations

import hashlib
import io as _io
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from ecgsignal.errors import CacheError, DataError
from ecgsignal.io import read_json, write_files
from ecgsignal.tables import normalize_dtypes, require_columns, select

__all__ = ["COLUMNS", "CONFIG_FILE", "DIGEST_KEY", "RESULTS_FILE", "load_results", "make_table",
           "normalize_dtypes", "require_columns", "save_results", "select"]

COLUMNS: tuple[str, ...] = (
    "experiment", "method", "class", "seed", "stage", "fraction",
    "measure", "value", "ci_low", "ci_high",
)
RESULTS_FILE = "results.csv"
CONFIG_FILE = "config.json"
DIGEST_KEY = "results_sha256"
"""Key of ``config.json`` holding the SHA-256 of the ``results.csv`` bytes it describes."""


def make_table(records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """A tidy frame from records: :data:`COLUMNS` first (missing ones as NA), extras after."""
    df = pd.DataFrame(list(records))
    for c in COLUMNS:
        if c not in df.columns:
            df[c] = pd.NA
    extras = [c for c in df.columns if c not in COLUMNS]
    return df[list(COLUMNS) + extras].reset_index(drop=True)


def _canonical(config: Mapping[str, Any]) -> str:
    return json.dumps(config, sort_keys=True, default=str)


def save_results(df: pd.DataFrame, out_dir: str | Path, config: Mapping[str, Any]) -> Path:
    """Write ``out_dir/results.csv`` and ``out_dir/config.json`` atomically, the config last.

    Both files are first written in full (and fsynced) to temporary files beside them; only then
    is the table renamed into place, then the config (:func:`ecgsignal.io.write_files`). A
    failure while writing (a full disk) leaves the previous pair untouched. The config records
    the table's SHA-256 (key :data:`DIGEST_KEY`), so a table is only read back beside the config
    that describes it: a crash between the two renames, or a truncated or edited table, is
    detected by :func:`load_results`.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    buf = _io.StringIO()
    df.to_csv(buf, index=False, float_format="%.10g")
    data = buf.getvalue().encode()
    saved = {**json.loads(_canonical(config)), DIGEST_KEY: hashlib.sha256(data).hexdigest()}
    text = json.dumps(saved, indent=2, sort_keys=True) + "\n"
    write_files({out / RESULTS_FILE: data, out / CONFIG_FILE: text.encode()})
    return out / RESULTS_FILE


def load_results(out_dir: str | Path, config: Mapping[str, Any] | None = None) -> pd.DataFrame | None:
    """The saved table, or ``None`` when absent or produced by a different ``config``.

    The table comes back with its factor columns' dtypes restored
    (:func:`ecgsignal.tables.normalize_dtypes`: ``class`` as ``str``, flags such as
    ``fully_randomized`` as ``bool``, ``seed``/``stage`` as integers), the same dtypes as a
    freshly computed table returned by
    :func:`~ecgsignal.evaluation.experiments.run_experiment`; filter it with :func:`select`.

    A corrupt table or config, or a table whose bytes differ from the SHA-256 its config
    records, raises :class:`CacheError` naming the file.
    """
    out = Path(out_dir)
    res, cfg = out / RESULTS_FILE, out / CONFIG_FILE
    if not (res.exists() and cfg.exists()):
        return None
    saved = read_json(cfg)
    if not isinstance(saved, dict):
        raise CacheError(f"corrupt results config {cfg}: expected a JSON object")
    digest = saved.pop(DIGEST_KEY, None)
    if config is not None and _canonical(saved) != _canonical(json.loads(_canonical(config))):
        return None
    data = res.read_bytes()
    if digest is None:
        raise CacheError(f"results config {cfg} records no SHA-256 of {res.name} "
                         "(written by an older version?)")
    if digest != hashlib.sha256(data).hexdigest():
        raise CacheError(f"results table {res} does not match the SHA-256 recorded in {cfg.name} "
                         "(truncated, edited, or an interrupted save)")
    try:
        df = pd.read_csv(_io.BytesIO(data))
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise CacheError(f"corrupt results table {res}: {exc}") from exc
    try:
        require_columns(df, COLUMNS, f"results table {res}")
        return normalize_dtypes(df)
    except DataError as exc:
        raise CacheError(str(exc)) from exc
