"""The synthetic dataset is generated once and read back from the cache, identical."""

from __future__ import annotations

import numpy as np
import pytest

from ecgsignal.data import synthetic_store
from ecgsignal.data.sources import load_dataset
from ecgsignal.data.synthetic import SyntheticConfig, make_synthetic

ARRAYS = ("signals", "labels", "diff_mask", "criteria_mask", "split", "label_flipped")


def _same(a, b):
    for k in ARRAYS:
        x, y = getattr(a, k), getattr(b, k)
        assert (x is None) == (y is None), k
        if x is not None:
            assert x.dtype == y.dtype and np.array_equal(x, y), k
    assert a.meta == b.meta
    assert (a.class_names, a.fs, a.lead_names) == (b.class_names, b.fs, b.lead_names)


def test_cached_dataset_is_the_generated_one(tmp_path, monkeypatch):
    monkeypatch.setenv("ECGSIGNAL_CACHE", str(tmp_path))
    kw = {"n": 180, "seed": 3, "difficulty": "realistic"}
    fresh = make_synthetic(SyntheticConfig(**kw))
    first = load_dataset("synthetic", **kw)     # generates and saves
    files = sorted(p.name for p in (tmp_path / "data").iterdir())
    assert len(files) == 2 and files[0].endswith(".json") and files[1].endswith(".npz")
    again = load_dataset("synthetic", **kw)     # reads
    _same(fresh, first)
    _same(fresh, again)
    other = load_dataset("synthetic", **{**kw, "seed": 4})
    assert not np.array_equal(other.signals, fresh.signals)   # the key holds the config


def test_broken_entry_is_regenerated_with_a_warning(tmp_path, monkeypatch):
    monkeypatch.setenv("ECGSIGNAL_CACHE", str(tmp_path))
    kw = {"n": 90, "seed": 1}
    fresh = load_dataset("synthetic", **kw)
    npz = next((tmp_path / "data").glob("*.npz"))
    npz.write_bytes(npz.read_bytes()[:100])
    with pytest.warns(UserWarning, match="broken"):
        back = load_dataset("synthetic", **kw)
    _same(fresh, back)
    _same(fresh, load_dataset("synthetic", **kw))


def test_key_follows_the_generator_code(tmp_path, monkeypatch):
    monkeypatch.setenv("ECGSIGNAL_CACHE", str(tmp_path))
    load_dataset("synthetic", n=90, seed=1)
    monkeypatch.setattr(synthetic_store, "generator_digest", lambda: "edited generator")
    load_dataset("synthetic", n=90, seed=1)
    assert len(list((tmp_path / "data").glob("*.npz"))) == 2
