"""A run killed mid-experiment resumes where it stopped (issue 6, item 2).

``ecgsignal experiment similarity --profile smoke`` runs in a subprocess with its own cache;
once the model is trained and a few attribution maps are in the cache (the folder is polled),
the process gets SIGKILL: no cleanup, no ``finally``. The rerun must reuse the model and every
map that was complete (same inode, same mtime: not recomputed, not rewritten), compute only the
rest, and save a table byte-identical to an uninterrupted run's in a separate cache.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from reliability_runs import base_env, cli_command, run_cli, smoke_run

from ecgsignal.attribution import resolve_methods
from ecgsignal.io import load_npz
from ecgsignal.run.profiles import load_profile

KILL_AFTER = 3  # attribution maps in the cache when the run is killed


def _stamp(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_ino, st.st_mtime_ns


def _entries(folder: Path) -> dict[str, tuple[int, int]]:
    if not folder.exists():
        return {}
    return {p.name: _stamp(p) for p in folder.glob("*.npz")}


def _kill_mid_run(args: list[str], cache: Path, cwd: Path, timeout: float = 400) -> dict:
    """Start ``ecgsignal <args>``, SIGKILL it once KILL_AFTER maps are cached."""
    attributions = cache / "attributions"
    log = cwd / "killed.log"
    with open(log, "w") as fh:
        proc = subprocess.Popen(cli_command(*args), cwd=cwd, env=base_env(cache),
                                stdout=fh, stderr=subprocess.STDOUT)
        start = time.monotonic()
        try:
            while proc.poll() is None and time.monotonic() - start < timeout:
                if len(_entries(attributions)) >= KILL_AFTER:
                    os.kill(proc.pid, signal.SIGKILL)
                    break
                time.sleep(0.01)
        finally:
            if proc.poll() is None and time.monotonic() - start >= timeout:
                proc.kill()
            proc.wait()
    if proc.returncode != -signal.SIGKILL:
        pytest.fail(f"the run was not killed mid-experiment (exit {proc.returncode}):\n"
                    f"{log.read_text()[-3000:]}")
    return _entries(attributions)


@pytest.mark.slow
def test_sigkill_mid_experiment_then_rerun_reuses_work_and_matches(tmp_path):
    cache, out = tmp_path / "cache", tmp_path / "out"
    args = ["experiment", "similarity", "--profile", "smoke", "--out", str(out)]
    prof = load_profile("smoke")
    # Exp 1 explains the beats on every seed's model (it averages over models)
    n_maps = len(resolve_methods(prof.methods)) * len(prof.seeds)

    done = _kill_mid_run(args, cache, tmp_path)
    assert KILL_AFTER <= len(done) < n_maps  # killed part-way through the attributions
    models = {p.name: _stamp(p) for p in (cache / "models").iterdir()}
    assert sorted(p.rsplit(".", 1)[1] for p in models)[:2] == ["json", "pt"]  # saved whole
    assert len(models) % 2 == 0
    assert not (out / "similarity" / "results.csv").exists()
    assert not (out / "similarity" / "config.json").exists()
    for name in done:  # whatever is in the cache under its final name is complete
        assert load_npz(cache / "attributions" / name)["a"].ndim == 3

    rerun = run_cli(args, cache, tmp_path)
    assert "similarity:" in rerun.stdout
    after = _entries(cache / "attributions")
    assert len(after) == n_maps
    assert {k: after[k] for k in done} == done  # reused: neither recomputed nor rewritten
    now = {p.name: _stamp(p) for p in (cache / "models").iterdir()}
    assert {k: now[k] for k in models} == models  # the models trained before the kill: not retrained

    reference = smoke_run("A", block_network=True)  # an uninterrupted run, separate cache
    assert (out / "similarity" / "results.csv").read_bytes() == reference.table("similarity")
    assert (out / "similarity" / "config.json").read_bytes() == reference.config("similarity")
    # the same content-addressed maps as the uninterrupted run
    assert set(after) <= {p.name for p in (reference.cache / "attributions").glob("*.npz")}
