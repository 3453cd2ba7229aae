"""Attributions computed once per (model, method, beats, target, settings) and shared.

Every experiment that needs the map of method *m* on beats *B* for model *M* asks the store; the
first asks computes it and writes ``<key>.npz`` atomically, the others (and any rerun, including
one after a crash) read it back. A corrupt entry is recomputed, never trusted.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ecgsignal.config import config_hash
from ecgsignal.errors import CacheError
from ecgsignal.io import file_lock, load_npz, save_npz
from ecgsignal.paths import cache_dir


def array_digest(*arrays: np.ndarray) -> str:
    """Short SHA-256 of arrays' shapes, dtypes and bytes."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str((a.shape, a.dtype.str)).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


class AttributionStore:
    """A folder of cached attribution arrays, ``(n, 12, T)`` float32 each.

    Parameters
    ----------
    root:
        Folder of the ``.npz`` entries (default ``cache_root()/attributions``).
    enabled:
        When false, every call computes and nothing is written.
    """

    def __init__(self, root: str | Path | None = None, enabled: bool = True) -> None:
        self.root = Path(root) if root is not None else None
        self.enabled = enabled
        self.hits = 0
        self.misses = 0

    def _dir(self) -> Path:
        if self.root is None:
            return cache_dir("attributions")
        self.root.mkdir(parents=True, exist_ok=True)
        return self.root

    def key(self, model_key: str, method: str, x: np.ndarray, target: np.ndarray, **settings) -> str:
        """Cache key of one attribution job."""
        return config_hash(
            {"model": model_key, "method": method, "beats": array_digest(x, target),
             "settings": settings}
        )

    def get(self, key: str, compute: Callable[[], np.ndarray], expected_shape: tuple[int, ...]) -> np.ndarray:
        """The cached array for ``key``, else ``compute()`` saved under it."""
        if not self.enabled:
            self.misses += 1
            return np.ascontiguousarray(compute(), dtype=np.float32)
        path = self._dir() / f"{key}.npz"
        arr = self._read(path, expected_shape, warn=False)
        if arr is None:
            # one process computes, others wait for the lock and read what it saved
            with file_lock(self._dir() / f".{key}.lock"):
                arr = self._read(path, expected_shape, warn=True)
                if arr is None:
                    self.misses += 1
                    arr = np.ascontiguousarray(compute(), dtype=np.float32)
                    save_npz(path, {"a": arr})
                    return arr
        self.hits += 1
        return arr

    @staticmethod
    def _read(path: Path, expected_shape: tuple[int, ...], warn: bool) -> np.ndarray | None:
        """The entry at ``path`` if it is present and sound, else ``None`` (with a warning
        about a broken one when ``warn``)."""
        if not path.exists():
            return None
        try:
            arr = load_npz(path)["a"]
        except (CacheError, KeyError) as exc:
            if warn:
                warnings.warn(f"corrupt attribution cache entry {path} ({exc}); recomputing",
                              stacklevel=3)
            return None
        if arr.shape == tuple(expected_shape) and arr.dtype == np.float32 and np.isfinite(arr).all():
            return arr
        if warn:
            warnings.warn(f"attribution cache entry {path} has the wrong shape/dtype or "
                          "non-finite values; recomputing", stacklevel=3)
        return None
