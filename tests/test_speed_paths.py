"""Fast paths of the book's heavy stages give the very numbers of their reference paths (issue 16).

Experiment 4: the pair-count bootstrap AUROC equals ranking each resample bit for bit; replacing
only the new rows equals replacing every beat; each distinct perturbed beat predicted once, in
any grouping, gives the probabilities of predicting every beat.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from ecgsignal.evaluation.experiments._perturbation_rows import (
    RowPredictor,
    predict_class,
    replace_rows,
)
from ecgsignal.evaluation.experiments._perturbation_stats import _Boot
from ecgsignal.evaluation.perturbation import REPLACEMENTS, ranking, removal_mask, replace
from ecgsignal.models.cnn import ModelConfig, build_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")

FS, T = 250.0, 250


class _Counting(nn.Module):
    """Counts the rows the wrapped model is run on."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner, self.rows = inner, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.rows += x.shape[0]
        return self.inner(x)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model(5, ModelConfig()).eval()


@pytest.fixture(scope="module")
def beats():
    return np.random.default_rng(0).normal(0, 0.3, size=(7, 12, T)).astype(np.float32)


@pytest.mark.parametrize("n_pos,n_neg,decimals", [(10, 10, 2), (7, 13, 1), (1, 4, 3), (12, 1, 6)])
def test_pair_count_auroc_equals_ranked_bit_for_bit(n_pos, n_neg, decimals):
    rng = np.random.default_rng(n_pos * 100 + n_neg)
    boot = _Boot(n_pos, n_neg, 300, seed=5)
    p = np.round(rng.random((9, n_pos + n_neg)), decimals)  # rounding makes ties
    p[0] = 0.5  # a step where every beat ties
    est, fast = boot.auroc(p)
    ref = boot.auroc_ranked(p)
    assert fast.shape == ref.shape == (9, 300)
    assert np.array_equal(fast, ref)
    assert np.all(fast[0] == 0.5)


def test_pair_count_auroc_falls_back_on_nan():
    boot = _Boot(4, 4, 50, seed=1)
    p = np.random.default_rng(2).random((3, 8))
    p[1, 2] = np.nan
    assert np.array_equal(boot.auroc(p)[1], boot.auroc_ranked(p), equal_nan=True)


@pytest.mark.parametrize("how", REPLACEMENTS.available())
def test_replace_rows_equals_replacing_every_beat(beats, how):
    order = ranking(np.random.default_rng(3).random((beats.shape[0], 12 * 25)), "morf", seed=0)
    mask = removal_mask(order, 0.3, T, FS, 40.0)
    rows = np.array([5, 0, 3, 3])
    noise: dict = {}
    got = replace_rows(beats, mask, rows, how, 11, noise)
    ref = replace(beats, mask, how, seed=11)[rows]
    assert got.dtype == ref.dtype == np.float32
    assert np.array_equal(got, ref)
    again = replace_rows(beats, mask, rows[:1], how, 11, noise)  # the cached noise field
    assert np.array_equal(again, ref[:1])


def test_predict_class_does_not_depend_on_grouping(model, beats):
    x = np.concatenate([beats] * 19)  # 133 rows: passes of 128 + 5
    ref = predict_class(model, x, 2)
    assert ref.shape == (133,) and ref.dtype == np.float32
    for rows in (2, 3, 4, 128, 132):  # 132: a last pass of one row, run as two copies
        assert np.array_equal(predict_class(model, x, 2, rows=rows), ref)
    assert np.array_equal(predict_class(model, x[7:8], 2), ref[7:8])
    perm = np.random.default_rng(0).permutation(133)
    assert np.array_equal(predict_class(model, x[perm], 2), ref[perm])


def test_row_predictor_equals_predicting_every_beat(model, beats):
    n = beats.shape[0]
    counting = _Counting(model)
    probs: dict = {}
    noise: dict = {}
    rng = np.random.default_rng(4)
    orders = {o: ranking(rng.random((n, 12 * 25)), o, seed=1) for o in ("morf", "lerf")}
    fr = [0.0, 0.1, 0.5, 1.0]
    rp = RowPredictor(counting, 3, None, beats, probs, noise)
    expected = {}
    for o, order in orders.items():
        for how in ("zero", "interp", "noise"):
            masks = [removal_mask(order, f, T, FS, 40.0) for f in fr]
            rp.queue((o, how), masks, how, seed=9)
            expected[(o, how)] = np.stack([
                predict_class(model, replace(beats, m, how, seed=9), 3) for m in masks
            ]).astype(np.float64)
    got = dict(rp.results())
    assert list(got) == list(expected)
    for key, p in expected.items():
        assert np.array_equal(got[key], p), key
    # fraction 0 is the beat itself whatever the order and replacement: predicted once per beat
    distinct = len(probs)
    # (and fraction 1 whatever the order): 1 + 3 replacements × (2 orders × 2 fractions + 1)
    assert distinct == n * (1 + 3 * (2 * 2 + 1))
    assert counting.rows == distinct
    # the same curves again (another method ranking alike): nothing new is predicted
    rp2 = RowPredictor(counting, 3, None, beats, probs, noise)
    rp2.queue("again", [removal_mask(orders["morf"], f, T, FS, 40.0) for f in fr], "noise", 9)
    assert np.array_equal(dict(rp2.results())["again"], expected[("morf", "noise")])
    assert counting.rows == distinct


