"""Occlusion and feature ablation without Captum's per-perturbation bookkeeping.

Captum's ``Occlusion`` / ``FeatureAblation`` build, for every group of perturbations, an expanded
copy of the inputs, a padded mask per window, an ``input · (1 − mask) + baseline · mask`` blend,
a weighted accumulation of ``eval_diff · mask`` and a division by the per-sample window count.
With the project's settings (window = stride, zero baseline, one feature = one lead × one window
or one whole lead) every sample is covered by exactly one feature, so all of that reduces to

    map[b, lead, t] = f(x_b)[target_b] − f(x_b with feature(lead, t) set to 0 mV)[target_b].

Here every (beat, feature) pair of a chunk is one row: the rows are gathered from the beats, the
feature's samples zeroed in place (``masked_fill``; Captum's blend gives the same +0 there and
the unchanged values elsewhere), and the rows run forward under :func:`torch.inference_mode` in
passes of at most ``max_rows`` rows (the engine's measured budget). ``f(x)`` is computed once per
chunk. The maps equal Captum's up to the float rounding of other batch sizes (tested against
Captum within 1e-5 of each beat's peak |value|, ``tests/test_occlusion_fast.py``); the generic
path alone is about as fast as Captum's ``Occlusion`` (its forward passes dominate); the local
recompute below (:func:`occlude_windows`, default CNN only) is what makes Occlusion ~2x faster.
"""

from __future__ import annotations

import torch
from torch import nn

from ecgsignal.models.phase_conv import PhaseConv1d, phase_conv1d

__all__ = ["ablate_features", "occlude_windows"]


def ablate_features(model: nn.Module, x: torch.Tensor, target: torch.Tensor,
                    feature_of: torch.Tensor, max_rows: int) -> torch.Tensor:
    """Drop of the target logit when each feature is set to 0, spread over its samples.

    Parameters
    ----------
    model:
        Network ``(m, L, T) → (m, n_classes)`` logits, in eval mode.
    x:
        ``(c, L, T)`` beats (mV).
    target:
        ``(c,)`` int64 classes.
    feature_of:
        ``(L, T)`` int64 feature id of every (lead, sample), ids ``0..F-1`` (every id used);
        a partition, so each sample belongs to exactly one feature.
    max_rows:
        Most rows per forward pass (≥ 1).

    Returns
    -------
    torch.Tensor
        ``(c, L, T)`` float32: ``f(x)[target] − f(x with the sample's feature zeroed)[target]``.
    """
    c, n_leads, n_samples = x.shape
    n_feat = int(feature_of.max()) + 1
    feature_of = feature_of.to(x.device)
    rows_max = max(1, int(max_rows))
    drops = torch.empty(c * n_feat, dtype=x.dtype, device=x.device)
    with torch.inference_mode():
        xi = x.detach()
        tg = target.to(x.device)
        ref = model(xi).gather(1, tg[:, None])[:, 0]  # f(x) once per beat
        total = c * n_feat
        for start in range(0, total, rows_max):
            idx = torch.arange(start, min(total, start + rows_max), device=x.device)
            beat = idx // n_feat
            rows = xi[beat]  # a gathered copy, (m, L, T)
            rows.masked_fill_(feature_of[None] == (idx % n_feat)[:, None, None], 0.0)
            out = model(rows).gather(1, tg[beat][:, None])[:, 0]
            drops[start:start + idx.numel()] = ref[beat] - out
    per_beat = drops.view(c, n_feat)
    return per_beat[:, feature_of.reshape(-1)].view(c, n_leads, n_samples).clone()


# ----------------------------------------------------------------------------- local recompute
# An occluded window changes the activations of the early layers only near the window: a conv
# of kernel k, stride s, padding p, dilation d maps a changed input span of W samples to at most
# (W − 1 + d(k − 1)) // s + 1 changed outputs. For the default CNN (:class:`ECGCNN`) a 40 ms
# window touches 9 of the stem's 150 outputs, 21 of block 0's and 29 of block 1's 75; only from
# block 2 on does the change cover the beat. So per (beat, window) row the stem and those early
# blocks are recomputed on a fixed-width span around the window (gathered from the clean beat's
# activations, with the span's new values written in) and the remaining blocks run on the full
# activations. On an AVX-512 CPU (AMD Zen 4) a convolution on a slice gives bit-for-bit the values
# of the full convolution at those positions (same kernel, same summation order; the 1x1 strided
# skip conv is the exception, it rounds differently on a slice, so it runs on the whole block
# input), and the maps equal the generic path's bit for bit at equal pass sizes. On an AVX2 CPU
# (Zen 3) oneDNN picks other kernels for a slice: the maps differ at the float32 rounding of the
# logits (≤ 1.8e-7 on logits of ~1, measured; tests/test_occlusion_fast.py). Measured at one thread,
# 90 beats, trained default CNN, passes of 128 rows, interleaved with Captum's Occlusion: 2.06x
# faster (3.85 s vs 7.92 s, box under load), maps identical.

