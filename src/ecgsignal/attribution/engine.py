"""One call for every method: ``attribute(model, x, target, method) -> (n, 12, T)`` float32.

The engine validates the inputs, puts the model in eval mode with frozen parameters (and
restores it afterwards, see :mod:`.guard`), splits the beats into chunks and runs the registered
method on each chunk on the chosen device. There is no per-beat Python loop: a chunk of ``c``
beats goes to Captum as one batch, and methods needing ``r`` model rows per beat (IG steps,
SmoothGrad samples, occlusion windows) run them in passes of a few hundred rows.

How many rows per pass: the per-row cost of a forward(+backward) pass is lowest at some batch
size and rises on both sides (per-call overhead below, cache misses above: one 3,200-row
Integrated Gradients pass was slower than a per-beat loop on this project's 2-core CPU), and
where the minimum lies depends on the machine. The engine measures the curve at first use and
caches the choice per machine, device, torch threads and model architecture
(:mod:`.passes`). The pass size changes the last float bits at most, never the noise drawn;
``ECGSIGNAL_PASS_ROWS=fixed`` (or a number) pins it for bit-for-bit reproducible runs, and
``chunk_size`` / ``max_rows`` choose per call.

Threads: on a CPU shared with other busy processes, torch's intra-op threads spin-wait and small
batches run 5-50x slower than with ``torch.set_num_threads(1)`` (measured on the 2-core box
under load); parallel workers should use one thread each. Results do not depend on it.
"""

from __future__ import annotations

import copy
import warnings
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from torch import nn

from ecgsignal.attribution.guard import frozen_eval
from ecgsignal.attribution.passes import pass_rows
from ecgsignal.attribution.registry import METHODS, MethodContext, MethodSpec, available
from ecgsignal.data.dataset import validate_signals
from ecgsignal.errors import ConfigError, DataError, UnknownNameError
from ecgsignal.models.folding import folded_cached
from ecgsignal.timing import stage

GRAD_ROWS = 256
"""Rows per forward+backward pass for gradient methods when pinned (``ECGSIGNAL_PASS_ROWS=fixed``;
the measured sweet spot on the 2-core CPU). Unpinned, the engine measures it (:mod:`.passes`)."""

FORWARD_ROWS = 128
"""Rows per forward-only pass for perturbation methods when pinned (``ECGSIGNAL_PASS_ROWS=fixed``).

Measured for issue 7 (64 beats, Occlusion's 361 rows per beat at 250 Hz, 1 and 2 threads, CPU
time of interleaved repeats): passes of 128 rows took 2.0-2.2 s, 256 rows 3.0-3.4 s, 512 rows (the
former value) 4.2-4.9 s, and per-beat calls in passes of 97 rows 2.5-3.3 s: the forward-only cost
per row rises steeply above ~128 rows on this CPU (activations leave the cache)."""

FOLD_EXACT: frozenset[str] = frozenset({
    "saliency", "input_x_gradient", "guided_backprop", "deconvolution", "gradcam",
    "guided_gradcam", "deeplift", "deeplift_shap"})
"""Methods whose maps are computed on a copy of the model with BatchNorm folded into the
preceding convolutions (:func:`~ecgsignal.models.folding.fold_batchnorm`), about 1.1-1.2x faster
on the default CNN. Folding is exact in eval mode up to float32 rounding, and for these methods
the maps agree within 1e-5 of their peak |value| on trained and randomised networks
(``tests/test_folding.py``, measured ≤ 2e-6). Not folded, because the rounding is amplified
beyond that tolerance: Integrated Gradients, SmoothGrad, VarGrad and GradientSHAP (gradients at
points near ReLU kinks, where a rounding flips a unit: up to 1e-3 of the peak), Occlusion,
feature ablation, LIME and KernelSHAP (differences of nearly equal logits: up to 5e-4), and the
LRP variants (zennit's and Captum's rules see other layers: up to 5e-4); the controls do not
need the model. ``attribute(..., fold_bn=False)`` turns folding off."""

MIN_CHUNK = 8
"""Fewest beats per Captum call when choosing the chunk size automatically."""

_QUIET = (
    r"Input Tensor \d+ did not already require gradients",
    r"Setting forward, backward hooks and attributes on non-linear",
    r"Setting backward hooks on ReLU activations",
)