@pytest.mark.parametrize("measure", ["topk", "ssim"])
def test_per_map_similarity_is_the_measure_bit_for_bit(measure):
    """Top-k weights and SSIM window statistics computed once per map (issue 16): same floats."""
    from ecgsignal.evaluation.experiments.similarity import paired_similarity, pairwise_similarity
    from ecgsignal.evaluation.similarity import similarity

    rng = np.random.default_rng(7)
    maps = {f"m{i}": np.round(rng.standard_normal((5, 12, 40)), 1).astype(np.float32)
            for i in range(3)}
    maps["m0"][1] = 0.0  # constant
    maps["m2"][3] = -maps["m1"][3]  # same magnitudes
    for (a, b), v in pairwise_similarity(maps, measure).items():
        assert np.array_equal(v, similarity(maps[a], maps[b], measure), equal_nan=True), (a, b)
    got = paired_similarity([maps["m1"]], [maps["m2"]], measure)[0]
    assert np.array_equal(got, similarity(maps["m1"], maps["m2"], measure), equal_nan=True)


def test_pairwise_similarity_reads_back_pairs_of_the_same_maps(monkeypatch):
    """Chapter 4 compares the same maps twice (issue 16): the second time reads the pairs back,
    by content, with the numbers of a fresh comparison."""
    import ecgsignal.evaluation.experiments.similarity as es

    rng = np.random.default_rng(11)
    maps = {f"m{i}": rng.standard_normal((4, 12, 30)).astype(np.float32) for i in range(3)}
    first = es.pairwise_similarity(maps, "spearman_abs")
    prepared = []
    real = es._prepare
    monkeypatch.setattr(es, "_prepare", lambda m, ms: prepared.append(sorted(m)) or real(m, ms))
    again = es.pairwise_similarity(dict(maps), "spearman_abs")
    assert prepared == []
    assert list(again) == list(first)
    assert all(np.array_equal(again[k], first[k]) for k in first)
    again[("m0", "m1")][:] = 7.0  # the caller's copy, not the memory
    assert np.array_equal(es.pairwise_similarity(maps, "spearman_abs")[("m0", "m1")],
                          first[("m0", "m1")])
    changed = {**maps, "m2": maps["m2"] + 1.0}  # new content: only its pairs are compared
    got = es.pairwise_similarity(changed, "spearman_abs")
    assert prepared == [["m0", "m1", "m2"]]
    for k, v in got.items():
        assert np.array_equal(v, es.similarity(changed[k[0]], changed[k[1]], "spearman_abs"),
                              equal_nan=True)


def test_batched_cis_and_areas_are_those_of_each_call():
    """Experiment 4's CIs in one quantile call per shape (issue 16): the floats of one call each."""
    from ecgsignal.evaluation.experiments._perturbation_stats import (
        _ci,
        area_rows,
        area_rows_many,
        ci_many,
    )

    rng = np.random.default_rng(8)
    reps = [rng.random((9, 200)), rng.random((13, 200)), rng.random(200), rng.random((9, 200))]
    reps[1][2, 5] = np.nan  # its own nanquantile call
    for (lo, hi), r in zip(ci_many(reps), reps):
        rlo, rhi = _ci(r)
        assert np.array_equal(lo, rlo, equal_nan=True) and np.array_equal(hi, rhi, equal_nan=True)
    fr = np.array([0.0, 0.1, 0.5, 1.0])

    def curve():
        return rng.random(4), rng.random((4, 50))

    items = [(fr, {"morf": curve(), "lerf": curve(), "random": curve()}),
             (fr[:3], {"morf": (curve()[0][:3], curve()[1][:3]),
                       "lerf": (curve()[0][:3], curve()[1][:3])})]
    assert area_rows_many(items) == [area_rows(f, c) for f, c in items]
