"""The ``ecgsignal`` command line, as a user calls it."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from ecgsignal.io import load_npz
from ecgsignal.run.cli import main


def test_help_everywhere(capsys):
    for argv in (["--help"], ["data", "--help"], ["data", "synth", "--help"], ["train", "--help"],
                 ["attribute", "--help"], ["experiment", "--help"], ["book", "run", "--help"],
                 ["book", "build", "--help"], ["bench", "--help"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 0
        assert "usage: ecgsignal" in capsys.readouterr().out


def test_data_synth_writes_documented_arrays(tmp_path):
    out = tmp_path / "beats.npz"
    assert main(["data", "synth", "--n", "18", "--fs", "250", "--seed", "3", "--out", str(out)]) == 0
    z = load_npz(out)
    assert z["X"].shape == (18, 12, 300) and z["X"].dtype == np.float32
    assert z["y"].shape == (18,)
    assert z["diff_mask"].shape == z["X"].shape and z["diff_mask"].dtype == bool
    assert z["criteria_mask"].shape == z["X"].shape
    assert list(z["lead_names"][:3]) == ["I", "II", "III"]
    assert len(z["class_names"]) == 9
    again = tmp_path / "again.npz"
    main(["data", "synth", "--n", "18", "--fs", "250", "--seed", "3", "--out", str(again)])
    np.testing.assert_array_equal(load_npz(again)["X"], z["X"])


def test_unknown_method_lists_valid_ones(tmp_path, capsys):
    code = main(["attribute", "--methods", "saliency,nosuchmethod", "--n", "2", "--profile", "smoke",
                 "--out", str(tmp_path / "a.npz")])
    err = capsys.readouterr().err
    assert code == 2
    assert "nosuchmethod" in err and "integrated_gradients" in err and "saliency" in err
    assert not (tmp_path / "a.npz").exists()


def test_unknown_profile_and_experiment(capsys):
    assert main(["train", "--profile", "nosuch", "--json"]) == 2
    assert "unknown profile" in capsys.readouterr().err
    assert main(["experiment", "nosuch", "--profile", "smoke"]) == 2
    err = capsys.readouterr().err
    assert "unknown experiment" in err and "randomization" in err


@pytest.mark.slow
def test_train_json_then_attribute(tmp_path, capsys):
    """`train --json` prints one JSON object; `attribute` writes one (n, 12, T) array per method."""
    assert main(["train", "--seed", "0", "--profile", "smoke", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(payload) >= {"auroc", "checkpoint", "seconds"}
    assert len(payload["auroc"]) == 9 and all(0.0 <= v <= 1.0 for v in payload["auroc"].values())
    # second call comes from the checkpoint cache
    assert main(["train", "--seed", "0", "--profile", "smoke", "--json"]) == 0
    again = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert again["from_cache"] is True and again["auroc"] == payload["auroc"]

    out = tmp_path / "maps.npz"
    assert main(["attribute", "--methods", "saliency,gradcam,edge", "--n", "5", "--seed", "1",
                 "--profile", "smoke", "--out", str(out)]) == 0
    z = load_npz(out)
    for m in ("saliency", "gradcam", "edge"):
        assert z[m].shape == (5, 12, 300) and z[m].dtype == np.float32
        assert np.isfinite(z[m]).all()
    assert z["X"].shape == (5, 12, 300)


def test_console_script_entry_point():
    res = subprocess.run([sys.executable, "-m", "ecgsignal.run.cli", "--help"], capture_output=True,
                         text=True, check=False)
    assert res.returncode == 0 and "experiment" in res.stdout


def test_coverage_json_and_table(capsys):
    assert main(["coverage", "--n-sim", "12", "--n-boot", "30", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    from ecgsignal.evaluation.coverage import DESIGNS

    assert set(res["routines"]) == {d.name for d in DESIGNS}
    for row in res["routines"].values():
        assert row["nominal"] == 0.95 and row["n_sim"] == 12 and 0 <= row["coverage"] <= 1
    assert main(["coverage", "--n-sim", "12", "--n-boot", "30"]) == 0
    assert "exp2_model_pairs" in capsys.readouterr().out
    assert main(["coverage", "--n-sim", "2"]) == 2
    assert "n_sim" in capsys.readouterr().err
