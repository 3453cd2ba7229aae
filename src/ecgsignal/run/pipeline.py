"""From a profile to the objects every chapter and CLI command works with."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ecgsignal.data.check import check_data
from ecgsignal.data.dataset import ECGDataset
from ecgsignal.data.sources import load_dataset
from ecgsignal.errors import ConfigError
from ecgsignal.evaluation.context import ExperimentContext
from ecgsignal.evaluation.experiments import EXPERIMENTS
from ecgsignal.models import TrainConfig
from ecgsignal.models.cnn import ModelConfig
from ecgsignal.run.profiles import Profile, resolve_profile_methods

__all__ = ["build_context", "build_dataset", "check_profile_data", "experiment_params",
           "resolve_profile_methods"]


def build_dataset(p: Profile) -> ECGDataset:
    """The profile's dataset, with its seeded split."""
    if p.dataset == "synthetic":
        return load_dataset("synthetic", n=p.n_beats, fs=p.fs, seed=p.data_seed, difficulty=p.difficulty)
    if p.data_root is None:
        raise ConfigError(f"dataset={p.dataset!r} needs data_root= (a local folder or file); "
                          "nothing is downloaded at run time")
    if p.dataset in ("arrays", "records"):
        # the loaders' fs is the rate stored in the files; the models' rate is their target_fs
        kwargs: dict[str, Any] = {"target_fs": p.fs}
        for field, arg in (("labels", "labels_path"), ("lead_order", "lead_order"), ("unit", "unit"),
                           ("layout", "layout"), ("stored_fs", "fs"), ("key", "key"),
                           ("label_column", "label_column"), ("multilabel_columns", "multilabel_columns"),
                           ("records_format", "format")):
            value = getattr(p, field)
            if value is not None:
                kwargs[arg] = list(value) if isinstance(value, tuple) else value
        if p.dataset == "records":
            kwargs["n_jobs"] = p.n_jobs
    else:
        kwargs = {"fs": p.fs}
        if p.dataset == "ptbxl" and p.n_jobs != 1:
            kwargs["n_jobs"] = p.n_jobs
    return load_dataset(p.dataset, data_root=p.data_root, **kwargs)


def check_profile_data(p: Profile, max_records: int | None = None):
    """``ecgsignal data check`` on the profile's own data (dataset ``arrays`` or ``records``):
    a :class:`~ecgsignal.data.check.CheckReport` of what the loader will read and what is wrong."""
    if p.dataset not in ("arrays", "records"):
        raise ConfigError(f"data check reads your own data (dataset arrays or records), not dataset={p.dataset!r}")
    if p.data_root is None:
        raise ConfigError(f"dataset={p.dataset!r} needs data_root= (your signal file or records folder)")
    return check_data(p.data_root, p.labels, dataset=p.dataset, lead_order=p.lead_order, unit=p.unit,
                      layout=p.layout, stored_fs=p.stored_fs, key=p.key, records_format=p.records_format,
                      label_column=p.label_column, multilabel_columns=p.multilabel_columns,
                      max_records=max_records)


def build_context(p: Profile, dataset: ECGDataset | None = None, cache_dir: str | Path | None = None,
                  progress: bool = True) -> ExperimentContext:
    """An :class:`ExperimentContext` for the profile (models come from the checkpoint cache)."""
    ds = dataset if dataset is not None else build_dataset(p)
    return ExperimentContext(
        dataset=ds,
        model_config=ModelConfig(),
        train_config=TrainConfig(epochs=p.epochs, batch_size=p.batch_size),
        seeds=tuple(p.seeds),
        methods=resolve_profile_methods(p.methods),
        n_per_class=p.n_per_class,
        n_boot=p.n_boot,
        seed=p.seed,
        device=p.device,
        cache_dir=None if cache_dir is None else Path(cache_dir),
        progress=progress,
    )


def experiment_params(p: Profile, name: str) -> dict[str, Any]:
    """The parameters of experiment ``name`` that the profile sets (the experiment spec's
    ``profile_params``); an unknown name raises listing the valid ones."""
    return EXPERIMENTS.get(name).params_from_profile(p)
