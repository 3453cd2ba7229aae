"""``ecgsignal bench``: speed ratios measured side by side in one run, with the machine they ran on.

Every ratio compares two things timed in the same process, interleaved repeat by repeat (a
warm-up call first, then ``repeats`` rounds in which both sides run back to back, the order
alternating), and reports the median of each side. On a shared or throttled machine absolute
times drift; ratios of interleaved medians do not drift with it. Sections (issue 7):

``engine``
    The batched engine (:func:`ecgsignal.attribution.attribute`) against a naive per-beat loop
    of the same Captum explainers (:func:`naive_attribute`), same model (the default
    :class:`~ecgsignal.models.cnn.ECGCNN`, 62k parameters), same beats (synthetic, 250 Hz), same
    noise draws; the maps must agree within ``1e-5`` (absolute, or relative to the map's peak).
    Target on a CPU: ≥ 2× for every gradient method (≥ 20× on a GPU), never slower.
``efficiency``
    A method's engine time ÷ (model rows it needs × the best per-row cost over batch sizes),
    forward+backward rows for IG, SmoothGrad and GradientSHAP, forward-only rows for Occlusion.
    1.0 is the limit of this model on this machine; target ≤ 1.2.
``randomization``
    Cascading model-parameter randomisation of Saliency and IG on 64 beats: Quantus' ``MPRT``
    against our cascade (:func:`~ecgsignal.evaluation.quantus_check.our_mprt_scores`, same
    layers, same random draws), with the largest per-beat difference of their correlations.
    Target ≥ 5×.
``threads``
    The engine with torch's default number of CPU threads against one thread (Saliency and IG on
    32 beats). Below 1, the threads contend for the cores (a shared or oversubscribed machine,
    or parallel workers): run with ``OMP_NUM_THREADS=1`` there.
``generator``
    Synthetic beats per second (:func:`~ecgsignal.data.synthetic.benchmark_generator`).
``chapters``
    Wall time of each chapter, read from papermill's metadata of the executed notebooks
    (``book/_executed/*.ipynb``), with the profile they ran under.
"""

from __future__ import annotations

import argparse
import copy
import datetime as _dt
import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ecgsignal.errors import ConfigError

__all__ = [
    "BenchConfig",
    "EFFICIENCY_METHODS",
    "ENGINE_METHODS",
    "SECTIONS",
    "bench_efficiency",
    "bench_engine",
    "bench_model",
    "add_ceilings",
    "bench_randomization",
    "bench_threads",
    "chapter_times",
    "compare_devices",
    "format_table",
    "interleaved",
    "machine_info",
    "main",
    "naive_attribute",
    "per_row_costs",
    "run_bench",
    "summary_rows",
]

ENGINE_METHODS: tuple[str, ...] = (
    "saliency", "input_x_gradient", "integrated_gradients", "smoothgrad", "guided_backprop",
    "gradcam", "guided_gradcam", "deeplift", "deeplift_shap", "gradient_shap", "lrp", "occlusion",
)
"""The 12 paper methods: every gradient method, and Occlusion."""

EFFICIENCY_METHODS: tuple[str, ...] = ("integrated_gradients", "smoothgrad", "gradient_shap",
                                       "occlusion")
"""Methods whose time is compared with the per-row limit (the many-row methods)."""

SECTIONS: tuple[str, ...] = ("engine", "efficiency", "randomization", "threads", "generator",
                             "chapters")

TOLERANCE = 1e-5
"""Largest allowed difference between the engine's and the loop's maps (abs, or rel. to peak)."""