_GLOBAL_HOOKS = ("_global_forward_hooks", "_global_forward_pre_hooks",
                 "_global_forward_hooks_always_called")
_HOOKS = ("_forward_hooks", "_forward_pre_hooks", "_forward_hooks_with_kwargs",
          "_forward_pre_hooks_with_kwargs")
LOCAL_FRACTION = 0.5
"""A block runs locally while its changed span is at most this fraction of its output."""


def _plain_conv(m: nn.Module) -> bool:
    return (type(m) in (nn.Conv1d, PhaseConv1d) and m.padding_mode == "zeros" and m.groups == 1
            and isinstance(m.padding, tuple))


def _local_ok(model: nn.Module) -> bool:
    """Whether ``model`` is an unmodified :class:`ECGCNN` in eval mode without forward hooks."""
    from ecgsignal.models.cnn import ECGCNN, ResidualBlock

    if type(model) is not ECGCNN or model.training or not _plain_conv(model.stem_conv):
        return False
    import torch.nn.modules.module as mm

    if any(getattr(mm, name, None) for name in _GLOBAL_HOOKS):
        return False
    for m in model.modules():
        if "forward" in vars(m) or any(getattr(m, k, None) for k in _HOOKS):
            return False
    for b in model.blocks:
        if type(b) is not ResidualBlock or not (_plain_conv(b.conv1) and _plain_conv(b.conv2)):
            return False
        if not isinstance(b.skip, nn.Identity) and not (
                isinstance(b.skip, nn.Sequential) and _plain_conv(b.skip[0])):
            return False
    return True


