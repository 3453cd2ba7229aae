"""The same maps on two devices (CUDA against the CPU)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from ecgsignal.run.bench.config import BenchConfig
from ecgsignal.run.bench.harness import _max_diff
from ecgsignal.run.bench.machine import _beats, bench_model

__all__ = ["DEVICE_TOLERANCE", "compare_devices"]


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


