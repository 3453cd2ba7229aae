"""Counterfactual explanation in the generator's interpretable parameter space (synthetic data).

A synthetic beat is rendered from wave parameters (:mod:`ecgsignal.data.synthetic`): wave times
and widths (the PR, QRS and QT intervals), per-lead wave amplitudes (Q depth, R and S voltages,
axis) and the ST-T amplitudes and ST plateau (ST level, T amplitude). For a patient with a
finding we know both parameter sets: ``θ₁`` (with the finding) and ``θ₀`` (the same patient
without it, whose rendering is the true counterfactual). The search walks three interpretable
groups of parameters independently from ``θ₁`` towards ``θ₀``::

    θ(α) = θ₀ + α ⊙ (θ₁ − θ₀),   α = (α_timing, α_QRS, α_ST-T) ∈ {0, ¼, ½, ¾, 1}³

re-renders the same patient (with the beat's own noise), and keeps the grid point the model
assigns to NORM whose rendering is closest (L2, mV) to the beat's clean rendering: the smallest
change, along clinically named parameters, that flips the decision. Every candidate is a sum of
the generator's waves, so the counterfactual is a valid ECG by construction (the plausibility
that signal-space search (:mod:`.counterfactual`) can only encourage). If no grid point flips,
the grid point with the highest NORM probability is returned (still chosen by the model, never
the ground truth by default) and the beat counts as not flipped.

The explanation is ``x − x'`` (mV), signed, ``(n, 12, T)``; it needs the synthetic dataset's
configuration (option ``synthetic=ds.meta["config"]``), so that each beat's patient can be
re-rendered, and raises :class:`~ecgsignal.errors.ConfigError` on any other data.

This module reuses the generator's private stages (``synthetic._draw_population``,
``beatmodel._wave_params`` and ``beatmodel._synthesise``); a consistency check (``θ₁`` must re-render the generator's clean beat, ``θ₀`` its counterfactual)
raises :class:`~ecgsignal.errors.DataError` if the generator changes without it.
Reference: the "ground-truth counterfactual" idea of SYNTHETIC_ECG.md; search over
interpretable generative factors as in Goyal et al. (2019), Counterfactual visual explanations, ICML.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import torch

from ecgsignal.attribution.registry import MethodContext, MethodSpec, register_method
from ecgsignal.data import beatmodel as bm
from ecgsignal.data import synthetic as syn
from ecgsignal.errors import ConfigError, DataError

__all__ = ["GROUPS", "ParamCounterfactuals", "param_counterfactuals", "synthetic_batch"]

GROUPS: tuple[str, ...] = ("timing", "qrs", "st_t")
"""Parameter groups searched: wave times/widths (PR, QRS, QT); QRS (and P) amplitudes per lead
(Q depth, R/S voltages, axis); ST-T amplitudes and the ST plateau (ST level, T amplitude)."""
LEVELS: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)

_STT = [bm._W["T"], bm._W["ST"]]


def _config(config: Mapping[str, Any] | syn.SyntheticConfig) -> syn.SyntheticConfig:
    if isinstance(config, syn.SyntheticConfig):
        return config
    if not isinstance(config, Mapping):
        raise ConfigError("the parameter-space counterfactual needs the synthetic dataset's "
                          "configuration (ds.meta['config']); it only works on synthetic data")
    valid = {f.name for f in dataclasses.fields(syn.SyntheticConfig)}
    kw = {k: (tuple(v) if isinstance(v, list) else v) for k, v in config.items() if k in valid}
    return syn.SyntheticConfig(**kw)


@lru_cache(maxsize=2)
def _batch(key: str) -> syn.SyntheticBatch:
    return syn.generate(_config(json.loads(key)), keep_clean=True)


def synthetic_batch(config: Mapping[str, Any] | syn.SyntheticConfig) -> syn.SyntheticBatch:
    """The generator's full batch (clean beats, true counterfactuals) of a synthetic config, cached."""
    from ecgsignal.config import to_dict

    return _batch(json.dumps(to_dict(_config(config)), sort_keys=True, default=str))


