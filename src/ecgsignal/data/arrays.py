"""A user's own median beats: ``(n, 12, T)`` arrays in .npy / .npz / HDF5 plus a labels CSV.

What the loader needs to know, and where it looks for it:

- **signals** — ``.npy`` (the array), ``.npz`` (key ``key``, default ``"signals"``) or HDF5
  (dataset ``key``, default ``"signals"``). Layout ``(n, leads, T)``; ``layout="NTC"`` reads
  ``(n, T, leads)``.
- **lead order** — ``lead_order=`` argument, else the file's own (``lead_names`` array in a
  .npz, ``lead_names`` attribute of the HDF5 dataset or file). Names match case-insensitively
  (``AVR`` = ``aVR``); leads are reordered to :data:`~ecgsignal.data.leads.LEAD_NAMES`; when
  only I and II of the limb leads are given (the 8-lead storage of many hospitals), III, aVR,
  aVL and aVF are derived (Einthoven, Goldberger).
- **sampling rate** — ``fs=`` argument, else ``fs`` in the file; resampled to ``target_fs``.
- **units** — ``unit="mV"`` (default), ``"uV"`` or ``"V"``; stored in mV.
- **labels** — a CSV with one row per beat, in array order (or matched through ``id_column``
  when the array file holds ``ids``): ``label_column`` holds class names (or integer indices
  into ``class_names``); or ``multilabel_columns`` name 0/1 columns, one per class. Without a
  CSV, ``labels`` (and ``class_names``) inside the array file are used.
- **split** — ``split_column`` (``train``/``val``/``test`` or 0/1/2) if the CSV has it, else a
  seeded stratified split (``split_seed``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ecgsignal.data.dataset import SPLITS, ECGDataset, stratified_split
from ecgsignal.data.leads import LEAD_NAMES, N_LEADS, canonical_lead, derive_limb_leads
from ecgsignal.data.resampling import resample
from ecgsignal.errors import ConfigError, DataError
from ecgsignal.io import array_file_kind, load_failure_reason

__all__ = ["load_arrays", "read_signal_file", "reorder_leads", "UNIT_SCALE"]

#: Multiply by this to get millivolts.
UNIT_SCALE: dict[str, float] = {"mv": 1.0, "uv": 1e-3, "µv": 1e-3, "μv": 1e-3, "v": 1e3}


def unit_scale(unit: str) -> float:
    """Factor converting ``unit`` (mV, uV/µV, V; any case) to millivolts."""
    key = str(unit).strip().lower()
    if key not in UNIT_SCALE:
        raise DataError(f"unknown amplitude unit {unit!r}; valid: mV, uV, V")
    return UNIT_SCALE[key]


def reorder_leads(signals: np.ndarray, lead_names: Sequence[str], derive: bool = True,
                  source: str = "signals") -> np.ndarray:
    """Reorder the lead axis (axis −2) of ``signals`` to :data:`LEAD_NAMES`.

    Parameters
    ----------
    signals:
        ``(..., L, T)`` array whose ``L`` leads are named by ``lead_names``.
    lead_names:
        The ``L`` names, matched case-insensitively (``AVR``, ``avr`` → ``aVR``).
    derive:
        Derive missing III, aVR, aVL, aVF from I and II (Einthoven/Goldberger).
    source:
        What to call the input in error messages (e.g. a file name).

    Returns
    -------
    ``(..., 12, T)`` array in :data:`LEAD_NAMES` order (a new array).
    """
    x = np.asarray(signals)
    names = [str(n) for n in lead_names]
    if x.ndim < 2 or x.shape[-2] != len(names):
        raise DataError(
            f"{source}: {len(names)} lead names given ({names}) but the lead axis has "
            f"{x.shape[-2] if x.ndim >= 2 else 'no'} entries (shape {x.shape})"
        )
    canon: list[str] = []
    unknown = []
    for n in names:
        try:
            canon.append(canonical_lead(n))
        except ValueError:
            unknown.append(n)
    if unknown:
        raise DataError(f"{source}: unknown lead name(s) {unknown}; valid: {', '.join(LEAD_NAMES)}")
    dup = sorted({c for c in canon if canon.count(c) > 1})
    if dup:
        raise DataError(f"{source}: lead(s) {dup} appear more than once in {names}")
    pos = {c: i for i, c in enumerate(canon)}
    missing = [c for c in LEAD_NAMES if c not in pos]
    derived: dict[str, np.ndarray] = {}
    if missing:
        limb = {"III", "aVR", "aVL", "aVF"}
        if derive and set(missing) <= limb and "I" in pos and "II" in pos:
            derived = derive_limb_leads(x[..., pos["I"], :], x[..., pos["II"], :])
        else:
            raise DataError(
                f"{source}: missing lead(s) {missing}"
                + ("; only III, aVR, aVL, aVF can be derived (from I and II)" if derive else "")
            )
    out = np.empty((*x.shape[:-2], N_LEADS, x.shape[-1]), dtype=np.result_type(x.dtype, np.float32))
    for i, c in enumerate(LEAD_NAMES):
        out[..., i, :] = x[..., pos[c], :] if c in pos else derived[c]
    return out


def _str_list(a) -> list[str]:
    a = np.asarray(a)
    return [x.decode() if isinstance(x, bytes) else str(x) for x in a.reshape(-1).tolist()]


def read_signal_file(path: str | os.PathLike, key: str = "signals") -> tuple[np.ndarray, dict]:
    """Read the signal array and any stored extras from a .npy, .npz or HDF5 file.

    Returns
    -------
    ``(array, extras)`` where ``extras`` may hold ``lead_names`` (list of str), ``fs``
    (float), ``labels``, ``class_names``, ``ids`` found in the file.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"signal file not found: {path}")
    if path.is_dir():
        raise DataError(f"{path} is a folder; give the signal file itself (.npy, .npz or .h5/.hdf5)")
    suffix = path.suffix.lower()
    extras: dict = {}
    kind = None
    if suffix in (".npy", ".npz"):
        kind = array_file_kind(path)
        if kind is None:
            raise DataError(f"{path} is not a valid .npy/.npz file: it starts with neither the .npy "
                            "signature nor a zip archive's (re-save it with numpy.save / numpy.savez)")
    try:
        if suffix == ".npy" and kind == "npy":
            arr = np.load(path, allow_pickle=False)
        elif suffix in (".npy", ".npz"):
            with np.load(path, allow_pickle=False) as z:
                if key not in z.files:
                    raise DataError(f"{path}: no array {key!r} in the .npz; it holds {z.files}")
                arr = z[key]
                for k in ("lead_names", "class_names", "ids"):
                    if k in z.files:
                        extras[k] = _str_list(z[k])
                if "labels" in z.files:
                    extras["labels"] = z["labels"]
                if "fs" in z.files:
                    extras["fs"] = float(np.asarray(z["fs"]).reshape(-1)[0])
        elif suffix in (".h5", ".hdf5", ".hdf"):
            try:
                import h5py
            except ImportError as exc:  # pragma: no cover - depends on the environment
                raise ImportError(
                    'reading HDF5 needs h5py: pip install "ecgsignal[ptbxl]"'
                ) from exc
            with h5py.File(path, "r") as f:
                if key not in f:
                    raise DataError(f"{path}: no dataset {key!r} in the HDF5 file; it holds {list(f.keys())}")
                ds = f[key]
                arr = ds[()]
                for src in (f.attrs, ds.attrs):
                    if "lead_names" in src:
                        extras["lead_names"] = _str_list(src["lead_names"])
                    if "fs" in src:
                        extras["fs"] = float(np.asarray(src["fs"]).reshape(-1)[0])
                    if "class_names" in src:
                        extras["class_names"] = _str_list(src["class_names"])
                for k in ("lead_names", "class_names", "ids"):
                    if k in f and k != key:
                        extras[k] = _str_list(f[k][()])
                if "labels" in f and key != "labels":
                    extras["labels"] = f["labels"][()]
        else:
            raise DataError(f"{path}: unsupported signal file type {suffix!r}; use .npy, .npz or .h5/.hdf5")
    except DataError:
        raise
    except ImportError:
        raise
    except Exception as exc:
        reason = load_failure_reason(exc)
        if "Python objects" in reason:
            raise DataError(f"{path}: {reason}") from None
        if suffix in (".npy", ".npz"):
            raise DataError(f"{path} is not a valid .npy/.npz file: {reason}") from None
        raise DataError(f"cannot read signal file {path}: {reason}") from None
    if np.asarray(arr).dtype == object:  # h5py variable-length data
        raise DataError(f"{path}: array {key!r} holds Python objects (dtype object); refused as untrusted")
    return np.asarray(arr), extras


