"""The (lead × time-window) patch grid shared by the perturbation methods and the perturbation test.

At the bottom of the dependency order (numpy only), so that attribution and evaluation share it.

Occlusion, Feature Ablation, LIME and KernelSHAP remove one lead × ``window_ms`` patch at a time
(Zeiler & Fergus 2014, ECCV, arXiv:1311.2901), and Experiment 4 ranks and removes the same patches
(Samek et al. 2017, IEEE TNNLS 28:2660, region perturbation): one formula turns milliseconds into
samples and one grid splits the beat, so both always mean the same patch.
"""

from __future__ import annotations

import numpy as np

from ecgsignal.errors import ConfigError
from ecgsignal.validation import check_int

__all__ = ["patch_grid", "patch_index", "patch_length"]


def patch_length(patch_ms: float, fs: float, name: str = "patch_ms") -> int:
    """Samples in a patch of ``patch_ms`` at ``fs`` Hz: ``round(patch_ms · fs / 1000)``, at least 1.

    Raises :class:`ConfigError` for a non-positive duration or rate, or a patch shorter than one
    sample.
    """
    if isinstance(fs, bool) or not isinstance(fs, (int, float, np.number)) or not (np.isfinite(fs) and fs > 0):
        raise ConfigError(f"fs must be a positive sampling rate in Hz; got {fs!r}")
    if isinstance(patch_ms, bool) or not isinstance(patch_ms, (int, float, np.number)) \
            or not (np.isfinite(patch_ms) and patch_ms > 0):
        raise ConfigError(f"{name} must be a positive duration in ms; got {patch_ms!r}")
    length = int(round(patch_ms * fs / 1000.0))
    if length < 1:
        raise ConfigError(f"{name}={patch_ms} at fs={fs} Hz is shorter than one sample; use a longer patch")
    return length


def patch_grid(T: int, fs: float, patch_ms: float = 40.0, *, name: str = "patch_ms") -> tuple[int, np.ndarray]:
    """Split ``T`` samples into consecutive patches of ``patch_ms`` milliseconds.

    Parameters
    ----------
    T:
        Samples per lead.
    fs:
        Sampling rate in Hz.
    patch_ms:
        Patch length in ms; in samples ``round(patch_ms · fs / 1000)`` (≥ 1, :func:`patch_length`).
    name:
        What the caller calls ``patch_ms`` (named in the error message).

    Returns
    -------
    (P, bounds):
        ``P`` patches per lead and ``bounds`` ``(P, 2)`` int64 ``[start, stop)`` sample indices;
        the last patch is shorter when ``T`` is not a multiple of the patch length.
    """
    T = check_int(T, "T", what="number of samples")
    length = patch_length(patch_ms, fs, name)
    starts = np.arange(0, T, length, dtype=np.int64)
    stops = np.minimum(starts + length, T)
    return len(starts), np.stack([starts, stops], axis=1)


def patch_index(n_samples: int, length: int) -> np.ndarray:
    """``(n_samples,)`` int64 patch number of every sample for patches of ``length`` samples
    (the grid of :func:`patch_grid`; the last patch may be shorter)."""
    return np.arange(n_samples, dtype=np.int64) // length
