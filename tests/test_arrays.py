"""A user's own arrays: .npy / .npz / HDF5 + labels CSV, declared lead order and rate."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ecgsignal.data.arrays import load_arrays, read_signal_file, reorder_leads
from ecgsignal.data.leads import LEAD_NAMES
from ecgsignal.data.resampling import resample
from ecgsignal.data.sources import load_dataset
from ecgsignal.errors import ConfigError, DataError

SHUFFLED = ["V6", "avr", "I", "V1", "III", "AVL", "V2", "II", "v3", "aVF", "V4", "v5"]


def _beats(n: int = 12, T: int = 600, seed: int = 0) -> np.ndarray:
    """``(n, 12, T)`` beats in our lead order: lead k carries a sine of k + 1 cycles plus offset k."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, T, endpoint=False)
    base = np.stack([np.sin(2 * np.pi * (k + 1) * t) + k for k in range(12)])
    return (base[None] * rng.uniform(0.5, 1.5, (n, 1, 1))).astype(np.float32)


def _store(x: np.ndarray, names: list[str]) -> np.ndarray:
    """The same beats with their leads in ``names`` order (what a user's file would hold)."""
    order = [[c.lower() for c in LEAD_NAMES].index(nm.lower()) for nm in names]
    return x[:, order, :]


