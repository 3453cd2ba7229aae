"""The measuring sections: engine vs loop, efficiency, randomisation vs Quantus, threads."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from ecgsignal.run.bench.config import TOLERANCE, BenchConfig
from ecgsignal.run.bench.harness import _max_diff, _median, _row_cases, interleaved
from ecgsignal.run.bench.naive import naive_attribute

__all__ = ["MAX_FLIP_SHARE", "add_ceilings", "bench_conv", "bench_efficiency", "bench_engine",
           "bench_randomization", "bench_threads", "pass_size_flips"]


def bench_engine(model: nn.Module, x: np.ndarray, target: np.ndarray, baselines: np.ndarray,
                 cfg: BenchConfig) -> list[dict[str, Any]]:
    """Engine vs per-beat loop, per method: medians, speed-up and agreement of the maps.

    Returns
    -------
    list of dict
        One row per method: ``engine_s``, ``loop_s`` (medians), ``speedup`` = loop / engine,
        ``max_abs_diff``, ``max_rel_diff``, ``equal`` (within :data:`TOLERANCE`, or every
        differing beat explained by :func:`pass_size_flips`), ``pass_size_beats`` (how many
        were), ``target``,
        ``meets``.
    """
    return [_engine_row(model, x, target, baselines, cfg, m) for m in cfg.methods]


def _engine_row(model: nn.Module, x: np.ndarray, target: np.ndarray, baselines: np.ndarray,
                cfg: BenchConfig, m: str) -> dict[str, Any]:
    from ecgsignal.attribution import METHODS, attribute

    dev = torch.device(cfg.device)
    k = min(cfg.warmup_beats, x.shape[0])
    kw: dict[str, Any] = dict(seed=cfg.seed, baselines=baselines, fs=cfg.fs, device=dev)
    results: dict[str, np.ndarray] = {}

    def eng(n: int | None = None) -> None:
        results["engine"] = attribute(model, x[:n], target[:n], m, **kw)

    def loop(n: int | None = None) -> None:
        results["loop"] = naive_attribute(model, x[:n], target[:n], m, **kw)

    t = interleaved({"engine": eng, "loop": loop}, cfg.repeats,
                    warmup={"engine": lambda: eng(k), "loop": lambda: loop(k)}, device=dev)
    d_abs, d_rel = _max_diff(results["engine"], results["loop"])
    equal = min(d_abs, d_rel) <= TOLERANCE
    flips = 0 if equal else pass_size_flips(model, x, target, m, kw, results["engine"],
                                            results["loop"])
    spec = METHODS.get(m)
    gradient = spec.kind == "gradient"
    target_x = (20.0 if dev.type == "cuda" else 2.0) if gradient else 1.0
    e, lp = _median(t["engine"]), _median(t["loop"])
    return {
        "method": m, "kind": spec.kind, "n_beats": int(x.shape[0]),
        "engine_s": e, "loop_s": lp, "speedup": lp / e,
        "engine_times": t["engine"], "loop_times": t["loop"],
        "max_abs_diff": d_abs, "max_rel_diff": d_rel,
        "equal": bool(equal or flips), "pass_size_beats": int(flips or 0),
        "target": target_x, "meets": bool(lp / e >= target_x),
    }


MAX_FLIP_SHARE = 0.02
"""Most beats (share) whose difference :func:`pass_size_flips` may explain."""


def pass_size_flips(model: nn.Module, x: np.ndarray, target: np.ndarray, method: str,
                    kw: dict[str, Any], engine: np.ndarray, loop: np.ndarray) -> int | None:
    """How many beats differ between ``engine`` and ``loop`` maps only through the rounding of
    a one-beat pass, or ``None`` if that does not explain the difference.

    A ReLU network's input gradient jumps where a unit sits at its kink: a pre-activation that
    rounds to just above 0 in a pass of one beat and just below in a pass of many flips the unit,
    and the beat's map changes in the unit's receptive field (on an AVX2 CPU oneDNN takes other
    kernels for a one-row pass; measured: 1 of 256 beats, 1.6e-2 of the peak, for Saliency on
    the bench's network). The beats whose maps differ beyond :data:`TOLERANCE` (at most
    :data:`MAX_FLIP_SHARE` of them) are explained again by the engine one beat per call,
    without BatchNorm folding, as the loop runs them: if those maps then agree with the loop's,
    the engine and the loop compute the same function and the count is returned.
    """
    from ecgsignal.attribution import attribute

    n = engine.shape[0]
    diff = np.abs(engine.astype(np.float64) - loop).reshape(n, -1).max(axis=1)
    peak = float(np.max(np.abs(loop)))
    bad = np.flatnonzero(diff > max(TOLERANCE, TOLERANCE * peak))  # as min(abs, rel) > tol
    if not bad.size or bad.size > max(1, int(MAX_FLIP_SHARE * n)):
        return None
    opts = {**kw, "fold_bn": False}
    again = np.concatenate([attribute(model, x[i:i + 1], target[i:i + 1], method,
                                      beat_offset=int(i), **opts) for i in bad])
    d_abs, d_rel = _max_diff(again, loop[bad])
    return int(bad.size) if min(d_abs, d_rel) <= TOLERANCE else None


def add_ceilings(rows: list[dict[str, Any]], per_row: dict[str, Any], n_samples: int,
                 fs: float, n_baselines: int) -> None:
    """Add the per-row limit to engine-vs-loop rows (in place).

    ``limit_s`` = rows the method needs × the best per-row cost (forward+backward, or
    forward-only for perturbation methods); ``loop_efficiency`` = loop time ÷ limit: the largest
    speed-up any batching can give over that loop (``ceiling``). A loop that already runs a
    beat's many rows in one pass (IG, SmoothGrad, SHAP) sits close to the limit.
    """
    from ecgsignal.attribution import METHODS

    for r in rows:
        spec = METHODS.get(r["method"])
        per_beat = int(spec.rows_per_beat(spec.options(), n_samples, fs, n_baselines))
        kind = "fwd" if spec.kind == "perturbation" else "fwd_bwd"
        limit = per_beat * r["n_beats"] * per_row[f"best_{kind}"]["s_per_row"]
        r.update(rows_per_beat=per_beat, limit_s=limit, engine_efficiency=r["engine_s"] / limit,
                 loop_efficiency=r["loop_s"] / limit, ceiling=r["loop_s"] / limit)


def bench_efficiency(model: nn.Module, x: np.ndarray, target: np.ndarray, baselines: np.ndarray,
                     cfg: BenchConfig) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Engine time ÷ (rows × best per-row cost), the engine calls and the per-row probes
    interleaved in the same rounds.

    Returns
    -------
    (rows, per_row)
        One row per method (``rows`` needed, ``engine_s``, ``limit_s``, ``efficiency``,
        ``target`` 1.2, ``meets``) and the per-row costs (:func:`per_row_costs`'s layout).
    """
    from ecgsignal.attribution import METHODS, attribute
    from ecgsignal.attribution.guard import frozen_eval

    dev = torch.device(cfg.device)
    n, _, n_samples = x.shape
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(dev)
    tt = torch.from_numpy(np.asarray(target, dtype=np.int64)).to(dev)
    probe, probe_rows = _row_cases(model, xt, tt, cfg.batch_sizes, min_rows=256)
    engine_cases: dict[str, Callable[[], Any]] = {}
    warm: dict[str, Callable[[], Any]] = {}
    need: dict[str, tuple[int, str]] = {}
    k = min(cfg.warmup_beats, n)
    for m in cfg.efficiency_methods:
        spec = METHODS.get(m)
        per_beat = int(spec.rows_per_beat(spec.options(), n_samples, cfg.fs,
                                          baselines.shape[0]))
        need[m] = (per_beat * n, "fwd" if spec.kind == "perturbation" else "fwd_bwd")

        def eng(n_: int | None = None, m: str = m) -> None:
            attribute(model, x[:n_], target[:n_], m, seed=cfg.seed, baselines=baselines,
                      fs=cfg.fs, device=dev)

        engine_cases[m] = eng
        warm[m] = lambda eng=eng: eng(k)

    def probes_frozen(fn: Callable[[], Any]) -> Callable[[], Any]:
        def run() -> None:
            with frozen_eval(model), torch.enable_grad():
                fn()
        return run

    cases = {**engine_cases, **{name: probes_frozen(fn) for name, fn in probe.items()}}
    t = interleaved(cases, cfg.repeats, warmup=warm, device=dev)
    per_row: dict[str, Any] = {"fwd_bwd": {}, "fwd": {}}
    for name in probe:
        kind, b = name.split("@")
        per_row[kind][int(b)] = _median(t[name]) / probe_rows[name]
    for kind in ("fwd_bwd", "fwd"):
        b = min(per_row[kind], key=per_row[kind].get)
        per_row[f"best_{kind}"] = {"batch": b, "s_per_row": per_row[kind][b]}
    rows = []
    for m in cfg.efficiency_methods:
        n_rows, kind = need[m]
        limit = n_rows * per_row[f"best_{kind}"]["s_per_row"]
        e = _median(t[m])
        rows.append({"method": m, "rows": n_rows, "row_kind": kind, "engine_s": e,
                     "engine_times": t[m], "limit_s": limit, "efficiency": e / limit,
                     "target": 1.2, "meets": bool(e / limit <= 1.2)})
    return rows, per_row


