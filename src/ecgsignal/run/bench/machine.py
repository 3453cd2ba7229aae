"""The machine the numbers come from, and the model and beats every section measures on."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ecgsignal.errors import ConfigError
from ecgsignal.run.bench.config import BenchConfig

__all__ = ["bench_model", "machine_info"]


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