def _patients(cfg: syn.SyntheticConfig) -> tuple[dict, dict, np.ndarray]:
    """Patient parameters, class draws and finding flags ``(n, C)``, as :func:`synthetic.generate` draws them."""
    pop = syn._draw_population(cfg)
    return pop.base, pop.draws, pop.has


def _params(base: dict, draws: dict, idx: np.ndarray, has: np.ndarray) -> dict[str, np.ndarray]:
    """Wave parameters of beats ``idx`` with findings ``has``: the renderer's parameter stage."""
    p = bm._wave_params(base, draws, idx, has)
    return {k: p[k] for k in ("mu", "sl", "sr", "ramp", "st", "amp")}


def _draw(q: dict[str, np.ndarray], t: np.ndarray) -> np.ndarray:
    """``(m, 12, T)`` mV from wave parameters: the renderer's synthesis stage."""
    return bm._twelve(bm._synthesise(q, t))


def _align(p0: dict, p1: dict) -> None:
    """Give a wave that one parameter set lacks (zero amplitude in every lead) the other's timing.

    Such a wave renders as nothing whatever its timing, so the end points are unchanged; without
    this, the search would interpolate the width of, e.g., RBBB's terminal wave from the unused
    default (1 s) and render a broad baseline bump halfway.
    """
    for a, b in ((p0, p1), (p1, p0)):
        absent = np.abs(a["amp"]).max(-1) == 0  # (m, W)
        g = absent[:, : bm._GAUSS]
        for k in ("mu", "sl", "sr"):
            a[k][:, : bm._GAUSS][g] = b[k][:, : bm._GAUSS][g]
        a["ramp"][absent[:, bm._GAUSS]] = b["ramp"][absent[:, bm._GAUSS]]
        a["st"][absent[:, bm._GAUSS + 1]] = b["st"][absent[:, bm._GAUSS + 1]]


def _mix(p0: dict, p1: dict, a: tuple[float, float, float]) -> dict[str, np.ndarray]:
    """``θ₀ + α ⊙ (θ₁ − θ₀)`` for the three groups of :data:`GROUPS`."""
    at, aq, as_ = a
    q = {k: p0[k] + at * (p1[k] - p0[k]) for k in ("mu", "sl", "sr", "ramp")}
    q["st"] = p0["st"] + as_ * (p1["st"] - p0["st"])
    w = np.full((1, bm._NW, 1), aq)
    w[:, _STT] = as_
    q["amp"] = p0["amp"] + w * (p1["amp"] - p0["amp"])
    return q


@dataclass(frozen=True)
class ParamCounterfactuals:
    """Result of :func:`param_counterfactuals` for ``m`` beats.

    ``counterfactual`` ``(m, 12, T)`` mV (with each beat's own noise); ``alpha`` ``(m, 3)`` the
    chosen grid point per group (:data:`GROUPS`; 1 = unchanged, 0 = as without the finding);
    ``flipped`` ``(m,)`` whether the model assigns it to NORM.
    """

    counterfactual: np.ndarray
    alpha: np.ndarray
    flipped: np.ndarray


