"""Shared fixtures: fixed seeds, an isolated cache, and a tiny experiment context."""

from __future__ import annotations

import os
import random

import numpy as np
import pytest

import ecgsignal.attribution  # noqa: F401  (puts a working zennit in place before Quantus imports it)

# The engine's rows per pass are pinned to its constants: no test depends on a timing probe
# (tests/test_passes.py exercises the probe with a fake clock). Chapter kernels inherit it.
os.environ.setdefault("ECGSIGNAL_PASS_ROWS", "fixed")


@pytest.fixture(autouse=True)
def _fixed_seeds():
    """Seeds fixed for every test: code under test must not rely on them, but stray calls
    to global RNGs then at least behave the same on every run."""
    random.seed(0)
    np.random.seed(0)  # noqa: NPY002  (global state is pinned on purpose, not used by the package)
    try:
        import torch

        torch.manual_seed(0)
    except ImportError:  # pragma: no cover
        pass
    yield


@pytest.fixture(scope="module")
def one_torch_thread():
    """One intra-op torch thread for a module (``pytestmark = pytest.mark.usefixtures(...)``):
    on a small shared box, two threads contend and run ~5x slower."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory):
    """Every test session writes its caches to a fresh temporary folder."""
    old = os.environ.get("ECGSIGNAL_CACHE")
    os.environ["ECGSIGNAL_CACHE"] = str(tmp_path_factory.mktemp("ecgsignal-cache"))
    yield
    if old is None:
        os.environ.pop("ECGSIGNAL_CACHE", None)
    else:
        os.environ["ECGSIGNAL_CACHE"] = old


@pytest.fixture(scope="session")
def tiny_dataset():
    """450 synthetic beats (50 per class) at 250 Hz with masks and a split.

    Easy data: the tests on this fixture check the mechanics of methods and experiments, which
    need a model that classifies the test positives after 4 epochs; the realistic default is
    exercised by the smoke profile (tests/test_realism.py, tests/test_necessity.py, notebooks).
    """
    from ecgsignal.data.synthetic import SyntheticConfig, make_synthetic

    return make_synthetic(SyntheticConfig(n=450, seed=0, difficulty="easy"))


@pytest.fixture(scope="session")
def tiny_context(tiny_dataset, tmp_path_factory):
    """An ExperimentContext on the tiny data: 2 seeds, 3 epochs, 2 beats per class, all methods."""
    from ecgsignal.attribution import available
    from ecgsignal.evaluation.context import ExperimentContext
    from ecgsignal.models import TrainConfig

    return ExperimentContext(
        dataset=tiny_dataset,
        train_config=TrainConfig(epochs=4, batch_size=64, patience=10),
        seeds=(0, 1),
        methods=tuple(available()),
        n_per_class=2,
        n_boot=100,
        seed=0,
        n_baselines=8,
        cache_dir=tmp_path_factory.mktemp("ctx-cache"),
        progress=False,
    )
