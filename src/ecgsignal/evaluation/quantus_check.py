"""Cross-check of our cascading randomisation against Quantus' reference MPRT.

Quantus (Hedström et al. 2023, "Quantus: an explainable AI toolkit", JMLR 24(34)) implements the
model-parameter randomisation test of Adebayo et al. (2018) as :class:`quantus.MPRT`. Its re-init
policy, read from ``quantus/helpers/model/pytorch_model.py`` (v0.6.0):

* the layers are every module of ``model.named_modules()`` that has a ``reset_parameters``
  attribute (Conv, Linear *and* BatchNorm), in registration order, reversed for ``top_down``;
* before each layer it calls ``torch.manual_seed(seed + 1)`` (the same seed for every layer, on
  the *global* RNG) and then ``layer.reset_parameters()`` — Conv/Linear get their default
  kaiming-uniform draw, BatchNorm becomes γ=1, β=0, running mean 0, variance 1;
* explanations are max-normalised over the batch (``normalise_by_max``) and made absolute, and
  compared per sample with ``scipy.stats.spearmanr``.

Our side (:mod:`ecgsignal.evaluation.randomization`) runs the same cascade at the same
granularity (``granularity="module"``, ``bn="reset"``). With ``match_draws=True`` each layer's
generator is seeded ``seed + 1`` like Quantus', so the random weights are the same draw for draw
and the per-layer correlations must agree to rounding; with ``match_draws=False`` our own per-stage
seeding is used and only the distributions match, so the layers agree up to sampling noise.

Quantus' averaging bug: ``MPRT(return_average_correlation=True)`` averages every entry of its
score dict except a key ``"orig"`` — but the key it stores is ``"original"`` (the trained model
against itself, 1.0), so the average includes that 1.0 and is biased upwards.
:func:`average_correlation` computes both the Quantus value and the corrected one.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import torch
from torch import nn

from ecgsignal.errors import ConfigError, DataError
from ecgsignal.evaluation._utils import rank_rows, row_pearson
from ecgsignal.evaluation.randomization import (
    iter_randomized,
    reinitialize_,
    stage_modules,
)
from ecgsignal.models.folding import clone_module
from ecgsignal.rng import forked_torch_rng

__all__ = [
    "Explain",
    "average_correlation",
    "cross_check",
    "make_explain",
    "our_mprt_scores",
    "quantus_layers",
    "quantus_mprt_scores",
]

Explain = Callable[[nn.Module, np.ndarray, np.ndarray], np.ndarray]
"""``explain(model, x (n, 12, T), targets (n,)) -> (n, 12, T)`` signed attribution maps."""


def make_explain(method: str = "saliency", **kwargs: object) -> Explain:
    """An :data:`Explain` calling :func:`ecgsignal.attribution.attribute` with ``method``."""
    from ecgsignal.attribution import attribute

    def explain(model: nn.Module, x: np.ndarray, targets: np.ndarray) -> np.ndarray:
        return np.asarray(attribute(model, np.asarray(x, np.float32), np.asarray(targets),
                                    method, **kwargs))

    return explain


def quantus_layers(model: nn.Module, order: str = "top_down") -> list[str]:
    """The layer names Quantus' MPRT walks, in its order (modules with ``reset_parameters``)."""
    names = [n for n, m in model.named_modules() if hasattr(m, "reset_parameters")]
    if order == "top_down":
        return names[::-1]
    if order == "bottom_up":
        return names
    raise ConfigError(f"only the cascading orders are cross-checked; got {order!r}")


def _check_inputs(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y)
    if x.ndim != 3 or y.shape != (x.shape[0],):
        raise DataError(f"need x (n, leads, T) and y (n,); got {x.shape} and {y.shape}")
    return x, y


def quantus_mprt_scores(model: nn.Module, x: np.ndarray, y: np.ndarray, explain: Explain,
                        order: str = "top_down", seed: int = 42, batch_size: int = 64,
                        ) -> dict[str, np.ndarray]:
    """Per-layer, per-beat scores of ``quantus.MPRT`` (Spearman of max-normalised ``|a|``).

    Parameters
    ----------
    model:
        Trained network in eval mode (Quantus deep-copies it; the original is not modified).
    x:
        ``(n, 12, T)`` beats, mV.
    y:
        ``(n,)`` target classes.
    explain:
        The attribution function, as :data:`Explain`.
    order:
        ``"top_down"`` or ``"bottom_up"``.
    seed:
        Quantus' ``seed`` (it seeds ``seed + 1`` before every layer).

    Returns
    -------
    dict
        ``"original"`` → ``(n,)`` (trained vs trained, 1.0), then one ``(n,)`` per layer in
        Quantus' order. Torch's global RNG state is restored afterwards.
    """
    from ecgsignal.attribution.lrp_zennit import preload_zennit

    preload_zennit()  # quantus imports zennit when installed; zennit needs torchvision (or us)
    import quantus

    x, y = _check_inputs(x, y)

    def explain_func(model: nn.Module, inputs: np.ndarray, targets: np.ndarray,
                     **_: object) -> np.ndarray:
        return explain(model, np.asarray(inputs), np.asarray(targets))

    metric = quantus.MPRT(layer_order=order, seed=seed, abs=True, normalise=True,
                          return_aggregate=False, disable_warnings=True,
                          display_progressbar=False)
    with forked_torch_rng():
        scores = metric(model=model, x_batch=x, y_batch=y, a_batch=None, channel_first=True,
                        explain_func=explain_func, device="cpu", batch_size=batch_size)
    return {k: np.asarray(v, dtype=np.float64) for k, v in scores.items()}