@contextmanager
def _quiet_captum() -> Iterator[None]:
    """Silence Captum's per-call notices about hooks and ``requires_grad`` (expected here)."""
    with warnings.catch_warnings():
        for msg in _QUIET:
            warnings.filterwarnings("ignore", message=msg)
        yield


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter (or buffer); CPU for a stateless model."""
    for t in model.parameters():
        return t.device
    for t in model.buffers():
        return t.device
    return torch.device("cpu")


def _resolve_device(model: nn.Module, device: str | torch.device | None) -> torch.device:
    if device is None:
        return model_device(model)
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ConfigError(f"invalid device {device!r}: {exc}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} requested but CUDA is not available")
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", torch.cuda.current_device())
    return dev


def _as_beats(x: Any) -> torch.Tensor:
    """``x`` as a float32 CPU/device tensor ``(n, 12, T)``, validated (never a view of ``x``)."""
    if isinstance(x, torch.Tensor):
        if x.dtype in (torch.bool,) or x.is_complex():
            raise DataError(f"beats must be real numbers, got dtype {x.dtype}")
        arr = x.detach()
        validate_signals(arr.cpu().numpy())
        return arr.to(torch.float32)
    validate_signals(x)
    return torch.from_numpy(np.ascontiguousarray(np.asarray(x), dtype=np.float32))


def _as_targets(target: Any, n: int, n_classes: int) -> np.ndarray:
    """``target`` (int or ``(n,)`` ints) as ``(n,)`` int64 within ``[0, n_classes)``."""
    if isinstance(target, torch.Tensor):
        target = target.detach().cpu().numpy()
    arr = np.asarray(target)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise DataError(f"target must be an int or an (n,) array of ints, got {target!r}")
    if arr.ndim == 0:
        arr = np.full(n, int(arr), dtype=np.int64)
    elif arr.shape != (n,):
        raise DataError(f"target must be an int or have shape ({n},), got shape {arr.shape}")
    bad = (arr < 0) | (arr >= n_classes)
    if bad.any():
        raise DataError(
            f"target class {int(arr[bad][0])} out of range: the model has {n_classes} classes "
            f"(valid targets 0..{n_classes - 1})"
        )
    return arr.astype(np.int64)


def _as_baselines(baselines: Any, x: torch.Tensor, method: str) -> torch.Tensor:
    if baselines is None:
        raise ConfigError(
            f"{method} needs baselines=(b, 12, T) reference beats, e.g. "
            "make_baselines(train_signals, n=32, seed=0)"
        )
    b = baselines.detach().cpu().numpy() if isinstance(baselines, torch.Tensor) else baselines
    try:
        validate_signals(b)
    except DataError as exc:
        raise DataError(f"baselines: {exc}") from None
    arr = np.asarray(b, dtype=np.float32)
    if arr.shape[2] != x.shape[2]:
        raise DataError(f"baselines have {arr.shape[2]} samples per lead, beats have {x.shape[2]}")
    return torch.from_numpy(np.ascontiguousarray(arr))


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _resolve_options(spec: MethodSpec, overrides: dict[str, Any]) -> dict[str, Any]:
    options = spec.options()
    unknown = sorted(set(overrides) - set(options))
    if unknown:
        valid = ", ".join(sorted(options)) or "none"
        raise ConfigError(
            f"unknown option(s) {', '.join(unknown)} for method {spec.name!r}; valid: {valid} "
            "(and max_rows)"
        )
    options.update(overrides)
    return options


_N_CLASSES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _n_classes(model: nn.Module, probe: torch.Tensor) -> int:
    """Classes of ``model``: the width of its output on ``probe`` (one beat), checked to be
    ``(n, n_classes)`` logits. Remembered per model while its modules, their parameter shapes
    and forward hooks and the probe's shape, dtype and device stay the same: a cascade calls
    :func:`attribute` on one network re-initialised in place, layer after layer."""
    key = (tuple((id(m), type(m), len(m._forward_hooks), len(m._forward_pre_hooks),
                  *(None if p is None else tuple(p.shape) for p in m._parameters.values()))
                 for m in model.modules()),
           tuple(probe.shape[1:]), probe.dtype, probe.device)
    hit = _N_CLASSES.get(model)
    if hit is not None and hit[0] == key:
        return hit[1]
    n = _probe_classes(model, probe)
    _N_CLASSES[model] = (key, n)
    return n


def _probe_classes(model: nn.Module, probe: torch.Tensor) -> int:
    with torch.no_grad():
        out = model(probe)
    if not isinstance(out, torch.Tensor) or out.dim() != 2 or out.shape[0] != probe.shape[0]:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ConfigError(f"the model must return (n, n_classes) logits, got {shape}")
    return int(out.shape[1])


def _module_names_to_copy(options: dict[str, Any], model: nn.Module) -> dict[str, Any]:
    """Module-valued options (e.g. Grad-CAM ``layer``) as names, for a copied model."""
    names = {id(m): name for name, m in model.named_modules()}
    out = dict(options)
    for key, value in options.items():
        if isinstance(value, nn.Module):
            if id(value) not in names:
                raise ConfigError(f"option {key}: module is not part of the model")
            out[key] = names[id(value)]
    return out


def plan_chunks(spec: MethodSpec, options: dict[str, Any], n: int, n_samples: int, fs: float,
                n_baselines: int, chunk_size: int | None,
                max_rows: int | None, budget: int | None = None) -> tuple[int, int]:
    """``(beats per Captum call, rows per pass)`` for a call.

    Automatic (``chunk_size=None``): chunks of ``max(MIN_CHUNK, budget // rows_per_beat)``
    beats, whose rows run in the fewest passes of at most ``budget`` rows, split evenly in whole
    rows per beat (a 400-row chunk with a 256-row budget: two passes of 200, not 256 + 144).
    ``budget`` is the rows per pass (default :data:`GRAD_ROWS`, :data:`FORWARD_ROWS` for
    perturbation methods; the engine passes the measured choice, :mod:`.passes`). With a
    ``chunk_size``, each call runs its ``chunk_size × rows_per_beat`` rows in one pass unless
    ``max_rows`` says otherwise (``chunk_size=1`` is the per-beat loop benchmarks compare with).
    """
    per_beat = max(1, int(spec.rows_per_beat(options, n_samples, fs, n_baselines)))
    if budget is None:
        budget = FORWARD_ROWS if spec.kind == "perturbation" else GRAD_ROWS
    if chunk_size is None:
        chunk = min(n, max(MIN_CHUNK, budget // per_beat))
        passes = -(-(chunk * per_beat) // budget)
        rows = chunk * -(-per_beat // passes) if max_rows is None else max_rows
    else:
        chunk = min(n, chunk_size)
        rows = chunk * per_beat if max_rows is None else max_rows
    return max(1, chunk), max(1, rows)


def attribute(model: nn.Module, x: np.ndarray | torch.Tensor, target: int | np.ndarray | torch.Tensor,
              method: str, *, seed: int = 0, baselines: np.ndarray | torch.Tensor | None = None,
              device: str | torch.device | None = None, fs: float = 250.0,
              chunk_size: int | None = None, beat_offset: int = 0,
              **overrides: Any) -> np.ndarray:
    """Attribution maps of ``method`` for ``model``'s logit of class ``target`` on beats ``x``.

    Parameters
    ----------
    model:
        A network mapping ``(n, 12, T)`` mV to ``(n, n_classes)`` logits. It is left exactly as
        it was (weights, hooks, attributes, train/eval mode, ``requires_grad``); it runs in eval
        mode during the call.
    x:
        ``(n, 12, T)`` beats in mV (numpy array or tensor; any float dtype; finite).
    target:
        The class explained: one int for all beats, or ``(n,)`` ints.
    method:
        A registered name (:func:`available`, :data:`METHODS`).
    seed:
        Seeds every random draw (per beat, from (seed, beat index, method)); same seed → the
        same noise whatever the chunking, and the same maps bit for bit on the same device with
        the same pass sizes (other pass sizes change float rounding only; pin them with
        ``ECGSIGNAL_PASS_ROWS``, see :mod:`.passes`). Global RNGs are not
        touched (LIME/KernelSHAP fork and restore them).
    baselines:
        ``(b, 12, T)`` reference beats (:func:`make_baselines`), required by ``deeplift_shap``
        and ``gradient_shap``, ignored by the other methods.
    device:
        Torch device to compute on; ``None`` → the model's device. A model on another device is
        copied there (the original is not moved).
    fs:
        Sampling rate in Hz (occlusion windows in ms, the edge control's time derivative).
    chunk_size:
        Beats per Captum call (``None``: chosen by :func:`plan_chunks`).
    beat_offset:
        Index of ``x[0]`` in a larger set of beats this call is a shard of: beat ``i`` draws its
        noise from (seed, ``beat_offset + i``, method), so the shards ``x[a:b]`` with
        ``beat_offset=a`` put together give exactly the maps of one call on the whole set
        (the Dask executor relies on it).
    **overrides:
        Method options (``METHODS.get(method).options()`` lists them with defaults, e.g.
        ``n_steps`` for IG, ``n_samples``/``sigma_frac`` for SmoothGrad, ``window_ms`` for
        Occlusion, ``epsilon``/``gamma``/``bounds_mv`` for LRP, ``layer``/``relu_attributions``
        for Grad-CAM), and
        ``max_rows`` (rows per forward/backward pass) and ``fold_bn`` (default ``True``:
        methods in :data:`FOLD_EXACT` run on a copy with BatchNorm folded into the
        convolutions, which changes maps by float rounding only).

    Returns
    -------
    numpy.ndarray
        ``(n, 12, T)`` float32 signed maps on the CPU (units: logit per mV for gradients, logit
        for input-multiplying and perturbation methods; see each method's docstring).

    Raises
    ------
    UnknownNameError
        Unknown method (the message lists the valid ones).
    DataError
        Beats of the wrong shape / lead count, NaN or inf, or a target out of range.
    ConfigError
        A bad option, seed, device, chunk size, or missing baselines.
    """
    if not isinstance(method, str):
        raise ConfigError(f"method must be a registered name (str), got {method!r}")
    if method not in METHODS:
        raise UnknownNameError(
            f"unknown attribution method {method!r}; valid: {', '.join(available(True, True, True))}"
        )
    spec = METHODS.get(method)
    overrides = dict(overrides)
    max_rows = overrides.pop("max_rows", None)
    fold_bn = overrides.pop("fold_bn", True)
    if not isinstance(fold_bn, bool):
        raise ConfigError(f"fold_bn must be True or False, got {fold_bn!r}")
    if max_rows is not None:
        max_rows = _check_int("max_rows", max_rows, 1)
    options = _resolve_options(spec, overrides)
    seed = _check_int("seed", seed, 0)
    beat_offset = _check_int("beat_offset", beat_offset, 0)
    if chunk_size is not None:
        chunk_size = _check_int("chunk_size", chunk_size, 1)
    if isinstance(fs, bool) or not isinstance(fs, (int, float, np.number)) or not fs > 0:
        raise ConfigError(f"fs must be a positive number of Hz, got {fs!r}")
    fs = float(fs)
    if spec.fn is None:
        raise ConfigError(f"method {method!r} has no implementation registered")

    beats = _as_beats(x)
    n, n_leads, n_samples = beats.shape
    base = _as_baselines(baselines, beats, method) if spec.needs_baselines else None
    dev = _resolve_device(model, device)
    work = model
    if model_device(model) != dev:
        options = _module_names_to_copy(options, model)
        work = copy.deepcopy(model).to(dev)

    out = np.empty((n, n_leads, n_samples), dtype=np.float32)
    with stage("attribution", method), frozen_eval(work), torch.inference_mode(False), \
            torch.enable_grad(), _quiet_captum():
        n_classes = _n_classes(work, beats[:1].to(dev))  # folding keeps the output's width
        if fold_bn and method in FOLD_EXACT and not any(
                isinstance(v, (nn.Module, str)) for k, v in options.items() if k == "layer"):
            work = folded_cached(work) or work  # a folded copy; the caller's model untouched
        targets = _as_targets(target, n, n_classes)
        base_dev = None if base is None else base.to(dev)
        budget = None
        if chunk_size is None and max_rows is None:
            kind = "forward" if spec.kind == "perturbation" else "grad"
            budget = pass_rows(work, n_leads, n_samples, dev,
                               {"grad": GRAD_ROWS, "forward": FORWARD_ROWS})[kind]
        chunk, rows = plan_chunks(spec, options, n, n_samples, fs,
                                  0 if base is None else base.shape[0], chunk_size, max_rows,
                                  budget)
        t_all = torch.from_numpy(targets)
        for start in range(0, n, chunk):
            stop = min(n, start + chunk)
            ctx = MethodContext(model=work, device=dev, fs=fs, seed=seed,
                                offset=beat_offset + start, baselines=base_dev,
                                chunk_size=chunk, max_rows=rows, method=method)
            xb = beats[start:stop].to(dev, copy=True)
            maps = spec.fn(ctx, xb, t_all[start:stop].to(dev), **options)
            if tuple(maps.shape) != tuple(xb.shape):
                raise RuntimeError(
                    f"{method} returned shape {tuple(maps.shape)} for beats {tuple(xb.shape)}"
                )
            out[start:stop] = maps.detach().to("cpu", torch.float32).numpy()
    if not np.isfinite(out).all():
        warnings.warn(f"{method}: {int((~np.isfinite(out)).sum())} non-finite attribution values",
                      RuntimeWarning, stacklevel=2)
    return out

