"""The exact speed-ups of issue "Speed" (deliverable 3) equal the code they replaced.

* :func:`~ecgsignal.models.folding.clone_module` vs ``copy.deepcopy`` (and the BatchNorm fold
  built on each, bit for bit);
* :func:`~ecgsignal.evaluation._utils.rank_rows`' packed float32 sort vs the former argsort
  implementation and ``scipy.stats.rankdata`` (bit for bit, ties, ±0.0, negatives);
* SmoothGrad / VarGrad / GradientSHAP streamed per beat vs the former all-rows computation.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from nets import trained_like
from scipy.stats import rankdata
from torch import nn

from ecgsignal.attribution import gradient_methods as gm
from ecgsignal.attribution.guard import frozen_eval
from ecgsignal.attribution.registry import MethodContext
from ecgsignal.evaluation._utils import _float32_sorted, abs_rank_rows, rank_rows
from ecgsignal.models import folding
from ecgsignal.models.folding import clone_module, fold_batchnorm


# ----------------------------------------------------------------------------- ranks
def _rank_rows_argsort(x: np.ndarray) -> np.ndarray:
    """The former :func:`rank_rows` (argsort, take, tie groups, put), kept as the reference."""
    n, d = x.shape
    order = np.argsort(x, axis=1)
    xs = np.take_along_axis(x, order, axis=1)
    new = np.ones((n, d), dtype=bool)
    np.not_equal(xs[:, 1:], xs[:, :-1], out=new[:, 1:])
    if new.all():
        ranks_sorted = np.broadcast_to(np.arange(1, d + 1, dtype=np.float64), (n, d))
    else:
        flat_new = new.ravel()
        starts = np.flatnonzero(flat_new)
        ends = np.append(starts[1:], n * d)
        mean_rank = (starts % d) + (ends - starts + 1) / 2.0
        ranks_sorted = mean_rank[np.cumsum(flat_new) - 1].reshape(n, d)
    ranks = np.empty((n, d), dtype=np.float64)
    np.put_along_axis(ranks, order, ranks_sorted, axis=1)
    return ranks


def _rank_cases() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    smooth = rng.normal(size=(9, 3600)).astype(np.float32)
    ties = np.round(rng.normal(size=(7, 500)), 1).astype(np.float32)  # many ties, zeros
    signed_zeros = ties.copy()
    signed_zeros[np.abs(signed_zeros) < 0.15] = -0.0  # -0.0 must tie with +0.0
    signed_zeros[:, ::7] = 0.0
    extremes = rng.normal(size=(4, 64)).astype(np.float32)
    extremes[:, :6] = [np.inf, -np.inf, np.finfo(np.float32).max, -np.finfo(np.float32).max,
                       np.finfo(np.float32).tiny, -np.finfo(np.float32).smallest_subnormal]
    constant = np.full((3, 40), -2.5, dtype=np.float32)
    constant[1] = 0.0
    strided = rng.normal(size=(6, 80)).astype(np.float32)[:, ::2]  # not contiguous
    # few ties (the sparse tie path): pairs, a triple, two groups side by side in the sorted
    # order, the row's smallest and largest values tied, a row without ties
    few = rng.normal(size=(5, 400)).astype(np.float32)
    few[0, [3, 9]] = few[0, 5]
    few[1, [0, 399, 200]] = few[1].min()
    few[2, [10, 11]] = 7.0
    few[2, [12, 13]] = 7.5
    few[3, 50] = few[3].max()
    few[3, 60] = few[3].max()
    return {"smooth": smooth, "ties": ties, "signed_zeros": signed_zeros, "extremes": extremes,
            "constant": constant, "strided": strided, "one_row": ties[:1],
            "few_ties": few, "few_ties_float64": few.astype(np.float64),
            "fortran": np.asfortranarray(ties), "transposed": ties.T.copy().T,
            "float64_ties": ties.astype(np.float64), "float64": rng.normal(size=(5, 300))}


@pytest.mark.parametrize("case", list(_rank_cases()))
def test_rank_rows_equals_former_argsort_ranks_and_scipy_bit_for_bit(case):
    x = _rank_cases()[case]
    got = rank_rows(x)
    assert got.dtype == np.float64 and got.shape == x.shape
    np.testing.assert_array_equal(got, _rank_rows_argsort(x))
    np.testing.assert_array_equal(got, rankdata(x, axis=1))
    if x.dtype == np.float32:  # the float32 path is the one taken, and agrees with float64
        assert _float32_sorted(x) is not None
        np.testing.assert_array_equal(got, rank_rows(x.astype(np.float64)))


def test_rank_rows_float32_falls_back_where_the_packed_sort_does_not_apply():
    x = np.array([[1.0, np.nan, 0.5, np.nan]], dtype=np.float32)
    assert _float32_sorted(x) is None and _float32_sorted(x.astype(np.float64)) is None
    np.testing.assert_array_equal(rank_rows(x), _rank_rows_argsort(x))


def test_abs_rank_rows_ranks_float32_maps_as_their_float64_copies():
    x = _rank_cases()["signed_zeros"].reshape(7, 5, 100)
    np.testing.assert_array_equal(abs_rank_rows(x), abs_rank_rows(x.astype(np.float64)))
    np.testing.assert_array_equal(abs_rank_rows(x),
                                  rankdata(np.abs(x.astype(np.float64)).reshape(7, -1), axis=1))


# ----------------------------------------------------------------------------- module clone
class _Odd(nn.Module):
    """Shared weights, a shared submodule, a buffer alias, hooks and odd attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(12, 6, 3, padding=1)
        self.bn = nn.BatchNorm1d(6)
        self.again = self.conv  # the same module twice
        self.head = nn.Linear(6, 3)
        self.tied = nn.Linear(6, 3)
        self.tied.weight = self.head.weight  # a shared parameter
        self.register_buffer("scale", torch.tensor([2.0]))
        self.notes = {"list": [1, 2], "array": np.arange(3)}
        self.tag = ("a", 1)
        self.calls: list[int] = []
        self.head.register_forward_hook(self._count)

    def _count(self, module: nn.Module, args: object, out: torch.Tensor) -> None:
        self.calls.append(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.bn(self.conv(x))).mean(-1)
        return self.head(h) * self.scale + self.tied(h)


