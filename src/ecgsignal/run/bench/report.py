"""Run the chosen sections, and report them: summary rows and a plain-text table."""

from __future__ import annotations

import datetime as _dt
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from ecgsignal.errors import ConfigError
from ecgsignal.run.bench.chapters import chapters_section, format_chapters
from ecgsignal.run.bench.config import BenchConfig
from ecgsignal.run.bench.machine import _beats, bench_model, machine_info
from ecgsignal.run.bench.sections import (
    add_ceilings,
    bench_conv,
    bench_efficiency,
    bench_engine,
    bench_randomization,
    bench_threads,
)

__all__ = ["format_table", "load_bench", "load_gpu_bench", "scale_highlights", "machine_line", "machine_table", "ratio_table", "run_bench",
           "summary_rows"]


def run_bench(cfg: BenchConfig, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run the chosen sections of :class:`BenchConfig`; returns the JSON-ready results."""
    from ecgsignal.attribution import make_baselines

    say = progress or (lambda s: None)
    t_start = time.perf_counter()
    res: dict[str, Any] = {
        "schema": 1,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(cfg.device),
        "config": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(cfg).items()},
    }
    need_beats = any(s in cfg.sections for s in ("engine", "efficiency", "randomization",
                                                  "threads", "conv"))
    if need_beats:
        model = bench_model(9, seed=cfg.seed, device=cfg.device)
        x, target = _beats(cfg, max(cfg.n_beats, cfg.n_random_beats))
        train, _ = _beats(cfg, max(cfg.n_baselines, 9), seed_offset=1)
        baselines = make_baselines(train, n=cfg.n_baselines, seed=cfg.seed)
        res["model"] = {"name": "ECGCNN (default config, untrained, seeded)",
                        "parameters": int(sum(p.numel() for p in model.parameters())),
                        "n_samples": int(x.shape[2]), "fs": cfg.fs}
    if "efficiency" in cfg.sections:
        say(f"engine efficiency: {', '.join(cfg.efficiency_methods)} vs the per-row limit")
        res["efficiency"], res["per_row"] = bench_efficiency(
            model, x[:cfg.n_beats], target[:cfg.n_beats], baselines, cfg)
    if "engine" in cfg.sections:
        say(f"engine vs per-beat loop: {len(cfg.methods)} methods × {cfg.n_beats} beats")
        res["engine"] = bench_engine(model, x[:cfg.n_beats], target[:cfg.n_beats], baselines, cfg)
        if "per_row" in res:
            add_ceilings(res["engine"], res["per_row"], x.shape[2], cfg.fs, cfg.n_baselines)
    if "randomization" in cfg.sections:
        say(f"cascading randomisation vs quantus.MPRT: {cfg.n_random_beats} beats")
        res["randomization"] = bench_randomization(
            model, x[:cfg.n_random_beats], target[:cfg.n_random_beats], cfg)
    if "threads" in cfg.sections and torch.device(cfg.device).type == "cpu":
        say(f"torch threads: {torch.get_num_threads()} vs 1")
        n = min(cfg.n_beats, 32)
        res["threads"] = bench_threads(model, x[:n], target[:n], cfg)
    if "conv" in cfg.sections:
        n = min(cfg.n_beats, 128)
        say(f"dilated convolutions as phases vs as they are: {n} beats")
        res["conv"] = bench_conv(model, x[:n], target[:n], cfg)
    if "generator" in cfg.sections:
        from ecgsignal.data.synthetic import benchmark_generator

        say(f"synthetic generator: {cfg.n_generator} beats")
        res["generator"] = benchmark_generator(n=cfg.n_generator, fs=cfg.fs, seed=cfg.seed)
    if "chapters" in cfg.sections:
        res["chapters"] = chapters_section(cfg.timings_profile, cfg.timings_dir)
    res["summary"] = summary_rows(res)
    res["seconds"] = round(time.perf_counter() - t_start, 2)
    return res


_NOTES = {
    "occlusion_loop": "the loop runs all of a beat's windows in one pass (Captum's default, "
                      "one window per pass, would be far slower)",
    "mprt_compute_bound": "both sides call the same engine for every layer; Quantus explains "
                          "L + 2 times, we L + 1, so a many-row method's ratio is bounded by "
                          "about (L + 2)/(L + 1) plus Quantus' per-beat scipy overhead",
}


def summary_rows(res: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per ratio: ``{"section", "item", "value", "unit", "target", "meets", "note"}``."""
    rows: list[dict[str, Any]] = []
    for r in res.get("engine", []):
        note = "" if r["equal"] else f"MAPS DIFFER (max abs diff {r['max_abs_diff']:.2e})"
        if r.get("pass_size_beats"):
            note = (f"{r['pass_size_beats']} of {r['n_beats']} beats differ by a ReLU flipped by "
                    "the rounding of a one-beat pass; run one beat per call, unfolded, as the "
                    "loop runs them, they agree")
        if not r["meets"] and "ceiling" in r and r["ceiling"] < r["target"]:
            note = (note + "; " if note else "") + (
                f"unreachable here: the loop ({r['rows_per_beat']} rows per pass) is already "
                f"{r['loop_efficiency']:.2f}× the per-row limit, so no batching beats it by more "
                f"than {r['ceiling']:.2f}×")
        if r["method"] == "occlusion":
            note = (note + "; " if note else "") + _NOTES["occlusion_loop"]
        rows.append({"section": "engine vs loop", "item": r["method"], "value": r["speedup"],
                     "unit": "×", "target": f">= {r['target']:g}×",
                     "meets": r["meets"] and r["equal"], "note": note,
                     "detail": f"{r['engine_s']:.3f} s vs {r['loop_s']:.3f} s, "
                               f"max diff {r['max_abs_diff']:.1e}"})
    for r in res.get("efficiency", []):
        rows.append({"section": "efficiency", "item": r["method"], "value": r["efficiency"],
                     "unit": "× limit", "target": "<= 1.2", "meets": r["meets"], "note": "",
                     "detail": f"{r['engine_s']:.3f} s for {r['rows']} {r['row_kind']} rows, "
                               f"limit {r['limit_s']:.3f} s"})
    for r in res.get("randomization", []):
        note = "" if r["meets"] or r["method"] == "saliency" else _NOTES["mprt_compute_bound"]
        rows.append({"section": "randomisation vs quantus.MPRT", "item": r["method"],
                     "value": r["speedup"], "unit": "×", "target": ">= 5×",
                     "meets": r["meets"] and r["max_abs_delta"] < 1e-6, "note": note,
                     "detail": f"{r['ours_s']:.3f} s vs {r['quantus_s']:.3f} s, {r['n_layers']} "
                               f"layers, max |Δρ| {r['max_abs_delta']:.1e}"})
    for r in res.get("threads", []):
        note = "" if r["speedup"] >= 0.8 else (
            "threads contend for the cores: set OMP_WAIT_POLICY=PASSIVE or OMP_NUM_THREADS=1")
        rows.append({"section": f"{r['threads']} threads vs 1", "item": r["method"],
                     "value": r["speedup"], "unit": "×", "target": "", "meets": None,
                     "note": note,
                     "detail": f"{r['default_s']:.3f} s vs {r['one_thread_s']:.3f} s "
                               f"({r['n_beats']} beats)"})
    for r in res.get("conv", []):
        rows.append({"section": "dilated conv as phases", "item": r["item"],
                     "value": r["speedup"], "unit": "×", "target": "", "meets": None,
                     "note": "" if r["max_rel_diff"] < 1e-4 else "OUTPUTS DIFFER",
                     "detail": f"{r['phases_s']:.3f} s vs {r['dilated_s']:.3f} s "
                               f"({r['n_beats']} beats), max rel diff {r['max_rel_diff']:.1e}"})
    if "generator" in res:
        g = res["generator"]
        rows.append({"section": "generator", "item": "synthetic beats", "value": g["beats_per_s"],
                     "unit": "beats/s", "target": "", "meets": None, "note": "",
                     "detail": f"{g['n']} beats with masks in {g['seconds']:.2f} s"})
    return rows


def format_table(res: dict[str, Any]) -> str:
    """The summary rows and the machine as a plain-text table."""
    m = res["machine"]
    lines = [f"machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']} "
             f"({m['torch_threads']} threads), device {m['device']} ({m['device_name']}), "
             f"load {m.get('load_average')}"]
    if "model" in res:
        lines.append(f"model: {res['model']['name']}, {res['model']['parameters']:,} parameters, "
                     f"T = {res['model']['n_samples']} at {res['model']['fs']:g} Hz")
    head = f"{'section':<30} {'item':<22} {'value':>10} {'unit':<8} {'target':<9} {'ok':<4} detail"
    lines += [head, "-" * len(head)]
    for r in res["summary"]:
        ok = "" if r["meets"] is None else ("yes" if r["meets"] else "NO")
        v = r["value"]
        val = f"{v:,.0f}" if r["unit"] in ("beats/s",) else f"{v:.2f}"
        lines.append(f"{r['section']:<30} {r['item']:<22} {val:>10} {r['unit']:<8} "
                     f"{r['target']:<9} {ok:<4} {r['detail']}" + (f"  [{r['note']}]"
                                                                  if r["note"] else ""))
    if "chapters" in res:
        lines += ["", format_chapters(res["chapters"])]
    lines.append(f"bench wall time: {res.get('seconds', 0):.1f} s")
    return "\n".join(lines)




_SMALL = dict(n_beats=16, n_random_beats=8, batch_sizes=(8, 32, 128), n_generator=500,
              methods=("saliency", "integrated_gradients", "smoothgrad", "occlusion"),
              efficiency_methods=("integrated_gradients", "occlusion"),
              sections=("engine", "efficiency", "conv", "generator"))


def load_bench(path: str | os.PathLike | None = None, profile: str = "book",
               ) -> tuple[dict[str, Any], str]:
    """A saved ``ecgsignal bench`` run, or a small one measured now (what chapter 12 shows).

    Parameters
    ----------
    path:
        The results JSON (default ``results/bench.json``).
    profile:
        Without a saved run, a small bench is measured (seconds: 4 methods, 16 beats); under
        any profile but ``smoke`` it includes the threads section.

    Returns
    -------
    (results, source)
        The results (:func:`run_bench`'s layout) and a phrase saying where they came from.
    """
    from ecgsignal.run.chapter import results_root

    p = Path(path) if path else results_root() / "bench.json"
    if p.exists():
        try:
            res = json.loads(p.read_text())
        except ValueError as exc:
            raise ConfigError(f"{p} is not a bench results JSON ({exc}); rerun ecgsignal "
                              "bench") from None
        return res, f"{p.name}, written by ecgsignal bench on {res['created'][:10]}"
    small = dict(_SMALL)
    if Path(str(profile)).stem != "smoke":
        small["sections"] = ("engine", "efficiency", "threads", "conv", "generator")
    return (run_bench(BenchConfig(**small)),
            "a small run made while this page was built (no results/bench.json found)")


def machine_line(res: dict[str, Any]) -> str:
    """One line naming the machine of a bench run."""
    m = res["machine"]
    return (f"{m['cpu']}, {m['cores']} cores, torch {m['torch']} with {m['torch_threads']} "
            f"thread(s), device {m['device']} ({m['device_name']})")


def machine_table(res: dict[str, Any]) -> pd.DataFrame:
    """The machine, the model and the bench's wall time as a one-column table."""
    info = {k: (", ".join(map(str, v)) if isinstance(v, list) else
                ", ".join(f"{a}={b}" for a, b in v.items()) if isinstance(v, dict) else v)
            for k, v in res["machine"].items()}
    if "model" in res:
        info["model"] = (f"{res['model']['name']}: {res['model']['parameters']:,} parameters, "
                         f"T = {res['model']['n_samples']} samples at {res['model']['fs']:g} Hz")
    info["bench wall time"] = f"{res.get('seconds', float('nan')):.0f} s"
    return pd.DataFrame({"value": info})


def ratio_table(res: dict[str, Any]) -> pd.DataFrame:
    """The summary rows formatted for display (``ok``: yes / no / blank)."""
    rows = pd.DataFrame(res.get("summary", []))
    if rows.empty:
        return rows
    rows["ok"] = rows["meets"].map({True: "yes", False: "no"}).fillna("")
    rows["value"] = [f"{v:,.0f}" if u == "beats/s" else f"{v:.2f}"
                     for v, u in zip(rows["value"], rows["unit"])]
    return rows[["section", "item", "value", "unit", "target", "ok", "detail", "note"]]


def load_gpu_bench(path: str | os.PathLike | None = None) -> dict[str, Any] | None:
    """The GPU run of ``scripts/gpu_check.sh`` (default ``results/gpu/bench_cuda.json``), or
    ``None`` when there is none (no CUDA machine was available)."""
    from ecgsignal.run.chapter import results_root

    p = Path(path) if path else results_root() / "gpu" / "bench_cuda.json"
    return json.loads(p.read_text()) if p.exists() else None


def scale_highlights(scale: pd.DataFrame) -> dict[str, str]:
    """The first row of a :func:`~ecgsignal.run.scale.scale_table` for the prose
    (``perf_hours_one_model``, ``perf_ms_per_beat``, ``perf_n_methods``; ``"n/a"`` if empty)."""
    if scale.empty:
        return {"perf_hours_one_model": "n/a", "perf_ms_per_beat": "n/a", "perf_n_methods": "0"}
    first = scale.iloc[0]
    return {"perf_hours_one_model": f"{first['hours, 1 model']:.1f}",
            "perf_ms_per_beat": f"{first['ms per beat (all methods)']:.1f}",
            "perf_n_methods": str(int(first["methods"]))}
