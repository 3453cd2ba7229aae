"""Rows per pass chosen for the machine: a per-row cost curve measured at first use, cached.

A *row* is one beat-sized input through the model; a *pass* is one forward (+backward) call on a
batch of rows. The per-row cost of a pass depends on its size: tiny passes pay Python and
dispatch overhead per call, very large ones spill the activations out of the CPU cache (on the
project's 2-core CPU one 3,200-row Integrated Gradients pass was slower than a per-beat loop, and
512-row forward passes were half as fast as 128-row ones). Where the minimum lies depends on the
machine, the device, torch's thread count and the model, so the engine measures it:

* at the first call for a (machine, device, torch threads, torch version, model architecture,
  beat shape) it times forward+backward (input gradient) and forward-only passes of
  :data:`PROBE_SIZES` rows on random beats (a fraction of a second to a few seconds; the best of
  :data:`PROBE_REPEATS` interleaved rounds per size, so a busy neighbour does not decide it);
* it picks, per kind, the smallest pass within :data:`PROBE_SLACK` of the cheapest per-row cost;
* and caches the curve and the choice in ``<cache>/engine/pass_rows.json`` (written atomically;
  an unreadable file is measured again, with a warning), and in memory for the process.

**Reproducibility.** The pass size never changes *which* computation is done: every beat's
noise (SmoothGrad, GradientSHAP, LIME…) is drawn from its own generator seeded by (seed, beat
index, method), whatever the chunking, and every row's map is computed independently of the other
rows in its pass. It can change the last bits of floating-point results, because convolution and
matrix kernels may block and sum in a different order for other batch sizes (and Integrated
Gradients sums its steps in pass-sized groups): differences are at float32 rounding (tested
≤ 1e-5 of the map's peak |value|). For bit-for-bit reproducible runs pin the pass sizes with the
environment variable :data:`ENV_ROWS`:

``ECGSIGNAL_PASS_ROWS=fixed``
    the constants :data:`~ecgsignal.attribution.engine.GRAD_ROWS` /
    :data:`~ecgsignal.attribution.engine.FORWARD_ROWS` (what the test-suite uses);
``ECGSIGNAL_PASS_ROWS=256`` or ``grad=256,forward=128``
    these sizes;
``ECGSIGNAL_PASS_ROWS=auto`` (or unset)
    the measured choice;

or per call with ``attribute(..., max_rows=…, chunk_size=…)``.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ecgsignal.errors import ConfigError
from ecgsignal.models import phase_conv

__all__ = ["ENV_ROWS", "PROBE_SIZES", "choose_rows", "fingerprint", "measure_curve",
           "pass_rows"]

ENV_ROWS = "ECGSIGNAL_PASS_ROWS"
PROBE_SIZES: tuple[int, ...] = (16, 32, 64, 128, 256, 512)
"""Pass sizes (rows) the probe times."""
PROBE_ROWS = 512
"""Rows each probed size runs per round (several passes of the small sizes)."""
PROBE_REPEATS = 3
PROBE_SLACK = 0.05
"""A smaller pass is preferred when its per-row cost is within 5 % of the cheapest one."""
KINDS = ("grad", "forward")
CACHE_FILE = "pass_rows.json"

_memory: dict[str, dict[str, int]] = {}


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def fingerprint(model: nn.Module, n_leads: int, n_samples: int, device: torch.device) -> str:
    """The cache key: machine, device, torch threads and version, model architecture, beat shape.

    The architecture is the model's class and the shapes of its parameters (not their values:
    trained, randomised and untrained copies of a network cost the same per row); whether dilated
    convolutions run as phases (:mod:`ecgsignal.models.phase_conv`) changes the costs too.
    """
    dev = torch.device(device)
    dev_name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else _cpu_model()
    shapes = ";".join(f"{n}:{tuple(p.shape)}" for n, p in model.named_parameters())
    arch = hashlib.sha256(f"{type(model).__qualname__}|{shapes}".encode()).hexdigest()[:16]
    parts = (platform.node(), dev.type, dev_name, str(os.cpu_count()),
             f"threads={torch.get_num_threads()}", f"torch={torch.__version__}",
             f"arch={arch}", f"beat={n_leads}x{n_samples}", f"phase_conv={int(phase_conv.ENABLED)}")
    return "|".join(parts)


def _pinned(fixed: dict[str, int]) -> dict[str, int] | None:
    """Rows from :data:`ENV_ROWS`, or ``None`` to measure."""
    raw = os.environ.get(ENV_ROWS, "auto").strip().lower()
    if raw in ("", "auto"):
        return None
    if raw == "fixed":
        return dict(fixed)
    try:
        if "=" not in raw:
            n = int(raw)
            out = dict.fromkeys(KINDS, n)
        else:
            out = dict(fixed)
            for part in raw.split(","):
                key, value = (s.strip() for s in part.split("=", 1))
                if key not in KINDS:
                    raise ValueError(key)
                out[key] = int(value)
    except ValueError:
        raise ConfigError(f"{ENV_ROWS}={raw!r}: use 'auto', 'fixed', a number of rows, or "
                          "'grad=<rows>,forward=<rows>'") from None
    if any(v < 1 for v in out.values()):
        raise ConfigError(f"{ENV_ROWS}={raw!r}: rows must be positive")
    return out


def measure_curve(model: nn.Module, n_leads: int, n_samples: int, device: torch.device, *,
                  sizes: tuple[int, ...] = PROBE_SIZES, rows: int = PROBE_ROWS,
                  repeats: int = PROBE_REPEATS,
                  clock: Callable[[], float] = time.perf_counter) -> dict[str, dict[int, float]]:
    """Seconds per row of forward+backward (``"grad"``) and forward-only passes, per pass size.

    The model must already be in eval mode with frozen parameters (the engine's
    :func:`~ecgsignal.attribution.guard.frozen_eval`). Inputs are random normal beats from a
    private generator (global RNGs untouched); each size runs ``ceil(rows / size)`` passes per
    round, rounds interleave the sizes, and the best round counts.
    """
    gen = torch.Generator(device="cpu").manual_seed(0)
    big = torch.randn(max(sizes), n_leads, n_samples, generator=gen).to(device)
    n_classes = int(model(big[:1]).shape[1])
    target = torch.arange(max(sizes), device=device) % n_classes

    def grad(b: int) -> None:
        xi = big[:b].detach().requires_grad_(True)
        out = model(xi)
        torch.autograd.grad(out.gather(1, target[:b, None]).sum(), xi)

    def forward(b: int) -> None:
        with torch.no_grad():
            model(big[:b])

    fns = {"grad": grad, "forward": forward}
    best: dict[str, dict[int, float]] = {k: {} for k in KINDS}
    sync = torch.cuda.synchronize if torch.device(device).type == "cuda" else (lambda: None)
    for fn in fns.values():
        for b in sizes:  # warm-up (allocator, kernels)
            fn(b)
    for r in range(repeats):
        for kind, fn in fns.items():
            for b in sizes if r % 2 == 0 else sizes[::-1]:
                passes = -(-rows // b)
                sync()
                t0 = clock()
                for _ in range(passes):
                    fn(b)
                sync()
                per_row = (clock() - t0) / (passes * b)
                best[kind][b] = min(best[kind].get(b, float("inf")), per_row)
    return best


def choose_rows(curve: dict[str, dict[int, float]], slack: float = PROBE_SLACK) -> dict[str, int]:
    """Per kind, the smallest pass size whose per-row cost is within ``slack`` of the cheapest."""
    out = {}
    for kind in KINDS:
        costs = {int(b): float(v) for b, v in curve[kind].items()}
        if not costs:
            raise ConfigError(f"empty per-row cost curve for {kind!r}")
        floor = min(costs.values())
        out[kind] = min(b for b, v in costs.items() if v <= floor * (1 + slack))
    return out


def _cache_path() -> Any:
    from ecgsignal.paths import cache_dir

    return cache_dir("engine") / CACHE_FILE


def _read_cache(path: Any) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        return data
    except (OSError, ValueError) as exc:
        warnings.warn(f"pass-size cache {path} is unreadable ({exc}); measuring again",
                      RuntimeWarning, stacklevel=3)
        return {}


def _valid(entry: Any) -> bool:
    return (isinstance(entry, dict) and isinstance(entry.get("rows"), dict)
            and all(isinstance(entry["rows"].get(k), int) and entry["rows"][k] >= 1
                    for k in KINDS))


def pass_rows(model: nn.Module, n_leads: int, n_samples: int, device: torch.device,
              fixed: dict[str, int]) -> dict[str, int]:
    """Rows per ``"grad"`` and ``"forward"`` pass for this model, beat shape and machine.

    Pinned by :data:`ENV_ROWS` (``fixed`` are the constants ``"fixed"`` stands for); otherwise
    from memory, then the JSON cache, then measured (:func:`measure_curve`) and saved.
    """
    pinned = _pinned(fixed)
    if pinned is not None:
        return pinned
    key = fingerprint(model, n_leads, n_samples, device)
    if key in _memory:
        return dict(_memory[key])
    path = _cache_path()
    entry = _read_cache(path).get(key)
    if not _valid(entry):
        from ecgsignal.io import atomic_path, file_lock

        # one process measures (kernels starting side by side would each measure, slowly,
        # under each other's load, and might choose different sizes); the others wait and read
        with file_lock(path.with_name(f".{path.name}.lock")):
            cache = _read_cache(path)
            entry = cache.get(key)
            if not _valid(entry):
                if entry is not None:
                    warnings.warn("pass-size cache entry for this machine is malformed; "
                                  "measuring again", RuntimeWarning, stacklevel=2)
                curve = measure_curve(model, n_leads, n_samples, device)
                entry = {"rows": choose_rows(curve),
                         "curve_s_per_row": {k: {str(b): v for b, v in c.items()}
                                             for k, c in curve.items()},
                         "measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
                cache[key] = entry
                with atomic_path(path, suffix=".json") as tmp:
                    tmp.write_text(json.dumps(cache, indent=1, sort_keys=True))
    _memory[key] = dict(entry["rows"])
    return dict(entry["rows"])


def forget() -> None:
    """Drop the in-memory choices (the JSON cache stays): the next call reads or measures."""
    _memory.clear()
