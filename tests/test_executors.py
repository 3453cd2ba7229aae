"""The grid executor: shards, local vs Dask (2-worker LocalCluster), identical maps."""

from __future__ import annotations

import numpy as np
import pytest

from ecgsignal.attribution import attribute, make_baselines
from ecgsignal.errors import ConfigError
from ecgsignal.models.cnn import build_model
from ecgsignal.run.executors import (
    LocalExecutor,
    WorkUnit,
    get_executor,
    grid,
    run_grid,
    shard_indices,
)
from ecgsignal.run.profiles import load_profile

STOCHASTIC = ("smoothgrad", "gradient_shap", "random")


@pytest.fixture(scope="module")
def small_model_and_beats(tiny_dataset):
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        model = build_model(9).eval()
    x = tiny_dataset.signals[:10]
    y = tiny_dataset.labels[:10]
    base = make_baselines(tiny_dataset.signals[100:], n=4, seed=0)
    return model, x, y, base


@pytest.mark.parametrize("method", STOCHASTIC)
def test_beat_offset_makes_shards_equal_one_call(small_model_and_beats, method):
    """Shards x[a:b] with beat_offset=a, put together, are the maps of one unsharded call."""
    model, x, y, base = small_model_and_beats
    whole = attribute(model, x, y, method, seed=5, baselines=base, n_samples=4) \
        if method != "random" else attribute(model, x, y, method, seed=5)
    parts = []
    for idx in np.array_split(np.arange(len(x)), 3):
        kw = dict(seed=5, beat_offset=int(idx[0]))
        if method != "random":
            kw.update(baselines=base, n_samples=4)
        parts.append(attribute(model, x[idx], y[idx], method, **kw))
    np.testing.assert_allclose(np.concatenate(parts), whole, rtol=1e-5, atol=1e-7)
    # without the offset a shard re-draws beat 0's noise: the maps differ (the bug it fixes)
    kw = dict(seed=5) if method == "random" else dict(seed=5, baselines=base, n_samples=4)
    assert not np.allclose(attribute(model, x[5:], y[5:], method, **kw), whole[5:])


def test_beat_offset_rejects_negative(small_model_and_beats):
    model, x, y, _ = small_model_and_beats
    with pytest.raises(ConfigError, match="beat_offset"):
        attribute(model, x, y, "saliency", beat_offset=-1)


def test_shard_indices_cover_everything_once():
    for n, k in [(10, 3), (5, 5), (3, 7), (1, 1)]:
        got = np.concatenate([shard_indices(n, k, s) for s in range(k)])
        np.testing.assert_array_equal(got, np.arange(n))
    with pytest.raises(ConfigError, match="n_shards"):
        shard_indices(10, 0, 0)
    with pytest.raises(ConfigError, match="shard"):
        shard_indices(10, 3, 3)


def test_grid_units_and_executor_names():
    prof = load_profile("smoke")
    train, attr = grid(prof, ["saliency", "smoothgrad"], n_shards=3)
    assert train == [WorkUnit("train", s) for s in prof.seeds]
    assert len(attr) == len(prof.seeds) * 2 * 3
    assert {(u.seed, u.method, u.shard) for u in attr} == {
        (s, m, k) for s in prof.seeds for m in ("saliency", "smoothgrad") for k in range(3)}
    assert isinstance(get_executor("local"), LocalExecutor)
    with pytest.raises(ConfigError, match="local, dask"):
        get_executor("slurm")


def _profile():
    # a small profile that trains real models: 2 seeds, 4 epochs, 1 beat per class
    return load_profile("smoke", n_beats=450, epochs=4, batch_size=64, seeds=(0, 1), n_per_class=1,
                        difficulty="easy", methods="saliency,smoothgrad,gradient_shap,occlusion,random")


@pytest.mark.slow  # 14-28 s (measured); make test runs it, test-fast skips it
def test_run_grid_dask_equals_local(tmp_path, monkeypatch):
    """A 2-worker LocalCluster gives the maps of the local executor, sharded or not."""
    pytest.importorskip("dask.distributed")
    import torch

    from ecgsignal.run.executors import DaskExecutor

    monkeypatch.setenv("ECGSIGNAL_TORCH_THREADS", "1")  # same threads in workers and here
    prof = _profile()
    cache = str(tmp_path / "cache")
    threads = torch.get_num_threads()
    try:
        local_1 = run_grid(prof, LocalExecutor(), n_shards=1, cache_dir=cache)
        local_3 = run_grid(prof, LocalExecutor(), n_shards=3, cache_dir=cache)
    finally:
        torch.set_num_threads(threads)
    with DaskExecutor(n_workers=2, threads_per_worker=1) as ex:
        dask_3 = run_grid(prof, ex, n_shards=3, cache_dir=cache)
    keys = {(s, m) for s in prof.seeds
            for m in ("saliency", "smoothgrad", "gradient_shap", "occlusion", "random")}
    assert set(local_1) == set(local_3) == set(dask_3) == keys
    for k in keys:
        assert local_1[k].shape[0] >= 3 and local_1[k].shape[1:] == (12, 300)
        np.testing.assert_array_equal(dask_3[k], local_3[k])  # same work units: same bits
        np.testing.assert_allclose(local_3[k], local_1[k], rtol=1e-5, atol=1e-6)
    # the two models differ, so their maps do
    assert not np.allclose(local_1[(0, "saliency")], local_1[(1, "saliency")])
