"""Checks of scalar parameters, shared by every layer (data, models, attribution, evaluation, run).

One module at the bottom of the dependency order (it imports only :mod:`ecgsignal.errors`), so
that every function fails the same way on the same bad input: a :class:`~ecgsignal.errors.ConfigError`
(a ``ValueError``) whose message names the parameter, what it must be and what it got.
Array checks stay beside the data they describe (``data.dataset.validate_signals``,
``evaluation._utils.as_maps``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ecgsignal.errors import ConfigError

__all__ = ["check_bootstrap", "check_choice", "check_fraction", "check_int", "check_number"]


def check_int(value: Any, name: str, minimum: int = 1, *, what: str = "") -> int:
    """``value`` as an ``int`` at least ``minimum`` (bools refused), else :class:`ConfigError`.

    ``what`` is appended to the requirement (e.g. ``"number of beats"``).
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        need = {0: "a non-negative integer", 1: "a positive integer"}.get(minimum, f"an integer >= {minimum}")
        raise ConfigError(f"{name} must be {need}{' ' + what if what else ''}, got {value!r}")
    return int(value)


def check_number(value: Any, name: str, *, positive: bool = False) -> float:
    """``value`` as a finite ``float`` (``> 0`` when ``positive``; bools refused), else :class:`ConfigError`."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not np.isfinite(value) \
            or (positive and not value > 0):
        need = "a finite positive number" if positive else "a finite number"
        raise ConfigError(f"{name} must be {need}, got {value!r}")
    return float(value)


def check_fraction(value: Any, name: str, *, open_low: bool = False) -> float:
    """A number in [0, 1] (or (0, 1] when ``open_low``), else :class:`ConfigError`."""
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name} must be a number in [0, 1]; got {value!r}") from exc
    low_ok = v > 0 if open_low else v >= 0
    if not (low_ok and v <= 1):
        interval = "(0, 1]" if open_low else "[0, 1]"
        raise ConfigError(f"{name} must lie in {interval}; got {value!r}")
    return v


def check_choice(value: Any, valid: Iterable[str], what: str) -> str:
    """``value`` if it is one of ``valid``, else :class:`ConfigError` listing the valid choices."""
    valid = tuple(valid)
    if value not in valid:
        raise ConfigError(f"unknown {what} {value!r}; valid: {', '.join(valid)}")
    return value


def check_bootstrap(n_boot: Any, ci: Any, *, min_boot: int = 1) -> tuple[int, float]:
    """A bootstrap's resample count (an integer >= ``min_boot``) and confidence level in (0, 1)."""
    n_boot = check_int(n_boot, "n_boot", min_boot)
    try:
        ok = 0.0 < float(ci) < 1.0
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ConfigError(f"ci must be a number strictly between 0 and 1; got {ci!r}")
    return n_boot, float(ci)


def env_int(name: str) -> int | None:
    """The positive integer in environment variable ``name`` (``None`` when unset or empty),
    else :class:`ConfigError` naming the variable."""
    import os

    env = os.environ.get(name, "").strip()
    if not env:
        return None
    try:
        n = int(env)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a positive integer, got {env!r}") from exc
    if n < 1:
        raise ConfigError(f"{name} must be a positive integer, got {env!r}")
    return n
