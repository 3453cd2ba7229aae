"""AUROC and training tables over seeds (no training: TrainedModel records built by hand)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from ecgsignal.errors import DataError
from ecgsignal.models import TrainedModel, build_model
from ecgsignal.models.report import (
    auroc_table,
    below_bar,
    history_table,
    seed_summary,
    t_interval,
    training_table,
)


def _tm(auroc, history, seconds=3.0, cached=False):
    return TrainedModel(model=build_model(2), auroc=auroc, checkpoint=Path("x.pt"), seconds=0.1,
                        from_cache=cached, key="k", train_seconds=seconds, history=history)


@pytest.fixture()
def models():
    h0 = [{"epoch": 1, "train_loss": 1.0, "val_loss": 0.9, "val_auroc": 0.8},
          {"epoch": 2, "train_loss": 0.5, "val_loss": 0.4, "val_auroc": 0.9},
          {"epoch": 3, "train_loss": 0.4, "val_loss": 0.6, "val_auroc": 0.88}]
    h1 = [{"epoch": 1, "train_loss": 1.1, "val_loss": 1.0, "val_auroc": 0.7},
          {"epoch": 2, "train_loss": 0.6, "val_loss": 0.5, "val_auroc": 0.95}]
    return {0: _tm({"A": 0.99, "B": 0.90}, h0, 4.0), 1: _tm({"A": 0.97, "B": 0.96}, h1, 2.0, True),
            2: _tm({"A": 0.98, "B": 0.93}, h1, 2.5)}


def test_auroc_table_and_below_bar(models):
    df = auroc_table(models)
    assert list(df.columns) == ["seed", "class", "auroc"]
    assert len(df) == 6
    assert df.set_index(["seed", "class"]).loc[(1, "B"), "auroc"] == 0.96
    low = below_bar(df, 0.95)
    assert set(zip(low["seed"], low["class"])) == {(0, "B"), (2, "B")}
    with pytest.raises(DataError, match="no AUROC"):
        auroc_table(models, class_names=["A", "C"])
    with pytest.raises(DataError):
        auroc_table({})


def test_t_interval_matches_scipy():
    v = np.array([0.9, 0.96, 0.93])
    m, lo, hi = t_interval(v)
    ref = stats.t.interval(0.95, 2, loc=v.mean(), scale=stats.sem(v))
    assert m == pytest.approx(v.mean())
    assert (lo, hi) == pytest.approx(ref)
    m1, lo1, hi1 = t_interval([0.5])
    assert m1 == 0.5 and np.isnan(lo1) and np.isnan(hi1)
    assert np.isnan(t_interval([np.nan])[0])


def test_seed_summary(models):
    s = seed_summary(auroc_table(models)).set_index("class")
    assert s.loc["A", "n_seeds"] == 3 and s.loc["A", "mean"] == pytest.approx(0.98)
    assert s.loc["A", "all_above"] and not s.loc["B", "all_above"]
    assert s.loc["B", "n_below"] == 2
    assert s.loc["B", "ci_low"] < s.loc["B", "mean"] < s.loc["B", "ci_high"]
    assert s.loc["A", "min"] == 0.97 and s.loc["A", "max"] == 0.99
    with pytest.raises(DataError, match="lacks columns"):
        seed_summary(auroc_table(models).drop(columns="seed"))


def test_training_and_history_tables(models):
    tt = training_table(models).set_index("seed")
    assert tt.loc[0, "best_epoch"] == 2 and tt.loc[0, "epochs_run"] == 3
    assert tt.loc[1, "from_cache"] and tt.loc[0, "train_seconds"] == 4.0
    assert tt.loc[0, "macro_auroc"] == pytest.approx(0.945)
    assert tt.loc[0, "min_auroc"] == 0.90
    h = history_table(models)
    assert set(h["metric"]) == {"train_loss", "val_loss", "val_auroc"}
    assert len(h[(h["seed"] == 0) & (h["metric"] == "val_auroc")]) == 3
    with pytest.raises(DataError, match="no training history"):
        history_table({0: _tm({"A": 1.0}, [])})


def test_seed_summary_clips_to_auroc_range():
    import pandas as pd

    df = pd.DataFrame({"seed": [0, 1], "class": ["A", "A"], "auroc": [0.99, 0.6]})
    s = seed_summary(df).iloc[0]
    assert s["ci_low"] == 0.0 and s["ci_high"] == 1.0
    raw = seed_summary(df, clip=None).iloc[0]
    assert raw["ci_low"] < 0 and raw["ci_high"] > 1
