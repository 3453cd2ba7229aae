"""What the bad-input tests share: a small network and data set, and file snapshots."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ecgsignal.data.dataset import ECGDataset
from ecgsignal.data.synthetic import SyntheticConfig, make_synthetic
from ecgsignal.models import ModelConfig, TrainConfig, build_model

SMALL = ModelConfig(channels=8, dilations=(1, 2), block_strides=(1, 2))
FAST = TrainConfig(epochs=1, batch_size=32)
CLASSES = ("A", "B", "C")


def files_under(folder: Path) -> list[str]:
    """Every file under ``folder`` (temporaries included), relative, sorted."""
    if not folder.exists():
        return []
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def snapshot(folder: Path) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in files_under(folder)}


@pytest.fixture(scope="module")
def beats() -> np.ndarray:
    return np.random.default_rng(0).standard_normal((6, 12, 120)).astype(np.float32)


@pytest.fixture(scope="module")
def small_data() -> ECGDataset:
    """90 synthetic beats at 100 Hz (T = 120) with a split: trains in about a second."""
    return make_synthetic(SyntheticConfig(n=90, fs=100.0, seed=0))


@pytest.fixture(scope="module")
def net() -> torch.nn.Module:
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return build_model(3, SMALL).eval()
