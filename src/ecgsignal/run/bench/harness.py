"""The timing harness: interleaved medians, map differences, and the per-row cost of the model."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from ecgsignal.run.bench.config import BenchConfig

__all__ = ["interleaved", "per_row_costs"]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def interleaved(cases: dict[str, Callable[[], Any]], repeats: int,
                warmup: dict[str, Callable[[], Any]] | None = None,
                device: str | torch.device = "cpu") -> dict[str, list[float]]:
    """Time every case ``repeats`` times, interleaved: round ``r`` runs all cases back to back.

    Parameters
    ----------
    cases:
        Name → zero-argument callable (the timed work). Cases compared with each other should be
        adjacent in the dict: each round runs the cases in dict order on even rounds and in
        reverse order on odd rounds, so neither side of a pair always goes first.
    repeats:
        Rounds (≥ 1).
    warmup:
        Name → untimed callable run once before the first round (default: the case itself).
    device:
        CUDA work is synchronised before and after each timed call.

    Returns
    -------
    dict
        Name → ``repeats`` wall times in seconds.
    """
    dev = torch.device(device)
    for name, fn in cases.items():
        (warmup or {}).get(name, fn)()
    times: dict[str, list[float]] = {name: [] for name in cases}
    names = list(cases)
    for r in range(repeats):
        for name in names if r % 2 == 0 else names[::-1]:
            _sync(dev)
            t0 = time.perf_counter()
            cases[name]()
            _sync(dev)
            times[name].append(time.perf_counter() - t0)
    return times


def _median(v: Sequence[float]) -> float:
    return float(statistics.median(v))


def _max_diff(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Largest absolute difference, and the same relative to the reference map's peak."""
    d = float(np.max(np.abs(a.astype(np.float64) - b)))
    peak = float(np.max(np.abs(b)))
    return d, d / peak if peak > 0 else d


def _row_cases(model: nn.Module, x: torch.Tensor, t: torch.Tensor, batch_sizes: Sequence[int],
               min_rows: int) -> tuple[dict[str, Callable[[], Any]], dict[str, int]]:
    """Timed cases ``fwd_bwd@B`` / ``fwd@B``: enough passes of ``B`` rows to cover ``min_rows``."""
    cases: dict[str, Callable[[], Any]] = {}
    rows: dict[str, int] = {}
    n = x.shape[0]
    for b in batch_sizes:
        reps = b // n + 1
        xb = x.repeat(reps, 1, 1)[:b].contiguous()
        tb = t.repeat(reps)[:b]
        passes = max(1, -(-min_rows // b))

        def fwd_bwd(xb: torch.Tensor = xb, tb: torch.Tensor = tb, passes: int = passes) -> None:
            for _ in range(passes):
                xi = xb.detach().requires_grad_(True)
                out = model(xi)
                torch.autograd.grad(out.gather(1, tb[:, None]).sum(), xi)

        def fwd(xb: torch.Tensor = xb, passes: int = passes) -> None:
            with torch.no_grad():
                for _ in range(passes):
                    model(xb)

        cases[f"fwd_bwd@{b}"] = fwd_bwd
        cases[f"fwd@{b}"] = fwd
        rows[f"fwd_bwd@{b}"] = rows[f"fwd@{b}"] = passes * b
    return cases, rows


def per_row_costs(model: nn.Module, x: np.ndarray, target: np.ndarray, cfg: BenchConfig,
                  min_rows: int = 256) -> dict[str, Any]:
    """Seconds per model row, forward+backward (input gradient) and forward-only, per batch size.

    Each case runs enough passes of ``B`` rows to cover ``min_rows`` rows (interleaved,
    median of ``cfg.repeats``).
    """
    from ecgsignal.attribution.guard import frozen_eval

    dev = torch.device(cfg.device)
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(dev)
    tt = torch.from_numpy(np.asarray(target, dtype=np.int64)).to(dev)
    cases, rows = _row_cases(model, xt, tt, cfg.batch_sizes, min_rows)
    with frozen_eval(model), torch.enable_grad():
        t = interleaved(cases, cfg.repeats, device=dev)
    out: dict[str, Any] = {"fwd_bwd": {}, "fwd": {}}
    for name, times in t.items():
        kind, b = name.split("@")
        out[kind][int(b)] = _median(times) / rows[name]
    for kind in ("fwd_bwd", "fwd"):
        b = min(out[kind], key=out[kind].get)
        out[f"best_{kind}"] = {"batch": b, "s_per_row": out[kind][b]}
    return out


