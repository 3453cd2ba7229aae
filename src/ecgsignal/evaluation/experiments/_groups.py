"""Private helpers shared by experiments 1, 2 and 5: parameter checks and beat groups by class."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ecgsignal.errors import ConfigError
from ecgsignal.evaluation.context import BeatSelection, ExperimentContext
from ecgsignal.registry import Registry

POOLED = "all"
"""Name of the pooled class (every explained beat)."""


def check_names(names: object, registry: Registry, param: str) -> list[str]:
    """``names`` as a non-empty list of registered names, else :class:`ConfigError` listing the valid."""
    if isinstance(names, str):
        names = [names]
    if not isinstance(names, Sequence) or len(names) == 0:
        raise ConfigError(f"parameter {param!r} must be a non-empty list; valid entries: "
                          f"{registry.available()}")
    out = []
    for n in names:
        if n not in registry:
            raise ConfigError(f"parameter {param!r}: unknown {registry.kind} {n!r}; valid: "
                              f"{registry.available()}")
        if n not in out:
            out.append(str(n))
    return out


def context_methods(ctx: ExperimentContext) -> list[str]:
    """The context's methods (12 + controls by default), refusing an empty list."""
    if not ctx.methods:
        raise ConfigError("the experiment context lists no attribution methods "
                          "(ExperimentContext(methods=...))")
    return list(dict.fromkeys(ctx.methods))


def class_groups(beats: BeatSelection, keep: np.ndarray | None = None) -> list[tuple[str, np.ndarray]]:
    """``(class name, beat indices)`` per class present, in class order, then the pooled group.

    ``keep`` (``(m,)`` bool) drops beats first (e.g. beats with an empty mask); classes left
    without beats are omitted, and so is the pooled group when nothing is kept.
    """
    keep = np.ones(beats.n, bool) if keep is None else np.asarray(keep, bool)
    groups = []
    for c, name in enumerate(beats.class_names):
        idx = np.flatnonzero((beats.target == c) & keep)
        if idx.size:
            groups.append((name, idx))
    pooled = np.flatnonzero(keep)
    if pooled.size:
        groups.append((POOLED, pooled))
    return groups
