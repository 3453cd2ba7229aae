"""Precomputed cubes behind the static explorers: every answer the site's sliders can ask for.

The published site has no kernel, so each explorer's possible states are computed in Python once
and stored as plain arrays (:func:`save_cube` → ``.npz`` through :func:`ecgsignal.io.save_npz`, no
pickles). :mod:`ecgsignal.widgets.static` turns a cube into one plotly figure whose sliders and
buttons pick slices of it in the browser.

* :func:`randomization_cube` — method × randomisation stage × beat → attribution map, its
  Spearman(|a|) similarity to the trained model's map (Adebayo et al. 2018, "Sanity checks for
  saliency maps", NeurIPS), and the randomised model's class probabilities.
* :func:`perturbation_cube` — beat × lead set × perturbation kind × strength → class
  probabilities and attribution map of the perturbed beat (kinds: :mod:`~.artefacts`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from ecgsignal.data.dataset import validate_signals
from ecgsignal.data.leads import LEAD_NAMES, N_LEADS
from ecgsignal.errors import CacheError, ConfigError, DataError
from ecgsignal.io import load_npz, save_npz
from ecgsignal.widgets.artefacts import PERTURBATIONS, lead_mask, noise_for

__all__ = [
    "CUBE_KINDS",
    "check_cube",
    "default_lead_sets",
    "load_cube",
    "load_or_build_cube",
    "perturbation_cube",
    "randomization_cube",
    "save_cube",
]

CUBE_KINDS = ("randomization", "perturbation")


def _check_beats(beats: np.ndarray, class_names: Sequence[str]) -> tuple[np.ndarray, tuple[str, ...]]:
    validate_signals(beats)
    names = tuple(str(c) for c in class_names)
    if not names:
        raise DataError("class_names is empty")
    return np.ascontiguousarray(beats, dtype=np.float32), names


def _targets(model: nn.Module, beats: np.ndarray, targets: Sequence[int] | np.ndarray | None,
             n_classes: int, device: str | None) -> np.ndarray:
    if targets is None:
        from ecgsignal.models import predict_proba

        return predict_proba(model, beats, device=device).argmax(1).astype(np.int64)
    t = np.asarray(targets, dtype=np.int64).reshape(-1)
    if t.shape != (len(beats),):
        raise DataError(f"{t.size} targets for {len(beats)} beats")
    if t.min() < 0 or t.max() >= n_classes:
        raise DataError(f"targets must lie in 0..{n_classes - 1}, got {sorted(set(t.tolist()))}")
    return t


def _check_outputs(model: nn.Module, beats: np.ndarray, n_classes: int, device: str | None) -> np.ndarray:
    from ecgsignal.models import predict_proba

    p = predict_proba(model, beats, device=device)
    if p.shape[1] != n_classes:
        raise DataError(f"the model has {p.shape[1]} outputs but {n_classes} class names were given")
    return p


def _progress(iterable, total: int, desc: str, progress: bool):
    if not progress:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, unit="step")


def randomization_cube(
    model: nn.Module,
    beats: np.ndarray,
    class_names: Sequence[str],
    methods: Sequence[str],
    *,
    targets: Sequence[int] | np.ndarray | None = None,
    order: str = "top_down",
    seed: int = 0,
    baselines: np.ndarray | None = None,
    fs: float = 250.0,
    device: str | None = None,
    progress: bool = False,
) -> dict[str, np.ndarray]:
    """Attribution maps of ``beats`` as ever more layers of ``model`` are randomised.

    Stage ``k`` is :func:`ecgsignal.evaluation.randomization.randomized_copy` of ``model`` with
    ``k`` stages re-initialised in ``order`` (``"top_down"``: cascading from the logits, as
    Adebayo et al. 2018); stage 0 is the trained model.

    Parameters
    ----------
    model:
        The trained classifier, ``(n, 12, T)`` mV → ``(n, C)`` logits. Left untouched.
    beats:
        ``(B, 12, T)`` float32 beats in mV (a handful: the cube grows with ``B``).
    class_names:
        The ``C`` class names.
    methods:
        Attribution method names (:data:`ecgsignal.attribution.PAPER_METHODS` and friends).
    targets:
        ``(B,)`` class explained per beat; default: the trained model's predicted class.
    order:
        ``"top_down"``, ``"bottom_up"`` or ``"independent"`` (see the randomisation module).
    seed:
        Seed of the random weights and of stochastic attribution methods.
    baselines:
        Reference beats for methods that need them (DeepLiftShap, GradientShap).
    fs:
        Sampling rate of ``beats`` in Hz.
    device:
        Torch device for the model (default: CPU).
    progress:
        Show a progress bar over stages.

    Returns
    -------
    dict of numpy arrays
        ``kind`` (``"randomization"``), ``signals`` ``(B, 12, T)``, ``targets`` ``(B,)``,
        ``class_names`` ``(C,)``, ``lead_names`` ``(12,)``, ``methods`` ``(M,)``, ``stages``
        ``(S,)`` (``"trained"``, then the stage randomised last), ``maps`` ``(M, S, B, 12, T)``
        float32 signed attributions, ``similarity`` ``(M, S, B)`` Spearman(|a|) to stage 0
        (NaN where a map is constant), ``probs`` ``(S, B, C)`` softmax of the stage's model,
        ``fs``, ``order``, ``seed`` (0-d arrays).
    """
    from ecgsignal.attribution import attribute
    from ecgsignal.evaluation.randomization import iter_randomized
    from ecgsignal.evaluation.similarity import spearman_abs
    from ecgsignal.models import predict_proba

    x, names = _check_beats(beats, class_names)
    methods = [str(m) for m in methods]
    if not methods:
        raise ConfigError("methods is empty: name at least one attribution method")
    _check_outputs(model, x, len(names), device)
    tgt = _targets(model, x, targets, len(names), device)
    walk = list(iter_randomized(model, order=order, seed=seed))
    n_stages = len(walk)
    maps = np.zeros((len(methods), n_stages, len(x), N_LEADS, x.shape[2]), np.float32)
    probs = np.zeros((n_stages, len(x), len(names)), np.float32)
    stage_names = []
    for k, name, m_k in _progress(walk, n_stages, "randomisation stages", progress):
        m_k.eval()
        stage_names.append(name)
        probs[k] = predict_proba(m_k, x, device=device)
        for j, method in enumerate(methods):
            maps[j, k] = attribute(m_k, x, tgt, method, seed=seed, baselines=baselines,
                                   device=device, fs=fs)
    sim = np.zeros((len(methods), n_stages, len(x)), np.float32)
    for j in range(len(methods)):
        for k in range(n_stages):
            sim[j, k] = spearman_abs(maps[j, 0], maps[j, k])
    return {
        "kind": np.array("randomization"),
        "signals": x,
        "targets": tgt,
        "class_names": np.array(names),
        "lead_names": np.array(LEAD_NAMES),
        "methods": np.array(methods),
        "stages": np.array(stage_names),
        "maps": maps,
        "similarity": sim,
        "probs": probs,
        "fs": np.array(float(fs)),
        "order": np.array(order),
        "seed": np.array(int(seed)),
    }


def default_lead_sets() -> dict[str, list[str]]:
    """Each single lead, the six limb leads, the six chest leads, and all twelve."""
    sets: dict[str, list[str]] = {name: [name] for name in LEAD_NAMES}
    sets["limb"] = list(LEAD_NAMES[:6])
    sets["chest"] = list(LEAD_NAMES[6:])
    sets["all"] = list(LEAD_NAMES)
    return sets


def perturbation_cube(
    model: nn.Module,
    beats: np.ndarray,
    class_names: Sequence[str],
    method: str = "integrated_gradients",
    *,
    targets: Sequence[int] | np.ndarray | None = None,
    lead_sets: Mapping[str, Sequence[str | int]] | None = None,
    kinds: Sequence[str] | None = None,
    grids: Mapping[str, Sequence[float]] | None = None,
    seed: int = 0,
    baselines: np.ndarray | None = None,
    fs: float = 250.0,
    device: str | None = None,
    progress: bool = False,
) -> dict[str, np.ndarray]:
    """Predictions and attributions of ``beats`` under every lead perturbation of a grid.

    Parameters
    ----------
    model:
        The classifier, ``(n, 12, T)`` mV → ``(n, C)`` logits.
    beats:
        ``(B, 12, T)`` float32 beats in mV.
    class_names:
        The ``C`` class names.
    method:
        The attribution method shown (one per cube).
    targets:
        ``(B,)`` class explained per beat; default: the predicted class of the unperturbed beat.
    lead_sets:
        Name → leads perturbed together; default :func:`default_lead_sets` (15 sets).
    kinds:
        Perturbation kinds (default: all of :data:`~.perturbations.PERTURBATIONS`).
    grids:
        Kind → strengths; default each kind's own ``grid``. All grids must have the same length.
    seed:
        Seed of the noise ``ε`` (:func:`~.artefacts.noise_for`) and of stochastic methods.
    baselines, fs, device, progress:
        As in :func:`randomization_cube`.

    Returns
    -------
    dict of numpy arrays
        ``kind`` (``"perturbation"``), ``signals`` ``(B, 12, T)``, ``noise`` ``(B, 12, T)`` (ε),
        ``targets`` ``(B,)``, ``class_names`` ``(C,)``, ``lead_names`` ``(12,)``, ``method``,
        ``lead_set_names`` ``(L,)``, ``lead_sets`` ``(L, 12)`` bool, ``kinds`` ``(K,)``,
        ``units`` ``(K,)``, ``strengths`` ``(K, G)``, ``coefficients`` ``(K, G, 3)`` (gain,
        offset mV, noise σ mV), ``probs`` ``(B, L, K, G, C)``, ``maps`` ``(B, L, K, G, 12, T)``
        float32 signed attributions of the perturbed beats, ``reference_probs`` ``(B, C)`` and
        ``reference_maps`` ``(B, 12, T)`` of the unperturbed beats, ``fs``, ``seed``.
    """
    from ecgsignal.attribution import attribute
    from ecgsignal.models import predict_proba

    x, names = _check_beats(beats, class_names)
    sets = dict(lead_sets) if lead_sets is not None else default_lead_sets()
    if not sets:
        raise ConfigError("lead_sets is empty")
    set_masks = np.stack([lead_mask(v) for v in sets.values()])
    if not set_masks.any(1).all():
        empty = [k for k, m in zip(sets, set_masks) if not m.any()]
        raise ConfigError(f"lead sets with no leads: {empty}")
    kinds = list(kinds) if kinds is not None else PERTURBATIONS.available()
    perts = [PERTURBATIONS.get(k) for k in kinds]
    grid_list = [list(grids[k]) if grids is not None and k in grids else list(p.grid)
                 for k, p in zip(kinds, perts)]
    if len({len(g) for g in grid_list}) != 1 or not grid_list[0]:
        raise ConfigError(f"every kind needs a grid of the same non-zero length; got "
                          f"{ {k: len(g) for k, g in zip(kinds, grid_list)} }")
    strengths = np.asarray(grid_list, np.float32)
    coefs = np.asarray([[p.coefficients(s) for s in g] for p, g in zip(perts, grid_list)], np.float32)
    ref_probs = _check_outputs(model, x, len(names), device)
    tgt = _targets(model, x, targets, len(names), device)
    eps = noise_for(x.shape, seed)

    n_b, n_l, n_k, n_g, T = len(x), len(set_masks), len(kinds), strengths.shape[1], x.shape[2]
    probs = np.zeros((n_b, n_l, n_k, n_g, len(names)), np.float32)
    maps = np.zeros((n_b, n_l, n_k, n_g, N_LEADS, T), np.float32)
    ref_maps = np.zeros((n_b, N_LEADS, T), np.float32)
    # The same affine rule as apply_perturbation, for all combinations of a beat at once;
    # identity combinations (gain 1, offset 0, σ 0) reuse the unperturbed beat's results.
    gain = coefs[..., 0][None, :, :, None, None]          # (1, K, G, 1, 1)
    off = coefs[..., 1][None, :, :, None, None]
    sd = coefs[..., 2][None, :, :, None, None]
    mask = set_masks[:, None, None, :, None]               # (L, 1, 1, 12, 1)
    identity = np.isclose(coefs[..., 0], 1) & (coefs[..., 1] == 0) & (coefs[..., 2] == 0)  # (K, G)
    for b in _progress(range(n_b), n_b, "perturbation cube beats", progress):
        xb, eb = x[b][None, None, None], eps[b][None, None, None]       # (1, 1, 1, 12, T)
        variants = np.where(mask, gain * xb + off + sd * eb, xb).astype(np.float32)  # (L,K,G,12,T)
        ref_maps[b] = attribute(model, x[b:b + 1], tgt[b:b + 1], method, seed=seed,
                                baselines=baselines, device=device, fs=fs)[0]
        todo = ~np.broadcast_to(identity[None], (n_l, n_k, n_g))
        flat = variants[todo]
        if len(flat):
            probs[b][todo] = predict_proba(model, flat, device=device)
            maps[b][todo] = attribute(model, flat, np.full(len(flat), tgt[b]), method, seed=seed,
                                      baselines=baselines, device=device, fs=fs)
        probs[b][~todo] = ref_probs[b]
        maps[b][~todo] = ref_maps[b]
    return {
        "kind": np.array("perturbation"),
        "signals": x,
        "noise": eps,
        "targets": tgt,
        "class_names": np.array(names),
        "lead_names": np.array(LEAD_NAMES),
        "method": np.array(str(method)),
        "lead_set_names": np.array(list(sets)),
        "lead_sets": set_masks,
        "kinds": np.array(kinds),
        "units": np.array([p.unit for p in perts]),
        "strengths": strengths,
        "coefficients": coefs,
        "probs": probs,
        "maps": maps,
        "reference_probs": ref_probs.astype(np.float32),
        "reference_maps": ref_maps,
        "fs": np.array(float(fs)),
        "seed": np.array(int(seed)),
    }


_REQUIRED = {
    "randomization": ("signals", "targets", "class_names", "methods", "stages", "maps",
                      "similarity", "probs", "fs"),
    "perturbation": ("signals", "noise", "targets", "class_names", "method", "lead_set_names",
                     "lead_sets", "kinds", "units", "strengths", "coefficients", "probs", "maps",
                     "reference_probs", "fs"),
}


def check_cube(cube: Mapping[str, Any]) -> str:
    """Validate a cube's keys and shapes; returns its kind or raises :class:`DataError`."""
    kind = str(np.asarray(cube.get("kind", ""))) if "kind" in cube else ""
    if kind not in CUBE_KINDS:
        raise DataError(f"not an explorer cube: kind {kind!r}; valid: {', '.join(CUBE_KINDS)}")
    missing = [k for k in _REQUIRED[kind] if k not in cube]
    if missing:
        raise DataError(f"{kind} cube lacks {missing}")
    x = np.asarray(cube["signals"])
    n_b, n_c = x.shape[0], len(cube["class_names"])
    if kind == "randomization":
        want = (len(cube["methods"]), len(cube["stages"]), n_b, N_LEADS, x.shape[2])
        if np.shape(cube["maps"]) != want:
            raise DataError(f"randomization maps have shape {np.shape(cube['maps'])}, expected {want}")
        if np.shape(cube["similarity"]) != want[:3] or np.shape(cube["probs"]) != (want[1], n_b, n_c):
            raise DataError("randomization similarity/probs do not match the maps' shape")
    else:
        want = (n_b, len(cube["lead_sets"]), len(cube["kinds"]), np.shape(cube["strengths"])[1])
        if np.shape(cube["probs"]) != (*want, n_c) or np.shape(cube["maps"]) != (*want, N_LEADS, x.shape[2]):
            raise DataError(f"perturbation probs/maps do not match {(*want, n_c)} / "
                            f"{(*want, N_LEADS, x.shape[2])}")
        if np.shape(cube["noise"]) != x.shape:
            raise DataError("perturbation noise must have the beats' shape")
    return kind


def save_cube(path: str | os.PathLike, cube: Mapping[str, np.ndarray]) -> Path:
    """Validate and save a cube atomically as a compressed ``.npz`` (no pickles)."""
    check_cube(cube)
    return save_npz(path, {k: np.asarray(v) for k, v in cube.items()}, compress=True)


def load_cube(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Load a cube saved by :func:`save_cube`; a corrupt or foreign file raises an error naming it."""
    cube = load_npz(path)
    try:
        check_cube(cube)
    except DataError as exc:
        raise CacheError(f"{path}: {exc}") from exc
    return cube


def load_or_build_cube(path: str | os.PathLike, build: Callable[[], dict[str, np.ndarray]]
                       ) -> dict[str, np.ndarray]:
    """The cube at ``path`` if it is there and valid, else ``build()`` saved there first."""
    path = Path(path)
    if path.exists():
        try:
            return load_cube(path)
        except CacheError:
            pass  # rebuilt below and overwritten atomically
    cube = build()
    save_cube(path, cube)
    return cube
