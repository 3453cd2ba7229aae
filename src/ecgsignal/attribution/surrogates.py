"""Closed-form weighted ridge regression as Captum's interpretable model for LIME / KernelSHAP.

Captum's defaults (``SkLearnLasso``, ``SkLearnLinearRegression``) need scikit-learn, and its
torch alternatives are trained by SGD with shuffling from torch's global RNG. A weighted least-
squares fit solved exactly is deterministic, dependency-free and, with a tiny ridge, is the
KernelSHAP estimator of Lundberg & Lee (2017).
"""

from __future__ import annotations

from typing import Any

import torch
from captum._utils.models.linear_model import LinearModel
from torch.utils.data import DataLoader


def weighted_ridge_train(model: LinearModel, dataloader: DataLoader,
                         construct_kwargs: dict[str, Any], ridge: float = 1e-6,
                         **_: Any) -> dict[str, float]:
    """Fit ``y ≈ X w + b`` minimising ``Σ_i s_i (y_i − x_i·w − b)² + λ‖w‖²`` (float64 LAPACK).

    Parameters
    ----------
    model:
        The Captum :class:`LinearModel` to fill (weights ``(1, p)``, bias ``(1,)``).
    dataloader:
        Batches ``(X (m, p), y (m,), s (m,))`` from Captum's LIME (``s``: sample weights).
    ridge:
        Penalty relative to the data: ``λ = ridge · m · median(s)`` for ``m`` samples (the
        median ignores KernelSHAP's huge weights on the empty and full coalitions); the
        intercept is not penalised. ``ridge=0`` gives the minimum-norm least-squares fit.
    """
    xs, ys, ws = [], [], []
    for batch in dataloader:
        xs.append(batch[0])
        ys.append(batch[1])
        if len(batch) > 2:
            ws.append(batch[2])
    device = xs[0].device
    x = torch.cat(xs).detach().to("cpu", torch.float64)
    y = torch.cat(ys).detach().to("cpu", torch.float64).reshape(-1)
    w = (torch.cat(ws).detach().to("cpu", torch.float64).reshape(-1).clamp_min(0) if ws
         else torch.ones_like(y))
    m, p = x.shape
    sw = w.sqrt()[:, None]
    design = torch.cat([x, torch.ones(m, 1, dtype=x.dtype)], dim=1) * sw
    target = y[:, None] * sw
    lam = float(ridge) * m * float(w.median())
    if lam > 0:  # ridge rows: sqrt(λ)·I on the weights, none on the intercept
        pen = torch.cat([torch.eye(p, dtype=x.dtype) * lam ** 0.5,
                         torch.zeros(p, 1, dtype=x.dtype)], dim=1)
        design = torch.cat([design, pen])
        target = torch.cat([target, torch.zeros(p, 1, dtype=x.dtype)])
    beta = torch.linalg.lstsq(design, target, driver="gelsd").solution[:, 0]
    model._construct_model_params(
        norm_type=None,
        weight_values=beta[:p].view(1, p).to(device, torch.float32),
        bias_value=beta[p:].to(device, torch.float32),
    )
    return {"lambda": lam}


def ridge_model(ridge: float) -> LinearModel:
    """A Captum interpretable model fitted by :func:`weighted_ridge_train` with ``ridge``."""
    return LinearModel(train_fn=lambda model, dataloader, construct_kwargs, **kw:
                       weighted_ridge_train(model, dataloader, construct_kwargs, ridge=ridge))