def _same_copy(a: nn.Module, b: nn.Module, orig: nn.Module) -> None:
    """``a`` and ``b`` are equal, independent copies of ``orig`` with the same aliasing."""
    sa, sb = a.state_dict(keep_vars=True), b.state_dict(keep_vars=True)
    assert list(sa) == list(sb)
    so = orig.state_dict(keep_vars=True)
    for k in sa:
        assert torch.equal(sa[k], sb[k]) and sa[k].dtype == sb[k].dtype
        assert type(sa[k]) is type(sb[k]) and sa[k].requires_grad == sb[k].requires_grad
        assert k not in so or sb[k].data_ptr() != so[k].data_ptr()
    for (na, ma), (nb, mb) in zip(a.named_modules(remove_duplicate=False),
                                  b.named_modules(remove_duplicate=False), strict=True):
        assert na == nb and type(ma) is type(mb) and ma.training == mb.training
        assert set(vars(ma)) == set(vars(mb))
    def ids(m: nn.Module) -> list[int]:
        return [id(t) for _, t in [*m.named_parameters(remove_duplicate=False),
                                   *m.named_buffers(remove_duplicate=False),
                                   *m.named_modules(remove_duplicate=False)]]

    ids_a, ids_b = ids(a), ids(b)
    assert [ids_a.index(i) for i in ids_a] == [ids_b.index(i) for i in ids_b]  # aliasing


@pytest.mark.parametrize("net", ["cnn", "odd"])
def test_clone_module_equals_deepcopy(net):
    torch.manual_seed(0)
    model = trained_like() if net == "cnn" else _Odd()
    model.train(net == "odd")
    ref, got = copy.deepcopy(model), clone_module(model)
    _same_copy(ref, got, model)
    x = torch.randn(4, 12, 50)
    with torch.no_grad():
        for m in (model, ref, got):
            m.eval()
        assert torch.equal(ref(x), got(x))
    if net == "odd":
        assert got.again is got.conv and got.tied.weight is got.head.weight
        assert got.notes["array"] is not model.notes["array"] and got.notes == {
            "list": [1, 2], "array": got.notes["array"]}
        assert len(got.calls) == len(ref.calls) == 1 and not model.calls  # hooks bound to copies


@pytest.mark.parametrize("net", ["cnn", "odd"])
def test_fold_batchnorm_equals_the_deepcopy_fold_bit_for_bit(net, monkeypatch):
    torch.manual_seed(1)
    model = trained_like(seed=2) if net == "cnn" else _Odd()
    if net == "odd":
        with torch.no_grad():
            model.bn.running_mean.normal_()
            model.bn.running_var.uniform_(0.5, 2.0)
            model.bn.weight.normal_()
    model.train()
    got = fold_batchnorm(model)
    monkeypatch.setattr(folding, "clone_module", copy.deepcopy)
    ref = fold_batchnorm(model)
    assert got is not None and ref is not None
    _same_copy(ref, got, model)
    assert model.training and not got.training  # the original's flag untouched
    x = torch.randn(3, 12, 60)
    with torch.no_grad():
        assert torch.equal(ref(x), got(x))


# ----------------------------------------------------------------------------- streamed noise
RTOL_PEAK = 1e-5  # float32 rounding of passes grouped differently (as tests/test_folding.py)


