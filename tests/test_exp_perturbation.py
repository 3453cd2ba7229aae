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
from ecgsignal.tables import select

FR = [0.0, 0.1, 0.3, 0.7, 1.0]
PARAMS = {"methods": ["saliency", "random"], "replacements": ["zero", "interp"],
          "fractions": FR}


@pytest.fixture(scope="module")
def table(tiny_context):
    return run_perturbation(tiny_context, dict(PARAMS))


def test_registered_and_shape(table):
    assert "perturbation" in EXPERIMENTS
    assert set(table["method"]) == {"saliency", "random", RANDOM_RANKING}
    assert set(table["unit"]) == {"patch", "lead"}
    curves = select(table, unit="patch", measure="mean_prob", replacement="zero",
                  method="saliency", order="morf", ranking="abs", **{"class": "all"})
    assert list(curves["fraction"]) == FR
    leads = select(table, unit="lead", measure="auroc", replacement="zero", method="saliency",
                 order="lerf", ranking="signed", **{"class": "all"})
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
    f0 = select(table, fraction=0.0, measure="mean_prob", unit="patch", **{"class": cname})
    np.testing.assert_allclose(f0["value"].astype(float), direct, rtol=1e-6)
    # every order, method and replacement starts from the same point
    assert f0["value"].nunique() == 1


def test_removing_everything_is_order_independent(table):
    end = select(table, fraction=1.0, measure="mean_prob", unit="patch", replacement="zero",
               **{"class": "all"})
    assert end["value"].astype(float).nunique() == 1
    end = select(table, fraction=1.0, measure="auroc", unit="lead", replacement="zero",
               **{"class": "all"})
    assert end["value"].astype(float).nunique() == 1


def test_area_rows_match_curves(table):
    for meas in ("mean_prob", "auroc"):
        key = dict(method="saliency", replacement="interp", unit="patch", ranking="abs",
                   **{"class": "all"})
        curve = {o: select(table, measure=meas, order=o, **key)["value"].to_numpy(float)
                 for o in ("morf", "lerf")}
        rnd = select(table, measure=meas, order="random", unit="patch", replacement="interp",
                   method=RANDOM_RANKING, **{"class": "all"})["value"].to_numpy(float)
        abc = select(table, measure=f"abc_{meas}", **key)
        mvr = select(table, measure=f"morf_vs_random_{meas}", **key)
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
    assert set(df["measure"]) == {f"{k}{m}" for k in ("", "abc_", "morf_vs_random_")
                                  for m in ("mean_prob", "mean_logodds")}
    assert (df["n_neg"] == 0).all()
    with pytest.raises(ConfigError, match="fractions"):
        run_perturbation(tiny_context, {"fractions": [0.5]})
    with pytest.raises(ConfigError, match="replacements"):
        run_perturbation(tiny_context, {"replacements": ["blur"]})
    with pytest.raises(ConfigError, match="methods"):
        run_perturbation(tiny_context, {"methods": ["nope"]})
    with pytest.raises(ConfigError, match="oracle"):
        run_perturbation(tiny_context, {"oracle": "perfect"})
    with pytest.raises(ConfigError, match="rankings"):
        run_perturbation(tiny_context, {"rankings": ["squared"]})
    with pytest.raises(ConfigError, match="negatives"):
        run_perturbation(tiny_context, {"negatives": "flat"})


def test_logodds_curves_beside_probability(tiny_context, table):
    from ecgsignal.evaluation.perturbation import log_odds

    c = int(tiny_context.beats.target[0])
    pos, _ = class_beats(tiny_context, c)
    direct = log_odds(predict_proba(tiny_context.model(), pos.x)[:, c]).mean()
    f0 = select(table, fraction=0.0, measure="mean_logodds", unit="patch",
              **{"class": tiny_context.dataset.class_names[c]})
    np.testing.assert_allclose(f0["value"].astype(float), direct, rtol=1e-6)
    for name in ("abc_mean_logodds", "morf_vs_random_mean_logodds"):
        assert len(select(table, measure=name, method="saliency", replacement="zero",
                        unit="patch", ranking="abs", **{"class": "all"})) == 1


