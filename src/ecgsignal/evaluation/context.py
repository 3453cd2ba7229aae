"""What every experiment runs on: the data, the K seeded models, the beats, the shared maps.

:class:`ExperimentContext` trains (or loads from the checkpoint cache) one model per seed, picks
the beats an experiment explains (correctly classified positives of each class in the test split,
``n_per_class`` each, chosen with a seed), and hands out attributions through one
:class:`~ecgsignal.evaluation.store.AttributionStore`, so a map is computed once per
(model, method, beats) and shared by every experiment and chapter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
from torch import nn

from ecgsignal.attribution import METHODS, attribute, make_baselines
from ecgsignal.config import to_dict
from ecgsignal.data.dataset import ECGDataset
from ecgsignal.errors import DataError
from ecgsignal.evaluation.store import AttributionStore
from ecgsignal.models import (
    TrainConfig,
    TrainedModel,
    load_or_train,
    load_or_train_many,
    predict_proba,
)
from ecgsignal.models.checkpoints import dataset_fingerprint
from ecgsignal.models.cnn import ModelConfig
from ecgsignal.validation import check_int, env_int


@dataclass(frozen=True)
class BeatSelection:
    """Beats to explain. ``index`` into the dataset, ``x`` ``(m, 12, T)`` mV, ``target`` ``(m,)``."""

    index: np.ndarray
    x: np.ndarray
    target: np.ndarray
    class_names: tuple[str, ...]

    @property
    def n(self) -> int:
        return int(self.index.shape[0])

    def class_of(self) -> np.ndarray:
        """``(m,)`` class name of each beat's target."""
        return np.asarray(self.class_names, dtype=object)[self.target]


def default_workers() -> int:
    """``$ECGSIGNAL_WORKERS`` (a positive integer; the book runner sets it), else 1."""
    return env_int("ECGSIGNAL_WORKERS") or 1


