"""Experiment 3 — model-parameter randomisation (PROTOCOLS.md; Adebayo et al. 2018).

The reference model (``ctx.seeds[0]``) is randomised stage by stage with
:func:`~ecgsignal.evaluation.randomization.iter_randomized` — cascading from the logits down
(``top_down``, the default, Adebayo et al. 2018), cascading from the input up (``bottom_up``,
recommended by Hedström et al. 2023), or one stage at a time (``independent``). At every stage,
every method's map of the explained beats is compared with the trained model's map, beat by beat,
with each similarity measure of ``measures`` (default ``spearman_abs``), and summarised as the
mean over beats with a seeded percentile-bootstrap 95 % CI, per class and pooled (``"all"``).
Stage 0 is the trained model itself (similarity 1 by definition).

Design choices (all parameters; see :data:`DEFAULTS`):

* Re-initialisation: the layer's own default init from a seeded generator, BatchNorm ``"reset"``
  (γ=1, β=0, running mean 0, var 1, as Quantus) or ``"keep"``; see
  :mod:`ecgsignal.evaluation.randomization`.
* Noise: the maps of randomised models are computed with the attribution seed ``ctx.seed + 1``
  (``fresh_noise=True``), i.e. with noise (SmoothGrad, GradientSHAP, the random control…)
  independent of the trained map's, as in Adebayo et al. and Quantus. A stochastic method then
  cannot look stable merely because it reuses its noise — and, as Binder et al. (2023) point
  out, the random control "passes" the test (similarity ≈ 0) although it ignores the model. The
  rows with ``reference="trained_fresh_noise"`` (stage 0) give each method's noise ceiling: the
  trained model's map recomputed with the fresh noise.
* ``normalizations``: ``"raw"`` feeds the maps to the measure as they are; ``"abs_max"`` first
  takes ``|a| / max |a|`` per beat (Quantus' default pre-processing). The rank measures of ``|a|``
  are unchanged by it; signed measures (``spearman_signed``, ``pearson``) are not — taking the
  absolute value discards sign flips and keeps the similarity of random-model maps high, one of
  the pitfalls of the test the book shows.
* ``draws``: one random draw of the weights is one sample. The Quantus cross-check shows how
  much a single draw matters: with the same distributions but other random numbers, the
  per-layer mean similarity of Saliency on the tiny model moved by up to 0.14. ``draws > 1``
  repeats the walk with the seeds ``seed + d`` and carries that variability into the CI
  (two-level bootstrap: draws, then beats). Stage 0 is shared by every draw.
* ``input_reference``: also compare each map with the input ``|x|`` (rows with
  ``reference="input"``): input-multiplying methods (Input×Gradient, IG, DeepLIFT, LRP…) keep the
  structure of the beat whatever the weights (Kindermans et al. 2019; Binder et al. 2023).

Table columns: the common ones (``stage`` = number of randomised stages ``k``) plus ``order``,
``stage_name`` (stage randomised last, or the only one for ``independent``), ``reference``,
``normalization``, ``fully_randomized`` (every stage randomised: ``k = L`` in a cascade),
``flag_above_zero`` (``ci_low > 0``), ``n`` (finite scores: beats × draws) and ``draws``. :func:`methods_not_converging` lists the methods whose
fully-randomised similarity CI excludes 0.

References
----------
Adebayo, J. et al. (2018). Sanity checks for saliency maps. NeurIPS.
Binder, A. et al. (2023). Shortcomings of top-down randomization-based sanity checks for
evaluations of deep neural network explanations. CVPR.
Hedström, A. et al. (2023). Sanity checks revisited: an exploration to repair the model parameter
randomisation test. XAI in Action workshop, NeurIPS.
Kindermans, P.-J. et al. (2019). The (un)reliability of saliency methods. In: Explainable AI,
LNCS 11700.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

from ecgsignal.errors import ConfigError, DataError
from ecgsignal.evaluation.context import ExperimentContext
from ecgsignal.evaluation.experiments._groups import (
    POOLED,
    check_names,
    class_groups,
    context_methods,
)
from ecgsignal.evaluation.experiments.base import EXPERIMENTS, Experiment
from ecgsignal.evaluation.randomization import (
    BN_POLICIES,
    GRANULARITIES,
    ORDERS,
    iter_randomized,
    randomized_stages,
)
from ecgsignal.evaluation.randomization import stages as stage_names
from ecgsignal.evaluation.results import make_table
from ecgsignal.evaluation.similarity import SIMILARITY, similarity
from ecgsignal.evaluation.statistics import bootstrap_ci_many

__all__ = ["DEFAULTS", "NORMALIZATIONS", "methods_not_converging", "normalize_maps",
           "run_randomization"]

NORMALIZATIONS: tuple[str, ...] = ("raw", "abs_max")

DEFAULTS: dict[str, Any] = {
    "orders": ["top_down"],
    "measures": ["spearman_abs"],
    "bn": "reset",
    "granularity": "stage",
    "normalizations": ["raw"],
    "fresh_noise": True,
    "input_reference": True,
    "seed": None,
    "draws": 1,
    "methods": None,
}
"""Parameters of Experiment 3.

