"""Named profiles (``smoke`` / ``book`` / ``full``) and what they build: data, models, context.

A profile is a typed, frozen :class:`Profile`; papermill parameters and CLI flags override its
fields by name, with types checked (a wrong type or unknown name raises ConfigError naming it).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from ecgsignal.attribution import METHODS, available, resolve_methods
from ecgsignal.config import from_dict, to_dict
from ecgsignal.data.arrays import UNIT_SCALE
from ecgsignal.data.leads import LEAD_NAMES, canonical_lead
from ecgsignal.data.realism import DIFFICULTIES
from ecgsignal.data.sources import DATASETS
from ecgsignal.errors import ConfigError
from ecgsignal.evaluation.perturbation import REPLACEMENTS
from ecgsignal.evaluation.randomization import ORDERS
from ecgsignal.evaluation.similarity import SIMILARITY


@dataclass(frozen=True)
class Profile:
    """Every knob a chapter or CLI run takes. Sizes in beats, times in seconds."""

    name: str = "book"
    dataset: str = "synthetic"          # synthetic | ptbxl | ptbxlplus | arrays | records
    data_root: str | None = None        # folder (or file, for arrays) of real data
    labels: str | None = None           # labels CSV, for dataset=arrays / records
    # how a user's own data are stored (arrays / records; None: read from the file, or default)
    lead_order: tuple[str, ...] | None = None   # stored lead names in storage order
    unit: str | None = None             # mV | uV | V of the stored values
    layout: str | None = None           # NCT (n, leads, T) | NTC (n, T, leads)
    stored_fs: float | None = None      # Hz the data are stored at (fs is the models' rate)
    key: str | None = None              # array name inside a .npz / HDF5 file
    label_column: str | None = None     # labels CSV column of class names (default "label")
    multilabel_columns: tuple[str, ...] | None = None   # or 0/1 columns, one per class
    records_format: str | None = None   # records: wfdb | npy | csv (None: found from the files)
    n_jobs: int = 1                     # worker processes of median-beat extraction
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
    randomization_draws: int = 5        # weight draws per stage in Exp 3 (CI over draws × beats)
    randomization_beats_per_class: int | None = None   # Exp 3 explains the first k per class
    randomization_path_beats_per_class: int | None = None  # ... and its path networks k of them
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
    options = overrides.pop("data_options", None)
    for k, v in overrides.items():
        if v is not None:
            base[k] = v
    for k, v in parse_data_options(options).items():
        if k in overrides and overrides[k] is not None and overrides[k] != v:
            raise ConfigError(f"{k} is given twice, as {overrides[k]!r} and in data_options as {v!r}")
        base[k] = v
    for k in ("lead_order", "multilabel_columns"):
        if isinstance(base.get(k), str):
            base[k] = _split_names(base[k])
    if isinstance(base.get("stored_fs"), str):
        base["stored_fs"] = _number("stored_fs", base["stored_fs"])
    prof = from_dict(Profile, base)
    _check(prof)
    return prof


#: Profile fields that describe how a user's own data are stored, and the sources that read them.
DATA_OPTIONS: dict[str, tuple[str, ...]] = {
    "labels": ("arrays", "records"),
    "lead_order": ("arrays", "records"),
    "unit": ("arrays", "records"),
    "layout": ("arrays", "records"),
    "stored_fs": ("arrays", "records"),
    "key": ("arrays",),
    "label_column": ("arrays", "records"),
    "multilabel_columns": ("arrays", "records"),
    "records_format": ("records",),
    "n_jobs": ("records", "ptbxl"),
}
LAYOUTS = ("NCT", "NTC")
RECORD_FORMATS = ("wfdb", "npy", "csv")


def _split_names(text: str) -> list[str]:
    return [t.strip() for t in text.replace(";", ",").split(",") if t.strip()]


def _number(name: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"{name} must be a number of Hz, got {text!r}") from None


def parse_data_options(options: Any) -> dict[str, Any]:
    """The loader options of a chapter's ``data_options`` parameter, as Profile fields.

    ``options`` is None, a mapping, or text — JSON (``'{"unit": "uV"}'``) or
    ``"lead_order=I,II,V1,V2,V3,V4,V5,V6; unit=uV; stored_fs=500"`` (what ``papermill -p``
    passes). Names must be keys of :data:`DATA_OPTIONS`; a misspelt one fails naming the valid ones.
    """
    if options is None:
        return {}
    if isinstance(options, str):
        text = options.strip()
        if text.startswith("{"):
            try:
                options = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"data_options is not valid JSON: {exc}") from None
        else:
            options = {}
            for part in text.split(";"):
                if not part.strip():
                    continue
                name, sep, value = part.partition("=")
                if not sep:
                    raise ConfigError(f"data_options: {part.strip()!r} is not name=value "
                                      "(separate options with ';', e.g. 'unit=uV; stored_fs=500')")
                name, value = name.strip(), value.strip()
                if name == "n_jobs":
                    try:
                        options[name] = int(value)
                    except ValueError:
                        raise ConfigError(f"n_jobs must be an integer, got {value!r}") from None
                elif name == "stored_fs":
                    options[name] = _number(name, value)
                else:
                    options[name] = value
    if not isinstance(options, dict):
        raise ConfigError(f"data_options must be a mapping or 'name=value; ...' text, got {type(options).__name__}")
    unknown = sorted(set(options) - set(DATA_OPTIONS))
    if unknown:
        raise ConfigError(f"unknown data option(s) {unknown}; valid: {', '.join(DATA_OPTIONS)}")
    return {k: v for k, v in options.items() if v is not None}


def _check_data_options(p: Profile) -> None:
    """Options that the chosen source does not read, or values outside their choices, fail here."""
    defaults = Profile()
    stray = [k for k, srcs in DATA_OPTIONS.items()  # (labels: chapters pass it whatever the source)
             if k != "labels" and getattr(p, k) != getattr(defaults, k) and p.dataset not in srcs]
    if stray:
        where = "; ".join(f"{k} is read by dataset {' / '.join(DATA_OPTIONS[k])}" for k in stray)
        raise ConfigError(f"dataset={p.dataset!r} does not read {stray}: {where}")
    if p.unit is not None and p.unit.strip().lower() not in UNIT_SCALE:
        raise ConfigError(f"unit must be one of mV, uV, V; got {p.unit!r}")
    if p.layout is not None and p.layout not in LAYOUTS:
        raise ConfigError(f"layout must be one of {', '.join(LAYOUTS)} ((n, leads, T) or (n, T, leads)); "
                          f"got {p.layout!r}")
    if p.records_format is not None and p.records_format not in RECORD_FORMATS:
        raise ConfigError(f"records_format must be one of {', '.join(RECORD_FORMATS)}; got {p.records_format!r}")
    if p.stored_fs is not None and (not math.isfinite(p.stored_fs) or p.stored_fs <= 0):
        raise ConfigError(f"stored_fs must be a positive number of Hz, got {p.stored_fs}")
    if p.n_jobs < 1:
        raise ConfigError(f"n_jobs must be >= 1, got {p.n_jobs}")
    if p.lead_order is not None:
        bad = []
        for name in p.lead_order:
            try:
                canonical_lead(name)
            except ValueError:
                bad.append(name)
        if bad:
            raise ConfigError(f"lead_order: unknown lead name(s) {bad}; valid: {', '.join(LEAD_NAMES)}")
    if p.label_column is not None and p.multilabel_columns is not None:
        raise ConfigError("give label_column (one column of class names) or multilabel_columns "
                          "(0/1 columns, one per class), not both")


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
    for field in ("batch_size", "cube_beats", "cell_timeout", "randomization_draws"):
        if getattr(p, field) < 1:
            raise ConfigError(f"{field} must be >= 1, got {getattr(p, field)}")
    for field in ("randomization_beats_per_class", "randomization_path_beats_per_class"):
        k = getattr(p, field)
        if k is not None and k < 1:
            raise ConfigError(f"{field} must be >= 1 (or None: all n_per_class beats), got {k}")
    _check_names(p)
    _check_data_options(p)


def _check_names(p: Profile) -> None:
    """Unknown dataset, method, measure, order or replacement names fail here, at the boundary,
    listing the valid ones (not minutes later, inside an experiment)."""
    DATASETS.get(p.dataset)
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


def resolve_profile_methods(spec: str) -> tuple[str, ...]:
    """``all`` (12 methods + 3 controls), ``all+extras``, or comma-separated names."""
    if spec == "all+extras":
        return tuple(available(paper=True, controls=True, extras=True))
    return tuple(resolve_methods(spec))


def with_overrides(p: Profile, **kw: Any) -> Profile:
    """A copy of ``p`` with fields replaced (type-checked)."""
    return load_profile(replace(p), **kw)