@dataclass(frozen=True)
class BenchConfig:
    """What ``ecgsignal bench`` measures, and how hard.

    Attributes
    ----------
    n_beats:
        Beats of the engine/loop and efficiency comparisons (synthetic, ``fs`` Hz).
    n_random_beats:
        Beats of the randomisation comparison.
    fs:
        Sampling rate in Hz (250: ``T = 300`` samples).
    repeats:
        Timed rounds per case (≥ 3; the median is reported).
    warmup_beats:
        Beats of the untimed warm-up call of every case.
    device:
        Torch device of every computation.
    seed:
        Seed of the beats, the model's initial weights, the baselines and every method's noise.
    methods:
        Methods of the engine comparison.
    efficiency_methods:
        Methods of the efficiency comparison.
    random_methods:
        Methods of the randomisation comparison.
    batch_sizes:
        Batch sizes the per-row forward(+backward) cost is measured at (the best one is the limit).
    n_baselines:
        SHAP baselines (training beats of a second synthetic draw).
    n_generator:
        Beats the generator benchmark makes.
    sections:
        Which of :data:`SECTIONS` to run.
    executed_dir:
        Folder of executed chapter notebooks (``None``: ``<project>/book/_executed``).
    """

    n_beats: int = 256
    n_random_beats: int = 64
    fs: float = 250.0
    repeats: int = 3
    warmup_beats: int = 8
    device: str = "cpu"
    seed: int = 0
    methods: tuple[str, ...] = ENGINE_METHODS
    efficiency_methods: tuple[str, ...] = EFFICIENCY_METHODS
    random_methods: tuple[str, ...] = ("saliency", "integrated_gradients")
    batch_sizes: tuple[int, ...] = (1, 8, 32, 64, 128, 256, 512, 1024)
    n_baselines: int = 32
    n_generator: int = 5000
    sections: tuple[str, ...] = SECTIONS
    executed_dir: str | None = None

    def __post_init__(self) -> None:
        for name in ("n_beats", "n_random_beats", "warmup_beats", "n_baselines", "n_generator"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"{name} must be a positive integer, got {v!r}")
        if isinstance(self.repeats, bool) or not isinstance(self.repeats, int) or self.repeats < 3:
            raise ConfigError(f"repeats must be an integer >= 3 (a median of at least three), "
                              f"got {self.repeats!r}")
        if not self.batch_sizes or any(int(b) < 1 for b in self.batch_sizes):
            raise ConfigError(f"batch_sizes must be positive integers, got {self.batch_sizes!r}")
        bad = [s for s in self.sections if s not in SECTIONS]
        if bad:
            raise ConfigError(f"unknown bench section(s) {', '.join(bad)}; valid: "
                              f"{', '.join(SECTIONS)}")
        from ecgsignal.attribution import METHODS

        for m in (*self.methods, *self.efficiency_methods, *self.random_methods):
            METHODS.get(m)  # unknown names fail here, listing the valid ones

    @classmethod
    def quick(cls, **overrides: Any) -> BenchConfig:
        """A run of about a minute on a laptop: 32 beats, 16 for randomisation, fewer sizes."""
        base = dict(n_beats=32, n_random_beats=16, batch_sizes=(1, 8, 32, 128, 512),
                    n_generator=1000, n_baselines=8)
        base.update(overrides)
        return cls(**base)


# ============================================================================ machine
def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def machine_info(device: str = "cpu") -> dict[str, Any]:
    """Where the numbers come from: CPU, cores, threads, load, library versions, device."""
    import captum

    dev = torch.device(device)
    info: dict[str, Any] = {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "captum": captum.__version__,
        "numpy": np.__version__,
        "device": str(dev),
        "device_name": "cpu",
        "env": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "MKL_NUM_THREADS")
                if k in os.environ},
    }
    try:
        info["load_average"] = [round(v, 2) for v in os.getloadavg()]
    except OSError:  # pragma: no cover (not on every OS)
        info["load_average"] = None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device {device!r} requested but CUDA is not available")
        info["device_name"] = torch.cuda.get_device_name(dev)
        info["cuda"] = torch.version.cuda
    return info


# ============================================================================ inputs
def bench_model(n_classes: int = 9, seed: int = 0, device: str = "cpu") -> nn.Module:
    """The default :class:`~ecgsignal.models.cnn.ECGCNN`, seeded initial weights, eval mode.

    Untrained: speed and the equality of two computations do not depend on what the weights
    learnt. Torch's global RNG is forked and restored around the initialisation.
    """
    from ecgsignal.models.cnn import build_model

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        model = build_model(n_classes)
    return model.to(device).eval()


