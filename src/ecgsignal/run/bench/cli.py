"""``ecgsignal bench``'s command-line glue: flags → :class:`BenchConfig`, run, print, save."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from ecgsignal.errors import ConfigError
from ecgsignal.run.bench.chapters import chapters_section
from ecgsignal.run.bench.config import BenchConfig
from ecgsignal.run.bench.report import format_table, run_bench

__all__ = ["config_from_args", "main"]


def _default_out() -> Path:
    from ecgsignal.run.chapter import results_root

    return results_root() / "bench.json"


def config_from_args(args: argparse.Namespace) -> BenchConfig:
    """A :class:`BenchConfig` from the CLI flags (``--quick``, ``--device``, …)."""
    cfg = BenchConfig.quick() if getattr(args, "quick", False) else BenchConfig()
    over: dict[str, Any] = {"device": getattr(args, "device", None) or "cpu"}
    for flag, name in (("beats", "n_beats"), ("repeats", "repeats")):
        v = getattr(args, flag, None)
        if v is not None:
            over[name] = int(v)
    sections = getattr(args, "sections", None)
    if sections:
        over["sections"] = tuple(s.strip() for s in sections.split(",") if s.strip())
    profile = getattr(args, "profile", None)
    if profile:
        over["timings_profile"] = str(profile)
    methods = getattr(args, "methods", None)
    if methods:
        over["methods"] = tuple(s.strip() for s in methods.split(",") if s.strip())
    return replace(cfg, **over)


def main(args: argparse.Namespace) -> int:
    """Entry point of ``ecgsignal bench``: run, print the table (or JSON), write the JSON."""
    from ecgsignal.io import write_json

    threads = getattr(args, "threads", None)
    if threads is not None:
        if threads < 1:
            raise ConfigError(f"--threads must be >= 1, got {threads}")
        torch.set_num_threads(int(threads))
    cfg = config_from_args(args)
    if getattr(args, "sections", None) and "chapters" in cfg.sections:
        # asked for by name: no logs is an error, before any other section runs
        check = chapters_section(cfg.timings_profile, cfg.timings_dir)
        if "error" in check:
            raise ConfigError(check["error"])
    as_json = bool(getattr(args, "json", False))
    say = None if as_json else (lambda s: print(f"[bench] {s}", flush=True))
    res = run_bench(cfg, progress=say)
    out = Path(args.out) if getattr(args, "out", None) else _default_out()
    write_json(out, res)
    if as_json:
        print(json.dumps(res, indent=1, default=float))
    else:
        print(format_table(res))
        print(f"results: {out}")
    return 0

