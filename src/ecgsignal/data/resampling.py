"""Polyphase resampling of ECG arrays between sampling rates (e.g. 500 Hz → the model's 250 Hz)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from scipy.signal import resample_poly

from ecgsignal.errors import DataError


def rational_ratio(fs_in: float, fs_out: float, max_denominator: int = 1000) -> tuple[int, int]:
    """``(up, down)`` integers with ``up / down == fs_out / fs_in`` (to 1e-6 relative).

    Raises :class:`DataError` for non-positive rates or a ratio no small fraction represents.
    """
    for name, fs in (("input", fs_in), ("output", fs_out)):
        if not np.isfinite(fs) or fs <= 0:
            raise DataError(f"{name} sampling rate must be a positive number of Hz, got {fs!r}")
    frac = Fraction(float(fs_out) / float(fs_in)).limit_denominator(max_denominator)
    if abs(frac.numerator / frac.denominator - fs_out / fs_in) > 1e-6 * (fs_out / fs_in):
        raise DataError(
            f"cannot resample {fs_in:g} Hz → {fs_out:g} Hz with a rational factor of denominator "
            f"≤ {max_denominator}"
        )
    return frac.numerator, frac.denominator


def resample(x: np.ndarray, fs_in: float, fs_out: float, axis: int = -1) -> np.ndarray:
    """Resample ``x`` along ``axis`` from ``fs_in`` to ``fs_out`` Hz with :func:`scipy.signal.resample_poly`.

    The anti-aliasing filter is scipy's default Kaiser-windowed FIR (β = 5). Values keep their
    units (mV stays mV). Output length is ``ceil(n * up / down)``; the input is returned
    unchanged (as float) when the rates are equal.

    Parameters
    ----------
    x:
        Array of any shape, e.g. ``(n, 12, T)`` beats or a ``(12, N)`` record.
    fs_in, fs_out:
        Sampling rates in Hz.
    axis:
        Time axis.
    """
    up, down = rational_ratio(fs_in, fs_out)
    x = np.asarray(x, dtype=np.float64)
    if up == down:
        return x.copy()
    return resample_poly(x, up, down, axis=axis, padtype="line")


def resampled_length(n: int, fs_in: float, fs_out: float) -> int:
    """Number of samples :func:`resample` returns for ``n`` input samples."""
    up, down = rational_ratio(fs_in, fs_out)
    return -(-n * up // down)
