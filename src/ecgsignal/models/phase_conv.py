"""Dilated 1-D convolutions computed as interleaved undilated ones (same function, faster on CPU).

A convolution of dilation ``d`` (stride 1, zero padding ``p`` with ``p % d == 0``) never mixes
samples of different phases ``t mod d``: output ``t = q·d + r`` is

    y[t] = Σ_j w_j · x[t + j·d − p] = Σ_j w_j · x_r[q + j − p/d],   x_r[i] = x[i·d + r],

an *undilated* convolution of phase ``r`` with padding ``p/d``. So the input is padded with zeros
to a multiple of ``d`` (samples past the end are the convolution's own zero padding), split into
its ``d`` phases along the batch axis, convolved once without dilation, and interleaved back.
A convolution whose stride equals its dilation (``p % d == 0``) reads only phase 0:
``y = conv(x[..., ::d])`` without dilation, and a strided 1x1 convolution without padding (the
residual blocks' skip) reads every ``s``-th sample: ``y = conv(x[..., ::s])`` without stride.

Why: oneDNN's CPU kernels for dilated convolutions are about half as fast as its undilated ones
on an AVX2 machine (AMD EPYC Zen 3, one thread, 32 channels, kernel 7, 75 samples: 3.6 vs 1.8 ms
forward for 128 beats; backward 8.3 vs ~4.5 ms). On the default CNN (dilations 1, 2, 4, 8) a
training step took 15 % less time and a forward pass 16 % less; the strided 1x1 skip's backward
took 7.0 ms for 128 beats as it was and 1.9 ms on the samples it reads; ``ecgsignal bench --sections
conv`` measures it side by side on the machine at hand. The values are those of
``torch.nn.functional.conv1d`` up to float32 rounding (another summation order:
``tests/test_phase_conv.py`` checks outputs and gradients), and the parameters and their names
are those of ``nn.Conv1d``, so checkpoints, hooks, LRP rules and randomisation see a ``Conv1d``.

On other devices (CUDA) and for any other configuration the convolution runs as it is.
:data:`ENABLED` (environment ``ECGSIGNAL_PHASE_CONV=0`` turns it off) lets a benchmark compare
both ways in one process.

Training does not use it (:func:`torch_kernels` around the training loop). Float rounding is
harmless in one pass, but over thousands of optimiser steps it grows into another model: trained
with phases, the book's five models moved 7 of its 65 glued estimates out of their former CIs
(which resample beats, not training runs) and Experiment 3 flagged 5 methods instead of 6
(measured on a Zen 3; chapter 08's best mask AUROC 0.83 [0.82, 0.84] became 0.85 [0.84, 0.86]).
With torch's kernels in training, the models, their checkpoints and every number conditioned on
them stay those of torch's kernels bit for bit; maps, perturbations and searches on a trained
model use phases and move by float rounding only.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ENABLED", "PhaseConv1d", "phase_conv1d", "torch_kernels"]

ENABLED: bool = os.environ.get("ECGSIGNAL_PHASE_CONV", "1").strip().lower() not in (
    "0", "false", "no", "off")
"""Whether :func:`phase_conv1d` splits dilated convolutions into phases (module-level switch)."""

_LOCAL = threading.local()


@contextlib.contextmanager
def torch_kernels() -> Iterator[None]:
    """In this block (this thread only), :func:`phase_conv1d` is ``F.conv1d`` as it is: torch's
    own kernels, bit for bit (model training, see the module docstring)."""
    old = getattr(_LOCAL, "off", False)
    _LOCAL.off = True
    try:
        yield
    finally:
        _LOCAL.off = old


def phase_conv1d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, stride: int,
                 padding: int, dilation: int) -> torch.Tensor:
    """``F.conv1d(x, weight, bias, stride, padding, dilation)`` (``groups=1``, zero padding),
    computed without dilation where that is the same function (see the module docstring).

    Parameters
    ----------
    x:
        ``(B, C_in, L)`` input.
    weight, bias:
        ``(C_out, C_in, k)`` and ``(C_out,)`` or ``None``.
    stride, padding, dilation:
        Integers, as for ``F.conv1d``.

    Returns
    -------
    torch.Tensor
        ``(B, C_out, L_out)``, ``L_out = (L + 2·padding − dilation·(k − 1) − 1) // stride + 1``.
    """
    d, s, p = int(dilation), int(stride), int(padding)
    if not ENABLED or x.dim() != 3 or x.device.type != "cpu" or getattr(_LOCAL, "off", False):
        return F.conv1d(x, weight, bias, s, p, d)
    if weight.shape[-1] == 1 and p == 0 and s > 1:
        # a strided 1x1 convolution reads every s-th sample: oneDNN's backward of the strided
        # form is ~6x slower than the undilated one on the (contiguous) samples it reads
        return F.conv1d(x[..., ::s].contiguous(), weight, bias, 1, 0, 1)
    if d == 1 or p % d:
        return F.conv1d(x, weight, bias, s, p, d)
    if s == d:
        # output t reads x[t·d + j·d − p]: phase 0 only
        return F.conv1d(x[..., ::d], weight, bias, 1, p // d, 1)
    if s != 1:
        return F.conv1d(x, weight, bias, s, p, d)
    b, c, n = x.shape
    m = -(-n // d)  # samples per phase
    if m * d != n:
        x = F.pad(x, (0, m * d - n))
    phases = x.reshape(b, c, m, d).permute(0, 3, 1, 2).reshape(b * d, c, m)
    y = F.conv1d(phases, weight, bias, 1, p // d, 1)
    k = weight.shape[-1]
    n_out = n + 2 * p - d * (k - 1)  # ≤ m·d outputs of the d phases
    y = y.reshape(b, d, y.shape[1], y.shape[2]).permute(0, 2, 3, 1).reshape(b, y.shape[1], -1)
    return y[..., :n_out]


class PhaseConv1d(nn.Conv1d):
    """``nn.Conv1d`` whose forward is :func:`phase_conv1d` (zero padding, one group); any other
    padding mode or grouping runs as ``nn.Conv1d``. Parameters, state dict and repr are
    ``nn.Conv1d``'s."""

    def _conv_forward(self, input: torch.Tensor, weight: torch.Tensor,
                      bias: torch.Tensor | None) -> torch.Tensor:
        if (self.padding_mode != "zeros" or self.groups != 1
                or not isinstance(self.padding, tuple)):
            return super()._conv_forward(input, weight, bias)
        return phase_conv1d(input, weight, bias, self.stride[0], self.padding[0],
                            self.dilation[0])

    def _get_name(self) -> str:  # repr as Conv1d: same function, same parameters
        return "Conv1d"
