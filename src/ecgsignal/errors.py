"""Exceptions raised at the package's boundaries (data in, config in, files in)."""

from __future__ import annotations


class ECGSignalError(Exception):
    """Base class of every error this package raises on purpose."""


class DataError(ECGSignalError, ValueError):
    """Signals, labels, masks or metadata that break the dataset contract."""


class ConfigError(ECGSignalError, ValueError):
    """A config, profile or parameter that is unknown or of the wrong type."""


class CacheError(ECGSignalError):
    """A cache entry that is missing, truncated or corrupt."""


class UnknownNameError(ECGSignalError, KeyError):
    """A name looked up in a registry that holds no such entry."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0]) if self.args else ""
