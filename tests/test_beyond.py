"""Chapter 13's alternatives to heatmaps: the interpretable model and the two counterfactuals."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ecgsignal.attribution import COUNTERFACTUALS, METHODS, attribute, available, resolve_methods
from ecgsignal.attribution.counterfactual import signal_counterfactual
from ecgsignal.attribution.counterfactual_params import param_counterfactuals, synthetic_batch
from ecgsignal.errors import ConfigError, DataError
from ecgsignal.models.interpretable import feature_names, fit_interpretable
from ecgsignal.models.metrics import per_class_auroc

# mechanics need a model that classifies (nearly) perfectly: pinned to the easy data
DATA = dict(n=450, seed=0, difficulty="easy")


@pytest.fixture(scope="module")
def setup():
    from ecgsignal.data.synthetic import make_synthetic
    from ecgsignal.models import TrainConfig, load_or_train

    ds = make_synthetic(**DATA)
    tm = load_or_train(ds, train_config=TrainConfig(epochs=15, batch_size=32, patience=20),
                       seed=0, progress=False)
    te = ds.indices("test")
    te = te[ds.labels[te] > 0][:16]
    return ds, tm.model, te


def test_registry_groups():
    assert set(COUNTERFACTUALS) <= set(METHODS.available())
    assert not set(COUNTERFACTUALS) & set(available(True, True, True))
    assert available(False, False, False, counterfactuals=True) == list(COUNTERFACTUALS)
    assert resolve_methods("counterfactuals") == list(COUNTERFACTUALS)
    assert {METHODS.get(n).kind for n in COUNTERFACTUALS} == {"counterfactual"}


def test_interpretable_model(setup):
    ds, _, _ = setup
    tr, te = ds.indices("train"), ds.indices("test")
    m = fit_interpretable(ds.signals[tr], ds.labels[tr], ds.class_names, ds.fs, ds.meta["r_offset"])
    assert m.coef.shape == (ds.n_classes, len(feature_names()))
    auc = per_class_auroc(ds.labels[te], m.predict_proba(ds.signals[te]), ds.class_names)
    assert np.mean(list(auc.values())) > 0.8  # measurements carry the diagnosis
    x, y = ds.signals[te[:6]], ds.labels[te[:6]]
    e = m.explain(x, y)
    assert e.shape == x.shape and e.dtype == np.float32
    exact = (m.logits(x) - m.intercept)[np.arange(6), y]
    np.testing.assert_allclose(e.sum(axis=(1, 2)), exact, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(m.contributions(x, y).sum(1), exact, atol=1e-9)
    b = fit_interpretable(ds.signals[tr], ds.labels[tr], ds.class_names, ds.fs,
                          ds.meta["r_offset"], seed=1, bootstrap=True)
    assert not np.allclose(b.coef, m.coef)
    with pytest.raises(DataError):
        m.explain(x, 99)


def test_signal_counterfactual_flips_and_is_deterministic(setup):
    ds, model, te = setup
    x = ds.signals[te]
    cf, ok = signal_counterfactual(model, torch.from_numpy(x), ds.fs)
    assert ok.float().mean() >= 0.8
    pred = model(cf).argmax(1)
    assert bool((pred[ok] == 0).all())
    a = attribute(model, x, ds.labels[te], "counterfactual_signal", fs=ds.fs)
    b = attribute(model, x, ds.labels[te], "counterfactual_signal", fs=ds.fs, chunk_size=5)
    assert a.shape == x.shape and a.dtype == np.float32 and np.abs(a).max() > 0
    # per-beat losses: chunking does not matter (up to float rounding, which Adam amplifies)
    # (150 Adam steps turn the batch's summation order into a few entries off by ~5 µV: bound the
    # bulk tightly and every beat relative to its own map)
    diff = np.abs(a - b)
    assert np.quantile(diff, 0.999) <= 2e-3
    per_beat = diff.reshape(len(a), -1).max(1) / np.abs(a).reshape(len(a), -1).max(1)
    assert (per_beat <= 0.05).all(), per_beat
    np.testing.assert_allclose(a, x - cf.numpy(), atol=1e-6)
    with pytest.raises(ConfigError, match="steps"):
        signal_counterfactual(model, torch.from_numpy(x), ds.fs, steps=0)


def test_param_counterfactual(setup):
    ds, model, te = setup
    res = param_counterfactuals(model, ds.meta["config"], te)
    assert res.flipped.mean() >= 0.8
    with torch.no_grad():
        pred = model(torch.from_numpy(res.counterfactual)).argmax(1).numpy()
    assert (pred[res.flipped] == 0).all()
    batch = synthetic_batch(ds.meta["config"])
    # α = 0 in every group is the true counterfactual: the explanation is then clean − cf exactly
    full = np.flatnonzero((res.alpha == 0).all(1))
    expl = ds.signals[te] - res.counterfactual
    true = batch.clean[te] - batch.counterfactual[te]
    np.testing.assert_allclose(expl[full], true[full], atol=1e-5)
    # the chosen change is never larger than the full one
    d = np.sqrt(np.square(expl).sum((1, 2)))
    assert (d <= np.sqrt(np.square(true).sum((1, 2))) + 1e-4)[res.flipped].all()
    a = attribute(model, ds.signals[te], ds.labels[te], "counterfactual_params", fs=ds.fs,
                  synthetic=ds.meta["config"])
    np.testing.assert_allclose(a, expl, atol=1e-6)
    with pytest.raises(ConfigError, match="synthetic"):
        attribute(model, ds.signals[te], ds.labels[te], "counterfactual_params", fs=ds.fs)
    with pytest.raises(DataError, match="not one of"):
        attribute(model, ds.signals[te] + 0.01, ds.labels[te], "counterfactual_params",
                  fs=ds.fs, synthetic=ds.meta["config"])


@pytest.fixture(scope="module")
def good_context(setup, tmp_path_factory):
    from ecgsignal.evaluation.context import ExperimentContext
    from ecgsignal.models import TrainConfig

    ds, _, _ = setup
    return ExperimentContext(
        dataset=ds, train_config=TrainConfig(epochs=15, batch_size=32, patience=20),
        seeds=(0, 1), methods=("saliency", "input"), n_per_class=2, n_boot=50, seed=0,
        n_baselines=8, cache_dir=tmp_path_factory.mktemp("beyond-ctx"), progress=False)


def _pooled(df, method, measure, mask=None):
    d = df[(df["method"] == method) & (df["measure"] == measure) & (df["class"] == "all")]
    if mask is not None:
        d = d[d["mask"] == mask]
    assert len(d) >= 1, (method, measure)
    return d


@pytest.mark.slow  # 14-28 s (measured); make test runs it, test-fast skips it
def test_counterfactual_experiment(good_context, tmp_path):
    from ecgsignal.evaluation.experiments import run_experiment
    from ecgsignal.evaluation.randomization import stages

    df = run_experiment("counterfactual", good_context, out_dir=tmp_path)
    assert (tmp_path / "counterfactual" / "config.json").exists()
    assert (df[["ci_low", "ci_high"]].notna().all()).all()
    assert "NORM" not in set(df["class"])  # nothing to flip
    for m in COUNTERFACTUALS:
        assert _pooled(df, m, "validity")["value"].iloc[0] >= 0.7
        assert len(_pooled(df, m, "randomization_spearman_abs")) == len(
            stages(good_context.model()))
        _pooled(df, m, "consistency_spearman_abs")
        _pooled(df, m, "mass_accuracy", "diff")
    # re-rendering the patient tracks the true counterfactual far better than a gradient map
    tr = {m: _pooled(df, m, "truth_r")["value"].iloc[0]
          for m in ("counterfactual_params", "saliency")}
    assert tr["counterfactual_params"] > tr["saliency"] + 0.2
    # the true counterfactual is a real beat: closer to real NORM beats than the signal search
    assert (_pooled(df, "true_counterfactual", "plausibility")["value"].iloc[0]
            < _pooled(df, "counterfactual_signal", "plausibility")["value"].iloc[0])


def test_interpretable_experiment(good_context, tmp_path):
    import dataclasses

    from ecgsignal.evaluation.context import ExperimentContext
    from ecgsignal.evaluation.experiments import run_experiment

    df = run_experiment("interpretable", good_context, out_dir=tmp_path)
    auc = df[df["measure"] == "auroc"]
    assert set(auc["method"]) == {"interpretable", "cnn"}
    assert len(auc) == 2 * (good_context.dataset.n_classes + 1)
    assert (auc["ci_low"] <= auc["value"] + 1e-12).all() and (auc["value"] <= auc["ci_high"] + 1e-12).all()
    _pooled(df, "interpretable", "consistency_spearman_abs")
    rnd = _pooled(df, "interpretable", "randomization_spearman_abs")["value"].iloc[0]
    assert rnd < 0.99  # randomised coefficients change the explanation
    _pooled(df, "interpretable", "mask_auroc", "criteria")
    # counterfactuals refuse data that is not synthetic
    ds = dataclasses.replace(good_context.dataset, meta={"source": "arrays"})
    ctx = ExperimentContext(dataset=ds, seeds=(0,), methods=("saliency",), progress=False)
    with pytest.raises(ConfigError, match="synthetic"):
        run_experiment("counterfactual", ctx)


@pytest.mark.slow  # 14-28 s (measured); make test runs it, test-fast skips it
def test_side_by_side_and_examples(good_context, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from ecgsignal.evaluation.experiments import run_experiment
    from ecgsignal.evaluation.experiments.beyond import (
        counterfactual_examples,
        pick,
        side_by_side,
    )
    from ecgsignal.visual.beyond import plot_counterfactual_examples

    cf = run_experiment("counterfactual", good_context, out_dir=tmp_path)
    im = run_experiment("interpretable", good_context, out_dir=tmp_path)
    t = side_by_side(cf, im)
    assert not t.duplicated(["method", "measure"]).any()
    for m in COUNTERFACTUALS + ("interpretable", "saliency"):
        assert np.isfinite(pick(t, m, "r with truth")[0])
    assert np.isfinite(pick(t, "counterfactual_params", "randomised")[0])
    assert np.isnan(pick(t, "nope", "validity")[0])
    ex = counterfactual_examples(good_context)
    k = len(ex["classes"])
    assert k >= 1 and "NORM" not in ex["classes"]
    assert ex["beat"].shape == ex["true"].shape == ex["signal"].shape == ex["params"].shape
    fig = plot_counterfactual_examples(ex, good_context.dataset.fs)
    assert len([a for a in fig.axes if a.get_visible()]) == k
    with pytest.raises(DataError):
        side_by_side(None, None)


def test_param_path_stays_on_the_beat(setup):
    """Halfway along the parameter path the beat stays between its end points in size: no wave of
    one end point is rendered with the other's placeholder timing (a broad baseline bump)."""
    from ecgsignal.attribution import counterfactual_params as cp
    from ecgsignal.data import synthetic as syn

    ds, _, te = setup
    cfg = cp._config(ds.meta["config"])
    base, draws, has = cp._patients(cfg)
    t = syn._time_axis(cfg)
    p1 = cp._params(base, draws, te, has[te])
    p0 = cp._params(base, draws, te, np.zeros_like(has[te]))
    cp._align(p0, p1)
    x0, x1 = cp._draw(p0, t), cp._draw(p1, t)
    half = cp._draw(cp._mix(p0, p1, (0.5, 0.5, 0.5)), t)
    # the isoelectric start of the window stays flat along the path
    k = int(0.05 * cfg.fs)
    assert np.abs(half[..., :k]).max() <= np.abs(np.concatenate([x0[..., :k], x1[..., :k]])).max() + 0.02
    np.testing.assert_allclose(cp._draw(cp._mix(p0, p1, (1, 1, 1)), t), x1, atol=1e-5)
    np.testing.assert_allclose(cp._draw(cp._mix(p0, p1, (0, 0, 0)), t), x0, atol=1e-5)


