"""From a profile to the objects every chapter and CLI command works with."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ecgsignal.data.dataset import ECGDataset
from ecgsignal.errors import ConfigError
from ecgsignal.evaluation.context import ExperimentContext
from ecgsignal.models import TrainConfig
from ecgsignal.models.cnn import ModelConfig
from ecgsignal.run.profiles import Profile


def resolve_profile_methods(spec: str) -> tuple[str, ...]:
    """``all`` (12 methods + 3 controls), ``all+extras``, or comma-separated names."""
    from ecgsignal.attribution import available, resolve_methods

    if spec == "all+extras":
        return tuple(available(paper=True, controls=True, extras=True))
    return tuple(resolve_methods(spec))


def build_dataset(p: Profile) -> ECGDataset:
    """The profile's dataset, with its seeded split."""
    from ecgsignal.data.sources import load_dataset

    if p.dataset == "synthetic":
        return load_dataset("synthetic", n=p.n_beats, fs=p.fs, seed=p.data_seed, difficulty=p.difficulty)
    if p.data_root is None:
        raise ConfigError(f"dataset={p.dataset!r} needs data_root= (a local folder or file); "
                          "nothing is downloaded at run time")
    if p.dataset == "arrays":
        # load_arrays' fs is the rate stored in the file; the models' rate is its target_fs
        kwargs: dict[str, Any] = {"target_fs": p.fs}
        if p.labels is not None:
            kwargs["labels_path"] = p.labels
    else:
        kwargs = {"fs": p.fs}
    return load_dataset(p.dataset, data_root=p.data_root, **kwargs)


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
    """The parameters of experiment ``name`` that the profile sets."""
    if name in ("similarity", "consistency"):
        return {"measures": list(p.similarity_measures)}
    if name == "randomization":
        return {"orders": list(p.randomization_orders), "normalizations": ["raw", "abs_max"]}
    if name == "perturbation":
        return {"fractions": list(p.fractions), "replacements": list(p.perturbation_replacements),
                "roar": p.roar}
    if name == "localization":
        return {}
    from ecgsignal.evaluation.experiments import EXPERIMENTS

    EXPERIMENTS.get(name)  # raises with the list of valid names
    return {}
