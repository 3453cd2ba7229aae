"""Checkpoint cache: the model of a given data + config + seed is trained once.

Key = :func:`~ecgsignal.config.config_hash` of (dataset fingerprint, model config, train config,
seed). Each entry is two files in the cache folder, both written atomically, the JSON last:

- ``<key>.pt`` — a plain state dict (tensors only), read back with ``torch.load(weights_only=True)``;
- ``<key>.json`` — the configs, per-class test AUROC, training seconds and history, the SHA-256
  of the ``.pt`` file and the torch version.

A missing, truncated, corrupt or mismatched entry is reported with a :class:`CheckpointWarning`
naming the file and the model is retrained: a broken cache never crashes a chapter.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ecgsignal.config import config_hash, to_dict
from ecgsignal.data.dataset import ECGDataset
from ecgsignal.errors import CacheError, ConfigError, DataError
from ecgsignal.io import (
    atomic_path,
    file_lock,
    load_failure_reason,
    read_json,
    sha256_file,
    write_json,
)
from ecgsignal.models.cnn import ECGCNN, ModelConfig, build_model
from ecgsignal.models.training import TrainConfig, resolve_device, train_model
from ecgsignal.paths import cache_dir as default_cache_dir
from ecgsignal.timing import stage

FORMAT_VERSION = 1


class CheckpointWarning(UserWarning):
    """A cached checkpoint could not be used (corrupt, truncated, mismatched) and is retrained."""


@dataclass(frozen=True, eq=False)
class TrainedModel:
    """What :func:`load_or_train` returns.

    Attributes
    ----------
    model:
        The network in eval mode on the requested device.
    auroc:
        ``{class name: test AUROC}`` recorded when it was trained.
    checkpoint:
        Path of the ``.pt`` file.
    seconds:
        Seconds this call took (training, or just loading when cached).
    from_cache:
        True when the weights came from the cache.
    key:
        The cache key.
    train_seconds:
        Seconds the original training took.
    history:
        The per-epoch training history (see :class:`~ecgsignal.models.training.TrainResult`).
    """

    model: ECGCNN
    auroc: dict[str, float]
    checkpoint: Path
    seconds: float
    from_cache: bool
    key: str
    train_seconds: float = 0.0
    history: list[dict] = field(default_factory=list)


def dataset_fingerprint(ds: ECGDataset, length: int = 16) -> str:
    """Short hex SHA-256 over signals, labels, split, sampling rate and class names.

    Two datasets with the same fingerprint train the same model; any change to a sample value,
    a label, the split, ``fs`` or the class names changes it.
    """
    if not isinstance(ds, ECGDataset):
        raise DataError(f"expected an ECGDataset, got {type(ds).__name__}")
    h = hashlib.sha256()
    for name, arr in (("signals", ds.signals), ("labels", ds.labels), ("split", ds.split)):
        h.update(name.encode() + b"\x00")
        if arr is None:
            h.update(b"none\x00")
            continue
        a = np.ascontiguousarray(arr)
        h.update(f"{a.dtype.str}{a.shape}".encode() + b"\x00")
        h.update(memoryview(a).cast("B"))
    h.update(json.dumps({"fs": float(ds.fs), "class_names": list(ds.class_names)}, sort_keys=True).encode())
    return h.hexdigest()[:length]


def checkpoint_key(
    dataset: ECGDataset,
    model_config: ModelConfig | None = None,
    train_config: TrainConfig | None = None,
    seed: int = 0,
) -> str:
    """The cache key of a (dataset, model config, train config, seed) combination."""
    return config_hash(
        dataset_fingerprint(dataset), model_config or ModelConfig(), train_config or TrainConfig(), int(seed)
    )


def save_checkpoint(model: torch.nn.Module, path: str | os.PathLike) -> str:
    """Atomically write ``model``'s state dict (on CPU) to ``path``; returns its SHA-256 hex."""
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    return sha256_file(path)


