"""Bring your own ECGs: loader options from profiles / CLI / chapters, raw records → median beats,
``data check``, and errors at the file boundary. Every file here is written by the test."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from ecgsignal.data.leads import LEAD_INDEX, LEAD_NAMES
from ecgsignal.errors import CacheError, ConfigError, DataError
from ecgsignal.run.pipeline import build_context, build_dataset, check_profile_data
from ecgsignal.run.profiles import load_profile, parse_data_options

pytest.importorskip("wfdb")
from fixtures_ptbxl import (  # noqa: E402
    PTBXL_LEADS,
    Rec,
    _write_wfdb,
    clean_region,
    compare,
    make_rhythm,
    template,
)

EIGHT = ["V1", "I", "V2", "II", "V3", "V4", "V5", "V6"]  # a storage order of our own


def _own_beats(tmp_path: Path, n_per_class: int = 12, unit_scale: float = 1.0, fs: float = 250.0):
    """A plain ``.npy`` of ``(n, 8, T)`` beats in EIGHT order (no names, no rate) + labels.csv."""
    from ecgsignal.data.synthetic import generate

    batch = generate(n=9 * n_per_class, fs=fs, seed=3)
    x = batch.beats[:, [LEAD_INDEX[ld] for ld in EIGHT]] * unit_scale
    np.save(tmp_path / "beats.npy", x.astype(np.float32))
    pd.DataFrame({"label": np.array(batch.class_names)[batch.labels]}).to_csv(tmp_path / "labels.csv", index=False)
    return batch


# ----------------------------------------------------------------------------- options
def test_plain_npy_with_lead_order_through_a_profile_yaml(tmp_path):
    batch = _own_beats(tmp_path, unit_scale=1000.0)  # stored in µV
    prof_path = tmp_path / "mine.yaml"
    prof_path.write_text(yaml.safe_dump({
        "dataset": "arrays", "data_root": str(tmp_path / "beats.npy"), "labels": str(tmp_path / "labels.csv"),
        "lead_order": EIGHT, "unit": "uV", "stored_fs": 250}))
    prof = load_profile(str(prof_path))
    assert prof.lead_order == tuple(EIGHT) and prof.unit == "uV" and prof.stored_fs == 250.0
    ds = build_dataset(prof)
    assert ds.lead_names == LEAD_NAMES and ds.n == batch.n
    assert np.abs(ds.signals - batch.beats).max() < 1e-3  # limb leads derived, µV → mV
    # the same without the lead order fails, saying where to state it
    prof_path.write_text(yaml.safe_dump({"dataset": "arrays", "data_root": str(tmp_path / "beats.npy"),
                                         "labels": str(tmp_path / "labels.csv"), "stored_fs": 250}))
    with pytest.raises(ConfigError, match=r"lead order is unknown; .*lead_order: \[.*in a profile"):
        build_dataset(load_profile(str(prof_path)))


def test_data_options_text_json_and_mapping_agree():
    text = "lead_order=I,II,V1,V2,V3,V4,V5,V6; unit=uV; stored_fs=500; layout=NTC; key=beats"
    as_json = json.dumps({"lead_order": ["I", "II", "V1", "V2", "V3", "V4", "V5", "V6"], "unit": "uV",
                          "stored_fs": 500, "layout": "NTC", "key": "beats"})
    profs = [load_profile("smoke", dataset="arrays", data_root="x.npy", data_options=o)
             for o in (text, as_json, json.loads(as_json))]
    assert profs[0] == profs[1] == profs[2]
    assert profs[0].lead_order == ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")
    assert profs[0].stored_fs == 500.0 and profs[0].key == "beats"
    assert parse_data_options(None) == {}


@pytest.mark.parametrize("overrides, message", [
    ({"data_options": "lead_ordr=I,II"}, r"unknown data option\(s\) \['lead_ordr'\]; valid: labels, lead_order"),
    ({"data_options": "unit uV"}, r"'unit uV' is not name=value"),
    ({"unit": "microvolt"}, r"unit must be one of mV, uV, V; got 'microvolt'"),
    ({"layout": "TNC"}, r"layout must be one of NCT, NTC"),
    ({"lead_order": "I,II,V7"}, r"unknown lead name\(s\) \['V7'\]; valid: I, II, III"),
    ({"stored_fs": -5.0}, r"stored_fs must be a positive number"),
    ({"dataset": "records", "records_format": "edf"}, r"records_format must be one of wfdb, npy, csv"),
    ({"label_column": "dx", "multilabel_columns": "NORM,LBBB"}, r"not both"),
    ({"dataset": "synthetic", "lead_order": "I,II"}, r"dataset='synthetic' does not read \['lead_order'\]"),
    ({"dataset": "ptbxl", "key": "x"}, r"key is read by dataset arrays"),
    ({"unit": "uV", "data_options": "unit=mV"}, r"unit is given twice"),
])
def test_misspelt_or_contradictory_options_name_the_valid_ones(overrides, message):
    kw = {"dataset": "arrays", "data_root": "x.npy", **overrides}
    with pytest.raises(ConfigError, match=message):
        load_profile("smoke", **kw)


def test_loader_options_misspelt_in_code_name_the_valid_ones(tmp_path):
    from ecgsignal.data.sources import load_dataset

    with pytest.raises(ConfigError, match=r"load_records: unknown option\(s\) \['lead_ordr'\]; valid: .*lead_order"):
        load_dataset("records", data_root=tmp_path, lead_ordr=["I"])
    with pytest.raises(ConfigError, match=r"load_arrays: unknown option\(s\) \['units'\]; valid: .*unit"):
        load_dataset("arrays", data_root=tmp_path / "x.npy", units="uV")
    with pytest.raises(ConfigError, match=r"format must be one of wfdb, npy, csv, got 'edf'"):
        load_dataset("records", data_root=tmp_path, format="edf")


def test_cli_dataset_flags_reach_the_profile(tmp_path):
    from ecgsignal.run import cli

    args = cli.build_parser().parse_args([
        "experiment", "similarity", "--profile", "smoke", "--dataset", "records", "--data-root", str(tmp_path),
        "--lead-order", "I,II,V1,V2,V3,V4,V5,V6", "--unit", "uV", "--stored-fs", "500",
        "--records-format", "npy", "--n-jobs", "2", "--labels", "y.csv"])
    prof = cli._load(args)
    assert (prof.dataset, prof.unit, prof.stored_fs, prof.records_format, prof.n_jobs, prof.labels) == (
        "records", "uV", 500.0, "npy", 2, "y.csv")
    assert prof.lead_order == ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")


# ----------------------------------------------------------------------------- file boundary
def test_non_archive_and_object_arrays_never_mention_pickle(tmp_path):
    from ecgsignal.data.arrays import load_arrays
    from ecgsignal.io import load_npz

    (tmp_path / "junk.npz").write_bytes(b"\x80\x04garbage that is no archive" * 4)
    (tmp_path / "junk.npy").write_bytes(b"not numpy at all")
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    msgs = []
    for name in ("junk.npz", "junk.npy"):
        with pytest.raises(DataError, match=re.escape(f"{name} is not a valid .npy/.npz file")) as e:
            load_arrays(tmp_path / name, lead_order=LEAD_NAMES, fs=250)
        msgs.append(str(e.value))
    with pytest.raises(DataError, match=r"obj\.npy: it holds Python objects .*refused as untrusted") as e:
        load_arrays(tmp_path / "obj.npy", lead_order=LEAD_NAMES, fs=250)
    msgs.append(str(e.value))
    with pytest.raises(CacheError, match=r"junk\.npz is not a valid \.npy/\.npz file") as e:
        load_npz(tmp_path / "junk.npz")
    msgs.append(str(e.value))
    from ecgsignal.data.check import check_data

    msgs += [p["problem"] + p["fix"] for p in check_data(tmp_path / "junk.npz").problems]
    assert len(msgs) == 5 and not any("pickl" in m.lower() for m in msgs), msgs


def test_checkpoint_errors_never_mention_pickle(tmp_path):
    import torch

    from ecgsignal.models.checkpoints import load_checkpoint
    from ecgsignal.models.cnn import build_model

    (tmp_path / "junk.pt").write_bytes(b"junk bytes, not a checkpoint" * 3)
    torch.save(build_model(9), tmp_path / "module.pt")  # a whole pickled module, not a state dict
    for name in ("junk.pt", "module.pt"):
        with pytest.raises(CacheError, match="could not be loaded safely") as e:
            load_checkpoint(tmp_path / name, 9)
        assert "pickl" not in str(e.value).lower(), str(e.value)


# ----------------------------------------------------------------------------- records
KINDS = ["NORM", "LBBB", "RBBB"]


def _records_folder(root: Path, n_per_kind: int = 8, seed: int = 0) -> list[Rec]:
    """A folder of 10 s WFDB records (PTB-XL's storage) + labels.csv (record, label)."""
    from fixtures_ptbxl import write_ptbxl_tree

    recs = [Rec(ecg_id=i + 1, scp_codes={}, fold=1, kind=KINDS[i % 3], hr=50 + 4 * (i % 9))
            for i in range(n_per_kind * 3)]
    write_ptbxl_tree(root, recs, seed=seed, with_lr=False, with_statements=False)
    (root / "ptbxl_database.csv").unlink()
    pd.DataFrame({"record": [f"{r.ecg_id:05d}_hr" for r in recs],
                  "label": [r.kind for r in recs]}).to_csv(root / "labels.csv", index=False)
    return recs


@pytest.fixture(scope="module")
def records_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("records")
    return root, _records_folder(root)


def test_wfdb_records_become_faithful_median_beats(records_folder):
    from ecgsignal.data.sources import load_dataset

    root, recs = records_folder
    ds = load_dataset("records", data_root=root, progress=False)
    assert ds.n == len(recs) and ds.meta["counts"]["loaded"] == len(recs) and ds.meta["skipped"] == []
    assert ds.signals.shape == (len(recs), 12, 300) and ds.fs == 250
    by_id = {f"records500/00000/{r.ecg_id:05d}_hr": r for r in recs}
    corr, rmse = [], []
    for rid, beat, lab in zip(ds.meta["record_ids"], ds.signals, ds.labels):
        r = by_id[rid]
        assert ds.class_names[lab] == r.kind
        c, e = compare(beat, ds.fs, r.truth, clean_region(r.p_on, r.t_end, r.min_rr))
        corr.append(c)
        rmse.append(e)
    assert min(corr) > 0.99 and np.median(rmse) < 20, (min(corr), np.median(rmse))
    again = load_dataset("records", data_root=root, progress=False)  # from the cache
    assert again.meta["cache"]["hit"] and np.array_equal(again.signals, ds.signals)


def test_records_n_jobs_do_not_change_the_beats(records_folder):
    from ecgsignal.data.records import load_records

    root, _ = records_folder
    a = load_records(root, cache=False, progress=False, n_jobs=1)
    b = load_records(root, cache=False, progress=False, n_jobs=2)
    assert np.array_equal(a.signals, b.signals) and a.meta["record_ids"] == b.meta["record_ids"]


def test_npy_and_csv_records_with_stated_rate_and_order_match_wfdb(tmp_path, records_folder):
    from ecgsignal.data.records import load_records
    from ecgsignal.data.wfdb_io import WfdbReader

    root, recs = records_folder
    ref = load_records(root, cache=False, progress=False)
    order = ["V1", "I", "AVR", "II", "V2", "III", "V3", "avl", "V4", "aVF", "V5", "V6"]
    for fmt in ("npy", "csv"):
        d = tmp_path / fmt
        d.mkdir()
        with WfdbReader() as reader:
            for r in recs:
                x = reader.read(root / "records500" / "00000" / f"{r.ecg_id:05d}_hr").signal
                x8 = 1000 * x[[[ld.lower() for ld in LEAD_NAMES].index(n.lower()) for n in order]]  # µV
                if fmt == "npy":
                    np.save(d / f"{r.ecg_id:05d}_hr.npy", x8.T)  # (samples, leads): found by its shape
                else:
                    pd.DataFrame(x8.T, columns=order).to_csv(d / f"{r.ecg_id:05d}_hr.csv", index=False)
        (d / "labels.csv").write_text((root / "labels.csv").read_text())
        kw = {"fs": 500, "unit": "uV"}
        if fmt == "npy":
            with pytest.raises(ConfigError, match="lead order of npy records is unknown"):
                load_records(d, cache=False, progress=False, **kw)
            kw["lead_order"] = order
        ds = load_records(d, cache=False, progress=False, **kw)
        assert ds.meta["format"] == fmt and ds.n == ref.n
        assert np.abs(ds.signals - ref.signals).max() < 1e-3  # the same records, stored otherwise
    with pytest.raises(ConfigError, match="sampling rate of the csv records is unknown"):
        load_records(tmp_path / "csv", cache=False, progress=False)


def test_untrusted_records_are_skipped_counted_and_listed(tmp_path):
    from ecgsignal.data.records import load_records

    recs = _records_folder(tmp_path, n_per_kind=3)
    rng = np.random.default_rng(1)
    beat, _, _ = template("NORM")
    x, _, _ = make_rhythm(beat, 60, rng)
    flat = x.copy()
    flat[PTBXL_LEADS.index("V3")] = 0.0
    _write_wfdb(tmp_path / "extra" / "flatv3", flat, 500)
    _write_wfdb(tmp_path / "extra" / "noise", 0.2 * rng.standard_normal(x.shape), 500)
    clipped = np.clip(x, -0.3, 0.3)
    _write_wfdb(tmp_path / "extra" / "clipped", clipped, 500)
    _write_wfdb(tmp_path / "extra" / "nolabel", x, 500)
    table = pd.read_csv(tmp_path / "labels.csv")
    extra = pd.DataFrame({"record": ["flatv3", "noise", "clipped"], "label": ["NORM"] * 3})
    pd.concat([table, extra]).to_csv(tmp_path / "labels.csv", index=False)
    with pytest.warns(UserWarning, match=r"4 of 13 records .* skipped"):
        ds = load_records(tmp_path, cache=False, progress=False)
    assert ds.n == len(recs)
    reasons = {s["record"]: s["reason"] for s in ds.meta["skipped"]}
    assert "lead V3 is flat" in reasons["extra/flatv3"]
    assert "saturated" in reasons["extra/clipped"]
    assert reasons["extra/noise"].startswith(("no_median", "untrusted"))
    assert reasons["extra/nolabel"] == "no row in the labels CSV"
    print(ds.meta["counts"], reasons)
    assert ds.meta["counts"] == {"records_found": 13, "unlabelled": 1, "unreadable": 0, "untrusted": 2,
                                 "no_median": 1, "loaded": 9}
    # label ids that match no record: the first ones are named
    pd.concat([table, pd.DataFrame({"record": ["ghost1", "ghost2"], "label": ["NORM", "NORM"]})]).to_csv(
        tmp_path / "labels.csv", index=False)
    with pytest.raises(DataError, match=r"2 of 11 label ids match no record .*first \['ghost1', 'ghost2'\]"):
        load_records(tmp_path, cache=False, progress=False)


def test_records_run_the_similarity_experiment(tmp_path, records_folder):
    from ecgsignal.evaluation.experiments import run_experiment

    root, _ = records_folder
    prof = load_profile("smoke", dataset="records", data_root=str(root), seeds=(0,), epochs=2,
                        methods="saliency,gradcam,random", n_per_class=1, n_boot=10,
                        similarity_measures=("spearman_abs",))
    ctx = build_context(prof, cache_dir=tmp_path / "cache", progress=False)
    assert ctx.dataset.meta["source"] == "records"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = run_experiment("similarity", ctx, out_dir=tmp_path / "out", params={"measures": ["spearman_abs"]})
    assert len(df) > 0 and np.isfinite(df.select_dtypes("number").to_numpy(dtype=float)).any()
    assert (tmp_path / "out" / "similarity").is_dir()


# ----------------------------------------------------------------------------- data check
def test_data_check_good_inputs(tmp_path, records_folder, capsys):
    from ecgsignal.run.cli import main

    root, recs = records_folder
    assert main(["data", "check", str(root), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) >= {"n", "leads", "fs", "unit", "classes", "problems"}
    assert (out["n"], out["fs"], out["unit"], out["leads"]) == (len(recs), 500.0, "mV", list(LEAD_NAMES))
    assert out["classes"] == {k: len(recs) // 3 for k in sorted(KINDS)} and out["problems"] == []

    batch = _own_beats(tmp_path, unit_scale=1000.0)
    prof = load_profile("smoke", dataset="arrays", data_root=str(tmp_path / "beats.npy"),
                        data_options={"lead_order": EIGHT, "stored_fs": 250, "unit": "uV"})
    rep = check_profile_data(prof)
    assert rep.ok and rep.n == 108 and rep.leads == EIGHT and rep.unit == "uV" and rep.fs == 250
    # realistic beats carry flagged label noise, so the counts are the file's, not 12 each
    labels = pd.Series(np.array(batch.class_names)[batch.labels]).value_counts()
    assert rep.classes == {str(k): int(v) for k, v in labels.items()}


def test_data_check_names_the_first_problem_and_its_fix(tmp_path, capsys):
    from ecgsignal.data.check import check_data
    from ecgsignal.run.cli import main

    _own_beats(tmp_path, unit_scale=1000.0)  # µV, no names, no rate
    assert main(["data", "check", str(tmp_path / "beats.npy"), "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    problems = [p["problem"] for p in out["problems"]]
    assert "lead order of beats.npy is unknown" in problems[0] and "--lead-order" in out["problems"][0]["fix"]
    assert any("sampling rate is unknown" in p for p in problems)
    assert any(p.startswith("amplitudes look like uV") for p in problems) and out["unit"] == "uV"
    main(["data", "check", str(tmp_path / "beats.npy"), "--lead-order", ",".join(EIGHT), "--stored-fs", "250"])
    text = capsys.readouterr().out
    assert text.startswith("FIRST PROBLEM: amplitudes look like uV") and "fix: set unit: uV" in text

    x = np.load(tmp_path / "beats.npy") / 1000.0
    x[3, EIGHT.index("V2")] = np.nan
    x[5, EIGHT.index("V4")] = 0.0
    x[7, EIGHT.index("I")] = np.clip(x[7, EIGHT.index("I")], -0.05, 0.05)
    np.save(tmp_path / "bad.npy", x)
    table = pd.read_csv(tmp_path / "labels.csv")
    table.loc[2, "label"] = ""
    table.loc[4, "label"] = "LBBBB"
    table.to_csv(tmp_path / "bad.csv", index=False)
    assert main(["data", "check", str(tmp_path / "bad.npy"), "--labels", str(tmp_path / "bad.csv"), "--json",
                 "--lead-order", ",".join(EIGHT), "--stored-fs", "250",
                 "--class-names", "1AVB,IMI,LBBB,LQT,LVH,NORM,RBBB,STEMI,TWI"]) == 1
    problems = " | ".join(p["problem"] for p in json.loads(capsys.readouterr().out)["problems"])
    assert "lead V2 NaN/inf in 1 of 108 beats (first: beat 3)" in problems
    assert "lead V4 is flat in 1 of 108 beats (first: beat 5)" in problems
    assert "lead I is saturated in 1 of 108 beats (first: beat 7)" in problems
    assert "1 empty labels" in problems and "['LBBBB'] not in class_names" in problems
    assert "class(es) ['LBBBB'] have fewer than 3" in problems

    (tmp_path / "recs").mkdir()
    _records_folder(tmp_path / "recs", n_per_kind=1)
    pd.DataFrame({"record": ["nope"], "label": ["NORM"]}).to_csv(tmp_path / "recs" / "labels.csv", index=False)
    rep = check_data(tmp_path / "recs")
    assert rep.dataset == "records" and "label ids match no record" in rep.problems[0]["problem"]
    assert "first ['nope']" in rep.problems[0]["problem"]
    (tmp_path / "junk.npz").write_bytes(b"junk" * 10)
    assert "is not a valid .npy/.npz file" in check_data(tmp_path / "junk.npz").problems[0]["problem"]
