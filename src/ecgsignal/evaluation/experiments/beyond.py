"""Beyond heatmaps (chapter 13): counterfactuals and an interpretable model through the same checks.

The paper (Arends et al. 2026) ends by recommending "inherently interpretable modelling or
counterfactual explanations" over attribution maps. Two experiments put those alternatives
through the checks the 12 methods face, on the same explained beats (``ctx.beats``):

``counterfactual``
    The two counterfactual explanations of the CNN (:data:`~ecgsignal.attribution.COUNTERFACTUALS`:
    Wachter-style signal-space search, generator parameter-space search; synthetic data only),
    explanation = beat − counterfactual. NORM beats are left out (nothing to flip).
``interpretable``
    A logistic regression on the criteria measurements (:mod:`ecgsignal.models.interpretable`),
    its exact explanation mapped to ``(n, 12, T)``; its test AUROC per class beside the CNN's.

Measures (``measure`` column; per class and pooled over beats, mean with a seeded 95 % percentile
bootstrap CI over beats; ``method`` names the explainer):

- localisation: ``mass_accuracy``, ``rank_accuracy``, ``mask_auroc``, ``pointing_game`` against
  the ``diff`` and ``criteria`` masks (``mask`` column; |map|, as in Experiment 5; NORM beats,
  whose masks are empty, excluded);
- ``truth_r``: Pearson correlation of the map with the true difference ``clean − counterfactual``
  (the same patient without the finding; synthetic data);
- ``consistency_<sim>``: similarity of the reference seed's map with each other seed's map
  (mean over the other seeds), as in Experiment 2; for the interpretable model, "seeds" are
  seeded bootstrap resamples of the training set (the fit itself is deterministic);
- ``randomization_<sim>`` with ``n_randomized`` = k: similarity of the map with the map after
  randomising the top k stages of the CNN (cascading top-down, the machinery of Experiment 3);
  for the interpretable model, its single layer (the coefficients replaced by seeded normal
  draws of the same spread);
- counterfactuals only: ``validity`` (share assigned to NORM), ``proximity_l1`` (mean |Δ|, mV),
  ``plausibility`` (L2 distance, mV, of the counterfactual to the nearest NORM training beat;
  reference rows ``method="true_counterfactual"`` score the true counterfactual + the beat's noise);
- interpretable only: ``auroc`` per class on the test split for ``interpretable`` and ``cnn``
  (reference seed), CI by a seeded bootstrap over test beats.

With ``compare=True`` the context's methods (12 + controls) get the ``truth_r`` and localisation
rows too (their maps come from the shared store; consistency and randomisation of those are the
``consistency`` and ``randomization`` experiments' results).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch

from ecgsignal.attribution import COUNTERFACTUALS, attribute
from ecgsignal.attribution.counterfactual_params import synthetic_batch
from ecgsignal.data.criteria import measure
from ecgsignal.errors import ConfigError, DataError
from ecgsignal.evaluation._utils import row_pearson
from ecgsignal.evaluation.context import ExperimentContext
from ecgsignal.evaluation.experiments._groups import POOLED, class_groups
from ecgsignal.evaluation.experiments.base import EXPERIMENTS, Experiment
from ecgsignal.evaluation.experiments.localization import beat_masks, localization_scores
from ecgsignal.evaluation.randomization import randomized_copy, stages
from ecgsignal.evaluation.results import make_table
from ecgsignal.evaluation.similarity import similarity
from ecgsignal.evaluation.statistics import bootstrap_ci_many
from ecgsignal.models import predict_proba
from ecgsignal.models.interpretable import features, fit_interpretable
from ecgsignal.models.metrics import per_class_auroc
from ecgsignal.models.training import predict_logits

__all__ = ["CF_DEFAULTS", "IM_DEFAULTS", "counterfactual_examples", "pearson_rows",
           "pick", "run_counterfactual", "run_interpretable", "side_by_side", "true_difference"]

_LOC = ["mass_accuracy", "rank_accuracy", "mask_auroc", "pointing_game"]
CF_DEFAULTS: dict[str, Any] = {"methods": list(COUNTERFACTUALS), "similarity": "spearman_abs",
                               "randomize": True, "compare": True}
IM_DEFAULTS: dict[str, Any] = {"similarity": "spearman_abs", "randomize": True, "compare": False,
                               "C": 1.0}


def pearson_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-beat Pearson r of two ``(n, 12, T)`` batches (NaN where either is constant).

    The package's one row-wise Pearson (:func:`~ecgsignal.evaluation._utils.row_pearson`, as in
    the ``pearson`` similarity), over each beat's flattened map.
    """
    return row_pearson(a.reshape(a.shape[0], -1).astype(np.float64),
                       b.reshape(b.shape[0], -1).astype(np.float64))


