"""The invariants the speed-ups of issue 7 rest on (same results, less work)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ecgsignal.evaluation.randomization import iter_randomized, randomized_stages
from ecgsignal.models.cnn import build_model


def _state(net):
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


@pytest.mark.parametrize("granularity", ["stage", "module"])
def test_a_randomised_network_is_fixed_by_its_set_of_stages(granularity):
    """Exp 3 computes one map per set of re-drawn stages, whichever order reaches it."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = build_model(9).eval()
    by_set: dict[frozenset, list[dict]] = {}
    n = None
    for order in ("top_down", "bottom_up", "independent"):
        walk = list(iter_randomized(model, order, seed=7, granularity=granularity,
                                    include_trained=False))
        n = len(walk)
        for k, _, net in walk:
            key = frozenset(randomized_stages(n, k, order))
            by_set.setdefault(key, []).append(_state(net))
    shared = {key: states for key, states in by_set.items() if len(states) > 1}
    # top_down k=L = bottom_up k=L; independent k=1 = top_down k=1; independent k=L = bottom_up k=1
    assert set(shared) == {frozenset(range(n)), frozenset({0}), frozenset({n - 1})}
    for states in shared.values():
        for other in states[1:]:
            for name, value in states[0].items():
                assert torch.equal(value, other[name]), name
    # and different sets really are different networks
    a, b = by_set[frozenset({0})][0], by_set[frozenset({1})][0]
    assert any(not torch.equal(a[k], b[k]) for k in a)


def test_perturbation_batches_give_the_per_curve_probabilities(tiny_dataset):
    """Exp 4 predicts many curves' perturbed beats in one call: row for row the same numbers."""
    from ecgsignal.evaluation.experiments.perturbation import removal_probs
    from ecgsignal.evaluation.perturbation import patch_scores, ranking, removal_mask
    from ecgsignal.models import predict_proba

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        model = build_model(9).eval()
    x = tiny_dataset.signals[:5]
    order = ranking(patch_scores(np.abs(x), 250.0, 40.0), "morf", seed=0)
    masks = [removal_mask(order, f, 300, 250.0, 40.0) for f in (0.0, 0.3, 1.0)]

    def predict_c(xs):
        return predict_proba(model, xs)[:, 2]

    one = removal_probs(predict_c, x, masks, "interp", seed=3)
    two = removal_probs(predict_c, x, masks, "zero", seed=3)
    from ecgsignal.evaluation.perturbation import replace

    xs = np.concatenate([replace(x, m, how, seed=3) for how in ("interp", "zero") for m in masks])
    both = predict_proba(model, xs, batch_size=128)[:, 2].astype(np.float64).reshape(2, 3, 5)
    np.testing.assert_allclose(both[0], one, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(both[1], two, rtol=1e-6, atol=1e-7)


def test_scale_table_extrapolates_the_per_beat_cost():
    from ecgsignal.run.scale import per_beat_costs, scale_table

    rec = {"machine": {"device_name": "cpu", "cores": 2},
           "engine": [{"method": "saliency", "engine_s": 1.0, "n_beats": 100},
                      {"method": "occlusion", "engine_s": 3.0, "n_beats": 100}]}
    assert per_beat_costs(rec) == {"saliency": 0.01, "occlusion": 0.03}
    t = scale_table({"here": rec, "GPU run": None}, paper_beats=360_000, paper_seeds=5)
    assert len(t) == 1 and t.loc[0, "methods"] == 2
    assert t.loc[0, "ms per beat (all methods)"] == 40.0
    assert t.loc[0, "hours, 1 model"] == 4.0 and t.loc[0, "hours, 5 models"] == 20.0
    assert t.loc[0, "workers for 5 models in 4 h"] == 5
    assert scale_table({"none": None}, 10, 1).empty
