"""The book's explorers, built from an experiment context: beats chosen, cubes cached.

:mod:`ecgsignal.widgets` supplies the explorers themselves (static plotly figures drawn from a
precomputed cube, and live ipywidgets driving the model). A chapter only has an
:class:`~ecgsignal.evaluation.context.ExperimentContext`; this module picks the beats to show (one
per class, the most telling classes first), builds each cube once and keeps it in the cache under
a key made of everything it depends on (model, beats, methods, order, seeds, baselines), so a rerun
of a chapter with warm caches draws its explorers in seconds and a changed model never shows a
stale cube.

References
----------
Adebayo, J. et al. (2018). Sanity checks for saliency maps. NeurIPS. (layer randomisation)
Samek, W. et al. (2017). Evaluating the visualization of what a deep neural network has learned.
IEEE TNNLS 28(11). (removing features to test an explanation)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from torch import nn

from ecgsignal.config import config_hash
from ecgsignal.errors import ConfigError, DataError
from ecgsignal.evaluation.context import BeatSelection
from ecgsignal.evaluation.store import array_digest
from ecgsignal.paths import cache_dir
from ecgsignal.validation import check_int

__all__ = [
    "DEFAULT_CUBE_METHODS",
    "PREFERRED_CLASSES",
    "beat_labels",
    "explorer_beats",
    "live_perturbation_explorer",
    "live_randomization_explorer",
    "perturbation_cube_for",
    "perturbation_explorer",
    "randomization_cube_for",
    "randomization_explorer",
]

PREFERRED_CLASSES: tuple[str, ...] = ("LBBB", "STEMI", "RBBB", "IMI", "LVH", "TWI", "LQT", "1AVB",
                                      "NORM")
"""Classes shown first in the explorers: those whose evidence is most localised in leads and time
(SYNTHETIC_ECG.md), so a reader sees at once whether a map finds it. Other classes follow in the
dataset's class order."""

DEFAULT_CUBE_METHODS: tuple[str, ...] = ("saliency", "integrated_gradients", "gradcam")
"""Methods of the randomisation explorer when none are given (the smoke profile's choice)."""


class _Trained(Protocol):
    key: str
    model: nn.Module


class _Context(Protocol):
    """What the explorers read from an :class:`~ecgsignal.evaluation.context.ExperimentContext`."""

    beats: BeatSelection
    baselines: np.ndarray
    seed: int
    device: str
    cache_dir: Path | None
    dataset: Any

    def trained(self, seed: int | None = None) -> _Trained: ...


# ----------------------------------------------------------------------------- beats
def explorer_beats(beats: BeatSelection, n: int,
                   prefer: Sequence[str] = PREFERRED_CLASSES) -> np.ndarray:
    """Positions (into ``beats``) of up to ``n`` beats to show, one per class first.

    Classes are taken in the order of ``prefer``, then the remaining classes in their dataset
    order; each contributes its first beat. When there are fewer classes than ``n``, further
    beats follow in the same class order (second beat of each class, and so on).

    Parameters
    ----------
    beats:
        The explained beats (``ctx.beats``).
    n:
        How many beats at most (``n >= 1``).
    prefer:
        Class names shown first, in this order (names not in ``beats.class_names`` are ignored).

    Returns
    -------
    numpy.ndarray
        ``(min(n, beats.n),)`` int64 positions, no repeats.
    """
    n = check_int(n, "n", what="number of beats")
    if beats.n == 0:
        raise DataError("there are no explained beats to show")
    names = list(beats.class_names)
    order = [names.index(c) for c in prefer if c in names]
    order += [c for c in range(len(names)) if c not in order]
    per_class = [list(np.flatnonzero(beats.target == c)) for c in order]
    picked: list[int] = []
    rank = 0
    while len(picked) < min(n, beats.n):
        for positions in per_class:
            if rank < len(positions) and len(picked) < n:
                picked.append(int(positions[rank]))
        rank += 1
    return np.asarray(picked, dtype=np.int64)


def beat_labels(beats: BeatSelection, positions: Sequence[int] | np.ndarray) -> list[str]:
    """Menu labels of the chosen beats: ``"<class> (beat <dataset index>)"``."""
    names = beats.class_of()
    return [f"{names[p]} (beat {int(beats.index[p])})" for p in np.asarray(positions, dtype=np.int64)]