def _parse_split(values: pd.Series, path: Path, column: str) -> np.ndarray:
    out = np.empty(len(values), np.int8)
    for i, v in enumerate(values.tolist()):
        s = str(v).strip().lower()
        if s in SPLITS:
            out[i] = SPLITS.index(s)
        elif s in ("0", "1", "2"):
            out[i] = int(s)
        elif s in ("validation", "valid"):
            out[i] = 1
        else:
            raise DataError(f"{path}: row {i} of column {column!r} is {v!r}; use train/val/test or 0/1/2")
    return out


def load_arrays(
    signals_path: str | os.PathLike,
    labels_path: str | os.PathLike | None = None,
    *,
    lead_order: Sequence[str] | None = None,
    fs: float | None = None,
    target_fs: float = 250.0,
    key: str = "signals",
    layout: str = "NCT",
    unit: str = "mV",
    label_column: str = "label",
    multilabel_columns: Sequence[str] | None = None,
    class_names: Sequence[str] | None = None,
    id_column: str | None = None,
    split_column: str = "split",
    split_seed: int = 0,
) -> ECGDataset:
    """Load a user's median beats and labels into an :class:`ECGDataset` (see module docstring).

    Parameters
    ----------
    signals_path:
        ``.npy``, ``.npz`` or ``.h5``/``.hdf5`` file holding ``(n, L, T)`` beats.
    labels_path:
        CSV with one row per beat; optional when the signal file holds ``labels``.
    lead_order:
        Names of the ``L`` stored leads in storage order (else read from the file).
    fs:
        Stored sampling rate in Hz (else read from the file).
    target_fs:
        Rate of the returned beats (the model's), Hz.
    layout:
        ``"NCT"`` for ``(n, leads, T)`` or ``"NTC"`` for ``(n, T, leads)``.
    unit:
        Amplitude unit of the stored values (mV, uV, V).

    Returns
    -------
    :class:`ECGDataset` with signals ``(n, 12, T')`` float32 mV at ``target_fs``.
    """
    signals_path = Path(signals_path)
    arr, extras = read_signal_file(signals_path, key)
    if layout not in ("NCT", "NTC"):
        raise ConfigError(f"layout must be 'NCT' (n, leads, T) or 'NTC' (n, T, leads), got {layout!r}")
    if not np.issubdtype(arr.dtype, np.number):
        raise DataError(f"{signals_path}: signals must be numeric, got dtype {arr.dtype}")
    if arr.ndim != 3:
        raise DataError(f"{signals_path}: signals must be 3-D (n, leads, T), got shape {arr.shape}")
    names = list(lead_order) if lead_order is not None else extras.get("lead_names")
    if names is None:
        raise ConfigError(
            f"{signals_path}: the lead order is unknown; state it: lead_order=[...] here, "
            f"'lead_order: [{', '.join(LEAD_NAMES)}]' in a profile, --lead-order on the command "
            "line, -p data_options 'lead_order=I,II,...' with papermill; or store 'lead_names' in "
            "a .npz (numpy.savez(path, signals=x, lead_names=np.array(names), fs=np.array(500.0)))"
        )
    if layout == "NTC":
        arr = np.swapaxes(arr, 1, 2)
    if arr.shape[1] != len(names):
        hint = ""
        if layout == "NCT" and arr.shape[2] == len(names):
            hint = "; the leads look like the last axis: pass layout='NTC'"
        raise DataError(
            f"{signals_path}: lead axis has {arr.shape[1]} entries but {len(names)} lead names "
            f"were declared (shape {arr.shape}){hint}"
        )
    finite = np.isfinite(arr)
    if not finite.all():
        b, lead, t = np.argwhere(~finite)[0]
        raise DataError(
            f"{signals_path}: {int((~finite).sum())} NaN/inf values (first at beat {b}, "
            f"lead {names[lead]}, sample {t})"
        )
    rate = fs if fs is not None else extras.get("fs")
    if fs is not None and extras.get("fs") is not None and float(fs) != float(extras["fs"]):
        raise DataError(
            f"{signals_path}: the file says its beats are sampled at {extras['fs']:g} Hz but "
            f"fs={fs!r} was passed; drop fs= or fix the file (the beats are then resampled to "
            f"target_fs={target_fs:g} Hz, the model's rate)"
        )
    if rate is None:
        raise ConfigError(f"{signals_path}: the sampling rate is unknown; state it: fs=<Hz> here, "
                          "'stored_fs: <Hz>' in a profile, --stored-fs on the command line, "
                          "-p data_options 'stored_fs=<Hz>' with papermill; or store 'fs' in the file")
    sig = reorder_leads(arr.astype(np.float64) * unit_scale(unit), names, source=str(signals_path))
    if float(rate) != float(target_fs):
        sig = resample(sig, float(rate), float(target_fs), axis=-1)
    n = sig.shape[0]

    # ---- labels
    split = None
    split_source = f"seeded stratified (seed {split_seed})"
    ids = extras.get("ids")
    if labels_path is not None:
        labels_path = Path(labels_path)
        if not labels_path.exists():
            raise DataError(f"labels file not found: {labels_path}")
        try:
            table = pd.read_csv(labels_path)
        except Exception as exc:
            raise DataError(f"cannot read labels CSV {labels_path}: {exc}") from exc
        if id_column is not None:
            if id_column not in table.columns:
                raise DataError(f"{labels_path}: no id column {id_column!r}; columns are {list(table.columns)}")
            if ids is not None:
                lookup = {str(v): i for i, v in enumerate(table[id_column].astype(str))}
                missing = [i for i in ids if i not in lookup]
                if missing:
                    raise DataError(f"{labels_path}: {len(missing)} array ids have no label row, e.g. {missing[:3]}")
                table = table.iloc[[lookup[i] for i in ids]].reset_index(drop=True)
            else:
                ids = table[id_column].astype(str).tolist()
        if len(table) != n:
            raise DataError(f"{labels_path}: {len(table)} label rows for {n} beats in {signals_path}")
        if multilabel_columns is not None:
            cols = list(multilabel_columns)
            absent = [c for c in cols if c not in table.columns]
            if absent:
                raise DataError(f"{labels_path}: multilabel column(s) {absent} missing; columns are {list(table.columns)}")
            labels = table[cols].to_numpy()
            if not np.isin(labels, (0, 1)).all():
                raise DataError(f"{labels_path}: multilabel columns must hold only 0 and 1")
            names_c = tuple(cols)
        else:
            if label_column not in table.columns:
                raise DataError(f"{labels_path}: no label column {label_column!r}; columns are {list(table.columns)}")
            labels, names_c = _encode_labels(table[label_column], class_names, f"{labels_path} column {label_column!r}")
        if split_column in table.columns:
            split = _parse_split(table[split_column], labels_path, split_column)
            split_source = f"column {split_column!r} of {labels_path.name}"
    elif "labels" in extras:
        raw = np.asarray(extras["labels"])
        if raw.shape[0] != n:
            raise DataError(f"{signals_path}: {raw.shape[0]} stored labels for {n} beats")
        if raw.ndim == 2:
            names_c = tuple(class_names or extras.get("class_names") or [f"class_{i}" for i in range(raw.shape[1])])
            labels = raw
        else:
            cn = class_names or extras.get("class_names")
            labels, names_c = _encode_labels(pd.Series(_str_list(raw) if raw.dtype.kind in "SU" else raw), cn,
                                             f"{signals_path} labels")
    else:
        raise DataError(f"no labels: pass labels_path=<csv> or store 'labels' in {signals_path}")

    if split is None:
        split = stratified_split(np.asarray(labels), split_seed)
    meta = {
        "source": "arrays",
        "signals_path": str(signals_path),
        "labels_path": None if labels_path is None else str(labels_path),
        "stored_lead_order": [str(x) for x in names],
        "stored_fs": float(rate),
        "stored_unit": unit,
        "split": split_source,
    }
    if ids is not None:
        meta["record_ids"] = [str(i) for i in ids]
    return ECGDataset(
        signals=sig.astype(np.float32),
        labels=labels,
        class_names=names_c,
        fs=float(target_fs),
        split=split,
        meta=meta,
    )


