"""Reading WFDB records (PTB-XL, PTB-XL+) into ``(12, N)`` mV arrays in our lead order.

``wfdb`` is imported lazily (``pip install "ecgsignal[ptbxl]"``). Headers whose record or
signal-file names carry a directory prefix — every PTB-XL+ 12SL median-beat header reads
``ge_median_beats_wfdb/00001_medians 12 500 600``, which ``wfdb.rdrecord`` rejects with
``HeaderSyntaxError: invalid syntax in record line`` (wfdb-python issue #528) — are repaired
in memory: the fixed header is written to a private temporary folder beside a link to the
untouched ``.dat``, so the user's data folder is never modified.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import numpy as np

from ecgsignal.data.arrays import reorder_leads, unit_scale
from ecgsignal.errors import DataError

__all__ = ["WfdbRecord", "WfdbReader", "fix_header_text", "require_wfdb"]


def require_wfdb():
    """Import and return :mod:`wfdb`, or fail with the install command."""
    try:
        import wfdb
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            'reading PTB-XL / PTB-XL+ needs the wfdb package: pip install "ecgsignal[ptbxl]"'
        ) from exc
    return wfdb


def fix_header_text(text: str) -> tuple[str, bool]:
    """Strip directory prefixes from the record name and signal-file names of a WFDB header.

    Returns ``(fixed_text, changed)``. Comment lines and the rest of each line are kept.
    """
    out = []
    changed = False
    for line in text.splitlines():
        stripped = line.lstrip()
        if stripped and not stripped.startswith("#"):
            first, sep, rest = stripped.partition(" ")
            if "/" in first:
                first = first.rsplit("/", 1)[1]
                changed = True
                line = first + sep + rest
        out.append(line)
    return "\n".join(out) + ("\n" if text.endswith("\n") else ""), changed


def _signal_files(text: str) -> list[str]:
    """File names of the signal lines of a (fixed) single-segment header, in order, unique."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    if not lines:
        return []
    fields = lines[0].split()
    try:
        n_sig = int(fields[1]) if len(fields) > 1 else 0
    except ValueError:
        return []
    files: list[str] = []
    for ln in lines[1 : 1 + n_sig]:
        f = ln.split()[0]
        if f not in files and f != "~":
            files.append(f)
    return files


@dataclass(frozen=True)
class WfdbRecord:
    """A record read from disk.

    Attributes
    ----------
    signal:
        ``(12, N)`` float64 in mV, leads in :data:`~ecgsignal.data.leads.LEAD_NAMES` order.
    fs:
        Sampling rate in Hz.
    header_fixed:
        True when the header needed the stale-prefix repair.
    path:
        The header file read.
    """

    signal: np.ndarray
    fs: float
    header_fixed: bool
    path: Path


class WfdbReader:
    """Reads WFDB records, repairing broken headers in a private temporary folder.

    Use as a context manager (the folder is removed on exit), or call :meth:`close`.
    """

    def __init__(self) -> None:
        self._tmp: Path | None = None
        self._count = 0

    def __enter__(self) -> WfdbReader:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def _scratch(self) -> Path:
        if self._tmp is None:
            self._tmp = Path(tempfile.mkdtemp(prefix="ecgsignal-wfdb-"))
        self._count += 1
        d = self._tmp / str(self._count)
        d.mkdir()
        return d

    def read(self, record: str | os.PathLike) -> WfdbRecord:
        """Read ``record`` (path without extension) as ``(12, N)`` mV in our lead order.

        Raises :class:`DataError` naming the file when the header or a signal file is missing,
        unreadable, has unknown units or lead names, or holds NaN samples.
        """
        wfdb = require_wfdb()
        base = Path(record)
        hea = base.parent / (base.name + ".hea")
        if not hea.is_file():
            raise DataError(f"missing WFDB header file {hea}")
        try:
            text = hea.read_text(encoding="ascii", errors="ignore")
        except OSError as exc:
            raise DataError(f"cannot read WFDB header file {hea}: {exc}") from exc
        fixed, changed = fix_header_text(text)
        files = _signal_files(fixed)
        if not files:
            raise DataError(f"malformed WFDB header {hea}: no record line with signals")
        for f in files:
            dat = base.parent / f
            if not dat.is_file():
                raise DataError(f"missing WFDB signal file {dat} (named in {hea})")
            if dat.stat().st_size == 0:
                raise DataError(f"empty WFDB signal file {dat} (named in {hea})")
        read_as = base
        if changed:
            scratch = self._scratch()
            (scratch / hea.name).write_text(fixed, encoding="ascii")
            for f in files:
                src = (base.parent / f).resolve()
                dst = scratch / f
                try:
                    os.symlink(src, dst)
                except OSError:  # pragma: no cover - platforms without symlinks
                    shutil.copyfile(src, dst)
            read_as = scratch / base.name
        try:
            with warnings.catch_warnings():
                # wfdb's own use of pandas APIs deprecated in pandas 3 (not our concern here)
                warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"wfdb\.")
                warnings.filterwarnings("ignore", category=FutureWarning, module=r"wfdb\.")
                rec = wfdb.rdrecord(str(read_as))
        except Exception as exc:
            raise DataError(f"malformed WFDB record {hea}: {type(exc).__name__}: {exc}") from exc
        if rec.p_signal is None:
            raise DataError(f"WFDB record {hea} holds no signal")
        units = rec.units or ["mV"] * rec.n_sig
        try:
            scale = np.array([unit_scale(u) for u in units])
        except DataError as exc:
            raise DataError(f"{hea}: {exc}") from None
        sig = (np.asarray(rec.p_signal, dtype=np.float64) * scale[None, :]).T
        if not np.isfinite(sig).all():
            raise DataError(f"WFDB record {hea} holds {int((~np.isfinite(sig)).sum())} invalid (NaN) samples")
        sig = reorder_leads(sig, rec.sig_name, source=str(hea))
        return WfdbRecord(signal=sig, fs=float(rec.fs), header_fixed=changed, path=hea)
