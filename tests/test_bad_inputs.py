"""Bad input never yields silent nonsense, and nothing is left half-written (issue 6, item 1).

Every case feeds one bad input through the public entry point a reader would use and checks
that the error names the problem (the field, the file, the valid choices) and that no file was
written, or that the previous one is intact. Corrupt cache entries are reported and recomputed
(never trusted); a write that fails midway (a full disk, injected through ``os.fsync``) leaves
the previous results as they were.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from bad_inputs_common import (  # noqa: F401  (beats, net, small_data: fixtures found by pytest)
    CLASSES,
    FAST,
    SMALL,
    beats,
    files_under,
    net,
    small_data,
)
from reliability_runs import write_book

from ecgsignal.attribution import attribute, resolve_methods
from ecgsignal.data.arrays import load_arrays
from ecgsignal.data.dataset import ECGDataset
from ecgsignal.data.leads import LEAD_NAMES
from ecgsignal.data.synthetic import SyntheticConfig, make_synthetic
from ecgsignal.errors import ConfigError, DataError, UnknownNameError
from ecgsignal.evaluation.context import ExperimentContext
from ecgsignal.evaluation.experiments import run_experiment
from ecgsignal.io import save_npz
from ecgsignal.models import (
    load_or_train,
    per_class_auroc,
)
from ecgsignal.run.chapter import open_chapter
from ecgsignal.run.cli import main as cli_main
from ecgsignal.run.pipeline import build_dataset
from ecgsignal.run.profiles import load_profile


# ============================================================================ the dataset contract
def _dataset(x: np.ndarray, **kw) -> ECGDataset:
    args = {"signals": x, "labels": np.arange(len(x)) % 3, "class_names": CLASSES, "fs": 100.0}
    args.update(kw)
    return ECGDataset(**args)


def _with(x: np.ndarray, index: tuple, value: float) -> np.ndarray:
    y = x.copy()
    y[index] = value
    return y


BAD_DATASETS = [
    ("NaN sample", lambda x: {"signals": _with(x, (1, 3, 5), np.nan)},
     r"1 NaN and 0 inf values \(first at beat 1, lead aVR, sample 5\)"),
    ("inf sample", lambda x: {"signals": _with(x, (2, 0, 7), -np.inf)},
     r"0 NaN and 1 inf values \(first at beat 2, lead I, sample 7\)"),
    ("11 leads", lambda x: {"signals": x[:, :11]}, r"expected 12 leads on axis 1, got 11"),
    ("13 leads", lambda x: {"signals": np.concatenate([x, x[:, :1]], 1)},
     r"expected 12 leads on axis 1, got 13"),
    ("leads on the last axis", lambda x: {"signals": np.swapaxes(x, 1, 2)},
     r"expected 12 leads on axis 1, got 120"),
    ("lead order reversed", lambda x: {"lead_names": tuple(reversed(LEAD_NAMES))},
     r"lead order \['V6', .* differs from the expected \['I', .*reorder_leads"),
    ("lead names misspelt", lambda x: {"lead_names": ("I", "II", "III", "AVR") + LEAD_NAMES[4:]},
     r"lead order .* differs"),
    ("fs = 0", lambda x: {"fs": 0}, r"sampling rate must be a positive number of Hz, got 0"),
    ("fs < 0", lambda x: {"fs": -250.0}, r"sampling rate .* got -250.0"),
    ("fs NaN", lambda x: {"fs": float("nan")}, r"sampling rate .* got nan"),
    ("fs as text", lambda x: {"fs": "250"}, r"sampling rate .* got '250'"),
    ("fs None", lambda x: {"fs": None}, r"sampling rate .* got None"),
    ("fs True", lambda x: {"fs": True}, r"sampling rate .* got True"),
    ("ragged lengths", lambda x: {"signals": [x[0], x[1][:, :100]], "labels": [0, 1]},
     r"ragged beats: found shapes \[\(12, 100\), \(12, 120\)\]"),
    ("ragged object array", lambda x: {"signals": _object_beats(x), "labels": [0, 1]},
     r"ragged"),
    ("empty dataset", lambda x: {"signals": x[:0], "labels": np.zeros(0, int)},
     r"empty dataset: signals hold 0 beats"),
    ("one beat without batch axis", lambda x: {"signals": x[0]},
     r"must have shape \(n, 12, T\), got \(12, 120\)"),
    ("text signals", lambda x: {"signals": x.astype(str)}, r"must be numeric, got dtype <U"),
    ("boolean signals", lambda x: {"signals": x > 0}, r"must be numeric, got dtype bool"),
    ("complex signals", lambda x: {"signals": x.astype(np.complex64)},
     r"must be real numbers \(mV\), got dtype complex64"),
    ("4 samples per beat", lambda x: {"signals": x[..., :4]}, r"beats have only 4 samples"),
    ("label out of range", lambda x: {"labels": np.array([0, 1, 2, 3, 0, 1])},
     r"labels out of range: found \[3\], valid 0..2 for 3 classes"),
    ("negative label", lambda x: {"labels": np.array([0, 1, 2, -1, 0, 1])},
     r"labels out of range: found \[-1\]"),
    ("fractional label", lambda x: {"labels": np.array([0, 1, 2, 0.5, 0, 1])},
     r"labels must be integer class indices"),
    ("NaN label", lambda x: {"labels": np.array([0, 1, 2, np.nan, 0, 1])},
     r"labels must be integer class indices"),
    ("class names as labels", lambda x: {"labels": np.array(list("ABCABC"))},
     r"labels must be integer class indices .* got dtype <U1; map class names"),
    ("too few labels", lambda x: {"labels": np.array([0, 1, 2, 0, 1])}, r"5 labels for 6 beats"),
    ("multi-label value 2", lambda x: {"labels": np.full((6, 3), 2)},
     r"multi-label array must hold only 0 and 1"),
    ("multi-label wrong width", lambda x: {"labels": np.zeros((6, 4), int)},
     r"multi-label array has shape \(6, 4\), expected \(6, 3\)"),
    ("duplicate class names", lambda x: {"class_names": ("A", "A", "C")},
     r"duplicate class names"),
    ("no class names", lambda x: {"class_names": (), "labels": np.zeros(6, int)},
     r"class_names is empty"),
    ("mask of the wrong shape", lambda x: {"diff_mask": np.zeros((6, 12, 100), bool)},
     r"diff_mask has shape \(6, 12, 100\), expected \(6, 12, 120\)"),
    ("split value 3", lambda x: {"split": np.full(6, 3)}, r"split must be an \(n,\) array"),
]


def _object_beats(x: np.ndarray) -> np.ndarray:
    out = np.empty(2, dtype=object)
    out[0], out[1] = x[0], x[1][:, :100]
    return out


@pytest.mark.parametrize("change, match", [c[1:] for c in BAD_DATASETS],
                         ids=[c[0] for c in BAD_DATASETS])
def test_bad_dataset_is_refused_naming_the_problem(beats, change, match):
    with pytest.raises(DataError, match=match):
        _dataset(beats, **change(beats))


def test_a_valid_dataset_passes(beats):
    ds = _dataset(beats)  # the baseline the bad cases depart from is itself fine
    assert ds.n == 6 and ds.signals.dtype == np.float32 and ds.fs == 100.0


# ============================================================================ attribute()
BAD_ATTRIBUTIONS = [
    ("target = n_classes", {"target": 3}, DataError,
     r"target class 3 out of range: the model has 3 classes \(valid targets 0..2\)"),
    ("negative target", {"target": -1}, DataError, r"target class -1 out of range"),
    ("one beat's target out of range", {"target": np.array([0, 1, 2, 0, 1, 7])}, DataError,
     r"target class 7 out of range"),
    ("float target", {"target": 1.0}, DataError, r"target must be an int"),
    ("target of the wrong length", {"target": np.array([0, 1])}, DataError,
     r"target must be an int or have shape \(6,\), got shape \(2,\)"),
    ("NaN in the beats", {"x": "nan"}, DataError, r"1 NaN and 0 inf"),
    ("11 leads", {"x": "11"}, DataError, r"expected 12 leads on axis 1, got 11"),
    ("one beat without batch axis", {"x": "2d"}, DataError, r"must have shape \(n, 12, T\)"),
    ("no beats", {"x": "empty"}, DataError, r"empty dataset"),
    ("unknown method", {"method": "grad_cam"}, UnknownNameError,
     r"unknown attribution method 'grad_cam'; valid: saliency, .*gradcam"),
    ("method not a string", {"method": None}, ConfigError, r"method must be a registered name"),
    ("fs = 0", {"method": "occlusion", "fs": 0}, ConfigError,
     r"fs must be a positive number of Hz, got 0"),
    ("unknown option", {"method": "integrated_gradients", "steps": 3}, ConfigError,
     r"unknown option\(s\) steps for method 'integrated_gradients'; valid: n_steps"),
    ("baselines missing", {"method": "gradient_shap"}, ConfigError,
     r"gradient_shap needs baselines=\(b, 12, T\)"),
    ("baselines of another length", {"method": "gradient_shap", "baselines": "short"}, DataError,
     r"baselines have 100 samples per lead, beats have 120"),
    ("negative seed", {"method": "smoothgrad", "seed": -1}, ConfigError,
     r"seed must be an integer >= 0, got -1"),
]


@pytest.mark.parametrize("kw, error, match", [c[1:] for c in BAD_ATTRIBUTIONS],
                         ids=[c[0] for c in BAD_ATTRIBUTIONS])
def test_bad_attribution_request_is_refused(net, beats, kw, error, match):
    kw = dict(kw)
    x = {"nan": _with(beats, (1, 3, 5), np.nan), "11": beats[:, :11], "2d": beats[0],
         "empty": beats[:0]}.get(kw.pop("x", None), beats)
    if kw.get("baselines") == "short":
        kw["baselines"] = beats[:, :, :100]
    target = kw.pop("target", 0)
    method = kw.pop("method", "saliency")
    with pytest.raises(error, match=match):
        attribute(net, x, target, method, **kw)


# ============================================================================ AUROC undefined
def test_single_class_labels_make_auroc_undefined():
    rng = np.random.default_rng(0)
    with pytest.raises(DataError, match="AUROC undefined: test split has no negatives of class A"):
        per_class_auroc(np.zeros(8, int), rng.random((8, 3)), CLASSES)
    with pytest.raises(DataError, match="AUROC undefined: test split has no positives of class C"):
        per_class_auroc(np.arange(8) % 2, rng.random((8, 3)), CLASSES)
    with pytest.raises(DataError, match="AUROC undefined: no beats to score"):
        per_class_auroc(np.zeros(0, int), np.zeros((0, 3)), CLASSES)


def test_single_class_dataset_fails_before_training_and_caches_nothing(small_data, tmp_path):
    one = ECGDataset(signals=small_data.signals, labels=np.zeros(small_data.n, int),
                     class_names=("NORM",), fs=small_data.fs).with_split(0)
    with pytest.raises(DataError, match="AUROC undefined: test split has no negatives of class NORM"):
        load_or_train(one, SMALL, FAST, cache_dir=tmp_path / "models", progress=False)
    assert files_under(tmp_path) == []


# ============================================================================ unknown names
def test_unknown_method_experiment_profile_list_the_valid_ones(small_data, tmp_path, capsys):
    with pytest.raises(UnknownNameError, match=r"unknown attribution method 'nope'; valid: saliency"):
        resolve_methods("saliency,nope")
    with pytest.raises(UnknownNameError, match=r"unknown attribution method 'nope'"):
        ExperimentContext(dataset=small_data, methods=("saliency", "nope"), cache_dir=tmp_path)
    ctx = ExperimentContext(dataset=small_data, methods=("saliency",), cache_dir=tmp_path,
                            progress=False)
    with pytest.raises(UnknownNameError, match=r"unknown experiment 'simlarity'; valid: .*similarity"):
        run_experiment("simlarity", ctx, out_dir=tmp_path / "out")
    for name in ("nope", "smoke.yml"):
        with pytest.raises(ConfigError, match=rf"unknown profile '{name}'; valid: smoke, book, full"):
            load_profile(name)
    with pytest.raises(ConfigError, match="unknown profile 'Smoke'"):
        open_chapter("Smoke")
    assert cli_main(["experiment", "simlarity", "--profile", "smoke"]) == 2
    assert "unknown experiment 'simlarity'; valid:" in capsys.readouterr().err
    assert cli_main(["experiment", "similarity", "--profile", "smok"]) == 2
    assert "unknown profile 'smok'" in capsys.readouterr().err
    assert files_under(tmp_path) == []  # nothing trained, nothing saved


# ============================================================================ profile parameters
BAD_PARAMETERS = [
    ("n_per_class", "ten", ConfigError, r"Profile\.n_per_class: expected an integer, got 'ten'"),
    ("n_per_class", 10.0, ConfigError, r"Profile\.n_per_class: expected an integer, got 10\.0"),
    ("n_per_class", True, ConfigError, r"Profile\.n_per_class: expected an integer, got True"),
    ("n_per_class", 0, ConfigError, r"n_per_class .* must be >= 1"),
    ("epochs", 2.5, ConfigError, r"Profile\.epochs: expected an integer, got 2\.5"),
    ("seeds", "0,1", ConfigError, r"Profile\.seeds: expected a list, got str"),
    ("seeds", 0, ConfigError, r"Profile\.seeds: expected a list, got int"),
    ("seeds", [], ConfigError, r"seeds must list at least one model seed"),
    ("seeds", [0, -1], ConfigError, r"seeds must be >= 0, got \[0, -1\]"),
    ("seed", -3, ConfigError, r"seed must be >= 0, got -3"),
    ("data_seed", "0", ConfigError, r"Profile\.data_seed: expected an integer, got '0'"),
    ("fs", "250", ConfigError, r"Profile\.fs: expected a number, got '250'"),
    ("fs", -1.0, ConfigError, r"fs must be a positive number of Hz, got -1\.0"),
    ("fs", float("nan"), ConfigError, r"fs must be a positive number of Hz, got nan"),
    ("roar", "yes", ConfigError, r"Profile\.roar: expected true/false, got 'yes'"),
    ("methods", 3, ConfigError, r"Profile\.methods: expected a string, got 3"),
    ("methods", "saliency,nope", UnknownNameError, r"unknown attribution method 'nope'"),
    ("dataset", "ptb-xl", UnknownNameError, r"unknown dataset 'ptb-xl'; valid: synthetic, ptbxl"),
    ("device", 1, ConfigError, r"Profile\.device: expected a string, got 1"),
    ("fractions", [0.1, "a"], ConfigError, r"Profile\.fractions: expected a number, got 'a'"),
    ("fractions", [0.1, 2.0], ConfigError, r"fractions must lie in \[0, 1\]"),
    ("n_boot", 5, ConfigError, r"n_boot >= 10"),
    ("n_beats", 0, ConfigError, r"n_beats must be at least 9"),
    ("batch_size", 0, ConfigError, r"batch_size must be >= 1, got 0"),
    ("cell_timeout", 0, ConfigError, r"cell_timeout must be >= 1, got 0"),
    ("cube_beats", 0, ConfigError, r"cube_beats must be >= 1, got 0"),
    ("randomization_path_beats_per_class", 0, ConfigError,
     r"randomization_path_beats_per_class must be >= 1 \(or None"),
    ("cube_methods", ["saliency", "nope"], UnknownNameError, r"unknown attribution method 'nope'"),
    ("similarity_measures", ["spearman"], UnknownNameError,
     r"unknown similarity measure 'spearman'; valid: spearman_abs"),
    ("randomization_orders", ["sideways"], ConfigError,
     r"unknown randomization order\(s\) \['sideways'\]; valid: top_down"),
    ("perturbation_replacements", ["blur"], UnknownNameError,
     r"unknown replacement 'blur'; valid: zero"),
    ("n_per_clas", 3, ConfigError, r"Profile: unknown field\(s\) \['n_per_clas'\]; valid: \["),
]


@pytest.mark.parametrize("field, value, error, match", BAD_PARAMETERS,
                         ids=[f"{f}={v!r}" for f, v, *_ in BAD_PARAMETERS])
def test_bad_chapter_parameter_fails_at_open_chapter(field, value, error, match, tmp_path,
                                                     monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(error, match=match):
        open_chapter("smoke", **{field: value})
    with pytest.raises(error, match=match):
        load_profile("smoke", **{field: value})
    assert files_under(tmp_path) == []


def test_none_parameters_keep_the_profile_values():
    smoke = load_profile("smoke")
    assert open_chapter("smoke", n_per_class=None, methods=None).profile == smoke
    assert open_chapter("smoke", n_per_class=3).profile.n_per_class == 3


@pytest.mark.parametrize("text, match", [
    ("- 1\n- 2\n", r"must hold a mapping of Profile fields, got a list"),
    ("just a string\n", r"must hold a mapping of Profile fields, got a str"),
    ("n_beats: [1,\n", r"is not valid YAML"),
    ("n_beats: many\n", r"Profile\.n_beats: expected an integer, got 'many'"),
    ("n_per_class: 2\nspeed: fast\n", r"unknown field\(s\) \['speed'\]"),
], ids=["list", "string", "broken YAML", "wrong type", "unknown field"])
def test_bad_profile_file(tmp_path, text, match):
    path = tmp_path / "mine.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match):
        load_profile(str(path))


@pytest.mark.notebooks
def test_papermill_parameter_of_the_wrong_type_names_chapter_cell_and_field(tmp_path,
                                                                             monkeypatch):
    """Through the real runner: papermill injects n_per_class="ten" into a chapter whose first
    cell calls open_chapter; the run fails naming the chapter, the cell and the field, and no
    executed copy is written where the site reads it."""
    from ecgsignal.run.book import ChapterError, run_book

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    root = write_book(tmp_path / "book", "params", [
        ('profile = "smoke"\nn_per_class = None', ["parameters"]),
        ("from ecgsignal.run.chapter import open_chapter\n"
         "ch = open_chapter(profile, n_per_class=n_per_class)", []),
        ("print('should not run')", []),
    ])
    with pytest.raises(ChapterError) as info:
        run_book("smoke", root=root, progress=False, parameters={"n_per_class": "ten"})
    err = info.value
    assert err.chapter == "params" and err.cell_index == 1 and err.ename == "ConfigError"
    assert "Profile.n_per_class: expected an integer, got 'ten'" in err.evalue
    assert not (root / "book" / "_executed" / "params.ipynb").exists()


# ============================================================================ PTB-XL files
@pytest.fixture(scope="module")
def ptbxl_tree(tmp_path_factory):
    pytest.importorskip("wfdb")
    from fixtures_ptbxl import Rec, write_ptbxl_tree

    root = tmp_path_factory.mktemp("ptbxl")
    recs = [Rec(1, {"NORM": 100.0}, fold=1, kind="NORM", hr=62),
            Rec(2, {"CLBBB": 100.0}, fold=2, kind="LBBB", hr=80),
            Rec(3, {"CRBBB": 100.0}, fold=3, kind="RBBB", hr=60)]
    return write_ptbxl_tree(root, recs, seed=0)


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def test_ptbxl_truncated_record_names_the_file(ptbxl_tree, tmp_path):
    from ecgsignal.data.ptbxl import load_ptbxl

    root = _copy(ptbxl_tree, tmp_path / "ptbxl")
    dat = root / "records100" / "00000" / "00002_lr.dat"
    dat.write_bytes(dat.read_bytes()[: dat.stat().st_size // 3])
    with pytest.raises(DataError, match=r"00002_lr"):
        load_ptbxl(root, source_fs=100, folds=(2,), cache=False)
    ok = load_ptbxl(root, source_fs=100, folds=(1, 2, 3), on_error="skip", cache=False)
    assert ok.meta["record_ids"] == [1, 3] and ok.meta["counts"]["unreadable"] == 1


@pytest.mark.parametrize("damage, match", [
    (lambda db: db.write_bytes(bytes(range(256)) * 8), r"ptbxl_database\.csv"),
    (lambda db: db.write_text(""), r"ptbxl_database\.csv"),
    (lambda db: db.write_text("ecg_id,scp_codes\n1,{}\n"), r"missing column\(s\)"),
    (lambda db: db.unlink(), r"no ptbxl_database\.csv found"),
], ids=["binary junk", "empty", "columns missing", "missing"])
def test_ptbxl_corrupt_database_names_the_file(ptbxl_tree, tmp_path, damage, match):
    from ecgsignal.data.ptbxl import load_ptbxl

    root = _copy(ptbxl_tree, tmp_path / "ptbxl")
    damage(root / "ptbxl_database.csv")
    with pytest.raises(DataError, match=match):
        load_ptbxl(root, source_fs=100, cache=False)


def test_ptbxl_superclasses_need_the_statements_file(ptbxl_tree, tmp_path):
    from ecgsignal.data.ptbxl import load_ptbxl

    root = _copy(ptbxl_tree, tmp_path / "ptbxl")
    (root / "scp_statements.csv").unlink()
    with pytest.raises(DataError, match=r"scp_statements\.csv"):
        load_ptbxl(root, source_fs=100, label_scheme="superclass", cache=False)


def test_ptbxl_without_data_root_says_nothing_is_downloaded():
    with pytest.raises(ConfigError, match="nothing is downloaded"):
        build_dataset(load_profile("smoke", dataset="ptbxl"))


@pytest.mark.parametrize("damage", ["truncate", "no signals array", "NaN beats", "json junk"])
def test_ptbxl_corrupt_cache_entry_is_rebuilt(ptbxl_tree, tmp_path, monkeypatch, damage):
    from ecgsignal.data.ptbxl import load_ptbxl

    monkeypatch.setenv("ECGSIGNAL_CACHE", str(tmp_path / "cache"))
    first = load_ptbxl(ptbxl_tree, source_fs=100)
    npz = Path(first.meta["cache"].get("path") or
               next((tmp_path / "cache" / "ptbxl").glob("*.npz")))
    js = npz.with_suffix(".json")
    if damage == "truncate":
        npz.write_bytes(npz.read_bytes()[:100])
    elif damage == "no signals array":
        save_npz(npz, {"labels": first.labels, "split": first.split})
    elif damage == "NaN beats":
        save_npz(npz, {"signals": np.full_like(first.signals, np.nan), "labels": first.labels,
                       "split": first.split})
    else:
        js.write_text("{oops")
    with pytest.warns(UserWarning, match=r"unusable cache entry .*ptbxl-.*\.npz.*rebuilding"):
        again = load_ptbxl(ptbxl_tree, source_fs=100)
    assert again.meta["cache"]["hit"] is False  # rebuilt, not trusted
    np.testing.assert_array_equal(again.signals, first.signals)
    assert load_ptbxl(ptbxl_tree, source_fs=100).meta["cache"]["hit"] is True  # repaired


# ============================================================================ users' arrays, fs
def test_arrays_fs_conflict_and_pipeline_rates(small_data, tmp_path, monkeypatch):
    """A 500 Hz file must reach the models at the profile's 250 Hz: the file's own rate is the
    source rate, the profile's is the target (this used to be mixed up, giving 500 Hz beats
    labelled 250 Hz); a rate passed that contradicts the file's is refused."""
    ds500 = make_synthetic(SyntheticConfig(n=45, fs=500.0, seed=0))
    path = tmp_path / "beats.npz"
    np.savez(path, signals=ds500.signals, lead_names=np.array(LEAD_NAMES), fs=np.array(500.0),
             labels=ds500.labels, class_names=np.array(ds500.class_names))
    with pytest.raises(DataError, match=r"file says its beats are sampled at 500 Hz but fs=250"):
        load_arrays(path, fs=250)
    pd.DataFrame({"label": [ds500.class_names[i] for i in ds500.labels]}).to_csv(
        tmp_path / "labels.csv", index=False)
    monkeypatch.chdir(tmp_path)
    for labels in (None, str(tmp_path / "labels.csv")):
        ds = build_dataset(load_profile("smoke", dataset="arrays", data_root=str(path),
                                        labels=labels))
        assert ds.fs == 250.0 and ds.n_samples == 300  # resampled, not relabelled
    np.save(tmp_path / "nofs.npy", ds500.signals)
    with pytest.raises(ConfigError, match=r"nofs\.npy: the sampling rate is unknown"):
        load_arrays(tmp_path / "nofs.npy", tmp_path / "labels.csv", lead_order=LEAD_NAMES)
    with pytest.raises(DataError, match=r"input sampling rate must be a positive number of Hz"):
        load_arrays(tmp_path / "nofs.npy", tmp_path / "labels.csv", lead_order=LEAD_NAMES, fs=0)
    with pytest.raises(DataError, match=r"lead\(s\) .* appear more than once"):
        load_arrays(path, lead_order=["I"] * 12)
    with pytest.raises(ConfigError, match=r"SyntheticConfig\.fs must be at least 50 Hz"):
        SyntheticConfig(fs=20.0)
