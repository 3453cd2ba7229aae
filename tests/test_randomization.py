"""Randomisation primitives: seeded, documented re-init; the input model is never touched."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from ecgsignal.errors import ConfigError
from ecgsignal.evaluation.randomization import (
    iter_randomized,
    randomized_copy,
    randomized_stage_copy,
    randomized_stages,
    reinitialize_,
    stage_generator,
    stage_modules,
    stages,
)
from ecgsignal.models.cnn import build_model


def _state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _trained_like(seed: int = 0) -> nn.Module:
    """The default CNN with non-default BatchNorm (as after training), in eval mode."""
    g = torch.Generator().manual_seed(seed)
    model = build_model(9)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=g))
        for m in model.modules():
            if isinstance(m, nn.BatchNorm1d):
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g))
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
    return model.eval()


def _changed(a: dict, b: dict) -> set[str]:
    return {k for k in a if not torch.equal(a[k], b[k])}


def _stage_of(key: str, names: list[str]) -> str:
    if key.startswith("stem_"):
        return "stem"
    for n in names:
        if key.startswith(n + "."):
            return n
    raise AssertionError(key)


class _Linear(nn.Module):
    def __init__(self, t: int = 50, c: int = 3) -> None:
        super().__init__()
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(12 * t, c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.flatten(x))


def _grad(model: nn.Module, x: torch.Tensor, target: int) -> torch.Tensor:
    x = x.clone().requires_grad_(True)
    model(x)[:, target].sum().backward()
    return x.grad.detach()


def test_stage_names_top_down():
    model = build_model(9)
    assert stages(model) == ["head", "blocks.3", "blocks.2", "blocks.1", "blocks.0", "stem"]
    mods = stages(model, granularity="module")
    assert mods[0] == "head" and mods[-1] == "stem_conv"
    assert "blocks.1.skip.0" in mods and "blocks.1.skip.1" in mods
    assert stages(_Linear()) == ["fc"]


def test_reinit_matches_torch_reset_parameters_draw_for_draw():
    for layer in (nn.Conv1d(12, 8, 7, bias=True), nn.Linear(32, 9), nn.Conv1d(8, 8, 1, bias=False)):
        ours = reinitialize_(_copy(layer), torch.Generator().manual_seed(123))
        ref = _copy(layer)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(123)
            ref.reset_parameters()
        for (k, a), (_, b) in zip(ours.state_dict().items(), ref.state_dict().items()):
            assert torch.equal(a, b), k


def _copy(m: nn.Module) -> nn.Module:
    import copy

    return copy.deepcopy(m)


def test_reinit_does_not_touch_global_rng():
    model = _trained_like()
    before = torch.random.get_rng_state()
    reinitialize_(model, torch.Generator().manual_seed(0))
    assert torch.equal(before, torch.random.get_rng_state())


def test_bn_policies():
    model = _trained_like()
    reset = randomized_copy(model, 1, order="bottom_up", seed=0, bn="reset")
    keep = randomized_copy(model, 1, order="bottom_up", seed=0, bn="keep")
    assert torch.equal(reset.stem_bn.weight, torch.ones(32))
    assert torch.equal(reset.stem_bn.running_var, torch.ones(32))
    assert torch.equal(reset.stem_bn.running_mean, torch.zeros(32))
    assert torch.equal(keep.stem_bn.running_var, model.stem_bn.running_var)
    assert torch.equal(keep.stem_bn.weight, model.stem_bn.weight)
    # the conv weights are re-drawn identically under both policies
    assert torch.equal(keep.stem_conv.weight, reset.stem_conv.weight)
    assert not torch.equal(keep.stem_conv.weight, model.stem_conv.weight)
    # reset BN in eval mode is (almost) the identity
    z = torch.randn(2, 32, 10)
    assert torch.allclose(reset.stem_bn(z), z, atol=1e-4)


def test_copy_leaves_original_untouched_and_is_seeded():
    model = _trained_like()
    before = _state(model)
    a = randomized_copy(model, 6, seed=7)
    b = randomized_copy(model, 6, seed=7)
    c = randomized_copy(model, 6, seed=8)
    assert not _changed(before, _state(model))
    assert not _changed(_state(a), _state(b))
    assert _changed(_state(a), _state(c))
    assert not a.training and a is not model
    for _ in iter_randomized(model, "top_down", seed=1):
        pass
    assert not _changed(before, _state(model))


@pytest.mark.parametrize("order", ["top_down", "bottom_up", "independent"])
def test_exactly_the_right_stages_change(order):
    model = _trained_like()
    names = stages(model)
    before = _state(model)
    for k in range(len(names) + 1):
        rnd = randomized_copy(model, k, order=order, seed=3)
        changed = {_stage_of(key, names) for key in _changed(before, _state(rnd))}
        expected = {names[i] for i in randomized_stages(len(names), k, order)}
        assert changed == expected, (order, k)
        assert len(changed) == (k if order != "independent" else min(k, 1))


@pytest.mark.parametrize("order", ["top_down", "bottom_up", "independent"])
def test_iter_matches_randomized_copy(order):
    model = _trained_like()
    seen = list(iter_randomized(model, order, seed=5, bn="keep"))
    assert [k for k, _, _ in seen] == list(range(len(stages(model)) + 1))
    assert seen[0][1] == "trained"
    for k, _, m in seen:
        assert not _changed(_state(m), _state(randomized_copy(model, k, order, seed=5, bn="keep")))
    # a stage gets the same random weights whichever order reaches it
    last_td = seen[-1][2] if order == "top_down" else randomized_copy(model, 6, "top_down", 5, "keep")
    ind = randomized_copy(model, 3, "independent", seed=5, bn="keep")
    assert torch.equal(ind.blocks[2].conv1.weight, last_td.blocks[2].conv1.weight)


def test_top_down_names_walk_from_head_to_stem():
    names = [n for _, n, _ in iter_randomized(_trained_like(), "top_down", include_trained=False)]
    assert names == stages(_trained_like())
    names = [n for _, n, _ in iter_randomized(_trained_like(), "bottom_up", include_trained=False)]
    assert names == stages(_trained_like())[::-1]


def test_linear_model_gradient_independent_of_trained_weights():
    x = torch.randn(4, 12, 50, generator=torch.Generator().manual_seed(0))
    m1, m2 = _Linear(), _Linear()
    with torch.no_grad():
        m1.fc.weight.normal_(generator=torch.Generator().manual_seed(1))
        m2.fc.weight.normal_(generator=torch.Generator().manual_seed(2))
    g1, g2 = _grad(m1, x, 1), _grad(m2, x, 1)
    assert not torch.allclose(g1, g2)  # trained gradients differ (they are the weights)
    r1, r2 = randomized_copy(m1, 1, seed=0), randomized_copy(m2, 1, seed=0)
    gr1, gr2 = _grad(r1, x, 1), _grad(r2, x, 1)
    assert torch.equal(gr1, gr2)  # after randomisation: a function of the seed only
    assert torch.equal(gr1[0], r1.fc.weight[1].detach().reshape(12, 50))
    corr = np.corrcoef(gr1[0].ravel().numpy(), g1[0].ravel().numpy())[0, 1]
    assert abs(corr) < 0.15


def test_module_granularity_counts_and_bad_input():
    model = _trained_like()
    n = len(stages(model, "module"))
    rnd = randomized_copy(model, n, granularity="module", seed=0)
    # every tensor changes except the BatchNorm batch counters (0 before and after)
    assert _changed(_state(model), _state(rnd)) == {
        k for k in _state(model) if not k.endswith("num_batches_tracked")}
    with pytest.raises(ConfigError, match="top_down"):
        randomized_copy(model, 1, order="sideways")
    with pytest.raises(ConfigError, match="keep"):
        randomized_copy(model, 1, bn="random")
    with pytest.raises(ConfigError, match="between 0 and 6"):
        randomized_copy(model, 7)
    with pytest.raises(ConfigError, match="no parameterised"):
        stage_modules(nn.ReLU())


def test_stage_generator_is_deterministic_and_distinct():
    a = torch.rand(5, generator=stage_generator(0, 1))
    assert torch.equal(a, torch.rand(5, generator=stage_generator(0, 1)))
    assert not torch.equal(a, torch.rand(5, generator=stage_generator(0, 2)))
    assert not torch.equal(a, torch.rand(5, generator=stage_generator(1, 1)))


def test_cached_reference_ranks_give_spearman_abs_bit_for_bit():
    """our_mprt_scores ranks the trained map once; the correlations are spearman_abs' exactly."""
    from ecgsignal.evaluation._utils import row_pearson
    from ecgsignal.evaluation.quantus_check import _abs_ranks
    from ecgsignal.evaluation.similarity import spearman_abs

    rng = np.random.default_rng(0)
    a = rng.normal(size=(6, 12, 50)).astype(np.float32)
    b = rng.normal(size=(6, 12, 50)).astype(np.float32)
    b[:, :3] = 0.0  # ties
    a[:, 5] = 1.0
    assert np.array_equal(row_pearson(_abs_ranks(a), _abs_ranks(b)), spearman_abs(a, b))


@pytest.mark.parametrize("order", ["top_down", "bottom_up", "independent"])
def test_a_network_depends_only_on_its_set_of_redrawn_stages(order):
    """Experiment 3 builds each network straight from its stage set (orders share networks):
    bitwise the network the cascade reaches, whatever the order the stages were re-drawn in."""
    model = _trained_like(3)
    n = len(stages(model))
    for k, _, net in iter_randomized(model, order, seed=7, include_trained=False):
        chosen = randomized_stages(n, k, order)
        direct = randomized_stage_copy(model, reversed(chosen), seed=7)
        for (name, a), b in zip(_state(net).items(), _state(direct).values()):
            assert torch.equal(a, b), (order, k, name)
    with pytest.raises(ConfigError, match="stage indices"):
        randomized_stage_copy(model, [n], seed=7)
