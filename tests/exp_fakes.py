"""A stand-in for ExperimentContext holding hand-made maps, for known-answer experiment tests.

The experiments read only ``methods``, ``seeds``, ``beats``, ``attributions(method, seed=)``,
``n_boot``, ``seed`` and (localisation) ``dataset``; this fake serves given arrays through that
interface, so an experiment's arithmetic can be checked against answers known by construction,
without training a model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ecgsignal.evaluation.context import BeatSelection


def make_beats(targets: list[int], class_names: tuple[str, ...], t: int = 40,
               seed: int = 0) -> BeatSelection:
    """Beats ``(m, 12, t)`` of random signal with the given target classes."""
    rng = np.random.default_rng(seed)
    target = np.asarray(targets, np.int64)
    x = rng.standard_normal((target.size, 12, t)).astype(np.float32)
    return BeatSelection(index=np.arange(target.size), x=x, target=target,
                         class_names=class_names)


@dataclass
class FakeContext:
    """``maps[(method, seed)]`` → ``(m, 12, T)`` array; ``methods`` in insertion order."""

    beats: BeatSelection
    maps: dict[tuple[str, int], np.ndarray]
    seeds: tuple[int, ...] = (0,)
    n_boot: int = 200
    seed: int = 0
    dataset: Any = None
    calls: list[tuple[str, int]] = field(default_factory=list)

    @property
    def methods(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(m for m, _ in self.maps))

    def attributions(self, method: str, seed: int | None = None, **_: Any) -> np.ndarray:
        s = self.seeds[0] if seed is None else seed
        self.calls.append((method, s))
        return self.maps[(method, s)]