@pytest.mark.parametrize("difficulty", ["realistic", "easy"])
def test_param_search_rerenders_the_generator(difficulty):
    """The re-traced parameter stage must reproduce the generator's clean beats and true
    counterfactuals for both difficulties (param_counterfactuals raises DataError otherwise)."""
    from ecgsignal.data.synthetic import make_synthetic

    ds = make_synthetic(n=120, seed=3, difficulty=difficulty)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12 * ds.n_samples, ds.n_classes))
    res = param_counterfactuals(model, ds.meta["config"], np.arange(ds.n))
    assert res.counterfactual.shape == ds.signals.shape
    assert ((res.alpha >= 0) & (res.alpha <= 1)).all()


def test_counterfactuals_of_some_beats_are_those_of_all(good_context):
    """The experiment searches only the non-NORM beats (issue 16): the same maps bit for bit."""
    from ecgsignal.evaluation.experiments.beyond import _cf_maps

    ctx = good_context
    at = np.flatnonzero(ctx.beats.target != ctx.dataset.class_names.index("NORM"))
    assert 2 <= at.size < ctx.beats.n
    model = ctx.model()
    for m in COUNTERFACTUALS:
        assert np.array_equal(_cf_maps(ctx, m, model, at), _cf_maps(ctx, m, model)[at]), m


@pytest.mark.parametrize("bootstrap", [False, True])
def test_fit_on_measured_features_equals_measuring(setup, bootstrap):
    """One measurement of the training beats serves every seed's fit (issue 16): same model."""
    from ecgsignal.data.criteria import measure
    from ecgsignal.models.interpretable import features

    ds, _, _ = setup
    tr = ds.indices("train")
    x, y, r = ds.signals[tr], ds.labels[tr], ds.meta["r_offset"]
    ref = fit_interpretable(x, y, ds.class_names, ds.fs, r, seed=3, bootstrap=bootstrap)
    got = fit_interpretable(x, y, ds.class_names, ds.fs, r, seed=3, bootstrap=bootstrap,
                            measured=features(measure(x, ds.fs, r)))
    for field in ("coef", "intercept", "mean", "scale"):
        assert np.array_equal(getattr(got, field), getattr(ref, field)), field
    with pytest.raises(DataError, match="rows"):
        fit_interpretable(x, y, ds.class_names, ds.fs, r, measured=np.zeros((3, 5)))
