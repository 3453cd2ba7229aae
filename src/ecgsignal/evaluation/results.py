"""Tidy result tables, written atomically beside the config that produced them.

One row per (experiment, method, class, seed, stage/fraction, measure): the value and its 95 %
bootstrap CI. Extra factor columns (``other`` method, ``mask``, ``order``, ``replacement``…) are
allowed; the columns in :data:`COLUMNS` always exist, in that order, first.
"""

from __future__ import annotations

import io as _io
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from ecgsignal.errors import CacheError
from ecgsignal.io import read_json, write_bytes, write_json

COLUMNS: tuple[str, ...] = (
    "experiment", "method", "class", "seed", "stage", "fraction",
    "measure", "value", "ci_low", "ci_high",
)
RESULTS_FILE = "results.csv"
CONFIG_FILE = "config.json"


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
    """Write ``out_dir/results.csv`` then ``out_dir/config.json``, each atomically.

    The config is written last: a table without a matching config is never taken as done.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    buf = _io.StringIO()
    df.to_csv(buf, index=False, float_format="%.10g")
    write_bytes(out / RESULTS_FILE, buf.getvalue().encode())
    write_json(out / CONFIG_FILE, json.loads(_canonical(config)))
    return out / RESULTS_FILE


def load_results(out_dir: str | Path, config: Mapping[str, Any] | None = None) -> pd.DataFrame | None:
    """The saved table, or ``None`` when absent or produced by a different ``config``.

    A corrupt table or config raises :class:`CacheError` naming the file.
    """
    out = Path(out_dir)
    res, cfg = out / RESULTS_FILE, out / CONFIG_FILE
    if not (res.exists() and cfg.exists()):
        return None
    saved = read_json(cfg)
    if config is not None and _canonical(saved) != _canonical(json.loads(_canonical(config))):
        return None
    try:
        df = pd.read_csv(res)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise CacheError(f"corrupt results table {res}: {exc}") from exc
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise CacheError(f"results table {res} lacks columns {missing}")
    return df