def our_mprt_scores(model: nn.Module, x: np.ndarray, y: np.ndarray, explain: Explain,
                    order: str = "top_down", seed: int = 42, match_draws: bool = True,
                    ) -> dict[str, np.ndarray]:
    """Our cascade at Quantus' granularity: ``spearman_abs`` to the trained map, per layer.

    Parameters are those of :func:`quantus_mprt_scores`; ``match_draws`` seeds every layer's
    generator ``seed + 1`` as Quantus does (same random weights), otherwise our own per-stage
    seeds (:func:`~ecgsignal.evaluation.randomization.stage_generator`) are used.

    Returns
    -------
    dict
        Same keys and shapes as :func:`quantus_mprt_scores`.
    """
    x, y = _check_inputs(x, y)
    if order not in ("top_down", "bottom_up"):
        raise ConfigError(f"only the cascading orders are cross-checked; got {order!r}")
    a0 = explain(model, x, y)
    r0 = _abs_ranks(a0)  # the trained map's ranks, once (spearman_abs would redo them per layer)
    out = {"original": row_pearson(r0, r0)}  # spearman_abs(a0, a0), bit for bit
    if match_draws:
        work = clone_module(model)  # copy.deepcopy's result, faster
        mods = stage_modules(work, "module")
        if order == "bottom_up":
            mods = mods[::-1]
        for name, module in mods:
            reinitialize_(module, torch.Generator().manual_seed(seed + 1), bn="reset")
            out[name] = row_pearson(r0, _abs_ranks(explain(work, x, y)))
        return out
    for _, name, rnd in iter_randomized(model, order, seed=seed, bn="reset",
                                        granularity="module", include_trained=False):
        out[name] = row_pearson(r0, _abs_ranks(explain(rnd, x, y)))
    return out


def _abs_ranks(a: np.ndarray) -> np.ndarray:
    """Per-beat average ranks of ``|a|`` flattened, ``(n, 12·T)``:
    :func:`~ecgsignal.evaluation.similarity.spearman_abs` is ``row_pearson`` of two of these (bit
    for bit). Ranked in the maps' own float dtype: the order and ties of float32 values are
    those of their float64 copies."""
    arr = np.asarray(a)
    if arr.ndim != 3 or not np.isfinite(arr).all():
        raise DataError(f"maps must be finite (n, leads, T); got shape {arr.shape}")
    return rank_rows(np.abs(arr).reshape(arr.shape[0], -1))


def average_correlation(scores: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per-beat average correlation over layers: (Quantus' value, the corrected value).

    Quantus (v0.6.0, ``recompute_average_correlation_per_sample``) skips a key ``"orig"`` that
    never exists, so its average includes ``"original"``; the corrected value excludes it.
    """
    layers = [k for k in scores if k != "original"]
    if not layers:
        raise DataError("no randomised layers in the scores")
    quantus_avg = np.mean([scores[k] for k in scores if k != "orig"], axis=0)
    corrected = np.mean([scores[k] for k in layers], axis=0)
    return quantus_avg, corrected


def cross_check(model: nn.Module, x: np.ndarray, y: np.ndarray, explain: Explain | None = None,
                order: str = "top_down", seed: int = 42, match_draws: bool = True,
                ) -> pd.DataFrame:
    """Quantus' MPRT and our cascade side by side, per layer.

    Returns
    -------
    pandas.DataFrame
        One row per layer (``"original"`` first, then Quantus' order) with the mean over beats of
        ``quantus`` and ``ours``, ``delta`` = ours − quantus (of the means) and
        ``max_abs_delta`` (largest per-beat difference). ``df.attrs`` holds the average
        correlation as Quantus computes it (``quantus_average``) and corrected
        (``corrected_average``), both means over beats.
    """
    explain = explain or make_explain("saliency")
    q = quantus_mprt_scores(model, x, y, explain, order=order, seed=seed)
    o = our_mprt_scores(model, x, y, explain, order=order, seed=seed, match_draws=match_draws)
    if list(q) != list(o):
        raise DataError(f"layer lists differ: quantus {list(q)} vs ours {list(o)}")
    rows = []
    for k in q:
        rows.append({"layer": k, "quantus": float(np.nanmean(q[k])), "ours": float(np.nanmean(o[k])),
                     "max_abs_delta": float(np.nanmax(np.abs(q[k] - o[k])))})
    df = pd.DataFrame(rows)
    df["delta"] = df["ours"] - df["quantus"]
    df = df[["layer", "quantus", "ours", "delta", "max_abs_delta"]].copy()
    qa, ca = average_correlation(q)
    df.attrs["quantus_average"] = float(np.nanmean(qa))
    df.attrs["corrected_average"] = float(np.nanmean(ca))
    return df