def true_difference(ctx: ExperimentContext) -> tuple[np.ndarray, np.ndarray] | None:
    """``(clean − counterfactual, counterfactual + noise)`` of the explained beats, or ``None``.

    Only synthetic data has them (the generator re-renders each patient without the finding).
    """
    if ctx.dataset.meta.get("source") != "synthetic":
        return None
    b = synthetic_batch(ctx.dataset.meta["config"])
    i = ctx.beats.index
    if b.beats.shape != ctx.dataset.signals.shape or not np.array_equal(b.beats[i], ctx.beats.x):
        raise DataError("the dataset's beats are not the generator's beats for its config")
    noise = b.beats[i] - b.clean[i]
    return b.clean[i] - b.counterfactual[i], b.counterfactual[i] + noise


def _records(exp: str, method: str, values: np.ndarray, beats, keep: np.ndarray, measure: str,
             ctx: ExperimentContext, mask: str = "", **extra: Any) -> list[dict[str, Any]]:
    """Rows per class and pooled: mean of ``values`` ``(m,)`` over kept beats, bootstrap CI."""
    out = []
    for cls, idx in class_groups(beats, keep=keep & np.isfinite(values)):
        est, lo, hi = bootstrap_ci_many(values[idx, None], n_boot=ctx.n_boot, seed=ctx.seed)
        out.append({"experiment": exp, "method": method, "class": cls, "seed": ctx.seeds[0],
                    "measure": measure, "mask": mask, "value": float(est[0]),
                    "ci_low": float(lo[0]), "ci_high": float(hi[0]), "n": int(idx.size), **extra})
    return out


def _spread(values: np.ndarray, at: np.ndarray | None, n: int) -> np.ndarray:
    """``(n,)`` float64: ``values`` at rows ``at`` of the explained beats, NaN elsewhere."""
    if at is None:
        return values
    out = np.full(n, np.nan)
    out[at] = values
    return out


def _map_rows(exp: str, method: str, maps: np.ndarray, ctx: ExperimentContext, keep: np.ndarray,
              truth: np.ndarray | None, at: np.ndarray | None = None) -> list[dict[str, Any]]:
    """Localisation and ``truth_r`` rows of one explainer's maps on the explained beats.

    ``at``: the rows of ``ctx.beats`` that ``maps`` explain (all by default); the others are
    left out (per-beat scores: a beat's score does not depend on the other beats).
    """
    rows: list[dict[str, Any]] = []
    n = ctx.beats.n
    if ctx.dataset.has_masks:
        masks = beat_masks(ctx)
        mine = masks if at is None else {k: v[at] for k, v in masks.items()}
        scores = localization_scores(maps, mine, _LOC, absolute_mass=True)
        for (mname, measure), v in scores.items():
            nonempty = masks[mname].reshape(n, -1).any(1)
            rows += _records(exp, method, _spread(v, at, n), ctx.beats, keep & nonempty, measure,
                             ctx, mask=mname)
    if truth is not None:
        r = pearson_rows(maps, truth if at is None else truth[at])
        rows += _records(exp, method, _spread(r, at, n), ctx.beats, keep, "truth_r", ctx)
    return rows


