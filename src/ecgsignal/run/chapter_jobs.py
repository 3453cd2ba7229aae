"""Which chapters a book run executes, in what order and in how many kernels at once.

* **Up to date** (:func:`chapter_stamp`): an executed copy records a stamp, the SHA-256 of the
  source notebook, the resolved profile, the papermill parameters and the package's source files
  (every ``.py``/``.yaml`` under ``src/ecgsignal``). A chapter whose stamp is unchanged is not run
  again: its executed copy is already what a run would produce from the same inputs (the results
  and caches it read are themselves keyed by their configs). ``force=True`` runs it anyway.
* **Waves** (:func:`plan_waves`): one wave with the data and model chapters first (the others
  read the models that chapter 02 trains into the checkpoint cache), then every other chapter,
  longest first, the chapters that read another chapter's experiment too (09 and 13 read
  Experiment 3 of chapter 06; a reader that starts while 06 computes it waits at that cell, and
  its core goes to 06's workers, so an early start costs nothing, while a reader started last
  ran alone at the end with one core idle: 13 for ~60 s of 890 s, then 09 for ~80 s of 860 s,
  measured on fresh clones); then a wave of the chapters that report on the others (chapter 12
  reads the timing logs they write). A chapter may start while another is still computing what it needs (a model, a
  map, an experiment): those caches are locked while computed (:func:`ecgsignal.io.file_lock`),
  so it waits at that cell and then reads what was saved, and the core the last training seed or
  the last experiment leaves free goes to the next chapter instead of waiting for a wave.
* **Parallel kernels** (:func:`run_jobs`): up to ``jobs`` chapters of a wave run at once, each in
  its own worker process (so each kernel gets its own environment), with
  ``OMP_NUM_THREADS = cores // jobs`` torch threads per kernel unless ``OMP_NUM_THREADS`` is set.
  On two cores two one-thread kernels do more work per second than one two-thread kernel, because
  the default CNN's small convolutions do not keep two threads busy.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from ecgsignal.config import to_dict
from ecgsignal.validation import env_int

__all__ = ["FIRST", "LAST", "RELATIVE_COST", "chapter_stamp", "default_jobs", "plan_waves",
           "read_stamp", "run_jobs", "source_digest", "threads_per_kernel"]

FIRST: tuple[str, ...] = ("01_data", "02_models")
"""Chapters that start before the others: the data, and the models every later chapter reads."""

LAST: tuple[str, ...] = ("12_performance",)
"""Chapters that run after the others (chapter 12 reports on their timing logs)."""

RELATIVE_COST: dict[str, float] = {
    "06_randomization": 10.0, "07_perturbation": 4.0, "13_beyond_heatmaps": 3.0,
    "04_similarity": 2.0, "09_pitfalls": 1.5, "05_consistency": 1.0, "03_gallery": 1.0,
    "11_your_data": 0.8, "08_localization": 0.5, "10_workshop": 0.4, "14_statistics": 0.3,
}
"""Rough cold cost of each chapter relative to chapter 05, for the longest-first order (measured
on the book profile; a chapter missing here counts 1)."""

STAMP_KEY = "stamp"


def source_digest(package_dir: Path | None = None) -> str:
    """SHA-256 over the package's ``.py`` and ``.yaml`` files (paths and contents, sorted)."""
    if package_dir is None:
        package_dir = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for path in sorted(p for p in package_dir.rglob("*") if p.suffix in (".py", ".yaml")):
        if "__pycache__" in path.parts:
            continue
        h.update(str(path.relative_to(package_dir)).encode() + b"\0")
        h.update(path.read_bytes() + b"\0")
    return h.hexdigest()


def chapter_stamp(source: Path, profile: Any, params: dict[str, Any], digest: str) -> str:
    """The stamp of one chapter run: notebook bytes, resolved profile, parameters, package."""
    h = hashlib.sha256()
    h.update(Path(source).read_bytes())
    h.update(json.dumps(to_dict(profile), sort_keys=True, default=str).encode())
    h.update(json.dumps(params, sort_keys=True, default=str).encode())
    h.update(digest.encode())
    return h.hexdigest()


