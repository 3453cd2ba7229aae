"""One reader for result tables: column checks, dtypes restored on reading, ``select``."""

from __future__ import annotations

import pandas as pd
import pytest

from ecgsignal.errors import CacheError, DataError
from ecgsignal.evaluation.results import load_results, make_table, save_results
from ecgsignal.tables import normalize_dtypes, require_columns, select


def _table() -> pd.DataFrame:
    return make_table([
        {"experiment": "randomization", "method": m, "class": c, "seed": 0, "stage": st,
         "measure": "spearman_abs", "value": v, "ci_low": v - 0.1, "ci_high": v + 0.1,
         "order": "top_down", "fully_randomized": st == 2, "own_perturbation": None}
        for (m, c, st, v) in [("saliency", 3, 0, 1.0), ("saliency", 3, 2, 0.2),
                              ("gradcam", 3, 2, 0.5), ("saliency", "all", 2, 0.3),
                              ("gradcam", "all", 0, 1.0)]])


def test_load_results_restores_dtypes(tmp_path):
    df = _table()
    save_results(df, tmp_path, {"k": 1})
    back = load_results(tmp_path, {"k": 1})
    assert list(back["class"]) == ["3", "3", "3", "all", "all"]
    assert back["fully_randomized"].dtype == bool
    assert back["fully_randomized"].tolist() == [False, True, True, True, False]
    assert back["stage"].dtype == "int64" and back["seed"].dtype == "int64"
    assert back["fraction"].isna().all()  # untouched columns stay as read
    # a table whose classes are all numbers still reads them as strings
    save_results(df[df["class"] == 3], tmp_path / "b", {"k": 2})
    assert pd.read_csv(tmp_path / "b" / "results.csv")["class"].dtype.kind == "i"
    assert load_results(tmp_path / "b", {"k": 2})["class"].tolist() == ["3", "3", "3"]


def test_load_results_missing_column_is_a_cache_error(tmp_path):
    save_results(_table().drop(columns="measure"), tmp_path, {"k": 1})
    with pytest.raises(CacheError, match=r"lacks columns \['measure'\]"):
        load_results(tmp_path, {"k": 1})


def test_select_normalises_before_comparing():
    df = _table()
    assert len(select(df, class_=3)) == 3
    pd.testing.assert_frame_equal(select(df, class_=3), select(df, class_="3"))
    pd.testing.assert_frame_equal(select(df, **{"class": "3"}), select(df, class_="3"))
    full = select(df, fully_randomized=True, class_="all")
    assert full["method"].tolist() == ["saliency"]
    assert len(select(df, fully_randomized="True")) == len(select(df, fully_randomized=True)) == 3
    same = df.astype({"fully_randomized": str, "stage": float})  # as an old CSV may give them
    pd.testing.assert_frame_equal(select(same, fully_randomized=True, stage=2),
                                  select(df, fully_randomized=True, stage="2"))
    assert select(df, method=["gradcam", "nope"])["method"].unique().tolist() == ["gradcam"]
    assert select(df, stage=(0, 2)).shape[0] == 5
    assert select(df, method="gradcam", stage=2, class_="all").empty  # present values, no row
    assert select(df).shape == df.shape


def test_select_errors_name_the_problem():
    df = _table()
    with pytest.raises(DataError, match=r"lacks columns \['mask'\].*has \['experiment'"):
        select(df, mask="diff")
    with pytest.raises(DataError, match=r"no rows for class=7.*\['3', 'all'\]"):
        select(df, class_=7)
    with pytest.raises(DataError, match=r"no rows for method=\['x', 'y'\]"):
        select(df, method=["x", "y"])
    with pytest.raises(DataError, match="holds numbers"):
        select(df, stage="first")
    with pytest.raises(DataError, match="neither true nor false"):
        select(df, fully_randomized="maybe")


def test_require_columns_and_normalize_refuse_bad_tables():
    df = _table()
    require_columns(df, ["method", "class"])
    with pytest.raises(DataError, match=r"Experiment 9's table lacks columns \['a', 'b'\].*; hint"):
        require_columns(df, ["a", "method", "b"], "Experiment 9's table", hint="hint")
    with pytest.raises(DataError, match="should hold integers"):
        normalize_dtypes(df.assign(stage=[0.5, 1, 2, 3, 4]))
    with pytest.raises(DataError, match="neither true nor false"):
        normalize_dtypes(df.assign(fully_randomized=["yes"] * 5))
    nb = normalize_dtypes(df.assign(fully_randomized=[True, None, False, True, True]))
    assert str(nb["fully_randomized"].dtype) == "boolean"
