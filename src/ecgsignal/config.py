"""Typed, frozen configs that round-trip to JSON and hash to a cache key."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from typing import Any, TypeVar

from ecgsignal.errors import ConfigError

C = TypeVar("C")


def to_dict(cfg: Any) -> dict[str, Any]:
    """A JSON-ready dict of a (nested) config dataclass; tuples become lists."""
    if not dataclasses.is_dataclass(cfg):
        raise TypeError(f"expected a dataclass config, got {type(cfg).__name__}")
    return json.loads(json.dumps(dataclasses.asdict(cfg), default=_default))


def _default(o: Any) -> Any:
    if hasattr(o, "item"):
        return o.item()
    raise TypeError(f"not JSON serialisable in a config: {type(o).__name__}")


def canonical_json(obj: Any) -> str:
    """Sorted, compact JSON: the text a config hash is computed on."""
    if dataclasses.is_dataclass(obj):
        obj = {"__type__": type(obj).__name__, **to_dict(obj)}
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_default)


def config_hash(*parts: Any, length: int = 16) -> str:
    """Hex digest identifying the given configs (and plain values) together."""
    h = hashlib.sha256()
    for p in parts:
        h.update(canonical_json(p).encode())
        h.update(b"\x00")
    return h.hexdigest()[:length]


def from_dict(cls: type[C], data: dict[str, Any]) -> C:
    """Build config ``cls`` from a dict, checking field names and basic types.

    Unknown keys and values of the wrong type raise :class:`ConfigError` naming the field.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{cls.__name__}: expected a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(data) - set(fields)
    if unknown:
        raise ConfigError(
            f"{cls.__name__}: unknown field(s) {sorted(unknown)}; valid: {sorted(fields)}"
        )
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, value in data.items():
        kwargs[name] = _coerce(cls.__name__, name, hints[name], value)
    return cls(**kwargs)


def _coerce(owner: str, name: str, tp: Any, value: Any) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        errors = []
        for a in args:
            if a is type(None):
                if value is None:
                    return None
                continue
            try:
                return _coerce(owner, name, a, value)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(f"{owner}.{name}: {value!r} matches none of {tp}")
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{owner}.{name}: {value!r} is not one of {list(args)}")
        return value
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{owner}.{name}: expected a list, got {type(value).__name__}")
        inner = args[0] if args else Any
        items = [_coerce(owner, name, inner, v) for v in value] if inner is not Ellipsis else list(value)
        return tuple(items) if origin is tuple else items
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        return from_dict(tp, value)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{owner}.{name}: expected a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{owner}.{name}: expected an integer, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{owner}.{name}: expected true/false, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{owner}.{name}: expected a string, got {value!r}")
        return value
    return value
