"""A chapter on a user's plain ``.npy`` (no lead names, no rate) through ``papermill -p``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest

from ecgsignal.data.leads import LEAD_INDEX

pytestmark = [pytest.mark.notebooks, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
EIGHT = ["V1", "I", "V2", "II", "V3", "V4", "V5", "V6"]


def test_plain_npy_with_lead_order_through_papermill(tmp_path):
    pytest.importorskip("papermill")
    from ecgsignal.data.synthetic import generate

    batch = generate(n=9 * 20, fs=500, seed=5)  # stored at 500 Hz, in µV, 8 leads in our own order
    np.save(tmp_path / "beats.npy", 1000 * batch.beats[:, [LEAD_INDEX[ld] for ld in EIGHT]])
    pd.DataFrame({"label": np.array(batch.class_names)[batch.labels]}).to_csv(tmp_path / "y.csv", index=False)
    work = tmp_path / "nb"
    work.mkdir()
    shutil.copy(REPO / "notebooks" / "02_models.ipynb", work / "02_models.ipynb")
    options = f"lead_order={','.join(EIGHT)}; unit=uV; stored_fs=500; labels={tmp_path / 'y.csv'}"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "papermill", "02_models.ipynb", "out.ipynb", "--cwd", str(work),
           "-p", "profile", "smoke", "-p", "dataset", "arrays", "-p", "data_root", str(tmp_path / "beats.npy"),
           "-p", "data_options", options, "--no-progress-bar"]
    proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    nb = nbformat.read(work / "out.ipynb", as_version=4)
    assert nb.metadata["papermill"]["parameters"]["data_options"] == options
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert errors == []
    glued = {o["metadata"]["scrapbook"]["name"]: o["data"]["application/papermill.record/text/plain"]
             for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
             if "scrapbook" in o.get("metadata", {})}
    assert glued["n_seeds"] == "2"  # the smoke profile's models, trained on the user's beats
    assert 0.0 <= float(glued["macro_mean"]) <= 1.0

    # without the lead order the chapter stops at the data, saying what to state
    cmd[cmd.index(options)] = "unit=uV; stored_fs=500; labels=" + str(tmp_path / "y.csv")
    proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode != 0 and "lead order is unknown" in proc.stderr + proc.stdout
