"""Property-based tests (hypothesis) for the generator, the similarity measures, the
perturbation masks and the configs (issue 6, item 5).

Each property holds for every input hypothesis draws: shapes, dtypes, finiteness and
Einthoven's and Goldberger's laws for any (n, fs, seed) of the generator; symmetry, bounds and
invariance to positive scaling of the similarity measures; nested, exactly counted, whole-patch
removal masks; lossless config round-trips with stable hashes.
"""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ecgsignal.config import config_hash, from_dict, to_dict
from ecgsignal.data.ptbxl import PTBXLConfig
from ecgsignal.data.synthetic import EXTRA_CLASSES, SyntheticConfig, make_synthetic
from ecgsignal.errors import ConfigError
from ecgsignal.evaluation.perturbation import (
    lead_removal_mask,
    lead_removal_order,
    patch_grid,
    patch_scores,
    ranking,
    removal_mask,
)
from ecgsignal.evaluation.similarity import SIMILARITY, similarity
from ecgsignal.models import ModelConfig, TrainConfig
from ecgsignal.run.profiles import Profile, load_profile

PROPS = settings(max_examples=25, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
MEASURES = SIMILARITY.available()
CORRELATIONS = ("spearman_abs", "spearman_signed", "pearson")


# ============================================================================ generator
@PROPS
@given(n=st.integers(1, 27),
       fs=st.one_of(st.integers(100, 1000), st.floats(100, 1000, allow_nan=False)),
       seed=st.integers(0, 2**32 - 1), difficulty=st.sampled_from(["realistic", "easy"]))
def test_generator_shapes_dtypes_and_einthoven(n, fs, seed, difficulty):
    cfg = SyntheticConfig(n=n, fs=fs, seed=seed, difficulty=difficulty)
    ds = make_synthetic(cfg)
    T = int(round(1.2 * fs))
    assert ds.signals.shape == (n, 12, T) and ds.signals.dtype == np.float32
    assert np.isfinite(ds.signals).all() and np.abs(ds.signals).max() < 10.0  # mV
    assert ds.fs == float(fs) and ds.n_samples == cfg.n_samples == T
    assert ds.diff_mask.shape == ds.criteria_mask.shape == ds.signals.shape
    assert ds.diff_mask.dtype == ds.criteria_mask.dtype == bool
    counts = np.bincount(ds.labels, minlength=9)
    flipped = ds.label_flipped  # realistic: a flagged fraction of labels is deliberately wrong
    assert counts.sum() == n and (flipped.any() or counts.max() - counts.min() <= 1)  # balanced
    assert set(np.unique(ds.split)) <= {0, 1, 2}
    s = ds.signals.astype(np.float64)
    i, ii, iii, avr, avl, avf = (s[:, k] for k in range(6))
    scale = 1e-5 * max(1.0, float(np.abs(s[:, :2]).max()))
    np.testing.assert_allclose(iii, ii - i, atol=scale)            # Einthoven
    np.testing.assert_allclose(avr, -(i + ii) / 2, atol=scale)     # Goldberger
    np.testing.assert_allclose(avl, i - ii / 2, atol=scale)
    np.testing.assert_allclose(avf, ii - i / 2, atol=scale)
    again = make_synthetic(cfg)
    assert again.signals.tobytes() == ds.signals.tobytes()  # the seed fixes every draw
    assert np.array_equal(again.labels, ds.labels) and np.array_equal(again.split, ds.split)


# ============================================================================ similarity
@st.composite
def map_pairs(draw):
    """Two batches of maps ``(n, 12, T)``: continuous, tied (small integers) or sparse."""
    n, t = draw(st.integers(1, 4)), draw(st.integers(12, 48))
    kind = draw(st.sampled_from(["normal", "ties", "sparse"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))

    def one():
        if kind == "normal":
            return rng.standard_normal((n, 12, t))
        if kind == "ties":
            return rng.integers(-2, 3, (n, 12, t)).astype(np.float64)
        return rng.standard_normal((n, 12, t)) * (rng.random((n, 12, t)) < 0.05)

    a, b = one(), one()
    a[0, 0, 0], b[0, 0, 1] = 3.0, -3.0  # never constant
    return a, b


def _close(x, y, tol=1e-9):
    np.testing.assert_allclose(x, y, rtol=tol, atol=tol, equal_nan=True)


@PROPS
@given(pair=map_pairs(), measure=st.sampled_from(MEASURES))
def test_similarity_is_symmetric_and_bounded(pair, measure):
    a, b = pair
    ab, ba = similarity(a, b, measure), similarity(b, a, measure)
    assert ab.shape == (a.shape[0],)
    _close(ab, ba)
    finite = ab[np.isfinite(ab)]
    low = 0.0 if measure == "topk" else -1.0
    assert ((finite >= low - 1e-12) & (finite <= 1 + 1e-12)).all()
    if measure == "ssim":
        assert np.isfinite(ab).all()  # SSIM is defined for every map
    _close(similarity(a, a, measure), np.ones(a.shape[0]))  # a map agrees with itself


@PROPS
@given(pair=map_pairs(), measure=st.sampled_from(MEASURES),
       c=st.floats(1e-3, 1e3, allow_nan=False), which=st.sampled_from(["a", "b", "both"]))
def test_similarity_is_invariant_to_positive_scaling(pair, measure, c, which):
    a, b = pair
    sa = a * c if which in ("a", "both") else a
    sb = b * c if which in ("b", "both") else b
    _close(similarity(sa, sb, measure), similarity(a, b, measure), tol=1e-7)


@PROPS
@given(pair=map_pairs())
def test_sign_flips(pair):
    a, b = pair
    _close(similarity(-a, b, "spearman_abs"), similarity(a, b, "spearman_abs"))
    _close(similarity(-a, b, "topk"), similarity(a, b, "topk"))
    for m in ("spearman_signed", "pearson"):
        _close(similarity(-a, b, m), -similarity(a, b, m))


@PROPS
@given(pair=map_pairs(), value=st.floats(-5, 5, allow_nan=False))
def test_correlations_of_a_constant_map_are_undefined(pair, value):
    a, _ = pair
    const = np.full_like(a, value)
    for m in CORRELATIONS:
        assert np.isnan(similarity(const, a, m)).all()


# ============================================================================ perturbation masks
@st.composite
def rankings(draw):
    n, t = draw(st.integers(1, 3)), draw(st.integers(20, 200))
    fs = draw(st.sampled_from([100.0, 250.0, 500.0]))
    patch_ms = draw(st.sampled_from([10.0, 40.0, 80.0]))
    order = draw(st.sampled_from(["morf", "lerf", "random"]))
    seed = draw(st.integers(0, 2**32 - 1))
    a = np.random.default_rng(seed).standard_normal((n, 12, t))
    if draw(st.booleans()):
        a = np.round(a)  # many tied patches
    return a, fs, patch_ms, order, seed


@PROPS
@given(r=rankings(), fractions=st.lists(st.floats(0, 1), min_size=1, max_size=6))
def test_removal_masks_are_nested_whole_patches_exactly_counted(r, fractions):
    a, fs, patch_ms, order, seed = r
    n, _, t = a.shape
    p, bounds = patch_grid(t, fs, patch_ms)
    scores = patch_scores(a, fs, patch_ms)
    o = ranking(scores, order, seed=seed)
    assert (np.sort(o, axis=1) == np.arange(12 * p)).all()  # a permutation per beat
    lengths = bounds[:, 1] - bounds[:, 0]
    previous = np.zeros((n, 12, t), bool)
    for f in [0.0, *sorted(fractions), 1.0]:
        mask = removal_mask(o, f, t, fs, patch_ms)
        assert mask.shape == (n, 12, t) and mask.dtype == bool
        assert (mask | ~previous).all()  # nested: a larger fraction removes a superset
        per_patch = np.add.reduceat(mask, bounds[:, 0], axis=2)  # (n, 12, P) removed samples
        whole = (per_patch == 0) | (per_patch == lengths)
        assert whole.all()  # patches go whole or not at all
        removed = (per_patch == lengths).reshape(n, -1)
        k = int(math.floor(f * 12 * p + 0.5))
        assert (removed.sum(1) == k).all()  # exactly round(f · 12P) patches
        assert (mask.sum((1, 2)) == (removed * np.tile(lengths, 12)).sum(1)).all()
        if order != "random" and 0 < k < 12 * p:
            kept_max = np.where(removed, -np.inf, scores).max(1)
            kept_min = np.where(removed, np.inf, scores).min(1)
            rem_min = np.where(removed, scores, np.inf).min(1)
            rem_max = np.where(removed, scores, -np.inf).max(1)
            if order == "morf":
                assert (rem_min >= kept_max).all()  # the most relevant patches go first
            else:
                assert (rem_max <= kept_min).all()
        previous = mask
    assert previous.all()


@PROPS
@given(r=rankings())
def test_lead_removal_masks_are_nested_whole_leads(r):
    a, _, _, _, seed = r
    n, _, t = a.shape
    o = lead_removal_order(a, seed=seed)
    relevance = np.abs(a).sum(2)
    previous = np.zeros((n, 12, t), bool)
    for k in range(13):
        mask = lead_removal_mask(o, k, t)
        assert (mask | ~previous).all()
        whole = mask.all(2)
        assert (whole == mask.any(2)).all() and (whole.sum(1) == k).all()
        if 0 < k < 12:
            assert (np.where(whole, relevance, np.inf).min(1)
                    >= np.where(whole, -np.inf, relevance).max(1)).all()
        previous = mask
    with pytest.raises(ConfigError, match="n_leads must lie in"):
        lead_removal_mask(o, 13, t)


# ============================================================================ configs
names = st.text(st.characters(categories=["L", "N"]), min_size=1, max_size=12)
fractions = st.lists(st.floats(0, 1), min_size=1, max_size=9)
method_specs = st.sampled_from(["all", "all+extras", "saliency", "saliency,gradcam,random"])
seeds = st.integers(0, 2**31 - 1)


@st.composite
def profiles(draw) -> Profile:
    dataset = draw(st.sampled_from(["synthetic", "ptbxl", "ptbxlplus", "arrays", "records"]))
    own = dataset in ("arrays", "records")
    data_options = {} if not own else {
        "lead_order": draw(st.none() | st.just(("I", "II", "V1", "V2", "V3", "V4", "V5", "V6"))),
        "unit": draw(st.none() | st.sampled_from(["mV", "uV", "V"])),
        "layout": draw(st.none() | st.sampled_from(["NCT", "NTC"])),
        "stored_fs": draw(st.none() | st.floats(50, 2000, allow_nan=False)),
        "multilabel_columns": draw(st.none() | st.just(("NORM", "LBBB"))),
    }
    if dataset == "records":
        data_options["records_format"] = draw(st.none() | st.sampled_from(["wfdb", "npy", "csv"]))
        data_options["n_jobs"] = draw(st.integers(1, 8))
    return Profile(
        **data_options,
        name=draw(names),
        dataset=dataset,
        data_root=draw(st.none() | st.just("/data/ptb-xl")),
        labels=draw(st.none() | st.just("labels.csv")),
        n_beats=draw(st.integers(9, 10**6)),
        fs=draw(st.floats(50, 2000, allow_nan=False)),
        data_seed=draw(seeds),
        seeds=tuple(draw(st.lists(seeds, min_size=1, max_size=5))),
        epochs=draw(st.integers(1, 100)),
        batch_size=draw(st.integers(1, 1024)),
        n_per_class=draw(st.integers(1, 500)),
        methods=draw(method_specs),
        n_boot=draw(st.integers(10, 10_000)),
        seed=draw(seeds),
        device=draw(st.sampled_from(["cpu", "cuda", "cuda:1"])),
        similarity_measures=tuple(draw(st.lists(st.sampled_from(MEASURES), min_size=1,
                                                max_size=3))),
        randomization_orders=tuple(draw(st.lists(
            st.sampled_from(["top_down", "bottom_up", "independent"]), min_size=1, max_size=3))),
        perturbation_replacements=tuple(draw(st.lists(
            st.sampled_from(["zero", "mean", "interp", "noise"]), min_size=1, max_size=4))),
        fractions=tuple(draw(fractions)),
        roar=draw(st.booleans()),
        cube_beats=draw(st.integers(1, 10)),
        cube_methods=tuple(draw(st.lists(st.sampled_from(["saliency", "gradcam", "lrp"]),
                                         min_size=1, max_size=3))),
        cell_timeout=draw(st.integers(1, 10_000)),
    )


@st.composite
def synthetic_configs(draw) -> SyntheticConfig:
    multilabel = draw(st.booleans())
    cuts = sorted(draw(st.lists(st.floats(0, 1), min_size=2, max_size=2)))
    r_offset = draw(st.floats(0.4, 0.6))
    return SyntheticConfig(
        n=draw(st.integers(1, 10**5)), fs=draw(st.floats(50, 2000, allow_nan=False)),
        seed=draw(seeds), duration=r_offset + draw(st.floats(0.65, 1.0)), r_offset=r_offset,
        noise=draw(st.booleans()), multilabel=multilabel,
        cooccur_prob=draw(st.floats(0, 1)) if multilabel else 0.0,
        split=(cuts[0], cuts[1] - cuts[0], 1.0 - cuts[1]), split_seed=draw(seeds),
        extras=tuple(draw(st.lists(st.sampled_from(EXTRA_CLASSES), unique=True))),
    )


train_configs = st.builds(
    TrainConfig, epochs=st.integers(1, 200), batch_size=st.integers(1, 4096),
    lr=st.floats(1e-6, 1.0), weight_decay=st.floats(0, 1), patience=st.integers(1, 50),
    min_delta=st.floats(0, 1), warmup_epochs=st.integers(0, 10),
    schedule=st.sampled_from(["cosine", "constant"]))

model_configs = st.builds(
    ModelConfig, name=names, channels=st.integers(1, 256),
    kernel_size=st.integers(1, 15).map(lambda k: 2 * (k // 2) + 1),
    stem_stride=st.integers(1, 4), dilations=st.lists(st.integers(1, 16), min_size=1,
                                                      max_size=6).map(tuple),
    block_strides=st.lists(st.integers(1, 3), min_size=1, max_size=6).map(tuple),
    dropout=st.floats(0, 0.9))

ptbxl_configs = st.builds(
    PTBXLConfig, fs=st.floats(50, 1000), source_fs=st.sampled_from([100, 500]),
    label_scheme=st.sampled_from(["nine", "superclass"]),
    label_mode=st.sampled_from(["priority", "exclusive", "multilabel"]),
    min_likelihood=st.floats(0, 100),
    folds=st.lists(st.integers(1, 10), min_size=1, max_size=10, unique=True).map(tuple),
    max_records=st.none() | st.integers(1, 10**5), on_error=st.sampled_from(["raise", "skip"]))


def _round_trip(cfg):
    cls = type(cfg)
    back = from_dict(cls, to_dict(cfg))
    via_json = from_dict(cls, json.loads(json.dumps(to_dict(cfg))))
    assert back == cfg and via_json == cfg
    assert config_hash(back) == config_hash(cfg) == config_hash(via_json)
    assert len(config_hash(cfg)) == 16 and int(config_hash(cfg), 16) >= 0
    return back


def _changed_hash(cfg, field: str, value) -> None:
    other = dataclasses.replace(cfg, **{field: value})
    assert (config_hash(other) == config_hash(cfg)) == (other == cfg)


@PROPS
@given(p=profiles())
def test_profile_round_trips(p):
    _round_trip(p)
    assert load_profile(p) == p  # also passes the profile's own checks
    _changed_hash(p, "n_per_class", p.n_per_class + 1)
    _changed_hash(p, "seeds", (*p.seeds, 0))
    _changed_hash(p, "fractions", tuple(reversed(p.fractions)))


@PROPS
@given(cfg=synthetic_configs())
def test_synthetic_config_round_trips(cfg):
    _round_trip(cfg)
    _changed_hash(cfg, "seed", cfg.seed + 1)
    _changed_hash(cfg, "noise", not cfg.noise)


@PROPS
@given(cfg=train_configs)
def test_train_config_round_trips(cfg):
    _round_trip(cfg)
    _changed_hash(cfg, "epochs", cfg.epochs + 1)
    _changed_hash(cfg, "lr", cfg.lr * 2)


@PROPS
@given(cfg=model_configs)
def test_model_config_round_trips(cfg):
    _round_trip(cfg)
    _changed_hash(cfg, "channels", cfg.channels + 1)
    _changed_hash(cfg, "dilations", (*cfg.dilations, 1))


@PROPS
@given(cfg=ptbxl_configs)
def test_ptbxl_config_with_nested_median_config_round_trips(cfg):
    back = _round_trip(cfg)
    assert back.median == cfg.median and type(back.median) is type(cfg.median)


def test_config_hash_separates_types_and_values():
    """Same field values under another type, or a value of another type: another hash."""
    assert config_hash(TrainConfig()) != config_hash(to_dict(TrainConfig()))
    assert len({config_hash(1), config_hash("1"), config_hash(1.0), config_hash(True)}) == 4
    assert config_hash(TrainConfig(), ModelConfig()) != config_hash(ModelConfig(), TrainConfig())
