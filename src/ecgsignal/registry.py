"""A small name → object registry (after CEBRA's ``register`` / ``get`` / ``available``).

Registries replace if/elif chains for datasets, models, attribution methods and experiments, and
tests loop over what is registered, so a new entry is tested the day it is added.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from ecgsignal.errors import ConfigError, UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    """Names mapped to objects, refusing duplicates and naming the valid choices on a miss.

    Parameters
    ----------
    kind:
        What the registry holds, used in error messages (e.g. ``"attribution method"``).
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str, obj: T | None = None) -> Callable[[T], T] | T:
        """Register ``obj`` under ``name``; usable as a decorator when ``obj`` is omitted."""
        if obj is None:

            def deco(o: T) -> T:
                self.register(name, o)
                return o

            return deco
        if name in self._items:
            raise ConfigError(f"{self.kind} {name!r} is already registered")
        self._items[name] = obj
        return obj

    def get(self, name: str) -> T:
        """The object registered under ``name``; unknown names fail with the valid list."""
        try:
            return self._items[name]
        except KeyError:
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}; valid: {', '.join(self.available())}"
            ) from None

    def available(self) -> list[str]:
        """Registered names, in registration order."""
        return list(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)