def _nearest(x: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """L2 distance (mV) from each row of ``x`` ``(m, 12, T)`` to its nearest row of ``ref``."""
    a = x.reshape(len(x), -1).astype(np.float64)
    b = ref.reshape(len(ref), -1).astype(np.float64)
    d2 = (a * a).sum(1)[:, None] - 2 * a @ b.T + (b * b).sum(1)[None]
    return np.sqrt(np.maximum(d2, 0).min(1))


def _cf_maps(ctx: ExperimentContext, method: str, model: torch.nn.Module,
             at: np.ndarray | None = None) -> np.ndarray:
    """Counterfactual maps of the explained beats (rows ``at`` only, when given).

    Each beat's search is its own (no interaction between beats, and a beat's numbers do not
    depend on the other beats of its pass: tests/test_speed_paths.py), so explaining only the
    beats that are used gives their maps bit for bit.
    """
    opts = {"synthetic": ctx.dataset.meta["config"]} if method == "counterfactual_params" else {}
    sel = slice(None) if at is None else at
    return attribute(model, ctx.beats.x[sel], ctx.beats.target[sel], method, device=ctx.device,
                     fs=ctx.dataset.fs, seed=ctx.seed, **opts)


def run_counterfactual(ctx: ExperimentContext, params: dict[str, Any]) -> pd.DataFrame:
    """The ``counterfactual`` experiment (module docstring); synthetic data only."""
    methods = list(params.get("methods", CF_DEFAULTS["methods"]))
    bad = [m for m in methods if m not in COUNTERFACTUALS]
    if not methods or bad:
        raise ConfigError(f"parameter 'methods' must list some of {list(COUNTERFACTUALS)}; got {methods!r}")
    sim = params.get("similarity", "spearman_abs")
    if ctx.dataset.meta.get("source") != "synthetic":
        raise ConfigError("the counterfactual experiment needs synthetic data (the true counterfactual "
                          "and the generator's parameters)")
    ds, beats = ctx.dataset, ctx.beats
    norm = ds.class_names.index("NORM") if "NORM" in ds.class_names else 0
    keep = beats.target != norm
    if not keep.any():
        raise DataError("no explained non-NORM beat to find a counterfactual for")
    truth, true_cf = true_difference(ctx)
    train = ds.indices("train")
    norm_train = ds.signals[train][ds.onehot()[train][:, norm] > 0]
    rows: list[dict[str, Any]] = []
    exp = "counterfactual"
    model = ctx.model()
    rows += _records(exp, "true_counterfactual", _nearest(true_cf, norm_train), beats, keep,
                     "plausibility", ctx)
    p_true = predict_logits(model, true_cf, device=ctx.device).argmax(1)
    rows += _records(exp, "true_counterfactual", (p_true == norm).astype(float), beats, keep,
                     "validity", ctx)
    # NORM beats (nothing to flip) are left out of every row: only the others are searched
    at = np.flatnonzero(keep)
    n = beats.n
    for method in methods:
        maps = _cf_maps(ctx, method, model, at)
        cf = beats.x.copy()  # all beats, so that every pass has the shape it always had
        cf[at] = beats.x[at] - maps
        pred = predict_logits(model, cf, device=ctx.device).argmax(1)
        rows += _records(exp, method, (pred == norm).astype(float), beats, keep, "validity", ctx)
        rows += _records(exp, method, _spread(np.abs(maps).mean(axis=(1, 2)), at, n), beats, keep,
                         "proximity_l1", ctx)
        rows += _records(exp, method, _nearest(cf, norm_train), beats, keep, "plausibility", ctx)
        rows += _map_rows(exp, method, maps, ctx, keep, truth, at)
        rows += _seed_rows(exp, method, maps, ctx, keep, sim,
                           lambda s, m=method: _cf_maps(ctx, m, ctx.model(s), at), at)
        if params.get("randomize", True):
            for k in range(1, len(stages(model)) + 1):
                rnd = randomized_copy(model, k, "top_down", seed=ctx.seed)
                v = similarity(maps, _cf_maps(ctx, method, rnd, at), sim)
                rows += _records(exp, method, _spread(v, at, n), beats, keep,
                                 f"randomization_{sim}", ctx, n_randomized=k)
    if params.get("compare", True):
        for m in ctx.methods:
            rows += _map_rows(exp, m, ctx.attributions(m), ctx, keep, truth)
    return make_table(rows)


def _seed_rows(exp: str, method: str, maps: np.ndarray, ctx: ExperimentContext, keep: np.ndarray,
               sim: str, maps_of, at: np.ndarray | None = None) -> list[dict[str, Any]]:
    """``consistency_<sim>``: mean similarity of the reference map with each other seed's map.

    ``at``: the rows of ``ctx.beats`` that ``maps`` (and ``maps_of(seed)``) explain.
    """
    others = [s for s in ctx.seeds[1:]]
    if not others:
        return []
    v = np.nanmean(np.stack([similarity(maps, maps_of(s), sim) for s in others]), axis=0)
    return _records(exp, method, _spread(v, at, ctx.beats.n), ctx.beats, keep,
                    f"consistency_{sim}", ctx)


def _auroc_rows(ctx: ExperimentContext, name: str, scores: np.ndarray) -> list[dict[str, Any]]:
    ds = ctx.dataset
    y = ds.labels[ds.indices("test")]
    est = per_class_auroc(y, scores, ds.class_names, undefined="nan")
    rng = np.random.default_rng(ctx.seed)
    reps = []
    for _ in range(ctx.n_boot):
        i = rng.integers(0, len(y), len(y))
        reps.append(list(per_class_auroc(y[i], scores[i], ds.class_names, undefined="nan").values()))
    reps = np.asarray(reps)
    lo, hi = np.nanquantile(reps, [0.025, 0.975], axis=0)
    rows = [{"experiment": "interpretable", "method": name, "class": c, "seed": ctx.seeds[0],
             "measure": "auroc", "mask": "", "value": est[c], "ci_low": lo[j], "ci_high": hi[j],
             "n": int(len(y))} for j, c in enumerate(ds.class_names)]
    pooled = np.nanmean(reps, axis=1)
    rows.append({"experiment": "interpretable", "method": name, "class": POOLED,
                 "seed": ctx.seeds[0], "measure": "auroc", "mask": "",
                 "value": float(np.nanmean(list(est.values()))),
                 "ci_low": float(np.nanquantile(pooled, 0.025)),
                 "ci_high": float(np.nanquantile(pooled, 0.975)), "n": int(len(y))})
    return rows


def run_interpretable(ctx: ExperimentContext, params: dict[str, Any]) -> pd.DataFrame:
    """The ``interpretable`` experiment (module docstring)."""
    ds, beats = ctx.dataset, ctx.beats
    if ds.multilabel:
        raise ConfigError("the interpretable model takes single-label data")
    r_offset = ds.meta.get("r_offset")
    if r_offset is None:
        raise ConfigError("the interpretable model needs the R-peak time of the beats "
                          "(dataset meta 'r_offset') to measure them")
    tr, te = ds.indices("train"), ds.indices("test")
    C = float(params.get("C", 1.0))
    sim = params.get("similarity", "spearman_abs")

    x_tr = ds.signals[tr]
    measured = features(measure(np.asarray(x_tr, np.float32), ds.fs, r_offset))  # once, all fits

    def fit(seed: int):
        return fit_interpretable(x_tr, ds.labels[tr], ds.class_names, ds.fs, r_offset,
                                 C=C, seed=seed, bootstrap=seed != ctx.seeds[0],
                                 measured=measured)

    lr = fit(ctx.seeds[0])
    rows = _auroc_rows(ctx, "interpretable", lr.predict_proba(ds.signals[te]))
    rows += _auroc_rows(ctx, "cnn", predict_proba(ctx.model(), ds.signals[te], device=ctx.device))
    maps = lr.explain(beats.x, beats.target)
    keep = np.ones(beats.n, bool)
    truth = true_difference(ctx)
    truth = None if truth is None else truth[0]
    rows += _map_rows("interpretable", "interpretable", maps, ctx, keep, truth)
    rows += _seed_rows("interpretable", "interpretable", maps, ctx, keep, sim,
                       lambda s: fit(s).explain(beats.x, beats.target))
    if params.get("randomize", True):
        rng = np.random.default_rng(ctx.seed)
        rnd = fit(ctx.seeds[0])
        rnd.coef = rng.normal(0.0, float(lr.coef.std()), size=lr.coef.shape)
        v = similarity(maps, rnd.explain(beats.x, beats.target), sim)
        rows += _records("interpretable", "interpretable", v, beats, keep, f"randomization_{sim}",
                         ctx, n_randomized=1)
    if params.get("compare", False):
        for m in ctx.methods:
            rows += _map_rows("interpretable", m, ctx.attributions(m), ctx, keep, truth)
    return make_table(rows)


EXPERIMENTS.register("counterfactual", Experiment(
    name="counterfactual",
    title="Beyond heatmaps: counterfactual explanations through the sanity checks",
    run=run_counterfactual,
    defaults=CF_DEFAULTS,
    needs_masks=True,
    description="Validity, proximity, plausibility, localisation, agreement with the true "
                "counterfactual, seed consistency and cascading randomisation of the signal- and "
                "parameter-space counterfactuals (synthetic data).",
))

EXPERIMENTS.register("interpretable", Experiment(
    name="interpretable",
    title="Beyond heatmaps: an inherently interpretable model through the sanity checks",
    run=run_interpretable,
    defaults=IM_DEFAULTS,
    description="AUROC of a logistic regression on criteria measurements beside the CNN's; its "
                "exact explanation's localisation, truth correlation, seed consistency and "
                "coefficient randomisation.",
))


def side_by_side(cf: pd.DataFrame | None, im: pd.DataFrame | None = None,
                 consistency: pd.DataFrame | None = None,
                 randomization: pd.DataFrame | None = None,
                 similarity_measure: str = "spearman_abs") -> pd.DataFrame:
    """One tidy table of the pooled headline numbers of every explainer, for chapter 13.

    Rows: the explainers of the ``counterfactual`` table (the counterfactuals and, with
    ``compare=True``, the 12 methods and the controls), the interpretable model, and columns
    (``measure`` labels) ``mass (diff)``, ``AUROC (diff)``, ``r with truth``, ``consistency``,
    ``randomised`` (similarity to the map of the fully randomised model, cascading top-down),
    ``validity``. Consistency and randomisation of the 12 methods and the controls come from the
    ``consistency`` and ``randomization`` experiments' tables when given (their ``class="all"``,
    reference-model, raw-normalisation rows).
    """
    sim = similarity_measure
    tabs = [t for t in (cf, im) if t is not None]
    if not tabs:
        raise DataError("side_by_side needs the counterfactual or the interpretable table")
    df = pd.concat(tabs, ignore_index=True)
    df = df[(df["class"] == POOLED) & (df["method"] != "cnn")]
    mask = df["mask"].fillna("").astype(str)
    pick = {"mass (diff)": (df["measure"] == "mass_accuracy") & (mask == "diff"),
            "AUROC (diff)": (df["measure"] == "mask_auroc") & (mask == "diff"),
            "r with truth": df["measure"] == "truth_r",
            "consistency": df["measure"] == f"consistency_{sim}",
            "validity": df["measure"] == "validity"}
    parts = [df[sel].assign(measure=label) for label, sel in pick.items()]
    rnd = df[df["measure"] == f"randomization_{sim}"]
    if len(rnd):
        full = rnd.groupby("method")["n_randomized"].transform("max")
        parts.append(rnd[rnd["n_randomized"] == full].assign(measure="randomised"))
    if consistency is not None:
        c = consistency[(consistency["class"] == POOLED) & (consistency["measure"] == sim)]
        parts.append(c.drop_duplicates("method").assign(measure="consistency"))
    if randomization is not None:
        r = randomization
        sel = ((r["class"] == POOLED) & (r["measure"] == sim) & (r["order"] == "top_down")
               & (r["reference"] == "trained") & (r["normalization"] == "raw"))
        r = r[sel]
        if len(r):
            r = r[r["stage"] == r.groupby("method")["stage"].transform("max")]
            parts.append(r.drop_duplicates("method").assign(measure="randomised"))
    out = pd.concat(parts, ignore_index=True)[["method", "measure", "value", "ci_low", "ci_high"]]
    return out.drop_duplicates(["method", "measure"]).reset_index(drop=True)


def counterfactual_examples(ctx: ExperimentContext) -> dict[str, Any]:
    """One explained beat per non-NORM class with its two counterfactuals and the true one.

    Returns ``classes`` (names), ``beat``, ``signal``, ``params``, ``true`` ``(k, 12, T)`` mV,
    and ``lead`` ``(k,)``: per beat the lead where the true change is largest.
    """
    truth = true_difference(ctx)
    if truth is None:
        raise ConfigError("counterfactual examples need synthetic data")
    beats = ctx.beats
    norm = ctx.dataset.class_names.index("NORM") if "NORM" in ctx.dataset.class_names else 0
    first = [int(np.flatnonzero(beats.target == c)[0]) for c in range(len(beats.class_names))
             if c != norm and (beats.target == c).any()]
    model = ctx.model()
    maps = {m: _cf_maps(ctx, m, model, np.asarray(first)) for m in COUNTERFACTUALS}
    x = beats.x[first]
    diff = truth[0][first]
    return {"classes": [beats.class_names[beats.target[i]] for i in first], "beat": x,
            "signal": x - maps["counterfactual_signal"], "params": x - maps["counterfactual_params"],
            "true": truth[1][first], "lead": np.abs(diff).max(-1).argmax(-1)}


def pick(table: pd.DataFrame, method: str, measure: str) -> tuple[float, float, float]:
    """``(value, ci_low, ci_high)`` of one cell of :func:`side_by_side`; NaNs when absent."""
    row = table[(table["method"] == method) & (table["measure"] == measure)]
    if row.empty:
        return (float("nan"),) * 3
    r = row.iloc[0]
    return float(r["value"]), float(r["ci_low"]), float(r["ci_high"])