def _labels_csv(path, n, split=True, names=("NORM", "LBBB", "RBBB")) -> list[str]:
    labels = [names[i % len(names)] for i in range(n)]
    table = {"id": [f"r{i}" for i in range(n)], "label": labels}
    if split:
        table["split"] = ["train", "val", "test", "train"] * (n // 4) + ["train"] * (n % 4)
    pd.DataFrame(table).to_csv(path, index=False)
    return labels


def test_npy_with_csv_reorders_case_insensitive_leads(tmp_path):
    x = _beats()
    np.save(tmp_path / "beats.npy", _store(x, SHUFFLED))
    labels = _labels_csv(tmp_path / "labels.csv", len(x))
    ds = load_arrays(tmp_path / "beats.npy", tmp_path / "labels.csv", lead_order=SHUFFLED, fs=250)
    assert ds.lead_names == LEAD_NAMES and ds.fs == 250
    assert np.array_equal(ds.signals, x)
    assert [ds.class_names[i] for i in ds.labels] == labels
    assert ds.class_names == ("LBBB", "NORM", "RBBB")
    assert ds.split.tolist()[:4] == [0, 1, 2, 0] and "column 'split'" in ds.meta["split"]
    assert ds.meta["stored_lead_order"] == SHUFFLED


def test_npz_with_stored_metadata_and_resampling(tmp_path):
    x = _beats(T=600)
    np.savez(tmp_path / "b.npz", signals=_store(x, SHUFFLED), lead_names=np.array(SHUFFLED), fs=np.array(500.0),
             labels=np.array(["NORM", "LQT"] * 6), ids=np.array([f"e{i}" for i in range(12)]))
    ds = load_arrays(tmp_path / "b.npz", target_fs=250)
    assert ds.signals.shape == (12, 12, 300) and ds.fs == 250
    assert np.allclose(ds.signals, resample(x.astype(np.float64), 500, 250), atol=1e-5)
    assert ds.class_names == ("LQT", "NORM") and ds.meta["record_ids"][:2] == ["e0", "e1"]
    assert "seeded" in ds.meta["split"]
    again = load_arrays(tmp_path / "b.npz", target_fs=250)
    assert np.array_equal(ds.split, again.split)  # seeded split is reproducible


def test_hdf5_ntc_layout_units_and_8_leads(tmp_path):
    h5py = pytest.importorskip("h5py")
    x = _beats(n=8)
    eight = ["I", "II", "V1", "V2", "V3", "V4", "V5", "V6"]
    x[:, 2] = x[:, 1] - x[:, 0]  # make the limb leads consistent, as real ones are
    x[:, 3] = -(x[:, 0] + x[:, 1]) / 2
    x[:, 4] = x[:, 0] - x[:, 1] / 2
    x[:, 5] = x[:, 1] - x[:, 0] / 2
    stored = np.swapaxes(_store(x, eight), 1, 2) * 1000.0  # (n, T, 8) in µV
    with h5py.File(tmp_path / "b.h5", "w") as f:
        d = f.create_dataset("ecg", data=stored)
        d.attrs["lead_names"] = eight
        d.attrs["fs"] = 250.0
    pd.DataFrame({"NORM": [1, 0] * 4, "LBBB": [0, 1] * 4, "TWI": [1, 1] * 4}).to_csv(tmp_path / "y.csv", index=False)
    ds = load_arrays(tmp_path / "b.h5", tmp_path / "y.csv", key="ecg", layout="NTC", unit="uV",
                     multilabel_columns=["NORM", "LBBB", "TWI"])
    assert ds.multilabel and ds.labels.shape == (8, 3)
    assert np.allclose(ds.signals, x, atol=1e-4)  # derived III, aVR, aVL, aVF


def test_ids_match_labels_by_id_column(tmp_path):
    x = _beats(n=4)
    np.savez(tmp_path / "b.npz", signals=x, ids=np.array(["c", "a", "d", "b"]))
    pd.DataFrame({"rec": ["a", "b", "c", "d"], "label": ["NORM", "LVH", "IMI", "TWI"]}).to_csv(tmp_path / "y.csv", index=False)
    ds = load_arrays(tmp_path / "b.npz", tmp_path / "y.csv", lead_order=LEAD_NAMES, fs=250, id_column="rec",
                     class_names=["NORM", "LVH", "IMI", "TWI"])
    assert [ds.class_names[i] for i in ds.labels] == ["IMI", "NORM", "TWI", "LVH"]


def test_load_dataset_arrays_folder(tmp_path):
    x = _beats()
    np.save(tmp_path / "beats.npy", x)
    _labels_csv(tmp_path / "labels.csv", len(x))
    ds = load_dataset("arrays", data_root=tmp_path, lead_order=list(LEAD_NAMES), fs=500, target_fs=250)
    assert ds.signals.shape == (12, 12, 300)
    np.save(tmp_path / "more.npy", x)
    with pytest.raises(DataError, match="exactly one signal file"):
        load_dataset("arrays", data_root=tmp_path, lead_order=list(LEAD_NAMES), fs=500)


def test_reorder_leads_errors():
    x = np.zeros((2, 12, 10))
    with pytest.raises(DataError, match=r"unknown lead name\(s\) \['V7'\]"):
        reorder_leads(x, [*LEAD_NAMES[:11], "V7"])
    with pytest.raises(DataError, match=r"\['V1'\] appear more than once"):
        reorder_leads(x, [*LEAD_NAMES[:11], "v1"])
    with pytest.raises(DataError, match=r"missing lead\(s\) \['V6'\]"):
        reorder_leads(x[:, :11], LEAD_NAMES[:11])
    with pytest.raises(DataError, match="11 lead names"):
        reorder_leads(x, LEAD_NAMES[:11])


def test_bad_inputs_name_the_problem(tmp_path):
    x = _beats(n=4)
    np.save(tmp_path / "ok.npy", x)
    _labels_csv(tmp_path / "y.csv", 4)
    kw = {"lead_order": LEAD_NAMES, "fs": 250}

    y = x.copy()
    y[2, 5, 17] = np.nan
    np.save(tmp_path / "nan.npy", y)
    with pytest.raises(DataError, match=r"nan\.npy: 1 NaN/inf values \(first at beat 2, lead aVF, sample 17\)"):
        load_arrays(tmp_path / "nan.npy", tmp_path / "y.csv", **kw)
    np.save(tmp_path / "flat.npy", x[:, 0])
    with pytest.raises(DataError, match=r"flat\.npy: signals must be 3-D"):
        load_arrays(tmp_path / "flat.npy", tmp_path / "y.csv", **kw)
    np.save(tmp_path / "ntc.npy", np.swapaxes(x, 1, 2))
    with pytest.raises(DataError, match="layout='NTC'"):
        load_arrays(tmp_path / "ntc.npy", tmp_path / "y.csv", **kw)
    with pytest.raises(ConfigError, match="lead order is unknown"):
        load_arrays(tmp_path / "ok.npy", tmp_path / "y.csv", fs=250)
    with pytest.raises(ConfigError, match="sampling rate is unknown"):
        load_arrays(tmp_path / "ok.npy", tmp_path / "y.csv", lead_order=LEAD_NAMES)
    with pytest.raises(DataError, match=r"signal file not found: .*missing\.npy"):
        load_arrays(tmp_path / "missing.npy", tmp_path / "y.csv", **kw)
    (tmp_path / "b.txt").write_text("1 2 3")
    with pytest.raises(DataError, match="unsupported signal file type"):
        load_arrays(tmp_path / "b.txt", tmp_path / "y.csv", **kw)
    (tmp_path / "bad.npy").write_bytes(b"not numpy")
    with pytest.raises(DataError, match=r"bad\.npy is not a valid \.npy/\.npz file"):
        load_arrays(tmp_path / "bad.npy", tmp_path / "y.csv", **kw)
    with pytest.raises(DataError, match=r"y\.csv: 4 label rows for 3 beats"):
        np.save(tmp_path / "three.npy", x[:3])
        load_arrays(tmp_path / "three.npy", tmp_path / "y.csv", **kw)
    with pytest.raises(DataError, match=r"label\(s\) \['RBBB'\] not in class_names"):
        load_arrays(tmp_path / "ok.npy", tmp_path / "y.csv", class_names=["NORM", "LBBB"], **kw)
    with pytest.raises(DataError, match="no label column 'dx'"):
        load_arrays(tmp_path / "ok.npy", tmp_path / "y.csv", label_column="dx", **kw)
    with pytest.raises(DataError, match=r"labels file not found: .*nope\.csv"):
        load_arrays(tmp_path / "ok.npy", tmp_path / "nope.csv", **kw)
    with pytest.raises(DataError, match="no labels"):
        load_arrays(tmp_path / "ok.npy", **kw)
    np.savez(tmp_path / "k.npz", beats=x)
    with pytest.raises(DataError, match=r"no array 'signals' in the \.npz; it holds \['beats'\]"):
        read_signal_file(tmp_path / "k.npz")
    with pytest.raises(DataError, match="unknown amplitude unit"):
        load_arrays(tmp_path / "ok.npy", tmp_path / "y.csv", unit="mmHg", **kw)
