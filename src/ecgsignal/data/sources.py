"""One entry point for every data source: ``load_dataset(name, data_root=None, **kwargs)``.

========== ============================================== ===========================
name       what                                           ``data_root``
========== ============================================== ===========================
synthetic  the embedded generator (default; has masks)    not used
ptbxl      PTB-XL 10 s records → median beats             PTB-XL folder
ptbxlplus  PTB-XL+ ready-made 12SL / Uni-G median beats   PTB-XL+ folder
arrays     a user's ``(n, 12, T)`` arrays + labels CSV    the signal file, or a folder
records    a user's raw 10 s records + labels CSV →       the folder of records
           median beats (WFDB, .npy or .csv per record)
========== ============================================== ===========================

Sources are held in the :data:`DATASETS` registry, so a chapter takes ``dataset=`` and
``data_root=`` parameters and never branches on the name itself. Only the synthetic data carry
ground-truth masks (``ECGDataset.has_masks``); the ground-truth chapter skips itself otherwise.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ecgsignal.data.dataset import ECGDataset
from ecgsignal.errors import ConfigError, DataError
from ecgsignal.registry import Registry
from ecgsignal.timing import timed

__all__ = ["DATASETS", "load_dataset", "needs_data_root"]

#: name → loader ``(data_root, **kwargs) -> ECGDataset``.
DATASETS: Registry[Callable[..., ECGDataset]] = Registry("dataset")

_SIGNAL_SUFFIXES = (".npz", ".npy", ".h5", ".hdf5", ".hdf")


def needs_data_root(name: str) -> bool:
    """Whether source ``name`` reads a local folder or file (everything but ``synthetic``)."""
    DATASETS.get(name)
    return name != "synthetic"


@DATASETS.register("synthetic")
def _synthetic(data_root: str | os.PathLike | None = None, **kwargs: Any) -> ECGDataset:
    from ecgsignal.data.synthetic import SyntheticConfig
    from ecgsignal.data.synthetic_store import cached_synthetic

    if data_root is not None:
        raise ConfigError("the synthetic dataset is generated, not read: leave data_root=None")
    from ecgsignal.config import from_dict

    return cached_synthetic(from_dict(SyntheticConfig, dict(kwargs)))


@DATASETS.register("ptbxl")
def _ptbxl(data_root: str | os.PathLike | None = None, **kwargs: Any) -> ECGDataset:
    from ecgsignal.data.ptbxl import load_ptbxl

    return load_ptbxl(_require_root("ptbxl", data_root), **kwargs)


@DATASETS.register("ptbxlplus")
def _ptbxlplus(data_root: str | os.PathLike | None = None, **kwargs: Any) -> ECGDataset:
    from ecgsignal.data.ptbxlplus import load_ptbxlplus

    return load_ptbxlplus(_require_root("ptbxlplus", data_root), **kwargs)


@DATASETS.register("arrays")
def _arrays(data_root: str | os.PathLike | None = None, **kwargs: Any) -> ECGDataset:
    """``data_root`` is the signal file, or a folder holding exactly one signal file (and,
    if ``labels_path`` is not given, a ``labels.csv`` beside it)."""
    from ecgsignal.data.arrays import load_arrays

    root = Path(_require_root("arrays", data_root))
    if root.is_dir():
        files = sorted(p for p in root.iterdir() if p.suffix.lower() in _SIGNAL_SUFFIXES)
        if len(files) != 1:
            raise DataError(
                f"{root}: expected exactly one signal file ({', '.join(_SIGNAL_SUFFIXES)}), found "
                f"{[p.name for p in files]}; pass the file itself as data_root"
            )
        if "labels_path" not in kwargs and (root / "labels.csv").is_file():
            kwargs["labels_path"] = root / "labels.csv"
        root = files[0]
    return _call(load_arrays, root, kwargs)


@DATASETS.register("records")
def _records(data_root: str | os.PathLike | None = None, **kwargs: Any) -> ECGDataset:
    """``data_root`` is the folder of records; ``labels_path`` defaults to its ``labels.csv``."""
    from ecgsignal.data.records import load_records

    return _call(load_records, _require_root("records", data_root), kwargs)


def _call(loader: Callable[..., ECGDataset], root: Any, kwargs: dict[str, Any]) -> ECGDataset:
    """``loader(root, **kwargs)``, a misspelt option failing with the valid ones named."""
    import inspect

    params = list(inspect.signature(loader).parameters)[1:]
    unknown = sorted(set(kwargs) - set(params))
    if unknown:
        raise ConfigError(f"{loader.__name__}: unknown option(s) {unknown}; valid: {', '.join(params)}")
    return loader(root, **kwargs)


def _require_root(name: str, data_root: str | os.PathLike | None) -> str | os.PathLike:
    if data_root is None:
        raise ConfigError(f"dataset {name!r} reads local files: pass data_root=<folder> (nothing is downloaded)")
    return data_root


@timed("data")
def load_dataset(name: str = "synthetic", data_root: str | os.PathLike | None = None, **kwargs: Any) -> ECGDataset:
    """Load the dataset ``name`` (one of ``DATASETS.available()``).

    Parameters
    ----------
    name:
        ``"synthetic"``, ``"ptbxl"``, ``"ptbxlplus"``, ``"arrays"`` or ``"records"``.
    data_root:
        Local folder (or signal file for ``arrays``); must be None for ``synthetic``.
    **kwargs:
        Passed to the source's loader: ``SyntheticConfig`` fields for synthetic; config fields
        and keywords of :func:`~ecgsignal.data.ptbxl.load_ptbxl`,
        :func:`~ecgsignal.data.ptbxlplus.load_ptbxlplus` or
        :func:`~ecgsignal.data.arrays.load_arrays` or
        :func:`~ecgsignal.data.records.load_records` otherwise.

    Returns
    -------
    ECGDataset
    """
    return DATASETS.get(name)(data_root, **kwargs)
