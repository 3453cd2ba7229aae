"""Corrupt caches, checkpoints and a disk that fills midway: reported, recomputed, never trusted,
and nothing is left half-written (issue 6, item 1; the bad-input cases of
``test_bad_inputs.py`` continued).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from bad_inputs_common import (  # noqa: F401  (small_data: a fixture, found here by pytest)
    FAST,
    SMALL,
    files_under,
    small_data,
    snapshot,
)
from exp_fakes import FakeContext, make_beats

from ecgsignal.errors import CacheError, DataError
from ecgsignal.evaluation.experiments import run_experiment
from ecgsignal.evaluation.experiments.base import ResultsWarning
from ecgsignal.evaluation.results import load_results, make_table, save_results
from ecgsignal.evaluation.store import AttributionStore
from ecgsignal.io import atomic_write, load_npz, save_npz, write_bytes
from ecgsignal.models import (
    CheckpointWarning,
    ModelConfig,
    load_checkpoint,
    load_or_train,
)
from ecgsignal.run.cli import main as cli_main
from ecgsignal.tables import normalize_dtypes


# ============================================================================ corrupt cache entries
def _npz_with_object(path: Path) -> None:
    arr = np.empty(1, dtype=object)
    arr[0] = {"not": "an array"}
    np.savez(path, a=arr)  # needs pickle to read back


def _flip_bit(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x10
    path.write_bytes(bytes(data))


STORE_DAMAGE = {
    "truncated": lambda p, s: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]),
    "empty": lambda p, s: p.write_bytes(b""),
    "junk": lambda p, s: p.write_bytes(b"PK\x03\x04 not really a zip"),
    "bit flip": lambda p, s: _flip_bit(p),
    "wrong shape": lambda p, s: save_npz(p, {"a": np.zeros((1, 12, 5), np.float32)}),
    "wrong dtype": lambda p, s: save_npz(p, {"a": np.zeros(s, np.float64)}),
    "NaN values": lambda p, s: save_npz(p, {"a": np.full(s, np.nan, np.float32)}),
    "wrong key": lambda p, s: save_npz(p, {"b": np.zeros(s, np.float32)}),
    "pickled object": lambda p, s: _npz_with_object(p),
}


@pytest.mark.parametrize("damage", list(STORE_DAMAGE))
def test_corrupt_attribution_entry_is_recomputed_not_trusted(tmp_path, damage):
    store = AttributionStore(tmp_path)
    shape = (4, 12, 50)
    good = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    calls = []

    def compute():
        calls.append(1)
        return good

    store.get("k", compute, shape)
    STORE_DAMAGE[damage](tmp_path / "k.npz", shape)
    with pytest.warns(UserWarning, match=r"k\.npz"):
        out = store.get("k", compute, shape)
    np.testing.assert_array_equal(out, good)
    assert len(calls) == 2 and store.misses == 2 and store.hits == 0
    np.testing.assert_array_equal(load_npz(tmp_path / "k.npz")["a"], good)  # repaired
    assert files_under(tmp_path) == ["k.npz"]


@dataclass
class _Ctx(FakeContext):
    """FakeContext plus the config() run_experiment saves beside the table."""

    def config(self) -> dict:
        return {"fake": True, "methods": list(self.methods), "seed": self.seed}


@pytest.fixture
def fake_ctx() -> _Ctx:
    beats = make_beats([0, 0, 1, 1], ("A", "B"), seed=3)
    rng = np.random.default_rng(4)
    maps = {(m, 0): rng.standard_normal(beats.x.shape) for m in ("m1", "m2", "m3")}
    return _Ctx(beats=beats, maps=maps, n_boot=50)


RESULTS_DAMAGE = {
    "truncated table": lambda d: _truncate(d / "results.csv"),
    "edited value": lambda d: _edit_value(d / "results.csv"),
    "empty table": lambda d: (d / "results.csv").write_bytes(b""),
    "binary table": lambda d: (d / "results.csv").write_bytes(bytes(range(256)) * 4),
    "config junk": lambda d: (d / "config.json").write_text("{not json"),
    "config a list": lambda d: (d / "config.json").write_text("[1, 2]"),
    "checksum removed": lambda d: _drop_digest(d / "config.json"),
}


def _truncate(path: Path) -> None:
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[: len(lines) // 2]))


def _edit_value(path: Path) -> None:
    df = pd.read_csv(path)
    df.loc[0, "value"] = 0.999
    df.to_csv(path, index=False, float_format="%.10g")


def _drop_digest(path: Path) -> None:
    cfg = json.loads(path.read_text())
    cfg.pop("results_sha256")
    path.write_text(json.dumps(cfg))


@pytest.mark.parametrize("damage", list(RESULTS_DAMAGE))
def test_corrupt_results_are_named_then_recomputed(fake_ctx, tmp_path, damage):
    first = run_experiment("similarity", fake_ctx, out_dir=tmp_path)
    folder = tmp_path / "similarity"
    good = snapshot(folder)
    config = {"experiment": "similarity", "context": fake_ctx.config(),
              "params": {"measures": ["spearman_abs"]}}
    pd.testing.assert_frame_equal(load_results(folder, config),  # dtypes restored on reading
                                  normalize_dtypes(pd.read_csv(folder / "results.csv")))
    RESULTS_DAMAGE[damage](folder)
    if damage == "config a list":
        with pytest.raises(CacheError, match=r"config\.json: expected a JSON object"):
            load_results(folder, config)
    else:
        with pytest.raises(CacheError, match=r"(results\.csv|config\.json)"):
            load_results(folder, config)
    calls = len(fake_ctx.calls)
    with pytest.warns(ResultsWarning, match=r"(results\.csv|config\.json).*; recomputing"):
        again = run_experiment("similarity", fake_ctx, out_dir=tmp_path)
    assert len(fake_ctx.calls) > calls  # recomputed, not read back
    pd.testing.assert_frame_equal(again, first)
    assert snapshot(folder) == good  # and saved over the damage, byte for byte


# ============================================================================ checkpoints
@pytest.fixture(scope="module")
def ckpt_cache(small_data, tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    tm = load_or_train(small_data, SMALL, FAST, seed=0, cache_dir=folder, progress=False)
    return folder, tm


@pytest.mark.parametrize("damage", ["truncated", "empty", "junk", "bit flip", "metadata junk",
                                    "metadata missing", "weights missing"])
def test_damaged_checkpoint_is_named_and_retrained(small_data, ckpt_cache, tmp_path, damage):
    src, tm = ckpt_cache
    folder = Path(shutil.copytree(src, tmp_path / "models"))
    pt, js = folder / tm.checkpoint.name, folder / tm.checkpoint.with_suffix(".json").name
    if damage == "truncated":
        pt.write_bytes(pt.read_bytes()[: pt.stat().st_size // 2])
    elif damage == "empty":
        pt.write_bytes(b"")
    elif damage == "junk":
        pt.write_bytes(b"\x80\x02 definitely not a state dict")
    elif damage == "bit flip":
        _flip_bit(pt)
    elif damage == "metadata junk":
        js.write_text("{")
    elif damage == "metadata missing":
        js.unlink()
    else:
        pt.unlink()
    with pytest.warns(CheckpointWarning, match=rf"{tm.key}\.(pt|json).*retraining"):
        again = load_or_train(small_data, SMALL, FAST, seed=0, cache_dir=folder, progress=False)
    assert again.from_cache is False
    for k, v in tm.model.state_dict().items():  # same seed: the same weights, now cached again
        torch.testing.assert_close(again.model.state_dict()[k], v, rtol=0, atol=0)
    assert load_or_train(small_data, SMALL, FAST, seed=0, cache_dir=folder,
                         progress=False).from_cache


def test_truncated_checkpoint_file_is_refused_by_name(ckpt_cache, tmp_path):
    src, tm = ckpt_cache
    pt = tmp_path / "cut.pt"
    pt.write_bytes(tm.checkpoint.read_bytes()[:4096])
    with pytest.raises(CacheError, match=r"checkpoint .*cut\.pt could not be loaded safely"):
        load_checkpoint(pt, 9, SMALL)
    with pytest.raises(CacheError, match=r"no checkpoint file .*gone\.pt"):
        load_checkpoint(tmp_path / "gone.pt", 9, SMALL)
    with pytest.raises(CacheError, match=r"does not fit the model"):
        load_checkpoint(tm.checkpoint, 9, ModelConfig())  # another architecture


# ============================================================================ full disk midway
class DiskFull:
    """``os.fsync`` that, on its ``fail_at``-th call, cuts the file it syncs to half its size
    and raises ENOSPC: the write got halfway when the disk filled up."""

    def __init__(self, fail_at: int) -> None:
        self.fail_at, self.calls, self.real = fail_at, 0, os.fsync

    def __call__(self, fd: int) -> None:
        self.calls += 1
        if self.calls == self.fail_at:
            os.ftruncate(fd, os.fstat(fd).st_size // 2)
            raise OSError(errno.ENOSPC, "No space left on device")
        self.real(fd)


@pytest.mark.parametrize("fail_at", [1, 2], ids=["table write fails", "config write fails"])
def test_full_disk_while_saving_results_keeps_the_previous_pair(tmp_path, monkeypatch, fail_at):
    config = {"experiment": "x", "params": {"a": 1}}
    old = make_table([{"experiment": "x", "method": "m", "measure": "s", "value": 0.25}])
    save_results(old, tmp_path, config)
    before = snapshot(tmp_path)
    new = make_table([{"experiment": "x", "method": "m", "measure": "s", "value": 0.75}] * 50)
    monkeypatch.setattr(os, "fsync", DiskFull(fail_at))
    with pytest.raises(OSError, match="No space left on device"):
        save_results(new, tmp_path, {"experiment": "x", "params": {"a": 2}})
    monkeypatch.undo()
    assert snapshot(tmp_path) == before  # same files, same bytes, no temporaries left
    pd.testing.assert_frame_equal(load_results(tmp_path, config), load_results(tmp_path))


def test_full_disk_during_an_experiment_keeps_previous_results(fake_ctx, tmp_path, monkeypatch):
    run_experiment("similarity", fake_ctx, out_dir=tmp_path)
    folder = tmp_path / "similarity"
    before = snapshot(folder)
    monkeypatch.setattr(os, "fsync", DiskFull(1))
    with pytest.raises(OSError, match="No space left"):
        run_experiment("similarity", fake_ctx, out_dir=tmp_path, params={"measures": ["pearson"]})
    monkeypatch.undo()
    assert snapshot(folder) == before
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the old results are read back cleanly
        run_experiment("similarity", fake_ctx, out_dir=tmp_path)


@pytest.mark.parametrize("fail_at", [1, 2], ids=["weights write fails", "metadata write fails"])
def test_full_disk_while_caching_a_checkpoint(small_data, tmp_path, monkeypatch, fail_at):
    folder = tmp_path / "models"
    monkeypatch.setattr(os, "fsync", DiskFull(fail_at))
    with pytest.raises(OSError, match="No space left"):
        load_or_train(small_data, SMALL, FAST, seed=1, cache_dir=folder, progress=False)
    monkeypatch.undo()
    left = files_under(folder)
    assert not [f for f in left if f.endswith(".tmp")]
    assert left == ([] if fail_at == 1 else [f for f in left if f.endswith(".pt")])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tm = load_or_train(small_data, SMALL, FAST, seed=1, cache_dir=folder, progress=False)
    msgs = [str(w.message) for w in caught if issubclass(w.category, CheckpointWarning)]
    if left:  # the orphaned weights are reported and replaced
        assert len(msgs) == 1 and "has no metadata file" in msgs[0]
    else:
        assert msgs == []
    assert not tm.from_cache
    assert load_or_train(small_data, SMALL, FAST, seed=1, cache_dir=folder,
                         progress=False).from_cache


def test_full_disk_while_caching_an_attribution(tmp_path, monkeypatch):
    store = AttributionStore(tmp_path)
    good = np.ones((2, 12, 40), np.float32)
    monkeypatch.setattr(os, "fsync", DiskFull(1))
    with pytest.raises(OSError, match="No space left"):
        store.get("k", lambda: good, good.shape)
    monkeypatch.undo()
    assert files_under(tmp_path) == []
    np.testing.assert_array_equal(store.get("k", lambda: good, good.shape), good)
    assert files_under(tmp_path) == ["k.npz"]


def test_writer_failing_midway_leaves_the_old_file(tmp_path):
    path = write_bytes(tmp_path / "f.bin", b"old contents")

    def half_then_full(fh):
        fh.write(b"new con")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        atomic_write(path, half_then_full)
    assert snapshot(tmp_path) == {"f.bin": b"old contents"}


def test_cli_reports_bad_input_without_a_traceback(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text("n_per_class: ten\n")
    assert cli_main(["experiment", "similarity", "--profile", str(bad),
                     "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Profile.n_per_class: expected an integer" in err
    assert "Traceback" not in err and not (tmp_path / "out").exists()


def test_replace_keeps_validation(small_data):
    """dataclasses.replace (used by subset/with_split) re-validates: no back door for bad data."""
    with pytest.raises(DataError, match="NaN"):
        replace(small_data, signals=np.full_like(small_data.signals, np.nan))