def _beats(cfg: BenchConfig, n: int, seed_offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` synthetic beats ``(n, 12, T)`` mV and their class labels as targets ``(n,)``."""
    from ecgsignal.data.synthetic import SyntheticConfig, make_synthetic

    ds = make_synthetic(SyntheticConfig(n=max(n, 9), fs=cfg.fs, seed=cfg.seed + seed_offset))
    labels = ds.labels if ds.labels.ndim == 1 else ds.labels.argmax(1)
    return ds.signals[:n].copy(), labels[:n].astype(np.int64)


# ============================================================================ timing
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


# ============================================================================ naive loop
def naive_attribute(model: nn.Module, x: np.ndarray, target: np.ndarray, method: str, *,
                    seed: int = 0, baselines: np.ndarray | None = None, fs: float = 250.0,
                    device: str | torch.device = "cpu") -> np.ndarray:
    """The per-beat reference: one plain Captum call per beat, our settings, our noise draws.

    What a user writes without the engine: ``for i in range(n): Explainer(model).attribute(
    x[i:i+1], target=t[i], ...)`` with Captum's defaults for batching inside a beat (IG's 50
    steps, DeepLiftShap's baselines and a beat's SmoothGrad/GradientSHAP samples in one pass;
    Occlusion with all of a beat's windows in one pass, Captum's ``perturbations_per_eval=1``
    would be far slower still). The model runs in eval mode with frozen parameters, as in the
    engine, so both sides compute input gradients only. SmoothGrad and GradientSHAP draw their
    noise from the same per-beat generators as the engine (:meth:`MethodContext.beat_rngs`), so
    the two must agree to rounding.

    Parameters
    ----------
    model:
        A network ``(n, 12, T) -> (n, C)`` on ``device``.
    x:
        ``(n, 12, T)`` beats, mV.
    target:
        ``(n,)`` classes explained.
    method:
        One of :data:`ENGINE_METHODS`.
    seed, baselines, fs:
        As in :func:`~ecgsignal.attribution.attribute`.

    Returns
    -------
    numpy.ndarray
        ``(n, 12, T)`` float32 maps.
    """
    import torch.nn.functional as F
    from captum.attr import (
        DeepLift,
        DeepLiftShap,
        GuidedBackprop,
        GuidedGradCam,
        InputXGradient,
        IntegratedGradients,
        LayerGradCam,
        Occlusion,
        Saliency,
    )

    from ecgsignal.attribution import METHODS, MethodContext
    from ecgsignal.attribution.engine import _quiet_captum
    from ecgsignal.attribution.guard import frozen_eval
    from ecgsignal.attribution.lrp_zennit import lrp_composite
    from ecgsignal.attribution.perturbation_methods import window_samples

    if method not in ENGINE_METHODS:
        raise ConfigError(f"no naive loop for {method!r}; valid: {', '.join(ENGINE_METHODS)}")
    dev = torch.device(device)
    opts = METHODS.get(method).options()
    xs = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(dev)
    ts = torch.from_numpy(np.asarray(target, dtype=np.int64)).to(dev)
    base = None if baselines is None else torch.from_numpy(
        np.ascontiguousarray(baselines, dtype=np.float32)).to(dev)
    out = np.empty(xs.shape, dtype=np.float32)

    def rng(i: int) -> np.random.Generator:
        ctx = MethodContext(model=model, device=dev, fs=fs, seed=seed, offset=i, baselines=None,
                            chunk_size=1, max_rows=1, method=method)
        return ctx.beat_rngs(1)[0]

    def one(i: int, xi: torch.Tensor, ti: torch.Tensor) -> torch.Tensor:
        if method == "saliency":
            return Saliency(model).attribute(xi, target=ti, abs=False)
        if method == "input_x_gradient":
            return InputXGradient(model).attribute(xi, target=ti)
        if method == "integrated_gradients":
            return IntegratedGradients(model).attribute(
                xi, baselines=torch.zeros_like(xi), target=ti, n_steps=int(opts["n_steps"]),
                method=opts["quadrature"])
        if method == "smoothgrad":
            k = int(opts["n_samples"])
            noise = torch.from_numpy(rng(i).standard_normal((k,) + tuple(xi.shape[1:]),
                                                            dtype=np.float32)).to(dev)
            sigma = float(opts["sigma_frac"]) * (xi.amax() - xi.amin())
            noisy = (xi + sigma * noise).requires_grad_(True)
            return Saliency(model).attribute(noisy, target=ti.expand(k), abs=False).mean(
                0, keepdim=True)
        if method == "guided_backprop":
            return GuidedBackprop(model).attribute(xi, target=ti)
        if method == "gradcam":
            cam = LayerGradCam(model, model.last_conv).attribute(xi, target=ti,
                                                                 relu_attributions=True)
            return F.interpolate(cam, size=xi.shape[-1], mode="linear",
                                 align_corners=False).expand(-1, xi.shape[1], -1)
        if method == "guided_gradcam":
            return GuidedGradCam(model, model.last_conv).attribute(xi, target=ti,
                                                                   interpolate_mode="linear")
        if method == "deeplift":
            return DeepLift(model).attribute(xi, baselines=torch.zeros_like(xi), target=ti)
        if method == "deeplift_shap":
            return DeepLiftShap(model).attribute(xi, baselines=base, target=ti)
        if method == "gradient_shap":
            k = int(opts["n_samples"])
            r = rng(i)
            idx = r.integers(0, base.shape[0], k)
            alpha = torch.from_numpy(r.random(k, dtype=np.float32)).to(dev).view(k, 1, 1)
            b = base[torch.from_numpy(idx).to(dev)]
            diff = xi - b
            grads = Saliency(model).attribute((b + alpha * diff).requires_grad_(True),
                                              target=ti.expand(k), abs=False)
            return (grads * diff).mean(0, keepdim=True)
        if method == "lrp":  # zennit, EpsilonGammaBox with the beat's own box, one beat a call
            with lrp_composite(model, xi.amin(), xi.amax(), epsilon=float(opts["epsilon"]),
                               gamma=float(opts["gamma"])) as attributor:
                onehot = F.one_hot(ti, int(model(xi).shape[1])).to(xi.dtype)
                return attributor(xi, lambda out: out * onehot)[1]
        w = window_samples(opts["window_ms"], fs)  # occlusion
        n_windows = xi.shape[1] * -(-xi.shape[2] // w)
        return Occlusion(model).attribute(xi, sliding_window_shapes=(1, w), strides=(1, w),
                                          baselines=0.0, target=ti,
                                          perturbations_per_eval=n_windows)

    if METHODS.get(method).needs_baselines and base is None:
        raise ConfigError(f"{method} needs baselines")
    with frozen_eval(model), torch.enable_grad(), _quiet_captum():
        for i in range(xs.shape[0]):
            xi = xs[i:i + 1].clone().requires_grad_(True)
            out[i] = one(i, xi, ts[i:i + 1]).detach().to("cpu", torch.float32).numpy()[0]
    return out


def _max_diff(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Largest absolute difference, and the same relative to the reference map's peak."""
    d = float(np.max(np.abs(a.astype(np.float64) - b)))
    peak = float(np.max(np.abs(b)))
    return d, d / peak if peak > 0 else d


# ============================================================================ sections
def bench_engine(model: nn.Module, x: np.ndarray, target: np.ndarray, baselines: np.ndarray,
                 cfg: BenchConfig) -> list[dict[str, Any]]:
    """Engine vs per-beat loop, per method: medians, speed-up and agreement of the maps.

    Returns
    -------
    list of dict
        One row per method: ``engine_s``, ``loop_s`` (medians), ``speedup`` = loop / engine,
        ``max_abs_diff``, ``max_rel_diff``, ``equal`` (within :data:`TOLERANCE`), ``target``,
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
    spec = METHODS.get(m)
    gradient = spec.kind == "gradient"
    target_x = (20.0 if dev.type == "cuda" else 2.0) if gradient else 1.0
    e, lp = _median(t["engine"]), _median(t["loop"])
    return {
        "method": m, "kind": spec.kind, "n_beats": int(x.shape[0]),
        "engine_s": e, "loop_s": lp, "speedup": lp / e,
        "engine_times": t["engine"], "loop_times": t["loop"],
        "max_abs_diff": d_abs, "max_rel_diff": d_rel,
        "equal": bool(min(d_abs, d_rel) <= TOLERANCE),
        "target": target_x, "meets": bool(lp / e >= target_x),
    }


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


def chapter_times(executed_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """Wall time of each executed chapter (papermill's ``metadata.papermill.duration``).

    Returns
    -------
    dict
        ``{"dir", "chapters": [{"chapter", "seconds", "profile", "end_time"}], "total_s"}``;
        ``chapters`` is empty when no executed notebook is found.
    """
    if executed_dir is None:
        from ecgsignal.paths import project_root

        root = project_root() or Path.cwd()
        executed_dir = root / "book" / "_executed"
    d = Path(executed_dir)
    chapters = []
    for nb in sorted(d.glob("*.ipynb")) if d.is_dir() else []:
        try:
            meta = json.loads(nb.read_text(encoding="utf-8")).get("metadata", {})
        except (OSError, ValueError):
            continue
        pm = meta.get("papermill") or {}
        if pm.get("duration") is None:
            continue
        chapters.append({"chapter": nb.stem, "seconds": float(pm["duration"]),
                         "profile": (pm.get("parameters") or {}).get("profile"),
                         "end_time": pm.get("end_time")})
    return {"dir": str(d), "chapters": chapters,
            "total_s": float(sum(c["seconds"] for c in chapters))}


DEVICE_TOLERANCE = 2e-3
"""Largest allowed CUDA-vs-CPU difference of a map, relative to the CPU map's peak |value|
(cuDNN's TF32 convolutions, on by default on Ampere and later, round to ~1e-3)."""


def compare_devices(device: str, reference: str = "cpu", methods: Sequence[str] | None = None,
                    n_beats: int = 32, seed: int = 0, fs: float = 250.0,
                    tf32: bool | None = None) -> list[dict[str, Any]]:
    """Maps computed on ``device`` against the same maps on ``reference``, per method.

    Same untrained seeded model (:func:`bench_model`), same synthetic beats, same seed.

    Parameters
    ----------
    device, reference:
        Torch devices, e.g. ``"cuda"`` and ``"cpu"``.
    methods:
        Registered names (default: the 12 paper methods and the 3 controls).
    n_beats:
        Beats compared.
    tf32:
        Set ``torch.backends.cudnn.allow_tf32`` and ``torch.backends.cuda.matmul.allow_tf32``
        for the call (restored afterwards); ``None`` leaves torch's defaults.

    Returns
    -------
    list of dict
        ``method``, ``max_abs_diff``, ``max_rel_diff`` (÷ the reference map's peak |value|),
        ``ok`` (``max_rel_diff <= DEVICE_TOLERANCE``), ``tf32``.
    """
    from ecgsignal.attribution import attribute, available, make_baselines

    cfg = BenchConfig(n_beats=n_beats, seed=seed, fs=fs)
    names = list(methods) if methods is not None else available(paper=True, controls=True)
    x, target = _beats(cfg, n_beats)
    train, _ = _beats(cfg, 16, seed_offset=1)
    base = make_baselines(train, n=8, seed=seed)
    model = bench_model(9, seed=seed)
    flags = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    rows = []
    try:
        if tf32 is not None:
            torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = bool(tf32)
        for m in names:
            ref = attribute(model, x, target, m, seed=seed, baselines=base, fs=fs,
                            device=reference)
            got = attribute(model, x, target, m, seed=seed, baselines=base, fs=fs, device=device)
            d_abs, d_rel = _max_diff(got, ref)
            rows.append({"method": m, "device": device, "reference": reference,
                         "max_abs_diff": d_abs, "max_rel_diff": d_rel,
                         "ok": bool(d_rel <= DEVICE_TOLERANCE),
                         "tf32": torch.backends.cudnn.allow_tf32})
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = flags
    return rows


# ============================================================================ run + report
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
                                                  "threads"))
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
    if "generator" in cfg.sections:
        from ecgsignal.data.synthetic import benchmark_generator

        say(f"synthetic generator: {cfg.n_generator} beats")
        res["generator"] = benchmark_generator(n=cfg.n_generator, fs=cfg.fs, seed=cfg.seed)
    if "chapters" in cfg.sections:
        res["chapters"] = chapter_times(cfg.executed_dir)
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
    if "generator" in res:
        g = res["generator"]
        rows.append({"section": "generator", "item": "synthetic beats", "value": g["beats_per_s"],
                     "unit": "beats/s", "target": "", "meets": None, "note": "",
                     "detail": f"{g['n']} beats with masks in {g['seconds']:.2f} s"})
    for c in res.get("chapters", {}).get("chapters", []):
        rows.append({"section": "chapters", "item": c["chapter"], "value": c["seconds"],
                     "unit": "s", "target": "", "meets": None, "note": "",
                     "detail": f"profile {c['profile']}"})
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
    if "chapters" in res and not res["chapters"]["chapters"]:
        lines.append(f"chapters: no executed notebooks in {res['chapters']['dir']} "
                     "(run `ecgsignal book run` first)")
    lines.append(f"bench wall time: {res.get('seconds', 0):.1f} s")
    return "\n".join(lines)


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

