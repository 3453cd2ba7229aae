"""Named profiles (``smoke`` / ``book`` / ``full``) and what they build: data, models, context.

A profile is a typed, frozen :class:`Profile`; papermill parameters and CLI flags override its
fields by name, with types checked (a wrong type or unknown name raises ConfigError naming it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from ecgsignal.config import from_dict, to_dict
from ecgsignal.errors import ConfigError


@dataclass(frozen=True)
class Profile:
    """Every knob a chapter or CLI run takes. Sizes in beats, times in seconds."""

    name: str = "book"
    dataset: str = "synthetic"          # synthetic | ptbxl | ptbxlplus | arrays
    data_root: str | None = None        # folder (or file, for arrays) of real data
    labels: str | None = None           # labels CSV, for dataset=arrays
    n_beats: int = 5400                 # synthetic beats (balanced over 9 classes)
    difficulty: str = "realistic"       # synthetic generator: realistic | easy (data/realism.py)
    fs: float = 250.0                   # Hz the models work at
    data_seed: int = 0
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)   # model seeds (Exp 2 uses all; others seeds[0])
    epochs: int = 30
    batch_size: int = 128
    n_per_class: int = 10               # correctly classified positives explained per class
    methods: str = "all"                # all | all+extras | comma-separated names
    n_boot: int = 1000
    seed: int = 0                       # beats, baselines, bootstrap, randomisation
    device: str = "cpu"
    similarity_measures: tuple[str, ...] = ("spearman_abs",)
    randomization_orders: tuple[str, ...] = ("top_down",)
    perturbation_replacements: tuple[str, ...] = ("zero", "mean", "interp", "noise")
    fractions: tuple[float, ...] = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 1.0)
    roar: bool = False
    cube_beats: int = 3
    cube_methods: tuple[str, ...] = ("saliency", "integrated_gradients", "gradcam")
    cell_timeout: int = 1800


def _table() -> dict[str, dict[str, Any]]:
    text = resources.files("ecgsignal.run").joinpath("profiles.yaml").read_text()
    return yaml.safe_load(text)


def available_profiles() -> list[str]:
    """Names of the built-in profiles."""
    return list(_table())


def load_profile(name: str | Profile = "book", **overrides: Any) -> Profile:
    """The profile ``name`` with ``overrides`` applied (``None`` values are ignored).

    ``name`` may also be a path to a YAML file holding one profile's fields.
    """
    if isinstance(name, Profile):
        base = to_dict(name)
    else:
        table = _table()
        if name in table:
            base = {"name": name, **table[name]}
        elif str(name).endswith((".yaml", ".yml")) and Path(name).exists():
            try:
                data = yaml.safe_load(Path(name).read_text()) or {}
            except yaml.YAMLError as exc:
                raise ConfigError(f"profile file {name} is not valid YAML: {exc}") from None
            if not isinstance(data, dict):
                raise ConfigError(f"profile file {name} must hold a mapping of Profile fields, "
                                  f"got a {type(data).__name__}")
            base = {"name": Path(name).stem, **data}
        else:
            raise ConfigError(f"unknown profile {name!r}; valid: {', '.join(table)} "
                              "(or a path to a .yaml file)")
    for k, v in overrides.items():
        if v is not None:
            base[k] = v
    prof = from_dict(Profile, base)
    _check(prof)
    return prof


def _check(p: Profile) -> None:
    if p.n_beats < 9:
        raise ConfigError(f"n_beats must be at least 9 (one per class), got {p.n_beats}")
    if p.n_per_class < 1 or p.epochs < 1 or p.n_boot < 10:
        raise ConfigError("n_per_class and epochs must be >= 1 and n_boot >= 10")
    if not p.seeds:
        raise ConfigError("seeds must list at least one model seed")
    if any(not 0.0 <= f <= 1.0 for f in p.fractions):
        raise ConfigError(f"fractions must lie in [0, 1], got {list(p.fractions)}")
    if not math.isfinite(p.fs) or p.fs <= 0:
        raise ConfigError(f"fs must be a positive number of Hz, got {p.fs}")
    for field in ("seed", "data_seed"):
        if getattr(p, field) < 0:
            raise ConfigError(f"{field} must be >= 0, got {getattr(p, field)}")
    if any(s < 0 for s in p.seeds):
        raise ConfigError(f"seeds must be >= 0, got {list(p.seeds)}")
    for field in ("batch_size", "cube_beats", "cell_timeout"):
        if getattr(p, field) < 1:
            raise ConfigError(f"{field} must be >= 1, got {getattr(p, field)}")
    _check_names(p)


def _check_names(p: Profile) -> None:
    """Unknown dataset, method, measure, order or replacement names fail here, at the boundary,
    listing the valid ones (not minutes later, inside an experiment)."""
    from ecgsignal.attribution import METHODS
    from ecgsignal.data.sources import DATASETS
    from ecgsignal.evaluation.perturbation import REPLACEMENTS
    from ecgsignal.evaluation.randomization import ORDERS
    from ecgsignal.evaluation.similarity import SIMILARITY
    from ecgsignal.run.pipeline import resolve_profile_methods

    DATASETS.get(p.dataset)
    from ecgsignal.data.realism import DIFFICULTIES

    if p.difficulty not in DIFFICULTIES:
        raise ConfigError(f"unknown difficulty {p.difficulty!r}; valid: {', '.join(DIFFICULTIES)}")
    resolve_profile_methods(p.methods)
    for m in p.cube_methods:
        METHODS.get(m)
    for m in p.similarity_measures:
        SIMILARITY.get(m)
    for r in p.perturbation_replacements:
        REPLACEMENTS.get(r)
    bad = [o for o in p.randomization_orders if o not in ORDERS]
    if bad:
        raise ConfigError(f"unknown randomization order(s) {bad}; valid: {', '.join(ORDERS)}")


def with_overrides(p: Profile, **kw: Any) -> Profile:
    """A copy of ``p`` with fields replaced (type-checked)."""
    return load_profile(replace(p), **kw)