def read_stamp(executed: Path) -> str | None:
    """The stamp recorded in an executed copy (``None``: missing or unreadable copy, no stamp)."""
    try:
        meta = json.loads(Path(executed).read_text()).get("metadata", {})
    except (OSError, ValueError):
        return None
    stamp = (meta.get("ecgsignal") or {}).get(STAMP_KEY)
    return stamp if isinstance(stamp, str) else None


def plan_waves(chapters: Sequence[str]) -> list[list[str]]:
    """``chapters`` grouped into waves that run one after the other (see the module docstring);
    inside a wave, data and models first, then the most expensive chapter first. Empty waves
    are dropped."""
    first = [c for c in chapters if c in FIRST]
    last = [c for c in chapters if c in LAST]
    middle = sorted((c for c in chapters if c not in (*FIRST, *LAST)),
                    key=lambda c: -RELATIVE_COST.get(c, 1.0))
    first.sort(key=lambda c: -RELATIVE_COST.get(c, 1.0) if c != "02_models" else -1e9)
    return [w for w in (first + middle, last) if w]


def default_jobs() -> int:
    """Chapters run at once by default: ``$ECGSIGNAL_BOOK_JOBS``, else 2 when the machine has
    at least two cores, else 1."""
    n = env_int("ECGSIGNAL_BOOK_JOBS")
    if n is not None:
        return n
    return 2 if (os.cpu_count() or 1) >= 2 else 1


def threads_per_kernel(jobs: int) -> int:
    """Torch/OpenMP threads for each of ``jobs`` kernels sharing this machine's cores."""
    return max(1, (os.cpu_count() or 1) // max(1, jobs))


@contextlib.contextmanager
def environment(**values: str) -> Iterator[None]:
    """Set environment variables for the block, restoring the previous values after it."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _call(fn: Callable[..., Any], env: dict[str, str], args: tuple) -> Any:
    os.environ.update(env)
    return fn(*args)


def _wave_env(env: dict[str, str], wave_size: int, jobs: int) -> dict[str, str]:
    """``env`` for the kernels of a wave: when the wave has fewer chapters than ``jobs`` (chapter
    12's wave) its kernels share the cores among fewer, unless ``OMP_NUM_THREADS`` was fixed by
    the caller."""
    out = dict(env)
    if "OMP_NUM_THREADS" in out and not os.environ.get("OMP_NUM_THREADS"):
        out["OMP_NUM_THREADS"] = str(threads_per_kernel(max(1, min(jobs, wave_size))))
    return out


def run_jobs(fn: Callable[..., Any], waves: Iterable[Iterable[tuple[str, tuple]]], jobs: int,
             env: dict[str, str] | None = None,
             on_done: Callable[[str, Any], None] | None = None) -> dict[str, Any]:
    """Run ``fn(*args)`` for every ``(name, args)`` of each wave, waves in order.

    With ``jobs == 1`` everything runs here, one after the other. Otherwise each call runs in a
    worker process (``spawn``; ``fn`` and ``args`` must pickle) with ``env`` added to its
    environment, at most ``jobs`` at once. The first exception stops the run: running calls
    finish, nothing new starts, and the exception is raised here. Returns ``{name: result}``.
    """
    out: dict[str, Any] = {}
    env = dict(env or {})
    if jobs <= 1:
        with environment(**env):
            for wave in waves:
                for name, args in wave:
                    out[name] = fn(*args)
                    if on_done is not None:
                        on_done(name, out[name])
        return out
    with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
        for wave in waves:
            todo = list(wave)
            wave_env = _wave_env(env, len(todo), jobs)
            running: dict[Future, str] = {}
            error: BaseException | None = None
            while todo or running:
                while todo and len(running) < jobs and error is None:
                    name, args = todo.pop(0)
                    running[pool.submit(_call, fn, wave_env, args)] = name
                if not running:
                    break
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in done:
                    name = running.pop(fut)
                    exc = fut.exception()
                    if exc is not None:
                        error = error or exc
                        todo.clear()
                        continue
                    out[name] = fut.result()
                    if on_done is not None:
                        on_done(name, out[name])
            if error is not None:
                raise error
    return out
