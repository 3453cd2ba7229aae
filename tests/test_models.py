"""Models: seeded training, AUROC known answers, checkpoint cache and its failure modes."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from ecgsignal.data.dataset import ECGDataset
from ecgsignal.errors import CacheError, ConfigError, DataError
from ecgsignal.models import (
    CheckpointWarning,
    ModelConfig,
    TrainConfig,
    checkpoint_key,
    dataset_fingerprint,
    load_checkpoint,
    load_or_train,
    load_or_train_many,
    per_class_auroc,
    predict_logits,
    predict_proba,
    train_model,
)

SMALL = ModelConfig(channels=8, kernel_size=5, dilations=(1, 2), block_strides=(1, 2))
FAST = TrainConfig(epochs=10, batch_size=16, lr=5e-3, patience=5)


def _toy(n_per_class: int = 40, T: int = 64, seed: int = 0, multilabel: bool = False) -> ECGDataset:
    """Three classes, each a bump in its own lead and time: easy for a CNN, not for chance."""
    rng = np.random.default_rng(seed)
    n = 3 * n_per_class
    t = np.arange(T)
    x = rng.normal(0, 0.05, (n, 12, T)).astype(np.float32)
    labels = np.repeat(np.arange(3), n_per_class)
    where = [(1, 16), (7, 40), (9, 28)]
    onehot = np.eye(3, dtype=np.uint8)[labels]
    if multilabel:  # a second finding on a random third of the beats
        extra = rng.random(n) < 0.33
        onehot[extra, (labels[extra] + 1) % 3] = 1
    for c, (lead, centre) in enumerate(where):
        bump = np.exp(-0.5 * ((t - centre) / 3.0) ** 2).astype(np.float32)
        x[onehot[:, c] == 1, lead] += bump
    ds = ECGDataset(signals=x, labels=onehot if multilabel else labels,
                    class_names=("A", "B", "C"), fs=100.0)
    return ds.with_split(seed)


@pytest.fixture(scope="module")
def toy() -> ECGDataset:
    return _toy()


@pytest.fixture(scope="module")
def trained(toy):
    return train_model(toy, SMALL, FAST, seed=0, progress=False)


def _same_state(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


# ---------------------------------------------------------------------------------- AUROC
def _pairwise_auroc(y: np.ndarray, s: np.ndarray) -> float:
    pos, neg = s[y], s[~y]
    diff = pos[:, None] - neg[None, :]
    return float(((diff > 0) + 0.5 * (diff == 0)).mean())


def test_auroc_known_answers():
    y = np.array([0, 0, 1, 1, 2, 2])
    perfect = np.eye(3)[y]
    assert per_class_auroc(y, perfect, ["a", "b", "c"]) == {"a": 1.0, "b": 1.0, "c": 1.0}
    assert per_class_auroc(y, -perfect, ["a", "b", "c"]) == {"a": 0.0, "b": 0.0, "c": 0.0}
    ties = np.full((6, 3), 0.3)
    assert per_class_auroc(y, ties, ["a", "b", "c"]) == {"a": 0.5, "b": 0.5, "c": 0.5}


def test_auroc_matches_pairwise_definition_with_ties():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 4, 200)
    s = rng.integers(0, 6, (200, 4)).astype(float)  # many ties
    got = per_class_auroc(y, s, list("abcd"))
    for c, name in enumerate("abcd"):
        assert got[name] == pytest.approx(_pairwise_auroc(y == c, s[:, c]), abs=1e-12)


def test_auroc_multilabel_targets():
    y = np.array([[1, 0], [1, 1], [0, 1], [0, 0]])
    s = np.array([[0.9, 0.1], [0.8, 0.7], [0.2, 0.9], [0.1, 0.8]])
    got = per_class_auroc(y, s, ["p", "q"])
    assert got["p"] == 1.0
    assert got["q"] == pytest.approx(_pairwise_auroc(y[:, 1] == 1, s[:, 1]))


def test_auroc_single_class_error_names_the_class():
    y = np.array([0, 0, 1, 1])
    s = np.random.default_rng(0).random((4, 3))
    with pytest.raises(DataError, match="no positives of class LQT"):
        per_class_auroc(y, s, ["NORM", "1AVB", "LQT"])
    with pytest.raises(DataError, match="no negatives of class NORM"):
        per_class_auroc(np.zeros(4, int), s, ["NORM", "1AVB", "LQT"])
    got = per_class_auroc(y, s, ["NORM", "1AVB", "LQT"], undefined="nan")
    assert np.isnan(got["LQT"]) and np.isfinite(got["NORM"])


@pytest.mark.parametrize("y, s, msg", [
    (np.array([0, 1]), np.zeros((2, 2, 1)), "scores must be"),
    (np.array([0, 1, 1]), np.zeros((2, 2)), "3 labels for 2 rows"),
    (np.array([0, 5]), np.zeros((2, 2)), "out of range"),
    (np.array([0, 1]), np.array([[np.nan, 0], [0, 1]]), "NaN"),
])
def test_auroc_bad_input(y, s, msg):
    with pytest.raises(DataError, match=msg):
        per_class_auroc(y, s, ["a", "b"])


# ---------------------------------------------------------------------------------- training
def test_training_learns_and_reports_test_auroc(toy, trained):
    assert set(trained.auroc) == set(toy.class_names)
    assert min(trained.auroc.values()) >= 0.9
    assert not trained.model.training
    assert 1 <= len(trained.history) <= FAST.epochs
    assert trained.seconds > 0
    test = toy.part("test")
    recomputed = per_class_auroc(test.labels, predict_proba(trained.model, test.signals), toy.class_names)
    assert recomputed == pytest.approx(trained.auroc)


def test_best_validation_weights_are_kept(toy, trained):
    val = toy.part("val")
    logits = torch.from_numpy(predict_logits(trained.model, val.signals))
    loss = float(torch.nn.functional.cross_entropy(logits, torch.from_numpy(val.labels)))
    losses = [h["val_loss"] for h in trained.history]
    assert loss == pytest.approx(min(losses), rel=1e-5)
    assert trained.history[trained.best_epoch - 1]["val_loss"] == min(losses)


def test_early_stopping_stops_before_max_epochs(toy):
    # lr so small nothing improves by min_delta: stops after `patience` epochs without progress.
    cfg = TrainConfig(epochs=20, batch_size=64, lr=1e-9, patience=2, min_delta=1.0, warmup_epochs=0)
    res = train_model(toy, SMALL, cfg, seed=0, progress=False)
    assert len(res.history) == 3 and res.best_epoch == 1


def test_same_seed_identical_weights_different_seed_differs(toy, trained):
    torch.manual_seed(123)
    before = torch.get_rng_state()
    again = train_model(toy, SMALL, FAST, seed=0, progress=False)
    assert torch.equal(torch.get_rng_state(), before), "training touched the global RNG"
    assert _same_state(trained.model, again.model)
    other = train_model(toy, SMALL, FAST, seed=1, progress=False)
    assert not _same_state(trained.model, other.model)


def test_multilabel_training_uses_sigmoid():
    ds = _toy(n_per_class=30, multilabel=True)
    res = train_model(ds, SMALL, FAST, seed=0, progress=False)
    assert res.model.multilabel
    p = predict_proba(res.model, ds.signals[:10])
    assert p.shape == (10, 3) and ((p >= 0) & (p <= 1)).all()
    assert not np.allclose(p.sum(1), 1.0)
    logits = predict_logits(res.model, ds.signals[:10])
    np.testing.assert_allclose(p, 1 / (1 + np.exp(-logits)), rtol=1e-5, atol=1e-6)


def test_training_rejects_bad_input(toy):
    no_split = ECGDataset(toy.signals, toy.labels, toy.class_names, toy.fs)
    with pytest.raises(DataError, match="no train/val/test split"):
        train_model(no_split, SMALL, FAST, progress=False)
    with pytest.raises(ConfigError, match="epochs"):
        TrainConfig(epochs=0)
    with pytest.raises(ConfigError, match="schedule"):
        TrainConfig(schedule="step")


# ---------------------------------------------------------------------------------- prediction
def test_predict_proba_rows_sum_to_one_and_mode_restored(toy, trained):
    model = trained.model
    model.train()
    p = predict_proba(model, toy.signals[:37], batch_size=8)
    assert model.training, "predict_proba must restore the train/eval mode"
    model.eval()
    assert p.shape == (37, 3) and p.dtype == np.float32
    np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-5)
    p_t = predict_proba(model, torch.from_numpy(toy.signals[:37]), batch_size=512)
    np.testing.assert_allclose(p, p_t, atol=1e-6)
    with pytest.raises(DataError, match="shape"):
        predict_proba(model, toy.signals[0])


# ---------------------------------------------------------------------------------- cache
def test_fingerprint_tracks_data_labels_split():
    ds = _toy(n_per_class=10)
    fp = dataset_fingerprint(ds)
    assert fp == dataset_fingerprint(_toy(n_per_class=10)) and len(fp) == 16
    x = ds.signals.copy()
    x[0, 0, 0] += 1e-3
    changed = [
        ECGDataset(x, ds.labels, ds.class_names, ds.fs, split=ds.split),
        ECGDataset(ds.signals, np.roll(ds.labels, 1), ds.class_names, ds.fs, split=ds.split),
        ds.with_split(99),
        ECGDataset(ds.signals, ds.labels, ds.class_names, 250.0, split=ds.split),
        ECGDataset(ds.signals, ds.labels, ("A", "B", "X"), ds.fs, split=ds.split),
    ]
    fps = [dataset_fingerprint(d) for d in changed]
    assert fp not in fps and len(set(fps)) == len(fps)


def test_cache_hit_returns_identical_weights(toy, tmp_path):
    first = load_or_train(toy, SMALL, FAST, seed=3, cache_dir=tmp_path, progress=False)
    assert not first.from_cache and first.checkpoint.exists()
    assert first.checkpoint.with_suffix(".json").exists()
    assert first.key == checkpoint_key(toy, SMALL, FAST, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        second = load_or_train(toy, SMALL, FAST, seed=3, cache_dir=tmp_path, progress=False)
    assert second.from_cache and second.key == first.key
    assert _same_state(first.model, second.model)
    assert second.auroc == first.auroc
    assert not second.model.training
    np.testing.assert_array_equal(predict_proba(first.model, toy.signals[:5]),
                                  predict_proba(second.model, toy.signals[:5]))
    other = load_or_train(toy, SMALL, FAST, seed=4, cache_dir=tmp_path, progress=False)
    assert not other.from_cache and other.key != first.key


def _corrupt_truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _corrupt_flip(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _corrupt_json(path):
    path.with_suffix(".json").write_text("{ not json")


def _drop_json(path):
    path.with_suffix(".json").unlink()


def test_seeds_trained_side_by_side_equal_seeds_trained_one_after_the_other(toy, tmp_path):
    """Two worker processes (one torch thread each) give each seed the weights that training
    it here with one thread gives; cached seeds are loaded, not retrained."""
    cfg = TrainConfig(epochs=2, batch_size=16, lr=5e-3)
    load_or_train(toy, SMALL, cfg, seed=7, cache_dir=tmp_path / "par", progress=False)
    got = load_or_train_many(toy, SMALL, cfg, seeds=[5, 6, 7], cache_dir=tmp_path / "par",
                             jobs=2, progress=False)
    assert list(got) == [5, 6, 7] and all(m.from_cache for m in got.values())
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for s in (5, 6):
            alone = load_or_train(toy, SMALL, cfg, seed=s, cache_dir=tmp_path / "seq",
                                  progress=False)
            assert not alone.from_cache and _same_state(alone.model, got[s].model)
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("corrupt", [_corrupt_truncate, _corrupt_flip, _corrupt_json, _drop_json])
def test_broken_checkpoint_is_retrained_with_warning(toy, tmp_path, corrupt):
    first = load_or_train(toy, SMALL, FAST, seed=5, cache_dir=tmp_path, progress=False)
    corrupt(first.checkpoint)
    with pytest.warns(CheckpointWarning, match=first.key):
        again = load_or_train(toy, SMALL, FAST, seed=5, cache_dir=tmp_path, progress=False)
    assert not again.from_cache
    assert _same_state(first.model, again.model)  # same seed: retraining reproduces the weights
    healed = load_or_train(toy, SMALL, FAST, seed=5, cache_dir=tmp_path, progress=False)
    assert healed.from_cache


def test_checkpoint_is_a_plain_state_dict_loaded_weights_only(toy, trained, tmp_path):
    res = load_or_train(toy, SMALL, FAST, seed=0, cache_dir=tmp_path, progress=False)
    state = torch.load(res.checkpoint, weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    model = load_checkpoint(res.checkpoint, 3, SMALL)
    assert _same_state(model, trained.model) and not model.training

    evil = tmp_path / "evil.pt"
    torch.save({"w": torch.zeros(1), "payload": CheckpointWarning("x")}, evil)
    with pytest.raises(CacheError, match="evil.pt"):
        load_checkpoint(evil, 3, SMALL)
    with pytest.raises(CacheError, match="does not fit"):
        load_checkpoint(res.checkpoint, 4, SMALL)
    with pytest.raises(CacheError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.pt", 3, SMALL)


def test_atomic_write_leaves_no_temporaries(toy, tmp_path):
    load_or_train(toy, SMALL, FAST, seed=6, cache_dir=tmp_path, progress=False)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert len(names) == 2 and all(not n.startswith(".") for n in names)


# ---------------------------------------------------------------------------------- the bar
@pytest.mark.slow
def test_default_synthetic_every_class_auroc_at_least_095(tmp_path):
    from ecgsignal.data.synthetic import SyntheticConfig, make_synthetic

    ds = make_synthetic(SyntheticConfig())
    res = train_model(ds if ds.split is not None else ds.with_split(0), seed=0, progress=False)
    bad = {c: a for c, a in res.auroc.items() if a < 0.95}
    assert not bad, f"classes below the paper's 0.95 bar: {bad}"



def test_missing_test_class_fails_before_training(toy):
    split = toy.split.copy()
    split[(toy.labels == 2) & (split == 2)] = 0  # no class-C beat left in the test split
    ds = ECGDataset(toy.signals, toy.labels, toy.class_names, toy.fs, split=split)
    with pytest.raises(DataError, match="no positives of class C"):
        train_model(ds, SMALL, FAST, progress=False)


def test_training_uses_torch_kernels_so_models_do_not_depend_on_phase_conv(toy, trained,
                                                                          monkeypatch):
    """Dilated convolutions as phases round differently; training keeps torch's own kernels, so
    the weights, history and test AUROC are the same bit for bit with the switch off."""
    from ecgsignal.models import phase_conv

    monkeypatch.setattr(phase_conv, "ENABLED", False)
    plain = train_model(toy, SMALL, FAST, seed=0, progress=False)
    assert _same_state(trained.model, plain.model)
    assert trained.auroc == plain.auroc
    assert [h["val_loss"] for h in trained.history] == [h["val_loss"] for h in plain.history]
    monkeypatch.setattr(phase_conv, "ENABLED", True)
    x = torch.from_numpy(toy.signals[:8])
    with torch.no_grad():  # outside training the phases run (same logits up to rounding)
        a = trained.model(x)
        with phase_conv.torch_kernels():
            b = trained.model(x)
    assert torch.allclose(a, b, rtol=1e-5, atol=1e-6)
