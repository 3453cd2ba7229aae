"""Perturbed beats of Experiment 4, each distinct one built and predicted once per class run.

Split from :mod:`ecgsignal.evaluation.experiments.perturbation` to keep that module short.

A perturbed beat is fully determined by the beat (its row in the class run), the replacement
and the removal mask (the noise replacement draws one field per class run and replacement, the
same at every step), so it is keyed by ``(row, replacement, digest of the packed mask)``; a mask
that removes nothing gives the beat itself whatever the replacement. Many perturbed beats recur
across methods and orders: fraction 0 and 1 (and 0 or 12 leads) do not depend on the ranking,
and the negatives are perturbed in the one random order for every method. Only the beats whose
key is new are replaced and predicted: the same numbers as replacing and predicting every beat
(the model's output for a row does not depend on the other rows of its pass, except in a pass of
a single row, which :func:`predict_class` never runs), without the work.
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np

from ecgsignal.evaluation._utils import as_maps
from ecgsignal.evaluation.perturbation import noise_fill, replace
from ecgsignal.models import predict_proba

PREDICT_ROWS = 128
"""Rows per forward pass when predicting perturbed beats (the engine's measured sweet spot for
forward-only passes, :data:`ecgsignal.attribution.FORWARD_ROWS`)."""

ROW_WISE = frozenset({"zero", "mean", "interp"})
"""Replacements whose result for a beat depends on that beat alone (no random draw)."""


def predict_class(model: Any, xs: np.ndarray, c: int, device: Any = None,
                  rows: int = PREDICT_ROWS) -> np.ndarray:
    """``(m,)`` float32 probability of class ``c`` for ``xs`` ``(m, 12, T)``, in passes of ``rows``.

    A last pass of one row is run as two copies of it: on the CPU a one-row pass takes another
    kernel whose output differs in the last bits (measured ≤ 5e-7), every larger pass gives each
    row the same bits whatever the other rows, so the result does not depend on how the rows were
    grouped.
    """
    m = xs.shape[0]
    if m == 0:
        return np.zeros(0, np.float32)
    out = []
    head = m - 1 if m % rows == 1 else m  # one call for all full passes (one model set-up)
    if head:
        out.append(predict_proba(model, xs[:head], batch_size=rows, device=device)[:, c])
    if head < m:
        out.append(predict_proba(model, np.concatenate([xs[head:], xs[head:]]), batch_size=rows,
                                 device=device)[:1, c])
    return np.concatenate(out).astype(np.float32, copy=False)


def replace_rows(x: np.ndarray, mask: np.ndarray, rows: np.ndarray, how: str, seed: int,
                 noise: dict[Hashable, np.ndarray]) -> np.ndarray:
    """``replace(x, mask, how, seed=seed)[rows]``, computed for those rows only where possible.

    ``noise`` caches the noise field of ``(how, seed)`` (drawn for all of ``x``, as
    :func:`~ecgsignal.evaluation.perturbation.replace` draws it).
    """
    if how in ROW_WISE:
        return replace(x[rows], mask[rows], how, seed=seed)
    if how == "noise":
        z = noise.get((how, seed))
        if z is None:
            z = noise[(how, seed)] = np.random.default_rng(seed).standard_normal(x.shape)
        out = noise_fill(as_maps(x[rows], "x"), mask[rows], z[rows])
        return out.astype(x.dtype if np.issubdtype(x.dtype, np.floating) else np.float64,
                          copy=False)
    return replace(x, mask, how, seed=seed)[rows]  # a replacement registered elsewhere


def row_keys(masks: np.ndarray, how: str) -> list[tuple]:
    """Keys of the perturbed beats of ``masks`` ``(S, n, 12, T)``: step-major, ``S · n`` keys."""
    s, n = masks.shape[:2]
    flat = masks.reshape(s * n, -1)
    packed = np.packbits(flat, axis=1)
    removes = flat.any(axis=1)
    return [(j % n, how if removes[j] else "",
             hashlib.blake2b(packed[j].tobytes(), digest_size=16).digest())
            for j in range(s * n)]


class RowPredictor:
    """Probabilities of the perturbed beats of one class run, each distinct beat predicted once.

    Parameters
    ----------
    model, c, device:
        The model, the class scored and where the model runs.
    x:
        ``(n, 12, T)`` beats of the class run (positives, then negatives).
    probs:
        Probability by key, kept across calls (the class run's memory).
    noise:
        Noise fields by ``(how, seed)``, kept across calls.
    """

    def __init__(self, model: Any, c: int, device: Any, x: np.ndarray,
                 probs: dict[tuple, float], noise: dict[Hashable, np.ndarray]) -> None:
        self.model, self.c, self.device, self.x = model, c, device, x
        self.probs, self.noise = probs, noise
        self._new_x: list[np.ndarray] = []
        self._new_keys: list[tuple] = []
        self._queued: set[tuple] = set()
        self._groups: list[tuple[Any, list[tuple]]] = []

    def queue(self, key: Any, masks: Sequence[np.ndarray], how: str, seed: int) -> None:
        """Queue the perturbed beats of one curve: ``masks`` ``S × (n, 12, T)``, one per step."""
        m = np.stack(masks)
        keys = row_keys(m, how)
        n = self.x.shape[0]
        new = [j for j, k in enumerate(keys) if k not in self.probs and k not in self._queued]
        for j in new:
            self._queued.add(keys[j])
        new_arr = np.asarray(new, dtype=np.int64)
        for step in np.unique(new_arr // n):
            js = new_arr[new_arr // n == step]
            self._new_x.append(replace_rows(self.x, m[step], js % n, how, seed, self.noise))
            self._new_keys += [keys[j] for j in js]
        self._groups.append((key, keys))
        if len(self._new_keys) >= 8 * PREDICT_ROWS:
            self._predict()

    def _predict(self) -> None:
        if not self._new_keys:
            return
        xs = np.ascontiguousarray(np.concatenate(self._new_x))
        got = predict_class(self.model, xs, self.c, self.device)
        self.probs.update(zip(self._new_keys, got.tolist()))
        self._new_x, self._new_keys, self._queued = [], [], set()

    def results(self) -> list[tuple[Any, np.ndarray]]:
        """Each queued curve's key and its probabilities ``(S, n)`` float64, in queue order."""
        self._predict()
        n = self.x.shape[0]
        out = []
        for key, keys in self._groups:
            p = np.array([self.probs[k] for k in keys], dtype=np.float32)
            out.append((key, np.asarray(p, dtype=np.float64).reshape(-1, n)))
        self._groups = []
        return out