def _encode_labels(values: pd.Series, class_names: Sequence[str] | None, where: str) -> tuple[np.ndarray, tuple[str, ...]]:
    """Class-name or integer labels → ``(int64 indices, class_names)``."""
    if values.isna().any():
        raise DataError(f"{where}: {int(values.isna().sum())} empty labels (first at row {int(np.flatnonzero(values.isna())[0])})")
    if pd.api.types.is_integer_dtype(values) or pd.api.types.is_float_dtype(values):
        idx = values.to_numpy()
        if not np.all(np.equal(np.mod(idx, 1), 0)):
            raise DataError(f"{where}: numeric labels must be integer class indices")
        idx = idx.astype(np.int64)
        names = tuple(class_names) if class_names is not None else tuple(str(i) for i in range(int(idx.max()) + 1))
        if idx.min() < 0 or idx.max() >= len(names):
            raise DataError(f"{where}: label indices must lie in 0..{len(names) - 1}")
        return idx, names
    text = values.astype(str).str.strip()
    if class_names is None:
        names = tuple(sorted(set(text)))
    else:
        names = tuple(str(c) for c in class_names)
        unknown = sorted(set(text) - set(names))
        if unknown:
            raise DataError(f"{where}: label(s) {unknown[:5]} not in class_names {list(names)}")
    lookup = {c: i for i, c in enumerate(names)}
    return np.array([lookup[t] for t in text], np.int64), names