def test_signed_and_abs_rankings_side_by_side(table):
    rows = table[table["measure"] == "abc_mean_prob"]
    assert set(rows["ranking"]) == {"abs", "signed"}
    assert table.loc[table["method"] == RANDOM_RANKING, "ranking"].isna().all()
    # the signed ranking orders the `random` control's maps differently from |a|
    key = dict(method="random", replacement="zero", unit="patch", order="morf",
               measure="mean_prob", **{"class": "all"})
    v_abs = select(table, ranking="abs", **key)["value"].to_numpy(float)
    v_sgn = select(table, ranking="signed", **key)["value"].to_numpy(float)
    assert v_abs[0] == v_sgn[0] and not np.allclose(v_abs, v_sgn)


def test_negatives_like_for_like(tiny_context):
    """By default every ranking removes the negatives' patches in the random reference order
    (as the oracle must); explaining the negatives changes only the AUROC, not the positives."""
    from ecgsignal.evaluation.perturbation import ranking

    flat = np.zeros((4, 30))
    rnd = ranking(flat, "random", seed=5)
    assert (ranking(flat, "morf", seed=5) == rnd).all()
    assert (ranking(flat, "lerf", seed=5) == rnd).all()
    prm = {"methods": ["saliency"], "replacements": ["zero"], "fractions": [0.0, 0.3, 1.0],
           "leads": False, "rankings": ["abs"]}
    like = run_perturbation(tiny_context, {**prm, "negatives": "random"})
    expl = run_perturbation(tiny_context, {**prm, "negatives": "explained"})
    key = dict(method="saliency", order="morf", **{"class": "all"})
    np.testing.assert_allclose(select(like, measure="mean_prob", **key)["value"].astype(float),
                               select(expl, measure="mean_prob", **key)["value"].astype(float))
    a_like = select(like, measure="auroc", **key)["value"].to_numpy(float)
    a_expl = select(expl, measure="auroc", **key)["value"].to_numpy(float)
    assert a_like[0] == a_expl[0]
    # the maps behind them: flat negatives (→ the random order) unless explained
    from ecgsignal.evaluation.experiments.perturbation import _class_runs, _method_maps

    runs, negs = _class_runs(tiny_context, True)
    for explain in (False, True):
        maps = _method_maps(tiny_context, "saliency", runs, negs, explain)
        for r, a in zip(runs, maps):
            neg_part = a[r.pos.n:]
            assert (neg_part == 0).all() != explain
    oracle_like = _method_maps(tiny_context, oracle_name("diff"), runs, negs, True)
    assert all((a[r.pos.n:] == 0).all() for r, a in zip(runs, oracle_like))


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
    base = select(roar, fraction=0.0, **{"class": "all"})["value"].to_numpy(float)
    np.testing.assert_allclose(base, ref, rtol=1e-9)
    # after removing half the patches the retrained model differs from the reference
    half = select(roar, fraction=0.5, **{"class": "all"})
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
        gain = select(df, method=name, measure=f"morf_vs_random_{meas}", ranking="abs",
                    **{"class": "all"})
        assert len(gain) == 1 and gain["ci_low"].iloc[0] > 0, (meas, gain)
    morf = select(df, method=name, order="morf", measure="mean_prob", ranking="abs",
                **{"class": "all"})
    rnd = select(df, method=RANDOM_RANKING, measure="mean_prob", **{"class": "all"})
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
    ax = plot_perturbation(table, measure="mean_logodds", ranking="signed")
    assert "log-odds" in ax.get_ylabel() and "signed" in ax.get_title()
    ax = plot_area_between(table, measure="mean_logodds", ranking="signed")
    assert {t.get_text() for t in ax.get_yticklabels()} == {"saliency", "random"}
    with pytest.raises(Exception, match="no rows"):
        plot_area_between(table, kind="nope")
    plt.close("all")
