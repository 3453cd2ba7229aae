"""What ``ecgsignal bench`` measures: the method lists, the sections and :class:`BenchConfig`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ecgsignal.errors import ConfigError

__all__ = ["EFFICIENCY_METHODS", "ENGINE_METHODS", "SECTIONS", "TOLERANCE", "BenchConfig"]

ENGINE_METHODS: tuple[str, ...] = (
    "saliency", "input_x_gradient", "integrated_gradients", "smoothgrad", "guided_backprop",
    "gradcam", "guided_gradcam", "deeplift", "deeplift_shap", "gradient_shap", "lrp", "occlusion",
)
"""The 12 paper methods: every gradient method, and Occlusion."""

EFFICIENCY_METHODS: tuple[str, ...] = ("integrated_gradients", "smoothgrad", "gradient_shap",
                                       "occlusion")
"""Methods whose time is compared with the per-row limit (the many-row methods)."""

SECTIONS: tuple[str, ...] = ("engine", "efficiency", "randomization", "threads", "conv",
                             "generator", "chapters")

TOLERANCE = 1e-5
"""Largest allowed difference between the engine's and the loop's maps (abs, or rel. to peak)."""


@dataclass(frozen=True)
class BenchConfig:
    """What ``ecgsignal bench`` measures, and how hard.

    Attributes
    ----------
    n_beats:
        Beats of the engine/loop and efficiency comparisons (synthetic, ``fs`` Hz).
    n_random_beats:
        Beats of the randomisation comparison.
    fs:
        Sampling rate in Hz (250: ``T = 300`` samples).
    repeats:
        Timed rounds per case (≥ 3; the median is reported).
    warmup_beats:
        Beats of the untimed warm-up call of every case.
    device:
        Torch device of every computation.
    seed:
        Seed of the beats, the model's initial weights, the baselines and every method's noise.
    methods:
        Methods of the engine comparison.
    efficiency_methods:
        Methods of the efficiency comparison.
    random_methods:
        Methods of the randomisation comparison.
    batch_sizes:
        Batch sizes the per-row forward(+backward) cost is measured at (the best one is the limit).
    n_baselines:
        SHAP baselines (training beats of a second synthetic draw).
    n_generator:
        Beats the generator benchmark makes.
    sections:
        Which of :data:`SECTIONS` to run.
    timings_profile:
        Profile whose chapter timing logs the ``chapters`` section reads
        (``_build/timings/<profile>``, written by ``ecgsignal book run``).
    timings_dir:
        Read the chapter timing logs from this folder instead (``None``: the project's).
    """

    n_beats: int = 256
    n_random_beats: int = 64
    fs: float = 250.0
    repeats: int = 3
    warmup_beats: int = 8
    device: str = "cpu"
    seed: int = 0
    methods: tuple[str, ...] = ENGINE_METHODS
    efficiency_methods: tuple[str, ...] = EFFICIENCY_METHODS
    random_methods: tuple[str, ...] = ("saliency", "integrated_gradients")
    batch_sizes: tuple[int, ...] = (1, 8, 32, 64, 128, 256, 512, 1024)
    n_baselines: int = 32
    n_generator: int = 5000
    sections: tuple[str, ...] = SECTIONS
    timings_profile: str = "book"
    timings_dir: str | None = None

    def __post_init__(self) -> None:
        for name in ("n_beats", "n_random_beats", "warmup_beats", "n_baselines", "n_generator"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"{name} must be a positive integer, got {v!r}")
        if isinstance(self.repeats, bool) or not isinstance(self.repeats, int) or self.repeats < 3:
            raise ConfigError(f"repeats must be an integer >= 3 (a median of at least three), "
                              f"got {self.repeats!r}")
        if not self.batch_sizes or any(int(b) < 1 for b in self.batch_sizes):
            raise ConfigError(f"batch_sizes must be positive integers, got {self.batch_sizes!r}")
        bad = [s for s in self.sections if s not in SECTIONS]
        if bad:
            raise ConfigError(f"unknown bench section(s) {', '.join(bad)}; valid: "
                              f"{', '.join(SECTIONS)}")
        from ecgsignal.attribution import METHODS

        for m in (*self.methods, *self.efficiency_methods, *self.random_methods):
            METHODS.get(m)  # unknown names fail here, listing the valid ones

    @classmethod
    def quick(cls, **overrides: Any) -> BenchConfig:
        """A run of about a minute on a laptop: 32 beats, 16 for randomisation, fewer sizes."""
        base = dict(n_beats=32, n_random_beats=16, batch_sizes=(1, 8, 32, 128, 512),
                    n_generator=1000, n_baselines=8)
        base.update(overrides)
        return cls(**base)


