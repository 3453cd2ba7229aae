"""Experiment 4 on the tiny context: curves, areas, leads, ROAR, seeding, an oracle, figures."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

from ecgsignal.errors import ConfigError
from ecgsignal.evaluation.experiments import EXPERIMENTS
from ecgsignal.evaluation.experiments.perturbation import (
    RANDOM_RANKING,
    area_rows,
    class_beats,
    oracle_name,
    run_perturbation,
)
from ecgsignal.models import predict_proba

FR = [0.0, 0.1, 0.3, 0.7, 1.0]
PARAMS = {"methods": ["saliency", "random"], "replacements": ["zero", "interp"],
          "fractions": FR}


@pytest.fixture(scope="module")
def table(tiny_context):
    return run_perturbation(tiny_context, dict(PARAMS))


def _sel(df, **kw):
    out = df
    for k, v in kw.items():
        out = out[out[k].astype(str) == str(v)] if k == "class" else out[out[k] == v]
    return out


def test_registered_and_shape(table):
    assert "perturbation" in EXPERIMENTS
    assert set(table["method"]) == {"saliency", "random", RANDOM_RANKING}
    assert set(table["unit"]) == {"patch", "lead"}
    curves = _sel(table, unit="patch", measure="mean_prob", replacement="zero",
                  method="saliency", order="morf", **{"class": "all"})
    assert list(curves["fraction"]) == FR
    leads = _sel(table, unit="lead", measure="auroc", replacement="zero", method="saliency",
                 order="lerf", **{"class": "all"})
    assert list(leads["n_removed"].astype(int)) == list(range(13))
    v = table["value"].astype(float)
    ok = table["ci_low"].notna()
    assert (table.loc[ok, "ci_low"] <= v[ok] + 1e-12).all()
    assert (v[ok] <= table.loc[ok, "ci_high"] + 1e-12).all()


def test_fraction_zero_is_the_unperturbed_model(tiny_context, table):
    model = tiny_context.model()
    ds = tiny_context.dataset
    c = int(tiny_context.beats.target[0])
    cname = ds.class_names[c]
    pos, neg = class_beats(tiny_context, c)
    assert (ds.onehot()[neg.index, c] == 0).all() and neg.n == pos.n
    direct = predict_proba(model, pos.x)[:, c].mean()
    f0 = _sel(table, fraction=0.0, measure="mean_prob", unit="patch", **{"class": cname})
    np.testing.assert_allclose(f0["value"].astype(float), direct, rtol=1e-6)
    # every order, method and replacement starts from the same point
    assert f0["value"].nunique() == 1


def test_removing_everything_is_order_independent(table):
    end = _sel(table, fraction=1.0, measure="mean_prob", unit="patch", replacement="zero",
               **{"class": "all"})
    assert end["value"].astype(float).nunique() == 1
    end = _sel(table, fraction=1.0, measure="auroc", unit="lead", replacement="zero",
               **{"class": "all"})
    assert end["value"].astype(float).nunique() == 1


def test_area_rows_match_curves(table):
    for meas in ("mean_prob", "auroc"):
        key = dict(method="saliency", replacement="interp", unit="patch", **{"class": "all"})
        curve = {o: _sel(table, measure=meas, order=o, **key)["value"].to_numpy(float)
                 for o in ("morf", "lerf")}
        rnd = _sel(table, measure=meas, order="random", unit="patch", replacement="interp",
                   method=RANDOM_RANKING, **{"class": "all"})["value"].to_numpy(float)
        abc = _sel(table, measure=f"abc_{meas}", **key)
        mvr = _sel(table, measure=f"morf_vs_random_{meas}", **key)
        assert len(abc) == len(mvr) == 1
        assert abc["value"].iloc[0] == pytest.approx(np.trapezoid(curve["lerf"] - curve["morf"], FR))
        assert mvr["value"].iloc[0] == pytest.approx(np.trapezoid(rnd - curve["morf"], FR))


def test_area_rows_bootstrap():
    fr = np.array([0.0, 0.5, 1.0])
    reps = np.zeros((3, 50))
    curves = {"morf": (np.array([1.0, 0.2, 0.0]), reps + [[1.0], [0.2], [0.0]]),
              "lerf": (np.array([1.0, 0.9, 0.0]), reps + [[1.0], [0.9], [0.0]])}
    out = area_rows(fr, curves)
    assert set(out) == {"abc"}
    v, lo, hi = out["abc"]
    assert v == pytest.approx(0.35) and lo == pytest.approx(0.35) and hi == pytest.approx(0.35)


def test_identical_across_runs(tiny_context, table):
    pd.testing.assert_frame_equal(table, run_perturbation(tiny_context, dict(PARAMS)))


def test_without_auroc_and_bad_params(tiny_context):
    df = run_perturbation(tiny_context, {"methods": ["saliency"], "replacements": ["noise"],
                                         "fractions": [0.0, 0.5], "auroc": False,
                                         "leads": False})
    assert set(df["measure"]) == {"mean_prob", "abc_mean_prob", "morf_vs_random_mean_prob"}
    assert (df["n_neg"] == 0).all()
    with pytest.raises(ConfigError, match="fractions"):
        run_perturbation(tiny_context, {"fractions": [0.5]})
    with pytest.raises(ConfigError, match="replacements"):
        run_perturbation(tiny_context, {"replacements": ["blur"]})
    with pytest.raises(ConfigError, match="methods"):
        run_perturbation(tiny_context, {"methods": ["nope"]})
    with pytest.raises(ConfigError, match="oracle"):
        run_perturbation(tiny_context, {"oracle": "perfect"})


def test_roar_tiny(tiny_context):
    df = run_perturbation(tiny_context, {
        "methods": ["saliency"], "replacements": ["zero"], "fractions": [0.0, 1.0],
        "auroc": False, "leads": False, "roar": True, "roar_methods": ["saliency"],
        "roar_fractions": [0.5]})
    roar = df[df["measure"] == "roar_auroc"]
    assert set(roar["method"]) == {"saliency", RANDOM_RANKING}
    assert set(roar["fraction"]) == {0.0, 0.5}
    assert set(roar["unit"]) == {"roar"}
    # fraction 0 is the reference model's test AUROC (macro mean over classes)
    from ecgsignal.models import mean_auroc, per_class_auroc

    ds = tiny_context.dataset
    test = ds.indices("test")
    ref = mean_auroc(per_class_auroc(ds.labels[test], predict_proba(tiny_context.model(),
                                     ds.signals[test]), ds.class_names))
    base = _sel(roar, fraction=0.0, **{"class": "all"})["value"].to_numpy(float)
    np.testing.assert_allclose(base, ref, rtol=1e-9)
    # after removing half the patches the retrained model differs from the reference
    half = _sel(roar, fraction=0.5, **{"class": "all"})
    assert len(half) == 2 and not np.allclose(half["value"].to_numpy(float), ref)
    assert ((half["ci_low"] <= half["value"]) & (half["value"] <= half["ci_high"])).all()


@pytest.mark.slow
def test_oracle_ranking_beats_random():
    """On synthetic data with a well-trained model, removing the ground-truth region first
    (an oracle map) drops the class probability and AUROC faster than a random ranking."""
    from ecgsignal.data.synthetic import SyntheticConfig, make_synthetic
    from ecgsignal.evaluation.context import ExperimentContext
    from ecgsignal.models import TrainConfig

    ds = make_synthetic(SyntheticConfig(n=900, seed=1))
    ctx = ExperimentContext(dataset=ds, train_config=TrainConfig(epochs=8, batch_size=64),
                            seeds=(0,), methods=("saliency",), n_per_class=8, n_boot=200,
                            seed=0, n_baselines=4, progress=False)
    df = run_perturbation(ctx, {"methods": [], "oracle": "diff", "replacements": ["zero"],
                                "fractions": [0.0, 0.05, 0.1, 0.2, 0.3, 0.5], "leads": False})
    name = oracle_name("diff")
    for meas in ("mean_prob", "auroc"):
        gain = _sel(df, method=name, measure=f"morf_vs_random_{meas}", **{"class": "all"})
        assert len(gain) == 1 and gain["ci_low"].iloc[0] > 0, (meas, gain)
    morf = _sel(df, method=name, order="morf", measure="mean_prob", **{"class": "all"})
    rnd = _sel(df, method=RANDOM_RANKING, measure="mean_prob", **{"class": "all"})
    at = morf["fraction"] == 0.1
    assert morf.loc[at, "value"].iloc[0] < rnd.loc[rnd["fraction"] == 0.1, "value"].iloc[0]


def test_plots(table):
    import matplotlib.pyplot as plt

    from ecgsignal.visual.perturbation import plot_area_between, plot_perturbation

    ax = plot_perturbation(table)
    assert len(ax.get_lines()) >= 5  # 2 methods × 2 orders + random
    assert len(ax.collections) >= 5  # CI bands
    ax = plot_perturbation(table, measure="auroc", unit="lead", replacement="interp")
    assert "leads" in ax.get_xlabel()
    ax = plot_area_between(table, measure="auroc")
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert set(labels) == {"saliency", "random"}
    with pytest.raises(Exception, match="no rows"):
        plot_area_between(table, kind="nope")
    plt.close("all")