``orders`` ⊂ {top_down, bottom_up, independent}; ``measures``: names in ``SIMILARITY``; ``bn``:
BatchNorm policy (reset/keep); ``granularity``: stage/module; ``normalizations`` ⊂ {raw,
abs_max}; ``fresh_noise``: fresh attribution noise for randomised models; ``input_reference``:
add similarity to ``|x|``; ``seed``: randomisation seed (``None`` → ``ctx.seed``); ``draws``:
independent weight draws (seeds ``seed``, ``seed + 1``, …) per stage, whose beats are pooled with
a two-level bootstrap (draws, then beats) when ``draws > 1``; ``methods``: subset of
``ctx.methods`` (``None`` → all).
"""


def normalize_maps(a: np.ndarray, how: str = "raw") -> np.ndarray:
    """``a`` as is (``"raw"``) or ``|a| / max |a|`` per beat (``"abs_max"``; all-zero beats stay 0).

    Parameters
    ----------
    a:
        ``(n, 12, T)`` maps.
    how:
        ``"raw"`` or ``"abs_max"``.
    """
    if how not in NORMALIZATIONS:
        raise ConfigError(f"unknown normalization {how!r}; valid: {', '.join(NORMALIZATIONS)}")
    a = np.asarray(a, dtype=np.float64)
    if how == "raw":
        return a
    b = np.abs(a)
    peak = b.reshape(b.shape[0], -1).max(axis=1)
    return b / np.where(peak > 0, peak, 1.0)[:, None, None]


def _choice(value: object, valid: tuple[str, ...], param: str) -> str:
    if value not in valid:
        raise ConfigError(f"parameter {param!r} must be one of {list(valid)}; got {value!r}")
    return str(value)


def _subset(value: object, valid: tuple[str, ...], param: str) -> list[str]:
    vals = [value] if isinstance(value, str) else list(value or [])
    if not vals:
        raise ConfigError(f"parameter {param!r} must be a non-empty list of {list(valid)}")
    for v in vals:
        _choice(v, valid, param)
    return list(dict.fromkeys(vals))


def run_randomization(ctx: ExperimentContext, params: dict[str, Any]) -> pd.DataFrame:
    """Run Experiment 3 on ``ctx``; see the module docstring for the table it returns.

    Parameters
    ----------
    ctx:
        Models, beats and methods; the reference model ``ctx.seeds[0]`` is randomised.
    params:
        See :data:`DEFAULTS`; missing keys take the defaults.

    Returns
    -------
    pandas.DataFrame
        Tidy rows (``experiment="randomization"``), one per order, stage, method, class (each
        class, then ``"all"``), measure, normalization and reference.
    """
    p = {**DEFAULTS, **params}
    orders = _subset(p["orders"], ORDERS, "orders")
    measures = check_names(p["measures"], SIMILARITY, "measures")
    bn = _choice(p["bn"], BN_POLICIES, "bn")
    granularity = _choice(p["granularity"], GRANULARITIES, "granularity")
    norms = _subset(p["normalizations"], NORMALIZATIONS, "normalizations")
    rseed = ctx.seed if p["seed"] is None else int(p["seed"])
    draws = p["draws"]
    if isinstance(draws, bool) or not isinstance(draws, (int, np.integer)) or draws < 1:
        raise ConfigError(f"parameter 'draws' must be a positive integer; got {draws!r}")
    methods = context_methods(ctx)
    if p["methods"] is not None:
        wanted = [p["methods"]] if isinstance(p["methods"], str) else list(p["methods"])
        unknown = [m for m in wanted if m not in methods]
        if unknown or not wanted:
            raise ConfigError(f"parameter 'methods' must list methods of the context {methods}; "
                              f"got {wanted}")
        methods = list(dict.fromkeys(wanted))

    from ecgsignal.attribution import METHODS, attribute

    model_seed = ctx.seeds[0]
    model = ctx.model(model_seed)
    beats = ctx.beats
    groups = class_groups(beats)
    noise_seed = ctx.seed + 1 if p["fresh_noise"] else ctx.seed
    trained = {m: ctx.attributions(m, seed=model_seed) for m in methods}
    x_abs = np.abs(beats.x)

    def maps_of(net: Any, method: str, seed: int) -> np.ndarray:
        return attribute(net, beats.x, beats.target, method, seed=seed,
                         baselines=ctx.baselines, device=ctx.device, fs=ctx.dataset.fs)

    # A randomised network is fixed by the set of stages re-drawn (stage i always draws from
    # (seed + draw, i)), so orders share networks: top_down k=L is bottom_up k=L, independent
    # k=1 is top_down k=1 and independent k=L is bottom_up k=1. Their maps are computed once and
    # dropped after their last use; deterministic methods' stage-0 "fresh noise" map is the
    # trained map itself. Same numbers, fewer attribution calls (issue 7).
    n_stages = len(stage_names(model, granularity))
    spec_stochastic = {m: METHODS.get(m).stochastic for m in methods}

    def stage_set(order: str, k: int) -> frozenset[int]:
        return frozenset(randomized_stages(n_stages, k, order))

    left = Counter(stage_set(o, k) for o in orders for k in range(1, n_stages + 1))
    left = Counter({(key, m): n for key, n in left.items() for m in methods})
    memo: dict[tuple[frozenset[int], str], list[np.ndarray]] = {}

    def stage_maps(order: str, k: int, nets: list[Any], method: str) -> list[np.ndarray]:
        key = (stage_set(order, k), method)
        maps = memo.pop(key, None)
        if maps is None:
            maps = [maps_of(net, method, noise_seed) for net in nets]
        left[key] -= 1
        if left[key] > 0:
            memo[key] = maps
        return maps

    fresh_trained: dict[str, np.ndarray] = {}

    def fresh_noise_map(net: Any, method: str) -> np.ndarray:
        if not spec_stochastic[method] or noise_seed == ctx.attribution_seed(model_seed):
            return trained[method]
        if method not in fresh_trained:
            fresh_trained[method] = maps_of(net, method, noise_seed)
        return fresh_trained[method]

    records: list[dict[str, Any]] = []

    def add(order: str, k: int, name: str, full: bool, method: str, reference: str,
            ref: np.ndarray, maps: list[np.ndarray]) -> None:
        """Rows of one stage and method: ``maps`` holds one batch per weight draw."""
        cols, keys = [], []
        for norm in norms:
            ra = normalize_maps(ref, norm)
            for meas in measures:
                cols.append(np.concatenate([
                    np.asarray(similarity(ra, normalize_maps(a, norm), meas), dtype=np.float64)
                    for a in maps]))
                keys.append((norm, meas))
        scores = np.stack(cols, axis=1)  # (draws · n beats, n norms × measures)
        draw_of = np.repeat(np.arange(len(maps)), beats.n)
        for cls, idx in groups:
            rows = np.concatenate([idx + d * beats.n for d in range(len(maps))])
            est, lo, hi = bootstrap_ci_many(
                scores[rows], n_boot=ctx.n_boot, seed=ctx.seed,
                groups=draw_of[rows] if len(maps) > 1 else None)
            n_fin = np.isfinite(scores[rows]).sum(axis=0)
            for j, (norm, meas) in enumerate(keys):
                records.append({
                    "experiment": "randomization", "method": method, "class": cls,
                    "seed": model_seed, "stage": k, "measure": meas, "value": est[j],
                    "ci_low": lo[j], "ci_high": hi[j], "order": order, "stage_name": name,
                    "reference": reference, "normalization": norm,
                    "fully_randomized": full, "flag_above_zero": bool(lo[j] > 0),
                    "n": int(n_fin[j]), "draws": len(maps),
                })

    bar = None
    if ctx.progress:
        from tqdm.auto import tqdm

        bar = tqdm(desc="randomization", unit="map")
    for order in orders:
        walks = [iter_randomized(model, order, seed=rseed + d, bn=bn, granularity=granularity)
                 for d in range(draws)]
        for steps in zip(*walks):
            k, name = steps[0][0], steps[0][1]
            full = order != "independent" and k == n_stages
            for m in methods:
                if k == 0:
                    maps = [trained[m]]
                    add(order, 0, name, False, m, "trained", trained[m], maps)
                    if p["fresh_noise"]:
                        add(order, 0, name, False, m, "trained_fresh_noise", trained[m],
                            [fresh_noise_map(steps[0][2], m)])
                else:
                    maps = stage_maps(order, k, [net for _, _, net in steps], m)
                    add(order, k, name, full, m, "trained", trained[m], maps)
                if p["input_reference"]:
                    add(order, k, name, full, m, "input", x_abs, maps)
                if bar is not None:
                    bar.update(len(maps))
    if bar is not None:
        bar.close()
    return make_table(records)


def methods_not_converging(df: pd.DataFrame, measure: str = "spearman_abs", cls: str = POOLED,
                           order: str = "top_down", normalization: str = "raw") -> pd.DataFrame:
    """Methods whose fully-randomised similarity to the trained map has a CI above 0.

    Parameters
    ----------
    df:
        Experiment 3's table (:func:`run_randomization` or ``results.csv``).
    measure, cls, order, normalization:
        Which rows to read; the cascade ``order`` must be ``top_down`` or ``bottom_up``.

    Returns
    -------
    pandas.DataFrame
        Columns ``method``, ``value``, ``ci_low``, ``ci_high`` of the flagged methods, highest
        similarity first (empty when every method converges to 0).
    """
    for col in ("method", "class", "measure", "order", "reference", "normalization",
                "fully_randomized", "ci_low"):
        if col not in df.columns:
            raise DataError(f"the table lacks column {col!r}; is it Experiment 3's results?")
    if order == "independent":
        raise ConfigError("'independent' never randomises the whole model; use a cascade order")
    full = df["fully_randomized"].astype(str).str.lower() == "true"
    sel = df[full & (df["measure"] == measure) & (df["class"].astype(str) == str(cls))
             & (df["order"] == order) & (df["reference"] == "trained")
             & (df["normalization"] == normalization)]
    if sel.empty:
        raise DataError(f"no fully randomised rows for measure={measure!r}, class={cls!r}, "
                        f"order={order!r}, normalization={normalization!r}")
    out = sel[sel["ci_low"].astype(float) > 0][["method", "value", "ci_low", "ci_high"]]
    return out.sort_values("value", ascending=False).reset_index(drop=True)


EXPERIMENTS.register("randomization", Experiment(
    name="randomization",
    title="Experiment 3: model-parameter randomisation",
    run=run_randomization,
    defaults=DEFAULTS,
    description="Similarity of each method's maps to the trained model's as the model's layers "
                "are re-initialised (cascading top-down, bottom-up or independent), with "
                "bootstrap CIs over beats; flags methods that stay above 0 when fully randomised.",
))
