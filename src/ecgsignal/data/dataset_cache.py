"""The cache of extracted datasets (PTB-XL, PTB-XL+, raw records): one ``.npz`` + ``.json`` per key.

Entries are written atomically (:func:`ecgsignal.io.save_npz`, :func:`ecgsignal.io.write_json`);
an entry that cannot be read, lacks an array or a field, or fails the dataset's checks is reported
with a warning naming the file and rebuilt, never trusted.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from ecgsignal.data.dataset import ECGDataset
from ecgsignal.errors import CacheError
from ecgsignal.io import load_npz, read_json, save_npz, write_json
from ecgsignal.paths import cache_dir


def cache_paths(prefix: str, key: str, folder: str = "ptbxl") -> tuple[Path, Path]:
    """``(npz, json)`` paths of entry ``key`` under ``cache_dir(folder)``."""
    d = cache_dir(folder)
    return d / f"{prefix}-{key}.npz", d / f"{prefix}-{key}.json"


def file_identity(path: Path) -> dict[str, Any]:
    """What keys a cache entry to a source file: its resolved path, size and mtime (ns)."""
    st = path.stat()
    return {"path": str(path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def load_cached(prefix: str, key: str, folder: str = "ptbxl") -> ECGDataset | None:
    """The cached dataset of ``key``, or None when absent or unreadable (then rebuilt)."""
    npz, js = cache_paths(prefix, key, folder)
    if not (npz.exists() and js.exists()):
        return None
    try:
        arrays = load_npz(npz)
        meta = read_json(js)
        meta["cache"] = {"key": key, "hit": True, "path": str(npz)}
        return ECGDataset(signals=arrays["signals"], labels=arrays["labels"],
                          class_names=tuple(meta["class_names"]), fs=float(meta["fs"]),
                          split=arrays["split"], meta=meta)
    except (CacheError, OSError, KeyError, TypeError, ValueError) as exc:  # DataError too
        warnings.warn(f"unusable cache entry {npz} ({type(exc).__name__}: {exc}); rebuilding",
                      stacklevel=3)
        return None


def store_cache(prefix: str, key: str, ds: ECGDataset, folder: str = "ptbxl") -> None:
    """Write ``ds`` as entry ``key`` (signals, labels, split + its meta, class names and rate)."""
    npz, js = cache_paths(prefix, key, folder)
    save_npz(npz, {"signals": ds.signals, "labels": ds.labels, "split": ds.split})
    write_json(js, {**ds.meta, "class_names": list(ds.class_names), "fs": ds.fs})
