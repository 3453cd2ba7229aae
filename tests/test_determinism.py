"""Two runs, same results, byte for byte (issue 6, item 3).

The slow test runs ``ecgsignal experiment <e> --profile smoke`` for Exp 1 (similarity), Exp 5
(localisation) and Exp 4 (perturbation) twice, each time in a fresh process with a fresh cache
(so the data are regenerated, the models retrained and every map recomputed) and a different
``PYTHONHASHSEED`` (so nothing may depend on the iteration order of sets or dict hashing), and
compares the saved ``results.csv`` and ``config.json`` bytes. The fast test does the same for
the pieces every run starts from: the data, the split and the cache keys.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pandas as pd
import pytest
from reliability_runs import SMOKE_EXPERIMENTS, base_env, smoke_run

_FINGERPRINTS = r"""
import hashlib, json
from ecgsignal.config import config_hash
from ecgsignal.models import ModelConfig, TrainConfig, checkpoint_key, dataset_fingerprint
from ecgsignal.run.pipeline import build_dataset
from ecgsignal.run.profiles import load_profile
prof = load_profile("smoke")
ds = build_dataset(prof)
h = hashlib.sha256()
for a in (ds.signals, ds.labels, ds.split, ds.diff_mask, ds.criteria_mask):
    h.update(a.tobytes())
print(json.dumps({
    "arrays": h.hexdigest(),
    "fingerprint": dataset_fingerprint(ds),
    "checkpoint_key": checkpoint_key(ds, ModelConfig(), TrainConfig(epochs=prof.epochs), 0),
    "profile_hash": config_hash(prof),
    "meta": json.dumps(ds.meta, sort_keys=True, default=str),
}))
"""


def _fingerprints(tmp_path, hashseed: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", _FINGERPRINTS], capture_output=True, text=True,
                          env=base_env(tmp_path / f"cache{hashseed}", hashseed), timeout=300,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def test_data_and_cache_keys_do_not_depend_on_the_process(tmp_path):
    first, second = _fingerprints(tmp_path, "0"), _fingerprints(tmp_path, "4242")
    assert first == second
    assert len(first["fingerprint"]) == 16 and len(first["checkpoint_key"]) == 16


@pytest.mark.slow
def test_two_smoke_runs_give_byte_identical_tables():
    a = smoke_run("A", block_network=True)  # shared with test_security
    b = smoke_run("B", hashseed="12345")
    for e in SMOKE_EXPERIMENTS:
        ta, tb = a.table(e), b.table(e)
        assert ta == tb, f"{e}: results.csv differ between two runs"
        assert a.config(e) == b.config(e), f"{e}: config.json differ between two runs"
        df = pd.read_csv(a.out / e / "results.csv")
        assert len(df) > 10 and df["value"].notna().any()  # a real table, not an empty one
        assert hashlib.sha256(ta).hexdigest() == json.loads(a.config(e))["results_sha256"]
    # the two runs really were independent: each trained its own models (Exp 1 explains every
    # seed's model) and made its own maps
    from ecgsignal.run.profiles import load_profile

    n_models = len(load_profile("smoke").seeds)
    for run in (a, b):
        assert len(list((run.cache / "models").glob("*.pt"))) == n_models
        assert len(list((run.cache / "attributions").glob("*.npz"))) >= 15
