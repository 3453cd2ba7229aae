"""Torch's global random state, forked: the one helper every layer uses to draw without side effects.

Some libraries draw only from torch's global generator (Captum's LIME and KernelSHAP samplers,
``nn.Module.reset_parameters``, Quantus' MPRT); the package seeds them inside a fork so the caller's
random state is the same before and after (reproducibility: every random choice takes a seed).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

__all__ = ["forked_torch_rng"]


@contextmanager
def forked_torch_rng(device: str | torch.device | None = None, seed: int | None = None) -> Iterator[None]:
    """Fork torch's global RNG (CPU, and ``device`` if it is a CUDA device), restoring it on exit.

    ``seed``, when given, seeds the forked generators (``torch.manual_seed``) on entry.
    """
    dev = torch.device(device) if device is not None else torch.device("cpu")
    devices = []
    if dev.type == "cuda":
        devices = [dev.index if dev.index is not None else torch.cuda.current_device()]
    with torch.random.fork_rng(devices=devices):
        if seed is not None:
            torch.manual_seed(seed)
        yield
