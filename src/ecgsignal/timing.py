"""Where the time goes: a tiny stage timer that the book's profile table reads.

Expensive steps wrap themselves in :func:`stage` (``kind`` is one of :data:`KINDS`)::

    with stage("attribution", "integrated_gradients"):
        maps = attribute(...)

Stages nest; each records its **self time** (wall-clock seconds minus the time of the stages
inside it), so the kinds of one chapter add up to the time spent inside stages without counting
anything twice. Records are kept in memory (:func:`records`) and, when the environment variable
``ECGSIGNAL_TIMINGS`` names a file, appended to it as JSON lines when the outermost stage ends
(one ``write`` per line on a file opened for appending: kernels running side by side do not
interleave lines). ``ECGSIGNAL_CHAPTER`` labels the records with the chapter that ran them; the
book runner sets both for every chapter kernel, and ``ecgsignal bench --sections chapters`` reads
the file back (:func:`read_timings`).

Timing costs two ``perf_counter`` calls per stage; nothing is written unless the variable is set.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from ecgsignal.errors import ConfigError

__all__ = ["ENV_CHAPTER", "ENV_FILE", "KINDS", "append_record", "read_timings", "records", "reset", "stage",
           "timed"]

F = TypeVar("F", bound=Callable[..., Any])

ENV_FILE = "ECGSIGNAL_TIMINGS"
ENV_CHAPTER = "ECGSIGNAL_CHAPTER"

KINDS: tuple[str, ...] = ("training", "attribution", "experiment", "bootstrap", "data",
                          "waiting")
"""Stage kinds: model training, attribution maps (one per method), an experiment's own work
(similarities, perturbation passes… outside the stages inside it), bootstrap CIs, data
generation and loading, and waiting for worker processes (whose own stages are logged by the
workers themselves, with the same chapter label, and overlap the wait)."""

_stack: list[list[float]] = []          # per open stage: [start, time spent in child stages]
_records: list[dict[str, Any]] = []
_pending: list[dict[str, Any]] = []


@contextlib.contextmanager
def stage(kind: str, name: str = "") -> Iterator[None]:
    """Time the block as one stage of ``kind`` (see :data:`KINDS`) called ``name``.

    Raises
    ------
    ConfigError
        ``kind`` is not one of :data:`KINDS`.
    """
    if kind not in KINDS:
        raise ConfigError(f"unknown timing kind {kind!r}; valid: {', '.join(KINDS)}")
    frame = [time.perf_counter(), 0.0]
    _stack.append(frame)
    try:
        yield
    finally:
        total = time.perf_counter() - frame[0]
        _stack.pop()
        if _stack:
            _stack[-1][1] += total
        rec = {"kind": kind, "name": name, "seconds": round(total - frame[1], 4),
               "chapter": os.environ.get(ENV_CHAPTER, "")}
        _records.append(rec)
        _pending.append(rec)
        if not _stack:
            _flush()


def timed(kind: str, name: str | None = None) -> Callable[[F], F]:
    """Decorator: every call of the function is a :func:`stage` (``name``: the function's)."""
    if kind not in KINDS:
        raise ConfigError(f"unknown timing kind {kind!r}; valid: {', '.join(KINDS)}")

    def wrap(fn: F) -> F:
        label = name or fn.__name__

        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> Any:
            with stage(kind, label):
                return fn(*args, **kwargs)

        return inner  # type: ignore[return-value]

    return wrap


def _flush() -> None:
    target = os.environ.get(ENV_FILE)
    pending = list(_pending)
    _pending.clear()
    if target and pending:
        append_record(target, *pending)


def append_record(path: str | os.PathLike, *recs: dict[str, Any]) -> None:
    """Append ``recs`` to the JSON-lines file ``path`` in one ``write`` (created if missing)."""
    lines = "".join(json.dumps(r) + "\n" for r in recs)
    if not lines:
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, lines.encode())
    finally:
        os.close(fd)


def records() -> list[dict[str, Any]]:
    """The stages recorded in this process so far (dicts: kind, name, seconds, chapter)."""
    return list(_records)


def reset() -> None:
    """Forget the stages recorded in this process (the file, if any, is left alone)."""
    _records.clear()
    _pending.clear()


def read_timings(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The records of a timings file; unreadable lines (a run killed mid-write) are skipped.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    """
    out = []
    for line in Path(path).read_text().splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict) and {"kind", "seconds"} <= rec.keys():
            out.append(rec)
    return out