@dataclass
class ExperimentContext:
    """The shared inputs of the five experiments (see PROTOCOLS.md).

    Parameters
    ----------
    dataset:
        Beats with a train/val/test split.
    seeds:
        Model seeds; ``seeds[0]`` is the reference model of experiments 1, 3, 4 and 5.
    methods:
        Attribution method names (12 paper methods + controls by default).
    n_per_class:
        Correctly classified positives per class that are explained.
    seed:
        Seed of every sampling choice (beats, baselines, bootstrap, randomisation).
    workers:
        Worker processes an experiment may spread independent work over (Experiment 3's weight
        draws); default ``$ECGSIGNAL_WORKERS`` or 1. Not part of :meth:`config`: results do not
        depend on it (on CPU, up to float rounding of the thread count).
    """

    dataset: ECGDataset
    model_config: ModelConfig = field(default_factory=ModelConfig)
    train_config: TrainConfig = field(default_factory=TrainConfig)
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    methods: tuple[str, ...] = ()
    n_per_class: int = 10
    n_boot: int = 1000
    seed: int = 0
    device: str = "cpu"
    n_baselines: int = 32
    cache_dir: Path | None = None
    progress: bool = True
    workers: int = field(default_factory=lambda: default_workers())

    def __post_init__(self) -> None:
        self.workers = check_int(self.workers, "workers", minimum=1)
        if self.dataset.split is None:
            raise DataError("the experiment dataset needs a train/val/test split")
        if not self.seeds:
            raise DataError("at least one model seed is needed")
        for m in self.methods:
            METHODS.get(m)  # unknown names fail here, listing the valid ones
        self._models: dict[int, TrainedModel] = {}
        root = None if self.cache_dir is None else Path(self.cache_dir)
        self.store = AttributionStore(None if root is None else root / "attributions")

    # ------------------------------------------------------------------ models
    def trained(self, seed: int | None = None) -> TrainedModel:
        """The model of ``seed`` (default: the reference seed), trained once, then cached."""
        seed = self.seeds[0] if seed is None else seed
        if seed not in self._models:
            self._models[seed] = load_or_train(
                self.dataset, self.model_config, self.train_config, seed=seed, device=self.device,
                cache_dir=None if self.cache_dir is None else Path(self.cache_dir) / "models",
                progress=self.progress,
            )
        return self._models[seed]

    def train_all(self, jobs: int | None = None) -> dict[int, TrainedModel]:
        """Every seed's model, training the ones missing from the cache side by side
        (:func:`~ecgsignal.models.checkpoints.load_or_train_many`; ``jobs`` at once)."""
        missing = [s for s in self.seeds if s not in self._models]
        if missing:
            self._models.update(load_or_train_many(
                self.dataset, self.model_config, self.train_config, seeds=missing,
                device=self.device, jobs=jobs, progress=self.progress,
                cache_dir=None if self.cache_dir is None else Path(self.cache_dir) / "models"))
        return {s: self._models[s] for s in self.seeds}

    def model(self, seed: int | None = None) -> nn.Module:
        """The trained network of ``seed`` in eval mode."""
        return self.trained(seed).model

    # ------------------------------------------------------------------ beats
    @cached_property
    def beats(self) -> BeatSelection:
        """Correctly classified test positives, ``n_per_class`` per class, seeded choice.

        "Correct" is judged by the reference model: the true class has the highest probability
        (single-label) or a probability above 0.5 (multi-label).
        """
        ds = self.dataset
        test = ds.indices("test")
        proba = predict_proba(self.model(), ds.signals[test], device=self.device)
        onehot = ds.onehot()[test]
        rng = np.random.default_rng(self.seed)
        idx, tgt = [], []
        for c in range(ds.n_classes):
            pos = onehot[:, c] > 0
            if ds.label_flipped is not None:  # flagged label noise: the label is not what was planted
                pos &= ~ds.label_flipped[test]
            correct = proba.argmax(1) == c if not ds.multilabel else proba[:, c] > 0.5
            cand = np.flatnonzero(pos & correct)
            take = rng.permutation(cand)[: self.n_per_class]
            idx.append(test[np.sort(take)])
            tgt.append(np.full(len(take), c, np.int64))
        index = np.concatenate(idx)
        if index.size == 0:
            raise DataError("no correctly classified test positives to explain")
        return BeatSelection(index=index, x=ds.signals[index], target=np.concatenate(tgt),
                             class_names=ds.class_names)

    @cached_property
    def baselines(self) -> np.ndarray:
        """Fixed random sample of training beats for DeepLiftShap / GradientSHAP, ``(b, 12, T)``;
        ``b = min(n_baselines, training beats)``, so that a small data set of one's own still runs."""
        train = self.dataset.signals[self.dataset.indices("train")]
        return make_baselines(train, n=min(self.n_baselines, len(train)), seed=self.seed)

    # ------------------------------------------------------------------ attributions
    def attribution_seed(self, model_seed: int | None = None) -> int:
        """Seed of the stochastic methods' noise for the model of ``model_seed``.

        The reference model (``seeds[0]``) uses ``seed``; every other model gets its own seed
        derived from (``seed``, ``model_seed``), so that noise (SmoothGrad, GradientSHAP, the
        random control) is independent across models and cannot inflate self-consistency.
        """
        model_seed = self.seeds[0] if model_seed is None else model_seed
        if model_seed == self.seeds[0]:
            return self.seed
        return int(np.random.SeedSequence([self.seed, model_seed, 0xEC6]).generate_state(1)[0])

    def attributions(self, method: str, seed: int | None = None,
                     beats: BeatSelection | None = None, model: nn.Module | None = None,
                     target: np.ndarray | None = None, cache: bool = True) -> np.ndarray:
        """``(m, 12, T)`` float32 signed maps of ``method`` for the beats (cached per model).

        ``model`` overrides the seeded model (e.g. a randomised copy): such maps are not cached
        unless ``cache`` is true and the caller's key (``seed``) identifies the model.
        """
        beats = beats or self.beats
        target = beats.target if target is None else np.asarray(target)
        if model is not None:
            return attribute(model, beats.x, target, method, seed=self.seed,
                             baselines=self.baselines, device=self.device, fs=self.dataset.fs)
        trained = self.trained(seed)
        attr_seed = self.attribution_seed(seed)

        def compute() -> np.ndarray:
            return attribute(trained.model, beats.x, target, method, seed=attr_seed,
                             baselines=self.baselines, device=self.device, fs=self.dataset.fs)

        if not cache:
            return compute()
        key = self.store.key(trained.key, method, beats.x, target, seed=attr_seed,
                             baselines=self.n_baselines)
        return self.store.get(key, compute, expected_shape=beats.x.shape)

    def config(self) -> dict:
        """JSON-ready description of this context (saved beside every result)."""
        return {
            "dataset": dataset_fingerprint(self.dataset),
            "dataset_meta": {k: v for k, v in self.dataset.meta.items() if k in ("source", "config")},
            "model": to_dict(self.model_config),
            "train": to_dict(self.train_config),
            "seeds": list(self.seeds),
            "methods": list(self.methods),
            "n_per_class": self.n_per_class,
            "n_boot": self.n_boot,
            "seed": self.seed,
            "n_baselines": self.n_baselines,
        }
