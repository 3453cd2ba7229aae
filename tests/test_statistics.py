"""Bootstrap CIs: coverage, determinism, the two-level scheme, NaN handling, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ecgsignal.errors import ConfigError, DataError
from ecgsignal.evaluation.statistics import bootstrap_ci, bootstrap_ci_many, bootstrap_table


def test_coverage_close_to_nominal_in_a_seeded_simulation():
    rng = np.random.default_rng(2024)
    hits = 0
    n_sim = 200
    for i in range(n_sim):
        x = rng.normal(loc=0.3, scale=1.0, size=60)
        _, lo, hi = bootstrap_ci(x, n_boot=400, seed=i)
        hits += lo <= 0.3 <= hi
    coverage = hits / n_sim
    # percentile bootstrap at n = 60 covers slightly under 95 %; SE of the estimate ≈ 1.6 %
    assert 0.88 <= coverage <= 0.99, coverage


def test_deterministic_for_a_seed_and_different_across_seeds():
    x = np.random.default_rng(1).normal(size=100)
    assert bootstrap_ci(x, seed=5) == bootstrap_ci(x, seed=5)
    assert bootstrap_ci(x, seed=5)[1:] != bootstrap_ci(x, seed=6)[1:]


def test_estimate_is_the_statistic_and_interval_brackets_it():
    x = np.random.default_rng(2).exponential(size=300)
    est, lo, hi = bootstrap_ci(x, seed=0)
    assert est == pytest.approx(x.mean())
    assert lo < est < hi
    est_med, lo_m, hi_m = bootstrap_ci(x, seed=0, stat=np.nanmedian)
    assert est_med == pytest.approx(np.median(x))
    assert lo_m < est_med < hi_m
    # a wider nominal coverage gives a wider interval
    _, lo99, hi99 = bootstrap_ci(x, seed=0, ci=0.99)
    assert lo99 <= lo and hi99 >= hi


def test_interval_width_shrinks_like_one_over_sqrt_n():
    rng = np.random.default_rng(3)
    small = rng.normal(size=100)
    large = rng.normal(size=1600)
    w_small = np.subtract(*bootstrap_ci(small, seed=0)[2:0:-1])
    w_large = np.subtract(*bootstrap_ci(large, seed=0)[2:0:-1])
    assert w_small / w_large == pytest.approx(4.0, rel=0.25)


def test_nan_values_are_skipped():
    x = np.random.default_rng(4).normal(size=80)
    with_nan = np.concatenate([x, [np.nan] * 5])
    est, lo, hi = bootstrap_ci(with_nan, seed=0)
    assert est == pytest.approx(x.mean())
    assert np.isfinite([lo, hi]).all()
    assert all(np.isnan(bootstrap_ci(np.full(10, np.nan), seed=0)))


def test_many_columns_match_single_column_calls():
    rng = np.random.default_rng(5)
    v = rng.normal(size=(120, 3)) + np.array([0.0, 1.0, -2.0])
    est, lo, hi = bootstrap_ci_many(v, seed=9, n_boot=300)
    assert est.shape == lo.shape == hi.shape == (3,)
    for j in range(3):
        e, lj, hj = bootstrap_ci(v[:, j], seed=9, n_boot=300)
        assert (est[j], lo[j], hi[j]) == pytest.approx((e, lj, hj), abs=1e-12)


def test_two_level_bootstrap_carries_between_group_spread():
    rng = np.random.default_rng(6)
    # 5 seeds whose means differ a lot, 200 beats each with small within-seed noise
    seed_means = np.array([-1.0, -0.5, 0.0, 0.5, 1.0])
    groups = np.repeat(np.arange(5), 200)
    values = seed_means[groups] + 0.1 * rng.normal(size=groups.size)
    _, lo1, hi1 = bootstrap_ci(values, seed=0)
    _, lo2, hi2 = bootstrap_ci(values, seed=0, groups=groups)
    # beats-only CI ignores the seed variability; the two-level one does not
    assert (hi2 - lo2) > 10 * (hi1 - lo1)
    assert (hi2 - lo2) > 0.8  # sd of seed means ≈ 0.79, SE ≈ 0.35 → width ≈ 1.2
    # a single group reduces to the ordinary bootstrap over beats
    one = np.zeros(values.size, dtype=int)
    w_one = np.diff(bootstrap_ci(values, seed=0, groups=one)[1:])[0]
    assert w_one == pytest.approx(hi1 - lo1, rel=0.2)


def test_two_level_with_unequal_groups_and_string_labels():
    rng = np.random.default_rng(7)
    values = rng.normal(size=50)
    groups = np.array(["s0"] * 10 + ["s1"] * 25 + ["s2"] * 15)
    a = bootstrap_ci(values, seed=1, groups=groups, n_boot=200)
    assert a == bootstrap_ci(values, seed=1, groups=list(groups), n_boot=200)
    assert a[1] < a[0] < a[2]


def test_bootstrap_table_summarises_cells():
    rng = np.random.default_rng(8)
    frame = pd.DataFrame(
        {
            "method": np.repeat(["saliency", "random"], 100),
            "seed": np.tile(np.repeat([0, 1], 50), 2),
            "value": np.concatenate([0.6 + 0.1 * rng.normal(size=100), rng.normal(size=100)]),
        }
    )
    out = bootstrap_table(frame, ["method"], group="seed", n_boot=200)
    assert list(out.columns) == ["method", "value", "ci_low", "ci_high", "n"]
    assert list(out["method"]) == ["saliency", "random"]
    sal = out.iloc[0]
    assert sal["ci_low"] < sal["value"] < sal["ci_high"] and sal["ci_low"] > 0.4
    assert out.iloc[1]["n"] == 100
    with pytest.raises(DataError, match="lacks column"):
        bootstrap_table(frame, ["class"])


def test_bad_options_and_values_are_named():
    x = np.arange(5.0)
    with pytest.raises(ConfigError, match="n_boot"):
        bootstrap_ci(x, n_boot=0)
    with pytest.raises(ConfigError, match="ci"):
        bootstrap_ci(x, ci=95)
    with pytest.raises(DataError, match=r"shape \(n,\)"):
        bootstrap_ci(np.ones((3, 2)))
    with pytest.raises(DataError, match="empty"):
        bootstrap_ci(np.array([]))
    with pytest.raises(DataError, match="groups"):
        bootstrap_ci(x, groups=[0, 1])
    with pytest.raises(DataError, match="infinite"):
        bootstrap_ci(np.array([1.0, np.inf]))
