"""PTB-XL and PTB-XL+ loaders on small fixture trees written with wfdb (no real data needed)."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from fixtures_ptbxl import (
    Rec,
    clean_region,
    compare,
    write_ptbxl_tree,
    write_ptbxlplus_tree,
    wrsamp,
)

from ecgsignal.data.dataset import ECGDataset
from ecgsignal.data.ptbxl import PTBXLConfig, fold_split, load_ptbxl, read_database
from ecgsignal.data.ptbxlplus import find_medians, load_ptbxlplus, to_millivolts
from ecgsignal.data.scp_mapping import (
    CLASS_NAMES,
    SUPERCLASSES,
    assign_labels,
    parse_scp_codes,
)
from ecgsignal.data.sources import DATASETS, load_dataset, needs_data_root
from ecgsignal.data.wfdb_io import WfdbReader, fix_header_text
from ecgsignal.errors import ConfigError, DataError, UnknownNameError

wfdb = pytest.importorskip("wfdb")


def _records() -> list[Rec]:
    return [
        Rec(1, {"NORM": 100.0, "SR": 0.0}, fold=1, kind="NORM", hr=62),
        Rec(2, {"CLBBB": 100.0, "SR": 0.0}, fold=2, kind="LBBB", hr=88),
        Rec(3, {"CRBBB": 100.0}, fold=3, kind="RBBB", hr=55),
        Rec(4, {"1AVB": 80.0, "SR": 0.0}, fold=4, kind="1AVB", hr=70),
        Rec(5, {"LVH": 50.0, "SR": 0.0}, fold=5, kind="LVH", hr=75),
        Rec(6, {"ASMI": 100.0}, fold=6, kind="STEMI", hr=80),
        Rec(7, {"IMI": 100.0, "SR": 0.0}, fold=7, kind="IMI", hr=58),
        Rec(8, {"NT_": 100.0, "SR": 0.0}, fold=8, kind="TWI", hr=66),
        Rec(9, {"LNGQT": 100.0}, fold=9, kind="LQT", hr=60),
        Rec(1001, {"CLBBB": 100.0, "NT_": 50.0}, fold=10, kind="LBBB", hr=72),  # two classes → LBBB
        Rec(1002, {"LAFB": 100.0, "SR": 0.0}, fold=10, kind="NORM", hr=64),  # no class → dropped
        Rec(1003, {"NORM": 100.0}, fold=9, kind="NORM", hr=92),
    ]


EXPECTED = {1: "NORM", 2: "LBBB", 3: "RBBB", 4: "1AVB", 5: "LVH", 6: "STEMI", 7: "IMI", 8: "TWI",
            9: "LQT", 1001: "LBBB", 1003: "NORM"}


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("ptbxl") / "physionet.org" / "files" / "ptb-xl" / "1.0.3"
    root.mkdir(parents=True)
    recs = _records()
    write_ptbxl_tree(root, recs, seed=0)
    return root, {r.ecg_id: r for r in recs}


@pytest.fixture(scope="module")
def loaded(tree):
    root, _ = tree
    return load_ptbxl(root, cache=False)


# --------------------------------------------------------------------------- PTB-XL
def test_loads_labels_folds_and_meta(loaded, tree):
    ds = loaded
    assert isinstance(ds, ECGDataset)
    assert ds.signals.shape == (11, 12, 300) and ds.fs == 250.0 and ds.class_names == CLASS_NAMES
    ids = ds.meta["record_ids"]
    assert ids == sorted(EXPECTED)
    assert [ds.class_names[i] for i in ds.labels] == [EXPECTED[i] for i in ids]
    folds = [tree[1][i].fold for i in ids]
    assert ds.meta["strat_fold"] == folds
    assert ds.split.tolist() == [0 if f <= 8 else 1 if f == 9 else 2 for f in folds]
    c = ds.meta["counts"]
    assert c["records_in_database"] == 12 and c["dropped_no_class"] == 1
    assert c["resolved_by_priority"] == 1 and c["loaded"] == 11 and c["no_median"] == 0
    assert ds.meta["superclasses"][ids.index(1001)] == ["CD", "STTC"]
    assert ds.meta["superclasses"][ids.index(6)] == ["MI"]
    assert "first of ['STEMI', 'LBBB'" in ds.meta["class_rule"]
    assert ds.meta["seconds_per_record"] > 0


def test_extracted_medians_match_the_planted_beats(loaded, tree):
    recs = tree[1]
    for k, eid in enumerate(loaded.meta["record_ids"]):
        r = recs[eid]
        corr, rmse = compare(loaded.signals[k], 250, r.truth, clean_region(r.p_on, r.t_end, r.min_rr))
        assert corr > 0.97, (eid, corr)
        assert rmse < 50, (eid, rmse)


def test_records100_and_500hz_output(tree):
    root, recs = tree
    ds = load_ptbxl(root, source_fs=100, fs=500, folds=(1, 2, 3), cache=False)
    assert ds.signals.shape == (3, 12, 600) and ds.fs == 500
    for k, eid in enumerate(ds.meta["record_ids"]):
        r = recs[eid]
        corr, rmse = compare(ds.signals[k], 500, r.truth, clean_region(r.p_on, r.t_end, r.min_rr))
        assert corr > 0.97 and rmse < 50, (eid, corr, rmse)


def test_label_modes_and_superclasses(tree):
    root, _ = tree
    ex = load_ptbxl(root, label_mode="exclusive", max_records=20, cache=False, source_fs=100)
    assert 1001 not in ex.meta["record_ids"] and ex.meta["counts"]["dropped_ambiguous"] == 1
    ml = load_ptbxl(root, label_mode="multilabel", source_fs=100, folds=(10,), cache=False)
    assert ml.multilabel and ml.labels.shape == (1, 9)
    assert [CLASS_NAMES[i] for i in np.flatnonzero(ml.labels[0])] == ["LBBB", "TWI"]
    sup = load_ptbxl(root, label_scheme="superclass", label_mode="multilabel", source_fs=100, cache=False)
    assert sup.class_names == SUPERCLASSES and sup.n == 12  # LAFB is CD: nothing dropped
    row = sup.labels[sup.meta["record_ids"].index(1001)]
    assert [SUPERCLASSES[i] for i in np.flatnonzero(row)] == ["STTC", "CD"]
    capped = load_ptbxl(root, max_per_class=1, source_fs=100, cache=False)
    assert sorted(np.bincount(capped.labels, minlength=9).tolist()) == [1] * 9


def test_cache_round_trip(tree):
    root, _ = tree
    first = load_ptbxl(root, folds=(1, 2), source_fs=100)
    second = load_ptbxl(root, folds=(1, 2), source_fs=100)
    assert first.meta["cache"]["hit"] is False and second.meta["cache"]["hit"] is True
    assert np.array_equal(first.signals, second.signals) and np.array_equal(first.labels, second.labels)
    assert np.array_equal(first.split, second.split)
    assert second.meta["record_ids"] == first.meta["record_ids"]
    other = load_ptbxl(root, folds=(1, 2), source_fs=100, fs=100)
    assert other.meta["cache"]["hit"] is False and other.signals.shape[-1] == 120


def test_parallel_extraction_is_identical(tree):
    root, _ = tree
    a = load_ptbxl(root, folds=(1, 2, 3, 4), source_fs=100, cache=False)
    b = load_ptbxl(root, folds=(1, 2, 3, 4), source_fs=100, cache=False, n_jobs=2)
    assert np.array_equal(a.signals, b.signals)


def test_load_dataset_registry(tree):
    root, _ = tree
    assert DATASETS.available() == ["synthetic", "ptbxl", "ptbxlplus", "arrays", "records"]
    assert [needs_data_root(n) for n in DATASETS] == [False, True, True, True, True]
    ds = load_dataset("ptbxl", data_root=root.parents[2], folds=(9,), source_fs=100, cache=False)
    assert ds.meta["record_ids"] == [9, 1003]
    with pytest.raises(UnknownNameError, match="valid: synthetic, ptbxl, ptbxlplus, arrays, records"):
        load_dataset("mitbih")
    with pytest.raises(ConfigError, match="data_root"):
        load_dataset("ptbxl")
    with pytest.raises(ConfigError, match=r"PTBXLConfig: unknown field\(s\) \['colour'\]"):
        load_ptbxl(root, colour="red")
    with pytest.raises(ConfigError, match="PTBXLConfig.fs: expected a number"):
        load_ptbxl(root, fs="250")
    cfg = {"fs": 100, "folds": [9], "source_fs": 100, "median": {"min_beats": 2}}
    assert load_ptbxl(root, cfg, cache=False).meta["config"]["median"]["min_beats"] == 2
    with pytest.raises(ConfigError, match="source_fs"):
        PTBXLConfig(source_fs=250)


def test_synthetic_through_the_registry():
    ds = load_dataset("synthetic", n=18, seed=1)
    assert ds.n == 18 and ds.has_masks
    with pytest.raises(ConfigError, match="data_root"):
        load_dataset("synthetic", data_root="/tmp")


def test_missing_and_malformed_files_name_the_file(tree, tmp_path):
    src, _ = tree
    root = tmp_path / "copy"
    shutil.copytree(src, root)
    db = root / "ptbxl_database.csv"

    with pytest.raises(DataError, match="no ptbxl_database.csv"):
        load_ptbxl(tmp_path / "copy" / "records500", cache=False)
    with pytest.raises(DataError, match="data folder not found"):
        load_ptbxl(tmp_path / "nowhere", cache=False)

    # a record whose .dat is gone
    (root / "records100" / "00000" / "00003_lr.dat").unlink()
    with pytest.raises(DataError, match=r"00003_lr\.dat"):
        load_ptbxl(root, source_fs=100, folds=(3,), cache=False)
    skipped = load_ptbxl(root, source_fs=100, folds=(2, 3), on_error="skip", cache=False)
    assert skipped.meta["counts"]["unreadable"] == 1 and skipped.meta["record_ids"] == [2]
    assert "00003_lr.dat" in skipped.meta["failures"]["unreadable"][0]["reason"]

    # a garbled header
    (root / "records100" / "00000" / "00002_lr.hea").write_text("this is not a header\n")
    with pytest.raises(DataError, match=r"00002_lr\.hea"):
        load_ptbxl(root, source_fs=100, folds=(2,), cache=False)

    # malformed database rows and columns
    table = pd.read_csv(db)
    table.loc[0, "strat_fold"] = 11
    table.to_csv(db, index=False)
    with pytest.raises(DataError, match=r"ptbxl_database\.csv: row 0 .*strat_fold"):
        read_database(root)
    table.loc[0, "strat_fold"] = 1
    table.loc[1, "scp_codes"] = "{'NORM': 100.0"
    table.to_csv(db, index=False)
    with pytest.raises(DataError, match=r"ptbxl_database\.csv \(ecg_id 2\): cannot parse SCP codes"):
        read_database(root)
    table.drop(columns=["filename_hr"]).to_csv(db, index=False)
    with pytest.raises(DataError, match=r"ptbxl_database\.csv: missing column\(s\) \['filename_hr'\]"):
        read_database(root)
    db.unlink()
    with pytest.raises(DataError, match="no ptbxl_database.csv"):
        load_ptbxl(root, cache=False)


def test_lead_order_in_header_is_honoured(tmp_path):
    """A record stored with leads in another order (and mixed case) reads back in ours."""
    x = np.arange(12, dtype=float)[:, None] * np.ones((12, 50)) / 10
    names = ["v6", "V5", "V4", "V3", "V2", "V1", "avf", "AVL", "aVR", "III", "II", "I"]
    wrsamp("rec", fs=500, units=["mV"] * 12, sig_name=names, p_signal=x[::-1].T.copy(), fmt=["16"] * 12,
                adc_gain=[1000.0] * 12, baseline=[0] * 12, write_dir=str(tmp_path))
    with WfdbReader() as reader:
        rec = reader.read(tmp_path / "rec")
    assert np.allclose(rec.signal, x, atol=1e-3) and rec.fs == 500 and not rec.header_fixed


def test_scp_parsing_and_assignment_rules():
    assert parse_scp_codes("{'NORM': 100.0, 'SR': 0.0}") == {"NORM": 100.0, "SR": 0.0}
    assert parse_scp_codes("[('IMI', 50.0), ('SR', 0.0)]") == {"IMI": 50.0, "SR": 0.0}
    with pytest.raises(DataError, match="cannot parse"):
        parse_scp_codes("NORM=100")
    codes = [{"NORM": 100.0}, {"CLBBB": 100.0, "NT_": 0.0}, {"LAFB": 100.0}, {"IMI": 15.0, "LVH": 100.0}]
    a = assign_labels(codes)
    assert a.keep.tolist() == [True, True, False, True]
    assert [CLASS_NAMES[i] for i in a.labels] == ["NORM", "LBBB", "IMI"]
    b = assign_labels(codes, min_likelihood=20)
    assert [CLASS_NAMES[i] for i in b.labels] == ["NORM", "LBBB", "LVH"]
    with pytest.raises(ConfigError, match="label mode"):
        assign_labels(codes, mode="first")
    assert fold_split(np.array([1, 8, 9, 10])).tolist() == [0, 0, 1, 2]
    with pytest.raises(DataError, match="1..10"):
        fold_split(np.array([0, 3]))


# --------------------------------------------------------------------------- PTB-XL+
def _plus_records() -> list[Rec]:
    return [
        Rec(1, {"NORM": 100.0}, fold=1, kind="NORM"),
        Rec(2, {"CLBBB": 100.0}, fold=9, kind="LBBB"),
        Rec(3, {"CRBBB": 100.0}, fold=10, kind="RBBB"),
        Rec(1004, {"IMI": 100.0}, fold=2, kind="IMI"),
    ]


def test_ptbxlplus_12sl_broken_header(tmp_path, tree):
    ptbxl_root, _ = tree
    recs = _plus_records()
    root = write_ptbxlplus_tree(tmp_path / "ptb-xl-plus", recs, provider="12sl", r_at_s=0.33)
    hea = root / "median_beats" / "12sl" / "00000" / "00001_medians.hea"
    assert hea.read_text().startswith("ge_median_beats_wfdb/00001_medians 12 500 600")
    with pytest.raises(Exception, match="record line"):  # the upstream defect, as it is
        wfdb.rdrecord(str(hea.with_suffix("")))
    before = hea.read_text()
    # statements without a median (ecg_id 9 is in the PTB-XL fixture but has no median here)
    ds = load_ptbxlplus(root, ptbxl_root=ptbxl_root, cache=False)
    assert hea.read_text() == before  # the user's files are untouched
    assert ds.meta["record_ids"] == [1, 2, 3]  # 1004 is not in the PTB-XL fixture
    assert [CLASS_NAMES[i] for i in ds.labels] == ["NORM", "LBBB", "RBBB"]
    assert ds.split.tolist() == [0, 0, 0]  # folds 1, 2, 3 of the PTB-XL database
    assert ds.meta["counts"]["no_median"] == 8 and ds.meta["counts"]["rescaled_uV_to_mV"] == 0
    assert ds.signals.shape == (3, 12, 300)
    truth = {r.ecg_id: r for r in recs}
    for k, eid in enumerate(ds.meta["record_ids"]):
        corr, rmse = compare(ds.signals[k], 250, truth[eid].truth, (-0.35, 0.75))
        assert corr > 0.97 and rmse < 50, (eid, corr, rmse)


def test_ptbxlplus_unig_units_six_digit_names_and_own_labels(tmp_path):
    recs = _plus_records()
    root = write_ptbxlplus_tree(tmp_path / "plus", recs, provider="unig")
    assert (root / "median_beats" / "unig" / "01000" / "001004_medians.hea").is_file()
    assert sorted(find_medians(root, "unig")) == [1, 2, 3, 1004]
    ds = load_ptbxlplus(root, provider="unig", cache=False)
    assert ds.meta["counts"]["rescaled_uV_to_mV"] == 4
    assert ds.meta["record_ids"] == [1, 2, 3, 1004]
    assert "seeded stratified" in ds.meta["split"] and ds.split is not None
    truth = {r.ecg_id: r for r in recs}
    for k, eid in enumerate(ds.meta["record_ids"]):
        corr, rmse = compare(ds.signals[k], 250, truth[eid].truth, (-0.35, 0.75))
        assert corr > 0.97 and rmse < 50, (eid, corr, rmse)
    raw = load_ptbxlplus(root, provider="unig", amplitude_unit="mV", cache=False)
    assert np.abs(raw.signals).max() > 300 * np.abs(ds.signals).max()
    b, was = to_millivolts(np.full((12, 10), 2.0))
    assert not was and b.max() == 2.0


def test_ptbxlplus_missing_pieces(tmp_path):
    recs = _plus_records()
    root = write_ptbxlplus_tree(tmp_path / "plus", recs, provider="12sl")
    with pytest.raises(DataError, match=r"median_beats/unig"):
        load_ptbxlplus(root, provider="unig", cache=False)
    (root / "median_beats" / "12sl" / "00000" / "00002_medians.dat").unlink()
    with pytest.raises(DataError, match=r"00002_medians\.dat"):
        load_ptbxlplus(root, cache=False)
    ds = load_ptbxlplus(root, on_error="skip", cache=False)
    assert ds.meta["record_ids"] == [1, 3, 1004] and ds.meta["counts"]["unreadable"] == 1
    (root / "median_beats" / "12sl" / "00000" / "00003_medians.hea").unlink()  # no median at all
    ds = load_ptbxlplus(root, on_error="skip", cache=False)
    assert ds.meta["counts"]["no_median"] == 1 and ds.meta["no_median_ids"] == [3]
    (root / "labels" / "ptbxl_statements.csv").unlink()
    with pytest.raises(DataError, match=r"labels/ptbxl_statements\.csv"):
        load_ptbxlplus(root, cache=False)


def test_fix_header_text():
    text = "ge_median_beats_wfdb/00001_medians 12 500 600\nge_median_beats_wfdb/00001_medians.dat 32 1(0)/mV 32 0 0 0 0 I\n# c/d\n"
    fixed, changed = fix_header_text(text)
    assert changed and fixed.startswith("00001_medians 12 500 600\n00001_medians.dat 32")
    assert fixed.endswith("# c/d\n")
    assert fix_header_text(fixed) == (fixed, False)
