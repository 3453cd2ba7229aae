"""Where caches and results live.

The cache root is ``$ECGSIGNAL_CACHE`` when set, else ``.cache/ecgsignal`` under the current
working directory's project root (the nearest folder above holding ``pyproject.toml`` or
``_config.yml``), else ``~/.cache/ecgsignal``.
"""

from __future__ import annotations

import os
from pathlib import Path


def project_root(start: Path | None = None) -> Path | None:
    """The nearest folder at or above ``start`` holding ``_config.yml`` and ``pyproject.toml``."""
    here = (start or Path.cwd()).resolve()
    for p in (here, *here.parents):
        if (p / "_config.yml").exists() and (p / "pyproject.toml").exists():
            return p
    return None


def cache_root() -> Path:
    """Root folder of every cache (checkpoints, attributions, data, results of units)."""
    env = os.environ.get("ECGSIGNAL_CACHE")
    if env:
        return Path(env).expanduser()
    root = project_root()
    if root is not None:
        return root / ".cache" / "ecgsignal"
    return Path.home() / ".cache" / "ecgsignal"


def cache_dir(kind: str) -> Path:
    """``cache_root()/kind``, created if missing."""
    d = cache_root() / kind
    d.mkdir(parents=True, exist_ok=True)
    return d
