"""``ecgsignal data check``: read a user's file or folder the way the loaders will, and say what
is wrong before anything trains.

:func:`check_data` reports, for an array file of median beats (dataset ``arrays``) or a folder of
raw records (dataset ``records``):

- the number of beats/records, the stored shape, lead names and their order;
- the sampling rate (stated or stored), and the amplitude unit guessed from the QRS size
  (a median beat's largest peak-to-peak over leads is 0.5–5 mV);
- leads with NaN/inf samples, flat leads (electrode off) and saturated leads (clipping);
- label counts per class, empty or unknown labels, classes too small to split, and label ids
  that match no beat or record;
- every problem with its fix, the first one first.

Nothing is trained or cached; records are read but their median beats are not built.
"""

from __future__ import annotations

import os
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ecgsignal.data.leads import LEAD_NAMES, canonical_lead
from ecgsignal.errors import ECGSignalError

__all__ = ["CheckReport", "check_data", "guess_unit"]

_SIGNAL_SUFFIXES = (".npz", ".npy", ".h5", ".hdf5", ".hdf")
#: Typical largest peak-to-peak amplitude of a beat over 12 leads, in mV.
_QRS_MV = (0.3, 15.0)


@dataclass
class CheckReport:
    """What :func:`check_data` found. ``problems`` are ``{"problem", "fix"}`` dicts, worst first."""

    path: str
    dataset: str
    n: int = 0
    shape: list[int] | None = None
    leads: list[str] = field(default_factory=list)
    fs: float | None = None
    unit: str | None = None
    classes: dict[str, int] = field(default_factory=dict)
    problems: list[dict[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, problem: str, fix: str) -> None:
        self.problems.append({"problem": problem, "fix": fix})

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` form: ``{"n", "leads", "fs", "unit", "classes", "problems"}`` (+ context)."""
        d = asdict(self)
        return {k: d[k] for k in ("n", "leads", "fs", "unit", "classes", "problems", "dataset", "shape", "path")}

    def text(self) -> str:
        """A human-readable report; the first problem and its fix come first."""
        lines = []
        if self.problems:
            p = self.problems[0]
            lines += [f"FIRST PROBLEM: {p['problem']}", f"  fix: {p['fix']}", ""]
        lines += [
            f"{self.path} (dataset {self.dataset})",
            f"  {self.n} {'beats' if self.dataset == 'arrays' else 'records'}"
            + (f", stored shape {tuple(self.shape)}" if self.shape else ""),
            f"  leads ({len(self.leads)}): {', '.join(self.leads) if self.leads else 'unknown'}",
            f"  rate: {'unknown' if self.fs is None else f'{self.fs:g} Hz'}",
            f"  unit (guessed from amplitudes): {self.unit or 'unknown'}",
            "  classes: " + (", ".join(f"{c} {k}" for c, k in self.classes.items()) or "none read"),
        ]
        lines += [f"  note: {n}" for n in self.notes]
        if self.problems:
            lines.append(f"{len(self.problems)} problem(s):")
            lines += [f"  - {p['problem']}\n    fix: {p['fix']}" for p in self.problems]
        else:
            lines.append("no problems found: the loader will read this as it is")
        return "\n".join(lines)


def guess_unit(peak_to_peak_mv_if_mv: float) -> str | None:
    """``"mV"``, ``"uV"`` or ``"V"`` from a beat's typical largest peak-to-peak amplitude (taken
    as if stored in mV); None when it fits none (e.g. all zero)."""
    from ecgsignal.data.arrays import unit_scale

    a = float(peak_to_peak_mv_if_mv)
    for unit in ("mV", "uV", "V"):
        if _QRS_MV[0] <= a * unit_scale(unit) <= _QRS_MV[1]:
            return unit
    return None


def _unit_check(rep: CheckReport, p2p: float, declared: str) -> None:
    from ecgsignal.data.arrays import unit_scale

    guess = guess_unit(p2p)
    rep.unit = guess
    if guess is None:
        rep.add(f"the largest peak-to-peak amplitude is typically {p2p:.3g} (stored units), which fits "
                "neither mV, µV nor V for an ECG", "check that the file holds ECG voltages")
    elif unit_scale(guess) != unit_scale(declared):
        rep.add(f"amplitudes look like {guess} (typical QRS peak-to-peak {p2p:.3g}) but the unit is "
                f"taken as {declared}", f"set unit: {guess} (profile), --unit {guess} (command line)")


def _lead_checks(rep: CheckReport, x: np.ndarray, names: Sequence[str], what: str) -> None:
    """NaN/flat/saturated leads over ``x`` ``(n, L, T)`` (stored units, leads as stored)."""
    from ecgsignal.data.arrays import unit_scale
    from ecgsignal.data.records import lead_problems

    counts: Counter[str] = Counter()
    examples: dict[str, int] = {}
    scale = 1.0 if rep.unit is None else unit_scale(rep.unit)  # to mV, as lead_problems reads
    for i in range(x.shape[0]):
        for msg in lead_problems(x[i] * scale, names):
            kind = msg.split(" (")[0].split(" has ")[0] + (" NaN/inf" if " NaN" in msg else "")
            counts[kind] += 1
            examples.setdefault(kind, i)
    for kind, k in counts.items():
        fix = {"NaN": "fill or drop the affected beats/records before loading",
               "flat": "drop those beats/records, or check the electrode/lead mapping",
               "saturated": "drop those beats/records (clipped amplifier)"}
        which = "NaN" if "NaN" in kind else ("flat" if "flat" in kind else "saturated")
        rep.add(f"{kind} in {k} of {x.shape[0]} {what} (first: {what[:-1]} {examples[kind]})", fix[which])


def _label_checks(rep: CheckReport, labels: str | os.PathLike | None, ids: Sequence[str] | None, n: int,
                  label_column: str, multilabel_columns: Sequence[str] | None, class_names: Sequence[str] | None,
                  id_column: str | None, records_root: Path | None) -> None:
    if labels is None:
        rep.add("no labels CSV given", "pass --labels CSV (labels: in a profile), or put labels.csv beside the data")
        return
    path = Path(labels)
    if not path.is_file():
        rep.add(f"labels file not found: {path}", "give the path of the labels CSV")
        return
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except Exception as exc:
        rep.add(f"cannot read labels CSV {path}: {exc}", "save the labels as a comma-separated table with a header")
        return
    if records_root is not None:
        from ecgsignal.data.records import match_labels, read_labels

        try:
            table, id_col = read_labels(path, id_column)
            rows, unlabelled = match_labels(table, id_col, list(ids or []), path, records_root)
        except ECGSignalError as exc:
            rep.add(str(exc), f"make the id column hold the record file names without extension, e.g. "
                              f"{list(ids or [])[:2]}")
            return
        if unlabelled:
            rep.add(f"{len(unlabelled)} records have no label row (first {unlabelled[:3]}); they will be skipped",
                    "add them to the labels CSV, or ignore this if they are not meant to be used")
        table = table.iloc[[r for r in rows if r is not None]]
    elif len(table) != n:
        rep.add(f"{path}: {len(table)} label rows for {n} beats", "one row per beat, in the order of the array")
    if multilabel_columns is not None:
        absent = [c for c in multilabel_columns if c not in table.columns]
        if absent:
            rep.add(f"multilabel column(s) {absent} missing from {path.name}; columns are {list(table.columns)}",
                    "name existing 0/1 columns in multilabel_columns")
            return
        vals = table[list(multilabel_columns)]
        bad = ~vals.isin(["0", "1", "0.0", "1.0"])
        if bad.to_numpy().any():
            r, c = np.argwhere(bad.to_numpy())[0]
            rep.add(f"multilabel value {vals.iat[r, c]!r} in row {r}, column {vals.columns[c]!r} is not 0/1",
                    "multilabel columns hold only 0 and 1")
        rep.classes = {c: int((vals[c].isin(["1", "1.0"])).sum()) for c in multilabel_columns}
    else:
        if label_column not in table.columns:
            rep.add(f"no label column {label_column!r} in {path.name}; columns are {list(table.columns)}",
                    "set label_column: <name> (profile), --label-column (command line)")
            return
        col = table[label_column].astype(str).str.strip()
        empty = int((col == "").sum())
        if empty:
            rep.add(f"{empty} empty labels in column {label_column!r} (first at row {int(np.flatnonzero(col == '')[0])})",
                    "label every beat/record, or drop its row")
        col = col[col != ""]
        rep.classes = dict(sorted(Counter(col).items()))
        if class_names is not None:
            unknown = sorted(set(col) - {str(c) for c in class_names})
            if unknown:
                rep.add(f"label(s) {unknown[:5]} not in class_names {list(class_names)}",
                        "fix the spelling in the CSV, or add the classes")
    small = [c for c, k in rep.classes.items() if k < 3]
    if small:
        rep.add(f"class(es) {small} have fewer than 3 examples: no train/validation/test split holds each",
                "add examples, or merge or drop those classes")


def _lead_names(rep: CheckReport, names: Sequence[str] | None, where: str) -> list[str] | None:
    if names is None:
        rep.add(f"the lead order of {where} is unknown",
                f"state it: lead_order: [{', '.join(LEAD_NAMES)}] (profile), --lead-order "
                f"{','.join(LEAD_NAMES)} (command line), -p data_options 'lead_order=I,II,...' "
                "(a chapter), or store lead_names in a .npz")
        return None
    unknown = []
    for n in names:
        try:
            canonical_lead(n)
        except ValueError:
            unknown.append(n)
    if unknown:
        rep.add(f"unknown lead name(s) {unknown}", f"use the standard names: {', '.join(LEAD_NAMES)}")
        return None
    missing = [c for c in LEAD_NAMES if c not in {canonical_lead(n) for n in names}]
    derivable = {"III", "aVR", "aVL", "aVF"}
    if missing and not (set(missing) <= derivable and {"I", "II"} <= {canonical_lead(n) for n in names}):
        rep.add(f"missing lead(s) {missing}", "only III, aVR, aVL and aVF can be derived (from I and II)")
    elif missing:
        rep.notes.append(f"leads {missing} will be derived from I and II")
    return list(names)


def check_data(
    path: str | os.PathLike,
    labels: str | os.PathLike | None = None,
    *,
    dataset: str | None = None,
    lead_order: Sequence[str] | None = None,
    unit: str | None = None,
    layout: str | None = None,
    stored_fs: float | None = None,
    key: str | None = None,
    records_format: str | None = None,
    label_column: str | None = None,
    multilabel_columns: Sequence[str] | None = None,
    class_names: Sequence[str] | None = None,
    id_column: str | None = None,
    max_records: int | None = None,
) -> CheckReport:
    """Check a user's data as the ``arrays`` or ``records`` loader would read it (module docstring).

    Parameters
    ----------
    path:
        An array file (``.npy``/``.npz``/HDF5), a folder holding one with ``labels.csv``, or a
        folder of records.
    labels:
        Labels CSV (default: ``labels.csv`` in the folder, when there).
    dataset:
        ``"arrays"`` or ``"records"``; None decides from ``path``.
    max_records:
        Read at most this many records (all by default).

    Returns
    -------
    :class:`CheckReport`; it never raises for a problem with the data, it lists it.
    """
    from ecgsignal.data.arrays import read_signal_file, unit_scale

    p = Path(path).expanduser()
    declared_unit = unit or "mV"
    label_column = label_column or "label"
    if dataset is None:
        dataset = "arrays"
        if p.is_dir():
            signal_files = [q for q in p.iterdir() if q.suffix.lower() in _SIGNAL_SUFFIXES]
            one_array = len(signal_files) == 1 and (signal_files[0].suffix.lower() != ".npy"
                                                    or _is_3d(signal_files[0]))
            if any(p.rglob("*.hea")) or not one_array:
                dataset = "records"
    rep = CheckReport(path=str(p), dataset=dataset)
    if dataset not in ("arrays", "records"):
        rep.add(f"data check reads dataset 'arrays' or 'records', not {dataset!r}", "pass --dataset arrays or records")
        return rep
    if not p.exists():
        rep.add(f"{p} does not exist", "give the path of your signal file or records folder")
        return rep
    try:
        unit_scale(declared_unit)
    except ECGSignalError as exc:
        rep.add(str(exc), "use unit mV, uV or V")
        return rep
    if labels is None:
        cand = (p if p.is_dir() else p.parent) / "labels.csv"
        labels = cand if cand.is_file() else None

    if dataset == "records":
        _check_records(rep, p, labels, lead_order, declared_unit, layout, stored_fs, records_format,
                       label_column, multilabel_columns, class_names, id_column, max_records)
    else:
        if p.is_dir():
            files = sorted(q for q in p.iterdir() if q.suffix.lower() in _SIGNAL_SUFFIXES)
            if len(files) != 1:
                rep.add(f"{p}: expected exactly one signal file, found {[q.name for q in files]}",
                        "pass the signal file itself")
                return rep
            p = files[0]
            rep.path = str(p)
        try:
            arr, extras = read_signal_file(p, key or "signals")
        except ECGSignalError as exc:
            rep.add(str(exc), "save the beats with numpy.save (.npy) or numpy.savez (.npz) as a numeric "
                              "(n, leads, T) array")
            return rep
        rep.shape = list(arr.shape)
        if not np.issubdtype(arr.dtype, np.number) or arr.ndim != 3:
            rep.add(f"signals must be a numeric 3-D (n, leads, T) array, got {arr.dtype} of shape {arr.shape}",
                    "stack the beats into one (n, leads, T) array of numbers")
            return rep
        names = _lead_names(rep, list(lead_order) if lead_order is not None else extras.get("lead_names"),
                            p.name)
        x = np.swapaxes(arr, 1, 2) if layout == "NTC" else arr
        L = len(names) if names is not None else x.shape[1]
        if x.shape[1] != L:
            guess = " (the leads look like the last axis)" if x.shape[2] == L else ""
            rep.add(f"lead axis has {x.shape[1]} entries but {L} lead names are declared{guess}",
                    "set layout: NTC for (n, T, leads) arrays" if guess else "declare one name per stored lead")
        rep.n = int(x.shape[0])
        rep.leads = list(names or [])
        if stored_fs is not None and extras.get("fs") is not None and float(stored_fs) != float(extras["fs"]):
            rep.add(f"the file says {extras['fs']:g} Hz but stored_fs={stored_fs:g} was given",
                    "drop stored_fs, or fix the file's fs")
        rep.fs = float(stored_fs) if stored_fs is not None else extras.get("fs")
        if rep.fs is None:
            rep.add("the sampling rate is unknown", "state it: stored_fs: <Hz> (profile), --stored-fs (command line), "
                                                    "-p data_options 'stored_fs=<Hz>' (a chapter), or store fs in a .npz")
        finite = np.where(np.isfinite(x), x, np.nan)
        with warnings.catch_warnings():  # all-NaN leads are reported below, not here
            warnings.simplefilter("ignore", RuntimeWarning)
            p2p = np.nanmax(finite, axis=2) - np.nanmin(finite, axis=2)
            typical = float(np.nanmedian(np.nanmax(p2p, axis=1)))
        _unit_check(rep, typical, declared_unit)
        _lead_checks(rep, x if x.shape[1] == L else arr, names or [f"#{i}" for i in range(x.shape[1])], "beats")
        _label_checks(rep, labels, extras.get("ids"), rep.n, label_column, multilabel_columns, class_names,
                      id_column, None)
    return rep


def _is_3d(path: Path) -> bool:
    try:
        from ecgsignal.data.arrays import read_signal_file

        return read_signal_file(path)[0].ndim == 3
    except ECGSignalError:
        return True  # let the arrays check report why it cannot be read


def _check_records(rep: CheckReport, root: Path, labels, lead_order, unit, layout, stored_fs, fmt,
                   label_column, multilabel_columns, class_names, id_column, max_records) -> None:
    from ecgsignal.data.records import RecordsConfig, find_records, read_record, record_id

    try:
        cfg = RecordsConfig(stored_fs=stored_fs, lead_order=None if lead_order is None else tuple(lead_order),
                            unit=unit, layout=layout, format=fmt)
        fmt, files = find_records(root, fmt, exclude=[labels] if labels is not None else [])
    except ECGSignalError as exc:
        rep.add(str(exc), "point at the folder of records, and state records_format if several kinds are there")
        return
    rep.n = len(files)
    ids = [record_id(q, root) for q in files]
    if fmt != "wfdb" and stored_fs is None:
        rep.add(f"the sampling rate of the {fmt} records is unknown",
                "state it: stored_fs: <Hz> (profile), --stored-fs (command line)")
        cfg = RecordsConfig(stored_fs=500.0, lead_order=cfg.lead_order, unit=unit, layout=layout, format=fmt)
    if fmt == "npy" and lead_order is None:
        _lead_names(rep, None, "the .npy records")
        return
    rates: Counter[float] = Counter()
    lengths: Counter[float] = Counter()
    x_all, fs_all, rid_all, bad = [], [], [], []
    for q in files[: max_records or len(files)]:
        try:
            x, fs = read_record(q, fmt, cfg)
        except ECGSignalError as exc:
            bad.append(f"{record_id(q, root)}: {exc}")
            continue
        rates[fs] += 1
        lengths[round(x.shape[-1] / fs, 2)] += 1
        x_all.append(x)
        fs_all.append(fs)
        rid_all.append(record_id(q, root))
    if bad:
        rep.add(f"{len(bad)} of {len(files)} records cannot be read; first: {bad[0]}",
                "fix or remove those files (or on_error='skip' to leave them out)")
    if not x_all:
        return
    rep.leads = list(LEAD_NAMES)
    rep.notes.append(f"records are read as {fmt}; leads reordered to {', '.join(LEAD_NAMES)}; "
                     f"durations {dict(lengths.most_common(3))} s")
    rep.fs = float(rates.most_common(1)[0][0]) if fmt == "wfdb" or stored_fs is not None else None
    if len(rates) > 1:
        rep.notes.append(f"rates differ between records: {dict(rates)} Hz (each is resampled)")
    rep.shape = [len(files), 12, int(np.median([x.shape[-1] for x in x_all]))]
    p2p = [float(np.max(np.percentile(x, 99.5, axis=-1) - np.percentile(x, 0.5, axis=-1))) for x in x_all]
    # reading already scaled to mV by ``unit``: undo it to guess the stored unit
    from ecgsignal.data.arrays import unit_scale

    _unit_check(rep, float(np.median(p2p)) / unit_scale(unit), unit)
    short = sum(1 for x, fs in zip(x_all, fs_all) if x.shape[-1] / fs < 2.0)
    if short:
        rep.add(f"{short} records are shorter than 2 s", "records must hold several beats (10 s is usual)")
    from ecgsignal.data.records import lead_problems

    counts: Counter[str] = Counter()
    first: dict[str, str] = {}
    for rid, x in zip(rid_all, x_all):
        for msg in lead_problems(x):
            kind = msg.split(" (")[0].split(" has ")[0] + (" NaN/inf" if " NaN" in msg else "")
            counts[kind] += 1
            first.setdefault(kind, rid)
    for kind, k in counts.items():
        rep.add(f"{kind} in {k} of {len(x_all)} records (first: {first[kind]}); such records are skipped",
                "fix or remove those records; the rest load")
    _label_checks(rep, labels, ids, len(files), label_column, multilabel_columns, class_names, id_column, root)
