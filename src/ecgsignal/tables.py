"""Reading tidy tables: one column check, one dtype normalisation, one row filter.

Every result table (:mod:`ecgsignal.evaluation.results`) and every summary built on one is read
the same way: :func:`require_columns` refuses a table that lacks a column with a
:class:`~ecgsignal.errors.DataError` naming what is missing and what is there;
:func:`normalize_dtypes` gives the factor columns one dtype (``class`` always ``str``, flags
``bool``, ``seed``/``stage`` integers), whether the table was just computed or read back from
CSV; :func:`select` filters rows by named factors after that normalisation, so ``class=3`` and
``class="3"``, or ``fully_randomized=True`` and ``"True"``, select the same rows.

This module sits below ``data/`` in the dependency order (it only needs pandas).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from ecgsignal.errors import DataError

__all__ = ["BOOL_COLUMNS", "INT_COLUMNS", "STR_COLUMNS", "normalize_dtypes", "require_columns",
           "select"]

STR_COLUMNS: tuple[str, ...] = ("experiment", "method", "class", "measure", "other")
"""Factor columns always held as ``str`` (pandas' ``str`` dtype, NA stays missing): a class
named ``3`` reads as ``"3"``."""
INT_COLUMNS: tuple[str, ...] = ("seed", "stage")
"""Integer factor columns (``Int64`` when some rows have no value, else ``int64``)."""
BOOL_COLUMNS: tuple[str, ...] = ("fully_randomized", "flag_above_zero", "flag_excess",
                                 "own_perturbation", "control", "above", "positive", "closer",
                                 "clearly_closer")
"""Flag columns always held as ``bool`` (``boolean`` when some rows have no value)."""

_TRUE, _FALSE = {"true", "1", "1.0"}, {"false", "0", "0.0"}


def require_columns(df: pd.DataFrame, columns: Iterable[str], what: str = "the table",
                    hint: str | None = None) -> None:
    """Raise :class:`DataError` when ``df`` lacks any of ``columns``.

    The message names the missing columns, the ones ``df`` has, and ``hint`` (e.g. "is it
    Experiment 3's results?").
    """
    missing = [c for c in dict.fromkeys(columns) if c not in df.columns]
    if missing:
        extra = f"; {hint}" if hint else ""
        raise DataError(f"{what} lacks columns {missing}; it has {list(df.columns)}{extra}")


def _as_str(v: Any) -> Any:
    if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
        return pd.NA
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    return str(v)


def _as_bool(v: Any, column: str) -> Any:
    if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
        return pd.NA
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    s = str(v).strip().lower()
    if s in _TRUE:
        return True
    if s in _FALSE:
        return False
    raise DataError(f"column {column!r} holds {v!r}, which is neither true nor false")


def _norm_column(col: pd.Series, name: str) -> pd.Series:
    if name in STR_COLUMNS:
        if pd.api.types.is_string_dtype(col) and col.dtype != object:
            return col  # pandas' own string dtype, as read_csv gives it
        return pd.Series([_as_str(v) for v in col], index=col.index, dtype="str", name=name)
    if name in BOOL_COLUMNS:
        if col.dtype == bool:
            return col
        vals = [_as_bool(v, name) for v in col]
        has_na = any(v is pd.NA for v in vals)
        return pd.Series(vals, index=col.index, name=name, dtype="boolean" if has_na else bool)
    if name in INT_COLUMNS:
        if pd.api.types.is_integer_dtype(col):
            return col
        num = pd.to_numeric(col, errors="coerce")
        bad = col.notna() & num.isna()
        if bad.any() or not np.all(np.mod(num.dropna().to_numpy(dtype=float), 1) == 0):
            raise DataError(f"column {name!r} should hold integers; it holds "
                            f"{list(dict.fromkeys(col[bad | (num % 1 != 0)].tolist()))[:5]}")
        return num.astype("Int64" if num.isna().any() else "int64")
    return col


def normalize_dtypes(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` whose factor columns have their one dtype.

    :data:`STR_COLUMNS` become ``str`` (integral numbers without ``.0``), :data:`BOOL_COLUMNS`
    ``bool`` (``"True"``/``"False"`` strings as CSV leaves them, or ``boolean`` with NA), and
    :data:`INT_COLUMNS` ``int64`` (``Int64`` with NA). Values are never changed; other
    columns are left as they are. A value that cannot be converted raises :class:`DataError`.
    """
    out = df.copy()
    for c in out.columns:
        if c in STR_COLUMNS or c in BOOL_COLUMNS or c in INT_COLUMNS:
            out[c] = _norm_column(out[c], c)
    return out


def _query_values(col: pd.Series, name: str, value: Any) -> list[Any]:
    values = list(value) if isinstance(value, (list, tuple, set, frozenset)) else [value]
    if col.dtype == bool or str(col.dtype) == "boolean":
        return [_as_bool(v, name) for v in values]
    if pd.api.types.is_numeric_dtype(col):
        out = []
        for v in values:
            try:
                out.append(float(v))
            except (TypeError, ValueError):
                raise DataError(f"column {name!r} holds numbers; cannot select {v!r}") from None
        return out
    return [_as_str(v) for v in values]


def select(df: pd.DataFrame, **factors: Any) -> pd.DataFrame:
    """The rows of ``df`` whose columns equal the given factors, e.g. ``select(df, class_="all")``.

    Parameters
    ----------
    df:
        A tidy table.
    **factors:
        ``column=value``: rows where the column equals ``value`` after normalising the column's
        dtype (:func:`normalize_dtypes`), so ``class=3`` and ``class="3"`` select alike. A
        list, tuple or set means "any of these" (``isin``). ``class`` is a Python keyword:
        pass it as ``class_="all"`` (a trailing ``_`` is dropped from every name) or
        ``**{"class": "all"}``.

    Returns
    -------
    pandas.DataFrame
        The matching rows (original index and row order), factor columns normalised.

    Raises
    ------
    DataError
        A factor names a column ``df`` lacks (the message lists the columns it has); a single
        value that occurs nowhere in its column (the message lists the values present); or a
        list none of whose values occurs. A combination of present values that matches no row
        returns an empty frame: check ``.empty`` where that can happen.
    """
    names = {(k[:-1] if k.endswith("_") and k[:-1] else k): v for k, v in factors.items()}
    require_columns(df, names, "the table")
    out = normalize_dtypes(df)
    mask = np.ones(len(out), dtype=bool)
    for name, value in names.items():
        col = out[name]
        wanted = _query_values(col, name, value)
        hit = col.isin(wanted).fillna(False).to_numpy(dtype=bool)
        if not hit.any():
            present = list(dict.fromkeys(col.dropna().tolist()))
            shown = value if isinstance(value, (list, tuple, set, frozenset)) else repr(value)
            raise DataError(f"no rows for {name}={shown}; the table's {name} values are "
                            f"{present[:20]}{' …' if len(present) > 20 else ''}")
        mask &= hit
    return out[mask]
