"""The generated synthetic dataset, kept on disk so that each chapter kernel reads it in ~0.1 s.

Generating the book's 5,400 beats takes ~3 s, and every chapter kernel (and the CLI) asks for
them; :func:`cached_synthetic` generates them once and saves the arrays (uncompressed ``.npz``,
no pickles) and the provenance (JSON) under ``cache_root()/data``. The key is the configuration
and a SHA-256 of the data package's source files, so an edited generator never serves stale
beats. Entries are written atomically under a lock (:func:`~ecgsignal.io.file_lock`): two
kernels starting together generate once. A broken entry is regenerated with a warning naming it.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np

from ecgsignal.config import config_hash, to_dict
from ecgsignal.data.dataset import ECGDataset
from ecgsignal.errors import CacheError
from ecgsignal.io import file_lock, load_npz, read_json, save_npz, write_json
from ecgsignal.paths import cache_dir

__all__ = ["cached_synthetic", "generator_digest"]

_ARRAYS = ("signals", "labels", "diff_mask", "criteria_mask", "split", "label_flipped")


@lru_cache(maxsize=1)
def generator_digest() -> str:
    """SHA-256 over the ``.py`` files of :mod:`ecgsignal.data` (names and contents)."""
    h = hashlib.sha256()
    for path in sorted(Path(__file__).resolve().parent.glob("*.py")):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def _read(npz: Path, js: Path) -> ECGDataset | None:
    if not (npz.is_file() and js.is_file()):
        return None
    try:
        arrays = load_npz(npz)
        info = read_json(js)
        return ECGDataset(
            **{k: arrays[k] for k in _ARRAYS if k in arrays},
            class_names=tuple(info["class_names"]), fs=float(info["fs"]),
            lead_names=tuple(info["lead_names"]), meta=info["meta"])
    except (CacheError, KeyError, TypeError, ValueError) as exc:
        warnings.warn(f"synthetic data cache entry {npz} is broken ({exc}); regenerating",
                      stacklevel=3)
        return None


def cached_synthetic(config) -> ECGDataset:
    """:func:`~ecgsignal.data.synthetic.make_synthetic` of ``config`` (a ``SyntheticConfig``),
    read from the cache when it was generated before by the same generator code."""
    from ecgsignal.data.synthetic import make_synthetic

    key = config_hash({"config": to_dict(config), "generator": generator_digest()})
    folder = cache_dir("data")
    npz, js = folder / f"synthetic-{key}.npz", folder / f"synthetic-{key}.json"
    with warnings.catch_warnings():  # a broken entry is reported once, under the lock
        warnings.simplefilter("ignore")
        ds = _read(npz, js)
    if ds is not None:
        return ds
    with file_lock(folder / f".synthetic-{key}.lock"):
        ds = _read(npz, js)
        if ds is not None:
            return ds
        ds = make_synthetic(config)
        save_npz(npz, {k: getattr(ds, k) for k in _ARRAYS if getattr(ds, k) is not None})
        write_json(js, {"class_names": list(ds.class_names), "fs": float(ds.fs),
                        "lead_names": list(ds.lead_names),
                        "meta": json.loads(json.dumps(ds.meta, default=_plain))})
    return _read(npz, js) or ds


def _plain(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"cannot store {type(o).__name__} in the dataset's provenance")
