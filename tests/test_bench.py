"""`ecgsignal bench`: the per-beat reference loop, the interleaved timer, the report and the CLI.

Speed is never asserted here (issue 7: speed is measured by the benchmark, not by timed tests);
what is tested is that each comparison computes the same maps on both sides and that the numbers
it reports are derived correctly from what it measured.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from ecgsignal.attribution import attribute, make_baselines
from ecgsignal.errors import ConfigError, UnknownNameError
from ecgsignal.run.bench import (
    ENGINE_METHODS,
    SECTIONS,
    TOLERANCE,
    BenchConfig,
    _beats,
    add_ceilings,
    bench_model,
    chapter_profile,
    chapter_times,
    chapters_section,
    compare_devices,
    format_chapters,
    format_table,
    interleaved,
    method_profile,
    naive_attribute,
    profile_highlights,
    run_bench,
    summary_rows,
)
from ecgsignal.run.cli import main


@pytest.fixture(scope="module")
def setup():
    cfg = BenchConfig(n_beats=4)
    x, t = _beats(cfg, 4)
    train, _ = _beats(cfg, 12, seed_offset=1)
    return bench_model(9, seed=0), x, t, make_baselines(train, n=4, seed=0)


@pytest.mark.parametrize("method", ENGINE_METHODS)
def test_naive_loop_gives_the_engine_maps(setup, method):
    """The per-beat Captum loop and the batched engine agree for all 12 paper methods."""
    model, x, t, base = setup
    loop = naive_attribute(model, x, t, method, seed=3, baselines=base)
    eng = attribute(model, x, t, method, seed=3, baselines=base)
    assert loop.shape == eng.shape == x.shape and loop.dtype == np.float32
    peak = np.abs(eng).max()
    assert peak > 0
    assert np.abs(loop - eng).max() <= TOLERANCE * max(1.0, peak)
    if method in ("smoothgrad", "gradient_shap"):  # the loop really draws the engine's noise
        other = naive_attribute(model, x, t, method, seed=4, baselines=base)
        assert np.abs(other - eng).max() > 1e3 * TOLERANCE * peak


def test_naive_loops_are_a_registry_of_the_paper_methods():
    from ecgsignal.run.bench import NAIVE_LOOPS, per_beat

    assert set(NAIVE_LOOPS) == set(ENGINE_METHODS)
    with pytest.raises(ConfigError, match="already registered"):
        per_beat("saliency")(lambda call: call.x)


def test_naive_loop_rejects_what_it_cannot_do(setup):
    model, x, t, _ = setup
    with pytest.raises(ConfigError, match="no naive loop"):
        naive_attribute(model, x, t, "lime")
    with pytest.raises(ConfigError, match="baselines"):
        naive_attribute(model, x, t, "gradient_shap")


def test_bench_model_is_seeded_and_leaves_global_rng_alone():
    import torch

    state = torch.random.get_rng_state()
    a, b, c = bench_model(seed=1), bench_model(seed=1), bench_model(seed=2)
    assert torch.equal(torch.random.get_rng_state(), state)
    wa, wb, wc = (next(m.parameters()).detach() for m in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)
    assert sum(p.numel() for p in a.parameters()) == 61_993


def test_interleaved_warms_up_then_alternates():
    calls: list[str] = []
    cases = {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}
    warm = {"a": lambda: calls.append("wa")}
    t = interleaved(cases, 3, warmup=warm)
    # warm-up once each (b has none given: itself), then a b | b a | a b
    assert calls == ["wa", "b", "a", "b", "b", "a", "a", "b"]
    assert set(t) == {"a", "b"} and all(len(v) == 3 and min(v) >= 0 for v in t.values())


@pytest.mark.parametrize("kw, match", [
    (dict(repeats=2), "repeats"),
    (dict(n_beats=0), "n_beats"),
    (dict(sections=("engine", "nope")), "unknown bench section"),
    (dict(batch_sizes=()), "batch_sizes"),
])
def test_config_errors_name_the_problem(kw, match):
    with pytest.raises(ConfigError, match=match):
        BenchConfig(**kw)


def test_config_rejects_unknown_method():
    with pytest.raises(UnknownNameError, match="saliency"):
        BenchConfig(methods=("nosuch",))


def test_quick_config_is_smaller():
    q, full = BenchConfig.quick(), BenchConfig()
    assert q.n_beats < full.n_beats and q.n_random_beats < full.n_random_beats
    assert q.repeats >= 3 and set(q.sections) == set(SECTIONS)


def test_ceilings_and_notes_explain_an_unreachable_target():
    per_row = {"best_fwd_bwd": {"batch": 128, "s_per_row": 0.001},
               "best_fwd": {"batch": 32, "s_per_row": 0.0005}}
    rows = [{"method": "integrated_gradients", "n_beats": 10, "engine_s": 0.55, "loop_s": 0.6,
             "speedup": 0.6 / 0.55, "equal": True, "target": 2.0, "meets": False,
             "max_abs_diff": 0.0},
            {"method": "occlusion", "n_beats": 10, "engine_s": 0.5, "loop_s": 0.7,
             "speedup": 1.4, "equal": True, "target": 1.0, "meets": True, "max_abs_diff": 0.0}]
    add_ceilings(rows, per_row, n_samples=300, fs=250.0, n_baselines=32)
    ig, occ = rows
    assert ig["rows_per_beat"] == 50 and ig["limit_s"] == pytest.approx(0.5)
    assert ig["ceiling"] == pytest.approx(1.2) and ig["engine_efficiency"] == pytest.approx(1.1)
    assert occ["rows_per_beat"] == 361 and occ["limit_s"] == pytest.approx(10 * 361 * 0.0005)
    res = {"machine": {}, "engine": rows}
    notes = {r["item"]: r["note"] for r in summary_rows(res)}
    assert "unreachable" in notes["integrated_gradients"] and "1.20×" in notes["integrated_gradients"]
    assert "unreachable" not in notes["occlusion"]


def _fake_notebook(path, seconds, profile="smoke"):
    meta = {"papermill": {"duration": seconds, "parameters": {"profile": profile},
                          "end_time": "2026-01-01T00:00:00"}} if seconds is not None else {}
    path.write_text(json.dumps({"cells": [], "metadata": meta, "nbformat": 4,
                                "nbformat_minor": 5}))


def test_chapter_times_read_papermill_metadata(tmp_path):
    _fake_notebook(tmp_path / "02_models.ipynb", 12.5, "book")
    _fake_notebook(tmp_path / "01_data.ipynb", 3.0)
    _fake_notebook(tmp_path / "99_unrun.ipynb", None)
    (tmp_path / "broken.ipynb").write_text("{not json")
    got = chapter_times(tmp_path)
    assert [c["chapter"] for c in got["chapters"]] == ["01_data", "02_models"]
    assert got["chapters"][1]["seconds"] == 12.5 and got["chapters"][1]["profile"] == "book"
    assert got["total_s"] == pytest.approx(15.5)
    assert chapter_times(tmp_path / "missing")["chapters"] == []


def _fake_logs(d, chapters):
    """Timing logs as the book runner writes them: stage records, then the chapter record."""
    from ecgsignal.timing import append_record

    for ch, (wall, cells, stages) in chapters.items():
        recs = [{"kind": k, "name": n, "seconds": s, "chapter": ch} for k, n, s in stages]
        if wall is not None:
            recs.append({"kind": "chapter", "name": ch, "chapter": ch, "seconds": wall,
                         "cells": cells})
        append_record(d / f"{ch}.jsonl", *recs)


def test_chapter_profile_splits_wall_time_into_kernel_stages_and_other(tmp_path):
    _fake_logs(tmp_path, {
        "02_models": (30.0, 26.0, [("data", "", 1.0), ("training", "seed0", 20.0)]),
        "04_similarity": (50.0, 45.0, [("attribution", "saliency", 2.0),
                                       ("attribution", "integrated_gradients", 10.0),
                                       ("experiment", "similarity", 8.0),
                                       ("bootstrap", "", 5.0), ("attribution", "saliency", 1.0)]),
        "12_performance": (None, None, [("attribution", "saliency", 9.0)]),  # still running
    })
    (tmp_path / "04_similarity.jsonl").open("a").write("{truncated\n")
    df = chapter_profile(directory=tmp_path)
    assert list(df.index) == ["02_models", "04_similarity", "total"]
    m = df.loc["04_similarity"]
    assert m["wall"] == 50.0 and m["kernel"] == pytest.approx(5.0)
    assert m["attribution"] == pytest.approx(13.0) and m["bootstrap"] == 5.0
    assert m["other"] == pytest.approx(45.0 - 13.0 - 8.0 - 5.0)
    for ch in ("02_models", "04_similarity"):  # the parts add up to the wall time
        r = df.loc[ch]
        assert r.drop("wall").sum() == pytest.approx(r["wall"])
    assert df.loc["total", "wall"] == 80.0 and df.loc["total", "training"] == 20.0
    meth = method_profile(directory=tmp_path)
    assert list(meth.index) == ["integrated_gradients", "saliency"]  # 12's 9 s not finished
    assert meth.loc["saliency", "seconds"] == pytest.approx(3.0)
    assert meth.loc["saliency", "calls"] == 2 and meth.loc["saliency", "chapters"] == 1
    section = chapters_section(directory=tmp_path)
    text = format_chapters(section)
    assert "04_similarity" in text and "integrated_gradients" in text and "total" in text
    hi = profile_highlights(section)
    assert hi["perf_book_chapters"] == "2" and hi["perf_book_minutes"] == f"{80 / 60:.1f}"
    assert hi["perf_book_top"] == "04_similarity" and hi["perf_book_top_share"] == "62"
    assert hi["perf_book_training_share"] == "25" and hi["perf_book_top_method"] == \
        "integrated_gradients"
    none = profile_highlights(chapters_section(directory=tmp_path / "none"))
    assert none["perf_book_minutes"] == "n/a" and "make book" in none["perf_book_note"]


def test_chapter_profile_without_logs_says_how_to_make_them(tmp_path, capsys):
    with pytest.raises(ConfigError, match="make book"):
        chapter_profile(directory=tmp_path / "none")
    _fake_logs(tmp_path, {"01_data": (None, None, [("data", "", 1.0)])})
    with pytest.raises(ConfigError, match="ecgsignal book run"):
        chapter_profile(directory=tmp_path)
    assert main(["bench", "--sections", "chapters", "--profile", "no_such_profile",
                 "--out", str(tmp_path / "b.json")]) == 2
    assert "ecgsignal book run --profile no_such_profile" in capsys.readouterr().err


def test_load_bench_reads_a_saved_run_and_formats_it(tmp_path):
    from ecgsignal.run.bench import load_bench, load_gpu_bench, machine_table, ratio_table

    small = BenchConfig(sections=("generator",), n_generator=20)
    saved = run_bench(small)
    path = tmp_path / "bench.json"
    path.write_text(json.dumps(saved))
    res, source = load_bench(path)
    assert res["generator"]["n"] == 20 and "bench.json" in source
    assert list(ratio_table(res)["item"]) == ["synthetic beats"]
    assert "torch_threads" in machine_table(res).index
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ConfigError, match="not a bench results JSON"):
        load_bench(tmp_path / "bad.json")
    assert load_gpu_bench(tmp_path / "none.json") is None


def test_compare_devices_cpu_against_cpu():
    rows = compare_devices("cpu", "cpu", methods=["saliency", "smoothgrad"], n_beats=3)
    assert [r["method"] for r in rows] == ["saliency", "smoothgrad"]
    assert all(r["ok"] and r["max_abs_diff"] == 0.0 for r in rows)


@pytest.mark.slow  # 14-28 s (measured); make test runs it, test-fast skips it
def test_run_bench_every_section_on_a_few_beats(tmp_path):
    """All sections end to end, tiny: both sides of each ratio computed the same thing."""
    _fake_logs(tmp_path, {"04_similarity": (42.0, 40.0, [("attribution", "saliency", 3.0)])})
    cfg = BenchConfig(n_beats=6, n_random_beats=3, warmup_beats=2,
                      methods=("saliency", "smoothgrad", "occlusion"),
                      efficiency_methods=("integrated_gradients", "occlusion"),
                      random_methods=("saliency",), batch_sizes=(1, 8), n_baselines=4,
                      n_generator=30, timings_dir=str(tmp_path))
    res = run_bench(cfg)
    assert res["model"]["parameters"] == 61_993 and res["machine"]["torch_threads"] >= 1
    assert [r["method"] for r in res["engine"]] == ["saliency", "smoothgrad", "occlusion"]
    for r in res["engine"]:
        assert r["equal"] and r["engine_s"] > 0 and r["loop_s"] > 0
        assert len(r["engine_times"]) == len(r["loop_times"]) == 3
        assert r["speedup"] == pytest.approx(r["loop_s"] / r["engine_s"])
        assert r["ceiling"] == pytest.approx(r["loop_s"] / r["limit_s"])
    eff = {r["method"]: r for r in res["efficiency"]}
    assert eff["integrated_gradients"]["rows"] == 6 * 50 and eff["occlusion"]["rows"] == 6 * 361
    assert eff["occlusion"]["row_kind"] == "fwd" and eff["integrated_gradients"]["row_kind"] == \
        "fwd_bwd"
    for r in eff.values():
        best = res["per_row"][f"best_{r['row_kind']}"]["s_per_row"]
        assert r["limit_s"] == pytest.approx(r["rows"] * best)
        assert r["efficiency"] == pytest.approx(r["engine_s"] / r["limit_s"])
    assert set(res["per_row"]["fwd_bwd"]) == {1, 8}
    (rnd,) = res["randomization"]
    assert rnd["n_layers"] == 21 and rnd["max_abs_delta"] < 1e-6  # Quantus' and our correlations
    assert {r["method"] for r in res["threads"]} == {"saliency", "integrated_gradients"}
    assert [r["item"] for r in res["conv"]] == ["forward", "training step"]
    for r in res["conv"]:  # the same logits and gradients up to float rounding, both timed
        assert r["n_beats"] == 6 and r["max_rel_diff"] < 1e-4
        assert r["phases_s"] > 0 and r["dilated_s"] > 0
        assert r["speedup"] == pytest.approx(r["dilated_s"] / r["phases_s"])
    assert res["generator"]["n"] == 30 and res["generator"]["beats_per_s"] > 0
    assert res["chapters"]["stages"][0] == {"chapter": "04_similarity", "wall": 42.0,
                                            "kernel": 2.0, "data": 0.0, "training": 0.0,
                                            "attribution": 3.0, "experiment": 0.0,
                                            "bootstrap": 0.0, "waiting": 0.0,
                                            "other": 37.0}
    table = format_table(res)
    for item in ("saliency", "occlusion", "integrated_gradients", "04_similarity", "beats/s",
                 "61,993 parameters", "training step"):
        assert item in table
    json.dumps(res)  # JSON-ready as it is


def test_cli_writes_json_and_reports_errors(tmp_path, capsys):
    out = tmp_path / "b.json"
    code = main(["bench", "--quick", "--sections", "generator", "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "synthetic beats" in printed and str(out) in printed
    res = json.loads(out.read_text())
    assert res["generator"]["n"] == 1000 and res["config"]["sections"] == ["generator"]
    assert main(["bench", "--json", "--quick", "--sections", "generator",
                 "--out", str(out)]) == 0
    assert json.loads(capsys.readouterr().out)["generator"]["n"] == 1000
    assert main(["bench", "--sections", "engine,nope", "--out", str(out)]) == 2
    assert "unknown bench section" in capsys.readouterr().err
    assert main(["bench", "--repeats", "1", "--out", str(out)]) == 2
    assert "repeats" in capsys.readouterr().err


def test_pass_size_flips_explains_a_beat_that_differs_only_through_its_pass():
    """A beat whose engine map differs from the loop's is explained again one beat per call,
    unfolded: if that reproduces the loop's map, the difference was the pass's rounding (a
    flipped ReLU), counted; a loop map that nothing reproduces, or too many differing beats,
    stay a difference (None)."""
    from ecgsignal.run.bench.sections import MAX_FLIP_SHARE, pass_size_flips

    cfg = BenchConfig()
    model = bench_model(9, seed=0)
    x, t = _beats(cfg, 8)
    kw = dict(seed=0, baselines=None, fs=cfg.fs, device="cpu")
    loop = naive_attribute(model, x, t, "saliency", seed=0, fs=cfg.fs)
    per_call = np.concatenate([attribute(model, x[i:i + 1], t[i:i + 1], "saliency", fold_bn=False,
                                         seed=0, fs=cfg.fs) for i in range(8)])
    np.testing.assert_allclose(per_call, loop, rtol=0, atol=1e-5 * np.abs(loop).max())
    flipped = loop.copy()
    flipped[3, 2, 40:60] += 0.5 * np.abs(loop).max()  # the engine's beat 3 "flipped"
    assert pass_size_flips(model, x, t, "saliency", kw, flipped, loop) == 1
    assert pass_size_flips(model, x, t, "saliency", kw, loop, flipped) is None  # loop is off
    assert MAX_FLIP_SHARE * 8 < 2
    two = flipped.copy()
    two[5] += 1.0
    assert pass_size_flips(model, x, t, "saliency", kw, two, loop) is None  # too many beats