def _span(conv: nn.Conv1d, n_in: int, width: int) -> tuple[int, int, int]:
    """``(changed outputs W', output length, context width)`` of ``conv`` for a changed span of
    ``width`` inputs out of ``n_in``."""
    k, s, p, d = conv.kernel_size[0], conv.stride[0], conv.padding[0], conv.dilation[0]
    n_out = (n_in + 2 * p - d * (k - 1) - 1) // s + 1
    w_out = min(n_out, (width - 1 + d * (k - 1)) // s + 1)
    return w_out, n_out, (w_out - 1) * s + d * (k - 1) + 1


def _out_start(conv: nn.Conv1d, start: torch.Tensor, w_out: int, n_out: int) -> torch.Tensor:
    """First output of the fixed-width span covering every output the change at ``start`` reaches."""
    k, s, p, d = conv.kernel_size[0], conv.stride[0], conv.padding[0], conv.dilation[0]
    lo = torch.div(start + p - d * (k - 1) + s - 1, s, rounding_mode="floor")  # ceil
    return lo.clamp(0, n_out - w_out)


def _window(padded: torch.Tensor, beat: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """``(m, C, w)``: ``padded[beat[r], :, pos[r]]`` per row (a row copy, then a gather: far
    cheaper than one advanced index over three axes)."""
    rows = padded.index_select(0, beat)
    return rows.gather(2, pos[:, None, :].expand(-1, padded.shape[1], -1))


def _context(clean: torch.Tensor, beat: torch.Tensor, new: torch.Tensor, new_start: torch.Tensor,
             ctx_start: torch.Tensor, width: int, pad: int) -> torch.Tensor:
    """``(m, C, width)`` inputs of a conv from padded position ``ctx_start``: the clean
    activations of each row's beat (``clean`` ``(c, C, L)``, zero-padded by ``pad``) with the
    row's changed span ``new`` ``(m, C, W)`` (starting at ``new_start``) written in."""
    padded = nn.functional.pad(clean, (pad, pad)) if pad else clean
    pos = ctx_start[:, None] + torch.arange(width, device=clean.device)  # padded coordinates
    out = _window(padded, beat, pos)
    rel = pos - (new_start + pad)[:, None]
    inside = (rel >= 0) & (rel < new.shape[2])
    src = new.gather(2, rel.clamp(0, new.shape[2] - 1)[:, None, :].expand(-1, new.shape[1], -1))
    return torch.where(inside[:, None, :], src, out)


def _with_span(clean: torch.Tensor, beat: torch.Tensor, new: torch.Tensor,
               start: torch.Tensor) -> torch.Tensor:
    """``(m, C, L)``: each row's beat's clean activations with its span ``new`` written in."""
    full = clean.index_select(0, beat)  # a copy
    pos = start[:, None] + torch.arange(new.shape[2], device=new.device)
    return full.scatter_(2, pos[:, None, :].expand(-1, new.shape[1], -1), new)


def _conv(conv: nn.Conv1d, ctx: torch.Tensor) -> torch.Tensor:
    if type(conv) is PhaseConv1d:  # as the module computes it (dilation as phases)
        return phase_conv1d(ctx, conv.weight, conv.bias, conv.stride[0], 0, conv.dilation[0])
    return nn.functional.conv1d(ctx, conv.weight, conv.bias, conv.stride, 0, conv.dilation)


def occlude_windows(model: nn.Module, x: torch.Tensor, target: torch.Tensor, window: int,
                    max_rows: int) -> torch.Tensor:
    """Occlusion maps ``(c, L, T)`` for windows of ``window`` samples (window = stride, zero
    baseline): the local recompute above for an :class:`ECGCNN`, else :func:`ablate_features`.
    """
    c, n_leads, n_samples = x.shape
    ids = (torch.arange(n_leads, device=x.device)[:, None] * -(-n_samples // window)
           + torch.arange(n_samples, device=x.device)[None] // window)
    if not _local_ok(model):
        return ablate_features(model, x, target, ids, max_rows)
    stem = model.stem_conv
    w0, n0, ctx0 = _span(stem, n_samples, window)
    if w0 > LOCAL_FRACTION * n0:
        return ablate_features(model, x, target, ids, max_rows)
    plan = []  # per local block: (conv1 span, conv2 span, skip context width)
    width, length = w0, n0
    for b in model.blocks:
        w1, n1, c1 = _span(b.conv1, length, width)
        w2, n2, c2 = _span(b.conv2, n1, w1)
        if w2 > LOCAL_FRACTION * n2:
            break
        plan.append(((w1, n1, c1), (w2, n2, c2), w2))
        width, length = w2, n2
    n_win = -(-n_samples // window)
    n_feat = n_leads * n_win
    drops = torch.empty(c * n_feat, dtype=x.dtype, device=x.device)
    with torch.inference_mode():
        xi = x.detach()
        tg = target.to(x.device)
        acts = [model.stem_relu(model.stem_bn(model.stem_conv(xi)))]
        inner = []
        for b in model.blocks[:len(plan)]:
            h = b.relu1(b.bn1(b.conv1(acts[-1])))
            inner.append(h)
            acts.append(b.relu2(b.add(b.bn2(b.conv2(h)), b.skip(acts[-1]))))
        ref = model(xi).gather(1, tg[:, None])[:, 0]
        chan = torch.arange(n_leads, device=x.device)
        total = c * n_feat
        for start in range(0, total, max(1, int(max_rows))):
            idx = torch.arange(start, min(total, start + max(1, int(max_rows))), device=x.device)
            beat, feat = idx // n_feat, idx % n_feat
            lead, a = feat // n_win, (feat % n_win) * window
            # stem: the beat around the window, the window zeroed on its lead
            o = _out_start(stem, a, w0, n0)
            pos = o[:, None] * stem.stride[0] + torch.arange(ctx0, device=x.device)  # padded
            p0 = stem.padding[0]
            ctx = _window(nn.functional.pad(xi, (p0, p0)), beat, pos)
            off = pos - p0 - a[:, None]
            hit = (chan[None, :, None] == lead[:, None, None]) & \
                ((off >= 0) & (off < window))[:, None, :]
            ctx = ctx.masked_fill(hit, 0.0)
            new = model.stem_relu(model.stem_bn(_conv(stem, ctx)))
            for i, ((w1, n1, c1), (w2, n2, c2), cs) in enumerate(plan):
                b = model.blocks[i]
                o1 = _out_start(b.conv1, o, w1, n1)
                ctx = _context(acts[i], beat, new, o, o1 * b.conv1.stride[0], c1,
                               b.conv1.padding[0])
                h = b.relu1(b.bn1(_conv(b.conv1, ctx)))
                o2 = _out_start(b.conv2, o1, w2, n2)
                ctx = _context(inner[i], beat, h, o1, o2 * b.conv2.stride[0], c2,
                               b.conv2.padding[0])
                h = b.bn2(_conv(b.conv2, ctx))
                if isinstance(b.skip, nn.Sequential):
                    # a 1x1 conv on a slice rounds differently from the full one (another
                    # GEMM blocking): run it on the whole block input (~1 % of the MACs)
                    s = b.skip(_with_span(acts[i], beat, new, o))
                    s = s.gather(2, (o2[:, None] + torch.arange(w2, device=x.device))[:, None, :]
                                 .expand(-1, s.shape[1], -1))
                else:
                    s = _context(acts[i], beat, new, o, o2, cs, 0)
                new, o = b.relu2(b.add(h, s)), o2
            h = model.blocks[len(plan):](_with_span(acts[len(plan)], beat, new, o))
            out = model.head(model.dropout(model.flatten(model.pool(h))))
            drops[start:start + idx.numel()] = ref[beat] - out.gather(1, tg[beat][:, None])[:, 0]
    per_beat = drops.view(c, n_feat)
    return per_beat[:, ids.reshape(-1)].view(c, n_leads, n_samples).clone()