def load_checkpoint(
    path: str | os.PathLike,
    n_classes: int,
    model_config: ModelConfig | None = None,
    multilabel: bool = False,
    device: str | torch.device = "cpu",
    n_leads: int = 12,
) -> ECGCNN:
    """Build the CNN and load a plain state dict with ``torch.load(weights_only=True)``.

    Raises
    ------
    CacheError
        Naming the file when it is missing, unreadable, not a tensors-only state dict (pickled
        objects are refused), does not fit the architecture, or holds non-finite weights.
    """
    path = Path(path)
    if not path.is_file():
        raise CacheError(f"no checkpoint file {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated zip, refused object, bad magic number…
        raise CacheError(f"checkpoint {path} could not be loaded safely: {load_failure_reason(exc)}") from exc
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CacheError(f"checkpoint {path} is not a plain state dict of tensors")
    model = build_model(n_classes, model_config or ModelConfig(), n_leads=n_leads)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise CacheError(f"checkpoint {path} does not fit the model: {exc}") from exc
    if not all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point()):
        raise CacheError(f"checkpoint {path} holds non-finite weights")
    model.multilabel = bool(multilabel)
    return model.to(resolve_device(device)).eval()


def _try_load(pt: Path, js: Path, key: str, ds: ECGDataset, mcfg: ModelConfig,
              dev: torch.device) -> tuple[ECGCNN, dict] | None:
    """Load a cache entry, or warn naming the file and return None."""
    if not pt.exists() and not js.exists():
        return None
    try:
        if not js.exists():
            raise CacheError(f"checkpoint {pt} has no metadata file {js.name} (interrupted write?)")
        if not pt.exists():
            raise CacheError(f"metadata {js} has no checkpoint file {pt.name}")
        meta = read_json(js)
        if not isinstance(meta, dict) or meta.get("key") != key:
            raise CacheError(f"metadata {js} belongs to another key")
        if meta.get("format") != FORMAT_VERSION:
            raise CacheError(f"metadata {js} has format {meta.get('format')}, expected {FORMAT_VERSION}")
        digest = sha256_file(pt)
        if digest != meta.get("sha256"):
            raise CacheError(f"checkpoint {pt} is corrupt or truncated (SHA-256 mismatch)")
        model = load_checkpoint(pt, ds.n_classes, mcfg, multilabel=ds.multilabel, device=dev)
        return model, meta
    except (CacheError, OSError, KeyError, TypeError) as exc:
        warnings.warn(f"{exc}; retraining", CheckpointWarning, stacklevel=3)
        return None


def load_or_train(
    dataset: ECGDataset,
    model_config: ModelConfig | None = None,
    train_config: TrainConfig | None = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
    cache_dir: str | os.PathLike | None = None,
    progress: bool = True,
) -> TrainedModel:
    """The cached model of (dataset, configs, seed), training and caching it on a miss.

    Parameters
    ----------
    dataset, model_config, train_config, seed, device, progress:
        As for :func:`~ecgsignal.models.training.train_model`.
    cache_dir:
        Folder of the checkpoint cache (default ``paths.cache_dir("models")``).

    Returns
    -------
    TrainedModel
        With ``from_cache`` telling whether the weights were loaded. A broken entry is reported
        by a :class:`CheckpointWarning` and retrained.
    """
    mcfg = model_config or ModelConfig()
    tcfg = train_config or TrainConfig()
    if not isinstance(mcfg, ModelConfig) or not isinstance(tcfg, TrainConfig):
        raise ConfigError("model_config must be a ModelConfig and train_config a TrainConfig")
    dev = resolve_device(device)
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir("models")
    folder.mkdir(parents=True, exist_ok=True)
    fingerprint = dataset_fingerprint(dataset)
    key = config_hash(fingerprint, mcfg, tcfg, int(seed))
    pt, js = folder / f"{key}.pt", folder / f"{key}.json"

    start = time.perf_counter()
    loaded = None
    if pt.is_file() and js.is_file():  # the common case: read it without taking the lock
        with warnings.catch_warnings():  # (a broken entry is reported once, under the lock)
            warnings.simplefilter("ignore", CheckpointWarning)
            loaded = _try_load(pt, js, key, dataset, mcfg, dev)
    if loaded is None:
        # one process trains, others wait for the lock and load what it saved
        with file_lock(folder / f".{key}.lock"):
            loaded = _try_load(pt, js, key, dataset, mcfg, dev)
            if loaded is None:
                return _train_and_save(dataset, mcfg, tcfg, seed, dev, progress, pt, js, key,
                                       fingerprint, start)
    model, meta = loaded
    return TrainedModel(
        model=model, auroc={k: float(v) for k, v in meta["auroc"].items()}, checkpoint=pt,
        seconds=time.perf_counter() - start, from_cache=True, key=key,
        train_seconds=float(meta.get("seconds", 0.0)), history=list(meta.get("history", [])),
    )