def _old_noisy(ctx, x, target, n_samples=25, sigma_frac=0.1):
    """The former ``_noisy_gradients``: every row of the chunk at once."""
    c = x.shape[0]
    shape = (n_samples,) + tuple(x.shape[1:])
    noise = np.stack([r.standard_normal(shape, dtype=np.float32) for r in ctx.beat_rngs(c)])
    sigma = sigma_frac * (x.amax(dim=(1, 2)) - x.amin(dim=(1, 2)))
    noisy = x[:, None] + sigma.view(c, 1, 1, 1) * torch.from_numpy(noise)
    grads = gm._rows_gradients(ctx.model, noisy.reshape((c * n_samples,) + shape[1:]),
                               target.repeat_interleave(n_samples), ctx.max_rows)
    return grads.view((c,) + shape)


def _old_gradient_shap(ctx, x, target, n_samples=25):
    """The former ``gradient_shap``: every row of the chunk at once."""
    base = ctx.baselines
    c = x.shape[0]
    idx = np.empty((c, n_samples), dtype=np.int64)
    alpha = np.empty((c, n_samples), dtype=np.float32)
    for i, r in enumerate(ctx.beat_rngs(c)):
        idx[i] = r.integers(0, base.shape[0], n_samples)
        alpha[i] = r.random(n_samples, dtype=np.float32)
    b = base[torch.from_numpy(idx)]
    diff = x[:, None] - b
    points = (b + torch.from_numpy(alpha).view(c, n_samples, 1, 1) * diff).reshape(
        (c * n_samples,) + tuple(x.shape[1:]))
    grads = gm._rows_gradients(ctx.model, points, target.repeat_interleave(n_samples),
                               ctx.max_rows)
    return (grads.view_as(diff) * diff).mean(dim=1)


OLD = {"smoothgrad": lambda ctx, x, t: _old_noisy(ctx, x, t).mean(dim=1),
       "vargrad": lambda ctx, x, t: _old_noisy(ctx, x, t).var(dim=1, correction=0),
       "gradient_shap": _old_gradient_shap}


@pytest.mark.parametrize("max_rows", [1000, 60, 7])  # one group; 2 beats a group; 1 beat, 4 passes
@pytest.mark.parametrize("method", list(OLD))
def test_streamed_noisy_methods_equal_the_all_rows_computation(method, max_rows):
    net = trained_like(seed=4)
    rng = np.random.default_rng(5)
    x = torch.from_numpy((0.3 * rng.normal(size=(5, 12, 120))).astype(np.float32))
    t = torch.arange(5) % 9
    base = torch.from_numpy((0.3 * rng.normal(size=(6, 12, 120))).astype(np.float32))
    ctx = MethodContext(model=net, device=torch.device("cpu"), fs=250.0, seed=3, offset=11,
                        baselines=base, chunk_size=5, max_rows=max_rows, method=method)
    with frozen_eval(net), torch.enable_grad():
        got = getattr(gm, method)(ctx, x, t)
        ref = OLD[method](ctx, x, t)
    assert got.shape == x.shape and torch.isfinite(got).all()
    peak = ref.abs().amax(dim=(1, 2), keepdim=True)
    assert ((got - ref).abs() <= RTOL_PEAK * peak).all()
    if max_rows == 1000:  # the same single pass: the same numbers, bit for bit
        assert torch.equal(got, ref)


@pytest.mark.parametrize("max_rows", [64, 7, 1])
def test_rows_gradients_equal_captum_saliency_bit_for_bit(max_rows):
    from captum.attr import Saliency

    net = trained_like(seed=6)
    rng = np.random.default_rng(7)
    rows = torch.from_numpy((0.3 * rng.normal(size=(20, 12, 90))).astype(np.float32))
    t = torch.from_numpy(rng.integers(0, 9, 20))
    with frozen_eval(net), torch.enable_grad():
        got = gm._rows_gradients(net, rows, t, max_rows)
        ref = torch.cat([Saliency(net).attribute(rows[i:i + max_rows].clone().requires_grad_(True),
                                                 target=t[i:i + max_rows], abs=False)
                         for i in range(0, 20, max_rows)])
    assert torch.equal(got, ref)


def test_reference_ranks_reproduce_spearman_abs_bit_for_bit():
    """our_mprt_scores' "original" entry is row_pearson of the cached ranks: spearman_abs."""
    from ecgsignal.evaluation._utils import row_pearson
    from ecgsignal.evaluation.quantus_check import _abs_ranks
    from ecgsignal.evaluation.similarity import spearman_abs

    a = _rank_cases()["signed_zeros"][:6].reshape(6, 5, 100)
    b = np.random.default_rng(9).normal(size=a.shape).astype(np.float32)
    np.testing.assert_array_equal(row_pearson(_abs_ranks(a), _abs_ranks(a)), spearman_abs(a, a))
    np.testing.assert_array_equal(row_pearson(_abs_ranks(a), _abs_ranks(b)), spearman_abs(a, b))
