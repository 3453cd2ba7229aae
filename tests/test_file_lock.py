"""Processes that need the same cache entry compute it once: the others wait and read it."""

from __future__ import annotations

import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ecgsignal.evaluation.experiments.base import LOCK_FILE, cached_table
from ecgsignal.evaluation.store import AttributionStore
from ecgsignal.io import file_lock

pytest.importorskip("fcntl")


def _table_job(folder: str) -> tuple[pd.DataFrame, float]:
    """Ask for one cached table; its compute logs each call and takes a while."""
    log = Path(folder) / "computed.log"

    def compute() -> pd.DataFrame:
        with open(log, "a") as fh:
            fh.write("x\n")
        time.sleep(1.0)
        return pd.DataFrame({"experiment": "exp", "method": ["saliency", "gradcam"],
                             "class": "all", "seed": 0, "stage": 0, "fraction": [0.1, 0.3],
                             "measure": "spearman_abs", "value": [0.25, 0.5],
                             "ci_low": [0.1, 0.4], "ci_high": [0.3, 0.6]})

    t = time.perf_counter()
    df = cached_table(Path(folder) / "exp", {"experiment": "exp", "p": 1}, compute)
    return df, time.perf_counter() - t


def _store_job(folder: str) -> np.ndarray:
    log = Path(folder) / "maps.log"

    def compute() -> np.ndarray:
        with open(log, "a") as fh:
            fh.write("x\n")
        time.sleep(1.0)
        return np.full((2, 12, 5), 0.5, dtype=np.float32)

    return AttributionStore(Path(folder) / "store").get("k1", compute, (2, 12, 5))


def test_two_processes_compute_a_table_once_and_read_the_same(tmp_path):
    with ProcessPoolExecutor(2, mp_context=get_context("spawn")) as pool:
        got = list(pool.map(_table_job, [str(tmp_path)] * 2))
    assert (tmp_path / "computed.log").read_text() == "x\n"  # computed by one process only
    pd.testing.assert_frame_equal(got[0][0], got[1][0])
    assert max(s for _, s in got) >= 0.9  # the other one waited for it
    assert not (tmp_path / "exp" / LOCK_FILE).exists()  # no lock file left behind
    assert sorted(p.name for p in (tmp_path / "exp").iterdir()) == ["config.json", "results.csv"]


def test_two_processes_compute_a_map_once(tmp_path):
    with ProcessPoolExecutor(2, mp_context=get_context("spawn")) as pool:
        got = list(pool.map(_store_job, [str(tmp_path)] * 2))
    assert (tmp_path / "maps.log").read_text() == "x\n"
    np.testing.assert_array_equal(got[0], got[1])
    assert [p.name for p in (tmp_path / "store").iterdir()] == ["k1.npz"]


def test_lock_is_released_and_removed_on_error(tmp_path):
    lock = tmp_path / "sub" / ".lock"
    with pytest.raises(RuntimeError, match="boom"), file_lock(lock):
        assert lock.exists()
        raise RuntimeError("boom")
    assert not lock.exists()
    with file_lock(lock):  # and can be taken again
        pass