def bench_randomization(model: nn.Module, x: np.ndarray, target: np.ndarray,
                        cfg: BenchConfig) -> list[dict[str, Any]]:
    """Quantus' MPRT vs our cascade (same layers, same draws), per method, top-down.

    Returns
    -------
    list of dict
        One row per method: ``quantus_s``, ``ours_s``, ``speedup``, ``n_layers``,
        ``max_abs_delta`` (largest per-beat, per-layer difference of the Spearman correlations),
        ``target`` 5, ``meets``.
    """
    dev = torch.device(cfg.device)
    if dev.type != "cpu":
        model = copy.deepcopy(model).to("cpu")  # Quantus' torch wrapper is driven on the CPU here
    return [_random_row(model, x, target, cfg, m) for m in cfg.random_methods]


def _random_row(model: nn.Module, x: np.ndarray, target: np.ndarray, cfg: BenchConfig,
                m: str) -> dict[str, Any]:
    from ecgsignal.evaluation.quantus_check import (
        make_explain,
        our_mprt_scores,
        quantus_mprt_scores,
    )

    explain = make_explain(m, seed=cfg.seed, fs=cfg.fs)
    res: dict[str, dict[str, np.ndarray]] = {}
    k = min(cfg.warmup_beats, x.shape[0])

    def q(n: int | None = None) -> None:
        res["quantus"] = quantus_mprt_scores(model, x[:n], target[:n], explain, seed=cfg.seed)

    def o(n: int | None = None) -> None:
        res["ours"] = our_mprt_scores(model, x[:n], target[:n], explain, seed=cfg.seed)

    t = interleaved({"quantus": q, "ours": o}, cfg.repeats,
                    warmup={"quantus": lambda: q(k), "ours": lambda: o(k)})
    qs, os_ = res["quantus"], res["ours"]
    if list(qs) != list(os_):
        raise RuntimeError(f"layer lists differ: quantus {list(qs)} vs ours {list(os_)}")
    delta = max(float(np.nanmax(np.abs(qs[key] - os_[key]))) for key in qs)
    qm, om = _median(t["quantus"]), _median(t["ours"])
    return {"method": m, "n_beats": int(x.shape[0]), "n_layers": len(qs) - 1,
            "quantus_s": qm, "ours_s": om, "speedup": qm / om,
            "quantus_times": t["quantus"], "ours_times": t["ours"],
            "max_abs_delta": delta, "target": 5.0, "meets": bool(qm / om >= 5.0)}