def param_counterfactuals(model: torch.nn.Module, config: Mapping[str, Any] | syn.SyntheticConfig,
                          index: np.ndarray, *, norm_class: int = 0, device: str | torch.device = "cpu",
                          ) -> ParamCounterfactuals:
    """Grid search over :data:`GROUPS` for the beats ``index`` of the synthetic dataset ``config``.

    Parameters
    ----------
    model:
        Network mapping ``(n, 12, T)`` mV to logits (eval mode).
    config:
        The dataset's :class:`SyntheticConfig` or ``ds.meta["config"]``.
    index:
        ``(m,)`` beat indices into the dataset.
    norm_class:
        Index of NORM.
    device:
        Where the model runs.
    """
    cfg = _config(config)
    index = np.asarray(index, np.int64)
    if index.size and (index.min() < 0 or index.max() >= cfg.n):
        raise DataError(f"beat indices must lie in 0..{cfg.n - 1}")
    batch = synthetic_batch(cfg)
    base, draws, has = _patients(cfg)
    t = syn._time_axis(cfg)
    p1 = _params(base, draws, index, has[index])
    p0 = _params(base, draws, index, np.zeros_like(has[index]))
    clean, cf_true = _draw(p1, t), _draw(p0, t)
    if (not np.allclose(clean, batch.clean[index], atol=1e-4)
            or not np.allclose(cf_true, batch.counterfactual[index], atol=1e-4)):
        raise DataError("the parameter-space counterfactual no longer re-renders the generator's "
                        "beats; check data/beatmodel.py against counterfactual_params")
    _align(p0, p1)
    noise = batch.beats[index] - batch.clean[index]
    grid = list(itertools.product(LEVELS, repeat=3))
    m = index.size
    best_d = np.full(m, np.inf)
    out = cf_true + noise
    alpha = np.zeros((m, 3))
    flipped = np.zeros(m, bool)
    model = model.eval()
    best_p = np.full(m, -1.0)  # fallback: the most NORM-like grid point where none flips
    fb_out, fb_alpha = out.copy(), alpha.copy()
    for a in grid:
        x = _draw(_mix(p0, p1, a), t)
        with torch.no_grad():
            logits = model(torch.from_numpy(x + noise).to(device))
            pred = logits.argmax(1).cpu().numpy()
            p_norm = torch.softmax(logits, 1)[:, norm_class].cpu().numpy()
        d = np.sqrt(np.square(x - clean).sum(axis=(1, 2)))
        take = (pred == norm_class) & (d < best_d)
        best_d[take] = d[take]
        out[take] = (x + noise)[take]
        alpha[take] = a
        flipped |= take
        fb = p_norm > best_p
        best_p[fb] = p_norm[fb]
        fb_out[fb] = (x + noise)[fb]
        fb_alpha[fb] = a
    out[~flipped], alpha[~flipped] = fb_out[~flipped], fb_alpha[~flipped]
    return ParamCounterfactuals(counterfactual=out.astype(np.float32), alpha=alpha, flipped=flipped)


def _locate(x: np.ndarray, batch: syn.SyntheticBatch) -> np.ndarray:
    """Indices of beats ``x`` in the generator's batch (exact float32 match)."""
    def h(row: np.ndarray) -> bytes:
        return hashlib.blake2b(np.ascontiguousarray(row, np.float32).tobytes(),
                               digest_size=16).digest()

    lookup = {h(row): i for i, row in enumerate(batch.beats)}
    idx = [lookup.get(h(row), -1) for row in x]
    if min(idx, default=0) < 0:
        raise DataError("a beat is not one of the synthetic dataset's beats: the parameter-space "
                        "counterfactual can only re-render beats the generator made")
    return np.asarray(idx, np.int64)


@register_method(MethodSpec(
    name="counterfactual_params", kind="counterfactual", paper=False, stochastic=False,
    multiplies_input=False, lead_resolved=True, target_dependent=False,
    citation="Goyal et al. 2019, Counterfactual visual explanations, ICML, arXiv:1904.07451; "
             "Wachter et al. 2017, arXiv:1711.00399",
    description="Beat − the same synthetic patient re-rendered with the smallest change of timing, "
                "QRS or ST-T parameters that the model calls NORM (synthetic data only).",
))
def counterfactual_params(ctx: MethodContext, x: torch.Tensor, target: torch.Tensor, *,
                          synthetic: dict | None = None, norm_class: int = 0) -> torch.Tensor:
    """``x − x'`` (mV) with ``x'`` from :func:`param_counterfactuals`; needs ``synthetic=ds.meta["config"]``."""
    if synthetic is None:
        raise ConfigError("counterfactual_params needs synthetic=ds.meta['config']: it re-renders "
                          "the synthetic patient, so it only works on synthetic data")
    xs = x.detach().cpu().numpy()
    idx = _locate(xs, synthetic_batch(synthetic))
    res = param_counterfactuals(ctx.model, synthetic, idx, norm_class=norm_class, device=ctx.device)
    return torch.from_numpy(xs - res.counterfactual).to(x.device)