def _train_and_save(dataset: ECGDataset, mcfg: ModelConfig, tcfg: TrainConfig, seed: int,
                    dev: torch.device, progress: bool, pt: Path, js: Path, key: str,
                    fingerprint: str, start: float) -> TrainedModel:
    """Train one model and write its checkpoint and metadata (the miss path of load_or_train)."""
    result = train_model(dataset, mcfg, tcfg, seed=seed, device=dev, progress=progress)
    digest = save_checkpoint(result.model, pt)
    write_json(js, {
        "format": FORMAT_VERSION,
        "key": key,
        "dataset_fingerprint": fingerprint,
        "class_names": list(dataset.class_names),
        "multilabel": dataset.multilabel,
        "fs": float(dataset.fs),
        "n_samples": dataset.n_samples,
        "model_config": to_dict(mcfg),
        "train_config": to_dict(tcfg),
        "seed": int(seed),
        "auroc": result.auroc,
        "seconds": result.seconds,
        "best_epoch": result.best_epoch,
        "history": result.history,
        "sha256": digest,
        "torch_version": torch.__version__,
        "device": str(dev),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    })
    return TrainedModel(
        model=result.model, auroc=result.auroc, checkpoint=pt, seconds=time.perf_counter() - start,
        from_cache=False, key=key, train_seconds=result.seconds, history=result.history,
    )


def _train_in_worker(args: tuple) -> str:
    """Worker of :func:`load_or_train_many`: train one seed into the cache with ``threads``."""
    dataset, mcfg, tcfg, seed, folder, threads = args
    torch.set_num_threads(int(threads))
    load_or_train(dataset, mcfg, tcfg, seed=seed, device="cpu", cache_dir=folder, progress=False)
    return str(seed)


def load_or_train_many(
    dataset: ECGDataset,
    model_config: ModelConfig | None = None,
    train_config: TrainConfig | None = None,
    seeds: tuple[int, ...] | list[int] = (0,),
    device: str | torch.device = "cpu",
    cache_dir: str | os.PathLike | None = None,
    jobs: int | None = None,
    progress: bool = True,
) -> dict[int, TrainedModel]:
    """:func:`load_or_train` for several seeds, training the missing ones side by side.

    On the CPU, up to ``jobs`` seeds train at once, each in its own process with
    ``cores // jobs`` torch threads (default ``jobs``: 2 on a machine with two or more cores):
    the default CNN's small convolutions keep one thread busy better than two, so two one-thread
    trainings finish sooner than two two-thread trainings one after the other. Each seed's
    weights depend only on its seed and configs (and, as always on CPU, on float rounding of the
    thread count it trained with); the cached models are then loaded here, in ``seeds`` order.
    On CUDA, or with one seed to train, seeds train one after the other in this process.

    Returns
    -------
    dict
        ``{seed: TrainedModel}``.
    """
    mcfg = model_config or ModelConfig()
    tcfg = train_config or TrainConfig()
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir("models")
    folder.mkdir(parents=True, exist_ok=True)
    fingerprint = dataset_fingerprint(dataset)
    missing = [s for s in dict.fromkeys(int(s) for s in seeds)
               if not (folder / f"{config_hash(fingerprint, mcfg, tcfg, s)}.pt").is_file()]
    cores = os.cpu_count() or 1
    if jobs is None:
        jobs = 2 if cores >= 2 else 1
    jobs = max(1, min(int(jobs), len(missing)))
    if jobs > 1 and resolve_device(device).type == "cpu":
        from concurrent.futures import ProcessPoolExecutor
        from multiprocessing import get_context

        from tqdm.auto import tqdm

        threads = max(1, cores // jobs)
        work = [(dataset, mcfg, tcfg, s, folder, threads) for s in missing]
        with stage("waiting", "training workers"), \
                ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
            for _ in tqdm(pool.map(_train_in_worker, work), total=len(work), unit="model",
                          desc=f"training {len(work)} seeds, {jobs} at once",
                          disable=not progress):
                pass
    return {int(s): load_or_train(dataset, mcfg, tcfg, seed=int(s), device=device,
                                  cache_dir=folder, progress=progress)
            for s in dict.fromkeys(int(s) for s in seeds)}