def bench_threads(model: nn.Module, x: np.ndarray, target: np.ndarray, cfg: BenchConfig,
                  methods: Sequence[str] = ("saliency", "integrated_gradients"),
                  ) -> list[dict[str, Any]]:
    """The engine with torch's default CPU threads vs one thread, interleaved, per method.

    Returns
    -------
    list of dict
        ``method``, ``threads`` (the default), ``default_s``, ``one_thread_s`` and ``speedup`` =
        one-thread time ÷ default time (> 1: the threads help).
    """
    from ecgsignal.attribution import attribute

    n_threads = torch.get_num_threads()
    rows = []
    for m in methods:
        def default(m: str = m) -> None:
            attribute(model, x, target, m, seed=cfg.seed, fs=cfg.fs, device=cfg.device)

        def single(m: str = m) -> None:
            torch.set_num_threads(1)
            try:
                default(m)
            finally:
                torch.set_num_threads(n_threads)

        t = interleaved({"default": default, "one": single}, cfg.repeats, device=cfg.device)
        d, o = _median(t["default"]), _median(t["one"])
        rows.append({"method": m, "n_beats": int(x.shape[0]), "threads": n_threads,
                     "default_s": d, "one_thread_s": o, "speedup": o / d})
    return rows


def bench_conv(model: nn.Module, x: np.ndarray, target: np.ndarray, cfg: BenchConfig,
               ) -> list[dict[str, Any]]:
    """Dilated convolutions as phases (:mod:`ecgsignal.models.phase_conv`) vs as they are,
    interleaved: a forward pass and a training step (forward + backward, train mode) of
    ``model`` on the ``x`` beats in one batch.

    Returns
    -------
    list of dict
        ``item`` (forward/training step), ``n_beats``, ``phases_s``, ``dilated_s`` (medians),
        ``speedup`` = dilated ÷ phases, and ``max_rel_diff`` of the logits (forward) or of the
        gradients (training step; each parameter's largest difference ÷ its largest |gradient|).
    """
    from ecgsignal.models import phase_conv

    dev = torch.device(cfg.device)
    xt = torch.as_tensor(np.ascontiguousarray(x), dtype=torch.float32, device=dev)
    yt = torch.as_tensor(target, dtype=torch.long, device=dev)
    net = copy.deepcopy(model).to(dev)
    was = phase_conv.ENABLED
    out: dict[str, Any] = {}

    def forward() -> torch.Tensor:
        net.eval()
        with torch.inference_mode():
            return net(xt)

    def step() -> list[torch.Tensor]:
        net.train()
        net.zero_grad(set_to_none=True)
        torch.manual_seed(cfg.seed)  # the same dropout mask on both sides
        nn.functional.cross_entropy(net(xt), yt).backward()
        net.eval()
        return [p.grad.detach().clone() for p in net.parameters()]

    def switched(fn: Callable[[], Any], on: bool, key: str) -> Callable[[], None]:
        def run() -> None:
            phase_conv.ENABLED = on
            try:
                out[key] = fn()
            finally:
                phase_conv.ENABLED = was
        return run

    rows = []
    for item, fn in (("forward", forward), ("training step", step)):
        t = interleaved({"phases": switched(fn, True, "phases"),
                         "dilated": switched(fn, False, "dilated")}, cfg.repeats, device=dev)
        a, b = out["phases"], out["dilated"]
        pairs = [(a, b)] if isinstance(a, torch.Tensor) else list(zip(a, b))
        rel = max(float((u - v).abs().max() / v.abs().max().clamp_min(1e-30)) for u, v in pairs)
        p, d = _median(t["phases"]), _median(t["dilated"])
        rows.append({"item": item, "n_beats": int(x.shape[0]), "phases_s": p, "dilated_s": d,
                     "speedup": d / p, "max_rel_diff": rel})
    return rows
