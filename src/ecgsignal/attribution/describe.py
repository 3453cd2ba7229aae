"""What the registered attribution methods are, and what they cost.

- :func:`method_table` — one row per method from its :class:`~ecgsignal.attribution.MethodSpec`
  (kind, whether it multiplies the input, whether it resolves leads, its paper…), so the book's
  table can never drift from the registry;
- :func:`time_methods` — seconds per beat of each method on given beats, repeated, so a table
  or figure of costs can show the spread between repeats.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import pandas as pd
from torch import nn

from ecgsignal.attribution.engine import attribute
from ecgsignal.attribution.registry import METHODS, resolve_methods
from ecgsignal.errors import ConfigError
from ecgsignal.validation import check_int

__all__ = ["method_table", "time_methods"]


def method_table(methods: str | Sequence[str] = "all") -> pd.DataFrame:
    """Properties of attribution methods, read from the registry.

    Parameters
    ----------
    methods:
        ``"all"`` (12 paper methods + 3 controls), any group or names accepted by
        :func:`~ecgsignal.attribution.resolve_methods`.

    Returns
    -------
    pandas.DataFrame
        One row per method (in registry order) with columns ``method``, ``kind``, ``paper``,
        ``multiplies_input``, ``lead_resolved``, ``stochastic``, ``target_dependent``,
        ``needs_baselines``, ``citation``, ``description``.
    """
    rows = []
    for name in resolve_methods(methods):
        s = METHODS.get(name)
        rows.append({"method": s.name, "kind": s.kind, "paper": s.paper,
                     "multiplies_input": s.multiplies_input, "lead_resolved": s.lead_resolved,
                     "stochastic": s.stochastic, "target_dependent": s.target_dependent,
                     "needs_baselines": s.needs_baselines, "citation": s.citation,
                     "description": s.description})
    return pd.DataFrame(rows)


def time_methods(model: nn.Module, x: np.ndarray, target: np.ndarray | int,
                 methods: str | Sequence[str] = "all", *, repeats: int = 3, warmup: bool = True,
                 seed: int = 0, baselines: np.ndarray | None = None, device: str | None = None,
                 fs: float = 250.0) -> pd.DataFrame:
    """Wall-clock cost of each method on the beats ``x``, ``repeats`` times.

    Each repeat is one :func:`~ecgsignal.attribution.attribute` call on all beats (the engine's
    own batching), timed with :func:`time.perf_counter`; nothing is cached. Costs depend on
    the machine and its load: compare methods within one table, not across machines.

    Parameters
    ----------
    model:
        The network explained.
    x:
        ``(n, 12, T)`` beats, mV.
    target:
        Class explained per beat (``(n,)``) or for all.
    methods:
        As for :func:`method_table`.
    repeats:
        Timed calls per method (≥ 1).
    warmup:
        Make one untimed call per method first (first calls pay for imports, hook set-up and
        memory allocation).
    seed, baselines, device, fs:
        Passed to :func:`~ecgsignal.attribution.attribute`.

    Returns
    -------
    pandas.DataFrame
        Tidy rows ``method``, ``repeat``, ``n_beats``, ``seconds`` (the call),
        ``ms_per_beat``.
    """
    repeats = check_int(repeats, "repeats")
    x = np.asarray(x)
    n = int(x.shape[0]) if x.ndim == 3 else 0
    if n == 0:
        raise ConfigError(f"x must hold at least one (12, T) beat, got shape {x.shape}")
    rows = []
    kw = {"seed": seed, "baselines": baselines, "device": device, "fs": fs}
    first = target if np.ndim(target) == 0 else np.asarray(target)[:1]
    for name in resolve_methods(methods):
        if warmup:
            attribute(model, x[:1], first, name, **kw)
        for r in range(repeats):
            t0 = time.perf_counter()
            attribute(model, x, target, name, **kw)
            dt = time.perf_counter() - t0
            rows.append({"method": name, "repeat": r, "n_beats": n, "seconds": dt,
                         "ms_per_beat": 1e3 * dt / n})
    return pd.DataFrame(rows)
