"""Measure specs: what a score means, beside the function that computes it.

Like :class:`~ecgsignal.attribution.registry.MethodSpec` for the attribution methods (and the
class attributes of Quantus' metrics, Hedström et al. 2023, JMLR 24:34), every measure of the
book carries its metadata in one :class:`MeasureSpec`: its range, its chance level (a constant,
the value of one of its options, or the mask's share of the beat), which direction is better
(or more similar), the options it accepts, and how it pools over classes. Tables, experiments and
figures look these up in :data:`MEASURES` instead of special-casing measure names.

The specs are registered by the modules that define the measures:
:mod:`ecgsignal.evaluation.similarity` (Experiments 1–3), :mod:`ecgsignal.evaluation.localization`
(Experiment 5) and :mod:`ecgsignal.evaluation.perturbation` (Experiment 4's curve measures).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ecgsignal.errors import ConfigError
from ecgsignal.registry import Registry

__all__ = ["FAMILIES", "MEASURES", "MeasureSpec", "register_measure"]

FAMILIES: tuple[str, ...] = ("similarity", "localization", "perturbation")

#: ``chance`` given as this string: the chance level is the mask's share of the beat's entries.
MASK_SHARE = "mask_share"


@dataclass(frozen=True)
class MeasureSpec:
    """One measure and what its numbers mean.

    Attributes
    ----------
    name:
        Registry name (the ``measure`` column of the results).
    family:
        ``"similarity"`` (two maps → one score per beat), ``"localization"`` (map and mask →
        score per beat) or ``"perturbation"`` (a curve measure of the model's output).
    label:
        Axis label; ``short`` is the form used inside a sentence or title.
    value_range:
        ``(low, high)`` the scores can take.
    direction:
        ``"higher"`` when a higher score is better (more similar, better localised, more of the
        class kept), ``"lower"`` otherwise.
    chance:
        What an uninformative map scores: a number; the name of one of the measure's options
        whose value it is (``topk``'s ``frac``); :data:`MASK_SHARE` (the mask's share of the
        beat); or ``None`` where there is no chance level to draw.
    chance_note:
        How the chance level arises, for tables and docs.
    fn:
        The per-beat function (``None`` for the perturbation-curve measures, which the experiment
        computes from the model's outputs).
    rank_transform:
        ``"abs"`` or ``"signed"`` for Spearman measures: Pearson's correlation of the ranks of
        ``|a|`` (or ``a``), which lets the experiments rank each map once.
    pooling:
        How classes pool into the ``"all"`` rows: ``"mean"`` (classes weighted equally) or
        ``"weighted"`` (by the number of positive beats).
    citation:
        Where the measure comes from.
    """

    name: str
    family: str
    label: str
    value_range: tuple[float, float]
    direction: str = "higher"
    chance: float | str | None = None
    chance_note: str = ""
    fn: Callable[..., np.ndarray] | None = None
    short: str = ""
    rank_transform: str | None = None
    pooling: str = "mean"
    citation: str = ""

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ConfigError(f"measure {self.name!r}: family must be one of {FAMILIES}, got {self.family!r}")
        if self.direction not in ("higher", "lower"):
            raise ConfigError(f"measure {self.name!r}: direction must be 'higher' or 'lower'")
        if self.pooling not in ("mean", "weighted"):
            raise ConfigError(f"measure {self.name!r}: pooling must be 'mean' or 'weighted'")
        if isinstance(self.chance, str) and self.chance != MASK_SHARE and self.chance not in self.options():
            raise ConfigError(f"measure {self.name!r}: chance {self.chance!r} is neither {MASK_SHARE!r} "
                              "nor one of its options")

    def options(self) -> dict[str, object]:
        """The options the measure accepts, with their defaults (beyond the maps and the mask)."""
        if self.fn is None:
            return {}
        params = list(inspect.signature(self.fn).parameters.values())[2:]
        return {p.name: p.default for p in params if p.default is not inspect.Parameter.empty}

    def accepted(self, **options: object) -> dict[str, object]:
        """The subset of ``options`` this measure accepts (for experiments that pass one set of
        settings to several measures)."""
        valid = self.options()
        return {k: v for k, v in options.items() if k in valid}

    @property
    def chance_varies(self) -> bool:
        """Whether the chance level differs between beats (so a score/chance ratio means something)."""
        return self.chance == MASK_SHARE

    def chance_value(self, **options: object) -> float | None:
        """The chance level as one number (``None`` if it depends on the beat or there is none);
        an option-valued chance takes ``options`` or the measure's default."""
        if self.chance is None or self.chance == MASK_SHARE:
            return None
        if isinstance(self.chance, str):
            return float(options.get(self.chance, self.options()[self.chance]))
        return float(self.chance)

    def chance_per_beat(self, mask: np.ndarray) -> np.ndarray:
        """``(n,)`` chance level for masks ``(n, 12, T)`` bool (localisation measures).

        The mask's share where the chance is :data:`MASK_SHARE` (``NaN`` for an empty mask);
        otherwise the constant, defined only where the mask is neither empty nor full.
        """
        share = mask.reshape(mask.shape[0], -1).mean(axis=1)
        if self.chance == MASK_SHARE:
            return np.where(share > 0, share, np.nan)
        c = self.chance_value()
        if c is None:
            return np.full(share.shape, np.nan)
        return np.where((share > 0) & (share < 1), c, np.nan)

    @property
    def ylim(self) -> tuple[float, float]:
        """Axis limits: the range with a 2 % margin of its width."""
        lo, hi = self.value_range
        pad = 0.02 * (hi - lo) if np.isfinite(hi - lo) else 0.0
        return lo - pad, hi + pad


MEASURES: Registry[MeasureSpec] = Registry("measure")
"""Every measure's :class:`MeasureSpec`, by name (filled when the defining module is imported)."""


def register_measure(spec: MeasureSpec) -> MeasureSpec:
    """Add ``spec`` to :data:`MEASURES` and return it."""
    MEASURES.register(spec.name, spec)
    return spec
