"""Counterfactual explanation in signal space (Wachter et al. 2017), registered as a method.

For a beat ``x`` the search finds a nearby beat ``x' = x + δ`` that the model assigns to NORM, by
minimising, per beat, with Adam over ``δ`` (initialised at 0, a fixed number of steps)::

    L(δ) = CE(f(x + δ), NORM)  +  λ₁ · mean|δ|  +  λ₂ · mean((δ[t+1] − δ[t])²) · fs² / 1e6

- the cross-entropy pulls the model's decision to NORM (Wachter et al.'s prediction term);
- ``λ₁`` (per mV) is the L1 proximity term: a sparse change, few samples and leads;
- ``λ₂`` penalises the squared first difference of the change (in (mV/ms)²): a smooth change,
  the plausibility term, since real ECG differences are waves, not single-sample spikes.

Every beat's loss is summed into one batch objective; Adam's updates are element-wise, so beats
do not interact and the result does not depend on the chunking. Among the iterates the one with
the lowest loss that the model assigns to NORM is kept (the last iterate if none flips). The
search has no random draw: it is deterministic; the target does not enter (the counterfactual
class is NORM for every beat), so a NORM beat's explanation is ≈ 0.

The explanation is ``x − x'`` (mV; the beat minus its counterfactual), signed, ``(n, 12, T)``.

Reference: Wachter, S., Mittelstadt, B., Russell, C. (2017). Counterfactual explanations without
opening the black box: automated decisions and the GDPR. Harvard J. Law Technol. 31, 841.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ecgsignal.attribution.registry import MethodContext, MethodSpec, register_method
from ecgsignal.errors import ConfigError

__all__ = ["WACHTER", "signal_counterfactual"]

WACHTER = ("Wachter, Mittelstadt & Russell 2017, Counterfactual explanations without opening the "
           "black box, Harvard J. Law Technol. 31:841, arXiv:1711.00399")


def signal_counterfactual(model: torch.nn.Module, x: torch.Tensor, fs: float, *,
                          norm_class: int = 0, steps: int = 150, lr: float = 0.01,
                          lambda_l1: float = 0.5, lambda_smooth: float = 1.0,
                          ) -> tuple[torch.Tensor, torch.Tensor]:
    """Counterfactual beats ``x'`` ``(n, 12, T)`` and whether each is assigned to NORM ``(n,)``.

    Parameters
    ----------
    model:
        Network mapping ``(n, 12, T)`` mV to ``(n, C)`` logits (eval mode; its parameters are
        not updated).
    x:
        Beats, mV.
    fs:
        Sampling rate, Hz (the smoothness term is per ms).
    norm_class:
        Index of the counterfactual class (NORM).
    steps, lr:
        Adam iterations and step size (mV).
    lambda_l1, lambda_smooth:
        Weights of the proximity and smoothness terms (module docstring).
    """
    for name, v in (("steps", steps), ("lr", lr), ("lambda_l1", lambda_l1),
                    ("lambda_smooth", lambda_smooth)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0 or (
                name in ("steps", "lr") and v <= 0):
            raise ConfigError(f"counterfactual option {name!r} must be a "
                              f"{'positive' if name in ('steps', 'lr') else 'non-negative'} "
                              f"number, got {v!r}")
    x = x.detach()
    n = x.shape[0]
    delta = torch.zeros_like(x, requires_grad=True)
    opt = torch.optim.Adam([delta], lr=float(lr))
    tgt = torch.full((n,), int(norm_class), dtype=torch.long, device=x.device)
    scale = (fs / 1e3) ** 2  # (mV/sample)² → (mV/ms)²
    best = x.clone()
    best_loss = torch.full((n,), float("inf"), device=x.device)
    found = torch.zeros(n, dtype=torch.bool, device=x.device)
    for _ in range(int(steps) + 1):
        logits = model(x + delta)
        ce = F.cross_entropy(logits, tgt, reduction="none")
        l1 = delta.abs().mean(dim=(1, 2))
        smooth = torch.diff(delta, dim=-1).square().mean(dim=(1, 2)) * scale
        loss = ce + lambda_l1 * l1 + lambda_smooth * smooth
        with torch.no_grad():
            ok = logits.argmax(1) == tgt
            better = ok & (loss < best_loss)
            best[better] = (x + delta)[better]
            best_loss[better] = loss[better]
            found |= ok
        opt.zero_grad()
        loss.sum().backward()
        opt.step()
    with torch.no_grad():
        last = x + delta
        best[~found] = last[~found]
    return best.detach(), found


@register_method(MethodSpec(
    name="counterfactual_signal", kind="counterfactual", paper=False, stochastic=False,
    multiplies_input=False, lead_resolved=True, citation=WACHTER, target_dependent=False,
    description="Beat − nearest beat the model calls NORM, by Adam on CE(NORM) + λ₁·L1 + "
                "λ₂·smoothness in signal space (Wachter et al. 2017).",
))
def counterfactual_signal(ctx: MethodContext, x: torch.Tensor, target: torch.Tensor, *,
                          norm_class: int = 0, steps: int = 150, lr: float = 0.01,
                          lambda_l1: float = 0.5, lambda_smooth: float = 1.0) -> torch.Tensor:
    """``x − x'`` (mV) with ``x'`` from :func:`signal_counterfactual`."""
    cf, _ = signal_counterfactual(ctx.model, x, ctx.fs, norm_class=norm_class, steps=steps, lr=lr,
                                  lambda_l1=lambda_l1, lambda_smooth=lambda_smooth)
    return x.detach() - cf
