"""Cross-check against quantus.MPRT (quantus 0.6.0, a dev extra): same model, same beats.

Quantus imports cleanly with numpy 2.4 / torch 2.13 here; if it ever does not, this module
fails at the import below with the real error instead of being skipped silently.
"""

from __future__ import annotations

import numpy as np
import pytest
import quantus  # noqa: F401  (a hard failure, on purpose, if quantus cannot be imported)
import torch

from ecgsignal.errors import ConfigError
from ecgsignal.evaluation.quantus_check import (
    average_correlation,
    cross_check,
    make_explain,
    our_mprt_scores,
    quantus_layers,
)
from ecgsignal.evaluation.randomization import stages

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def model_and_beats(tiny_context):
    beats = tiny_context.beats
    return tiny_context.model(), beats.x, beats.target


def test_layers_match_quantus_granularity(model_and_beats):
    model, _, _ = model_and_beats
    assert quantus_layers(model) == stages(model, granularity="module")
    assert quantus_layers(model, "bottom_up") == stages(model, granularity="module")[::-1]
    with pytest.raises(ConfigError):
        quantus_layers(model, "independent")


@pytest.mark.parametrize("order", ["top_down", "bottom_up"])
def test_cascade_reproduces_quantus_mprt(model_and_beats, order):
    model, x, y = model_and_beats
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng_before = torch.random.get_rng_state()
    df = cross_check(model, x, y, make_explain("saliency"), order=order, seed=42)
    assert list(df["layer"]) == ["original", *quantus_layers(model, order)]
    assert df["max_abs_delta"].max() < 0.02  # the bar; draw-matched it is ~1e-7
    assert df["max_abs_delta"].max() < 1e-5
    assert df.loc[0, "quantus"] == pytest.approx(1.0)
    # the randomisation is real: the fully randomised map no longer resembles the trained one
    assert df["quantus"].iloc[-1] < 0.8
    # neither side touched the model or torch's global RNG
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert torch.equal(rng_before, torch.random.get_rng_state())


def test_own_seeding_agrees_in_distribution(model_and_beats):
    """With our own per-stage seeds (only the distributions matched), the per-layer means agree
    up to sampling noise; the deltas are reported by the check."""
    model, x, y = model_and_beats
    df = cross_check(model, x, y, make_explain("saliency"), match_draws=False)
    assert df["delta"].abs().iloc[-1] < 0.1
    assert np.isfinite(df["ours"]).all()


def test_quantus_average_bug(model_and_beats):
    model, x, y = model_and_beats
    scores = our_mprt_scores(model, x, y, make_explain("saliency"))
    quantus_avg, corrected = average_correlation(scores)
    n_layers = len(scores) - 1
    # Quantus averages "original" (≡ 1) in with the L layers, because it skips the key "orig"
    np.testing.assert_allclose(quantus_avg, (1.0 + n_layers * corrected) / (n_layers + 1))
    assert (quantus_avg > corrected).all()