def _live():
    from ecgsignal.widgets import live

    return live


# ----------------------------------------------------------------------------- cache
def _cube_path(ctx: _Context, kind: str, parts: dict[str, Any]) -> Path:
    root = Path(ctx.cache_dir) / "cubes" if getattr(ctx, "cache_dir", None) is not None \
        else cache_dir("cubes")
    root.mkdir(parents=True, exist_ok=True)
    return root / f"{kind}-{config_hash(parts)}.npz"


def _methods(methods: Sequence[str] | str | None, default: Sequence[str]) -> list[str]:
    from ecgsignal.attribution import METHODS

    chosen = list(default) if methods is None else (
        [methods] if isinstance(methods, str) else list(methods))
    if not chosen:
        raise ConfigError("name at least one attribution method for the explorer")
    for m in chosen:
        METHODS.get(m)  # unknown names fail listing the valid ones
    return list(dict.fromkeys(chosen))


def _selection(ctx: _Context, n_beats: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    beats = ctx.beats
    pos = explorer_beats(beats, n_beats)
    return pos, beats.x[pos], beats.target[pos], beat_labels(beats, pos)


def _baselines_digest(ctx: _Context) -> str | None:
    b = getattr(ctx, "baselines", None)
    return None if b is None else array_digest(np.asarray(b, dtype=np.float32))


# ----------------------------------------------------------------------------- randomisation
def randomization_cube_for(ctx: _Context, methods: Sequence[str] | None = None, n_beats: int = 3,
                           *, order: str = "top_down", seed: int | None = None,
                           progress: bool = False) -> dict[str, np.ndarray]:
    """The layer-randomisation cube of the context's reference model, built once then cached.

    Parameters
    ----------
    ctx:
        The experiment context (reference model ``ctx.trained()``, beats, baselines, fs).
    methods:
        Attribution methods of the explorer's menu (default :data:`DEFAULT_CUBE_METHODS`).
    n_beats:
        Beats shown (:func:`explorer_beats`).
    order:
        Randomisation order (``top_down``, ``bottom_up`` or ``independent``).
    seed:
        Seed of the random weights and of stochastic methods (default ``ctx.seed``).
    progress:
        Progress bar while building.

    Returns
    -------
    dict
        The cube of :func:`ecgsignal.widgets.randomization_cube` (``maps`` ``(M, S, B, 12, T)``).
    """
    from ecgsignal.widgets import load_or_build_cube, randomization_cube

    meths = _methods(methods, DEFAULT_CUBE_METHODS)
    _, x, tgt, _ = _selection(ctx, n_beats)
    trained = ctx.trained()
    s = ctx.seed if seed is None else int(seed)
    fs = float(ctx.dataset.fs)
    parts = {"kind": "randomization", "model": trained.key, "beats": array_digest(x, tgt),
             "methods": meths, "order": order, "seed": s, "fs": fs,
             "baselines": _baselines_digest(ctx), "version": 1}
    return load_or_build_cube(_cube_path(ctx, "randomization", parts), lambda: randomization_cube(
        trained.model, x, ctx.beats.class_names, meths, targets=tgt, order=order, seed=s,
        baselines=ctx.baselines, fs=fs, device=ctx.device, progress=progress))


def randomization_explorer(ctx: _Context, methods: Sequence[str] | None = None, n_beats: int = 3,
                           *, order: str = "top_down", seed: int | None = None,
                           progress: bool = False, **figure_kw: Any) -> Any:
    """The static layer-randomisation explorer (works in the published site with no kernel).

    Parameters as :func:`randomization_cube_for`; ``figure_kw`` go to
    :func:`ecgsignal.widgets.randomization_figure`. Call ``.show()`` on the result in a notebook.

    Returns
    -------
    ecgsignal.widgets.StaticExplorer
    """
    from ecgsignal.widgets import randomization_figure

    cube = randomization_cube_for(ctx, methods, n_beats, order=order, seed=seed, progress=progress)
    pos = explorer_beats(ctx.beats, n_beats)
    figure_kw.setdefault("beat_labels", beat_labels(ctx.beats, pos))
    return randomization_figure(cube, **figure_kw)


def live_randomization_explorer(ctx: _Context, methods: Sequence[str] | None = None,
                                n_beats: int = 3, *, order: str = "top_down",
                                seed: int | None = None) -> Any:
    """The live layer-randomisation explorer (ipywidgets; needs a running kernel).

    Drawn once when built (so a papermill run shows its first state and moves on); in the
    published site :func:`ecgsignal.run.book.prepare_executed` replaces it by a note. Figures
    are drawn by assignment to the ``Output`` widget (see ``widgets.live``).

    Returns
    -------
    ecgsignal.widgets.RandomizationExplorer
        (drawn by assignment to its ``Output`` widget)
    """
    meths = _methods(methods, DEFAULT_CUBE_METHODS)
    _, x, tgt, _ = _selection(ctx, n_beats)
    return _live().RandomizationExplorer(ctx.trained().model, x, ctx.beats.class_names, meths, targets=tgt,
                                 order=order, seed=ctx.seed if seed is None else int(seed),
                                 baselines=ctx.baselines, fs=float(ctx.dataset.fs),
                                 device=ctx.device)


# ----------------------------------------------------------------------------- perturbation
def perturbation_cube_for(ctx: _Context, method: str = "integrated_gradients", n_beats: int = 2,
                          *, seed: int | None = None, progress: bool = False,
                          ) -> dict[str, np.ndarray]:
    """The lead-perturbation cube of the reference model (default grid), built once then cached.

    Parameters
    ----------
    ctx:
        The experiment context.
    method:
        The attribution method shown beside the probabilities.
    n_beats:
        Beats offered (:func:`explorer_beats`).
    seed:
        Seed of the perturbation noise and stochastic methods (default ``ctx.seed``).
    progress:
        Progress bar while building.

    Returns
    -------
    dict
        The cube of :func:`ecgsignal.widgets.perturbation_cube` (every default lead set, kind and
        strength).
    """
    from ecgsignal.widgets import load_or_build_cube, perturbation_cube

    meth = _methods(method, ())[0]
    _, x, tgt, _ = _selection(ctx, n_beats)
    trained = ctx.trained()
    s = ctx.seed if seed is None else int(seed)
    fs = float(ctx.dataset.fs)
    parts = {"kind": "perturbation", "model": trained.key, "beats": array_digest(x, tgt),
             "method": meth, "seed": s, "fs": fs, "baselines": _baselines_digest(ctx),
             "version": 1}
    return load_or_build_cube(_cube_path(ctx, "perturbation", parts), lambda: perturbation_cube(
        trained.model, x, ctx.beats.class_names, meth, targets=tgt, seed=s,
        baselines=ctx.baselines, fs=fs, device=ctx.device, progress=progress))


def perturbation_explorer(ctx: _Context, method: str = "integrated_gradients", n_beats: int = 2,
                          *, seed: int | None = None, progress: bool = False,
                          **figure_kw: Any) -> Any:
    """The static lead-perturbation explorer (works in the published site with no kernel).

    Parameters as :func:`perturbation_cube_for`; ``figure_kw`` go to
    :func:`ecgsignal.widgets.perturbation_figure`.

    Returns
    -------
    ecgsignal.widgets.StaticExplorer
    """
    from ecgsignal.widgets import perturbation_figure

    cube = perturbation_cube_for(ctx, method, n_beats, seed=seed, progress=progress)
    pos = explorer_beats(ctx.beats, n_beats)
    figure_kw.setdefault("beat_labels", beat_labels(ctx.beats, pos))
    return perturbation_figure(cube, **figure_kw)


def live_perturbation_explorer(ctx: _Context, method: str = "integrated_gradients",
                               n_beats: int = 2, *, leads: Sequence[str] = ("V1",),
                               kind: str = "zero", strength: float = 1.0,
                               seed: int | None = None) -> Any:
    """The live lead-perturbation explorer (ipywidgets; needs a running kernel).

    Returns
    -------
    ecgsignal.widgets.PerturbationExplorer
        (drawn by assignment to its ``Output`` widget)
    """
    meth = _methods(method, ())[0]
    _, x, tgt, _ = _selection(ctx, n_beats)
    return _live().PerturbationExplorer(ctx.trained().model, x, ctx.beats.class_names, meth, targets=tgt,
                                leads=leads, kind=kind, strength=strength,
                                seed=ctx.seed if seed is None else int(seed),
                                baselines=ctx.baselines, fs=float(ctx.dataset.fs),
                                device=ctx.device)
