"""Atomic, pickle-free file writing and reading.

Every result, cache entry and checkpoint is written to a temporary file in the target folder,
flushed and fsynced, then renamed over the target: a crash or a full disk leaves either the old
file or the new one, never half of one. Nothing here loads pickles.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np

from ecgsignal.errors import CacheError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed to ``path``.

    On any exception the temporary file is removed and ``path`` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix + ".tmp")
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


@contextlib.contextmanager
def file_lock(path: str | os.PathLike) -> Iterator[None]:
    """Hold an exclusive lock on the file ``path`` for the block; wait while another process
    holds it. The lock file exists only while it is held.

    Processes that compute the same cache entry (two chapters running side by side that both
    need Experiment 3, or the same trained maps) take this lock around "check the cache, else
    compute and save", so the second one waits and then reads what the first one saved instead
    of computing it a second time. The lock is advisory (``fcntl.flock``, released when the
    process dies, so a killed run leaves at most an empty file that the next run reuses); where
    ``fcntl`` is missing (Windows) the block runs unlocked, as before. Nested locks are taken in
    one order (experiment table → attribution maps → model checkpoint), so they cannot deadlock.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    lock = Path(path)
    lock.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fh = open(lock, "a+b")  # noqa: SIM115  (closed below, after the unlock)
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # another process is computing it: wait (logged as waiting)
            from ecgsignal.timing import stage

            with stage("waiting", f"lock {lock.parent.name}/{lock.name}"):
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:  # the holder before us may have removed the file: then lock the new one
            same = os.stat(lock).st_ino == os.fstat(fh.fileno()).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        fh.close()
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            lock.unlink()
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        fh.close()


def atomic_write(path: str | os.PathLike, writer: Callable[[IO[bytes]], None]) -> Path:
    """Call ``writer(fh)`` on a binary temp file and atomically move it to ``path``."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        writer(fh)
    return Path(path)


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Atomically write ``data`` to ``path``."""
    return atomic_write(path, lambda fh: fh.write(data))


def write_files(files: Mapping[str | os.PathLike, bytes]) -> list[Path]:
    """Atomically write several files that belong together, in the given order.

    Every file is first written in full to a temporary file beside its target and fsynced; only
    when all of them are on disk are they renamed over their targets, in order. A failure while
    writing (a full disk) therefore leaves every target as it was; only a crash between two
    renames can leave a mix, so put last the file that marks the set as complete.
    """
    temps: list[tuple[Path, Path]] = []
    try:
        for target, data in files.items():
            target = Path(target)
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
            temps.append((Path(tmp), target))
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        for tmp, target in temps:
            os.replace(tmp, target)
    finally:
        for tmp, _ in temps:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
    return [target for _, target in temps]


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Atomically write ``obj`` as indented, key-sorted JSON (numpy scalars allowed)."""
    text = json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n"
    return write_bytes(path, text.encode())


def read_json(path: str | os.PathLike) -> Any:
    """Read JSON, turning a corrupt file into a :class:`CacheError` that names it."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise CacheError(f"corrupt JSON file {path}: {exc}") from exc


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def save_npz(path: str | os.PathLike, arrays: Mapping[str, np.ndarray], compress: bool = False) -> Path:
    """Atomically save arrays to an ``.npz`` file (no object arrays: nothing to unpickle)."""
    for k, v in arrays.items():
        if np.asarray(v).dtype == object:
            raise TypeError(f"array {k!r} has dtype object; refusing to pickle it")
    saver = np.savez_compressed if compress else np.savez
    return atomic_write(path, lambda fh: saver(fh, **{k: np.asarray(v) for k, v in arrays.items()}))


_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")


def array_file_kind(path: str | os.PathLike) -> str | None:
    """``"npy"`` or ``"npz"`` from the file's first bytes (not its name), or None for anything else.

    numpy falls back to unpickling a file that is neither, so a file that is not an array archive
    must be recognised *before* :func:`numpy.load` sees it.
    """
    with open(path, "rb") as fh:
        head = fh.read(6)
    if head.startswith(_NPY_MAGIC):
        return "npy"
    if head[:4] in _ZIP_MAGICS:
        return "npz"
    return None


def load_failure_reason(exc: BaseException) -> str:
    """Why loading an array or checkpoint failed, in words that never advise unpickling it.

    numpy and torch answer an object array with advice to load it "unsafely"; that advice is
    replaced, since such a file from outside is exactly what must not be unpickled.
    """
    text = f"{type(exc).__name__}: {exc}"
    if "pickl" in text.lower() or "object arrays" in text.lower() or "weights only" in text.lower():
        return ("it holds Python objects (dtype object), not plain numbers; refused as untrusted "
                "(store numeric arrays, and text as fixed-width strings)")
    return text


def load_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Load every array of an ``.npz`` with ``allow_pickle=False``; corrupt files raise CacheError."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    if array_file_kind(path) != "npz":
        raise CacheError(f"{path} is not a valid .npy/.npz file (not a zip archive of arrays)")
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except Exception as exc:  # ValueError, OSError, EOFError, zipfile.BadZipFile and friends
        raise CacheError(f"corrupt or truncated array file {path}: {load_failure_reason(exc)}") from exc


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()
