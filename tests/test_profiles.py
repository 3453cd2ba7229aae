"""Every named profile loads, and every experiment resolves its parameters from it."""

from __future__ import annotations

import pytest

from ecgsignal.errors import UnknownNameError
from ecgsignal.evaluation.experiments import EXPERIMENTS, resolve_params
from ecgsignal.run.pipeline import experiment_params
from ecgsignal.run.profiles import available_profiles, load_profile


def test_the_named_profiles_are_the_ones_tested():
    assert set(available_profiles()) == {"smoke", "book", "full"}


@pytest.mark.parametrize("name", ["smoke", "book", "full"])
def test_every_profile_resolves_every_experiment(name):
    p = load_profile(name)
    for exp_name in EXPERIMENTS:
        exp = EXPERIMENTS.get(exp_name)
        params = experiment_params(p, exp_name)
        assert params == exp.params_from_profile(p)
        resolved = resolve_params(exp, params)  # unknown names or wrong types would raise
        assert set(params) <= set(resolved) == set(exp.defaults)
    assert experiment_params(p, "similarity") == {"measures": list(p.similarity_measures)}
    assert experiment_params(p, "consistency") == experiment_params(p, "similarity")
    assert experiment_params(p, "randomization") == {
        "orders": list(p.randomization_orders), "normalizations": ["raw", "abs_max"],
        "draws": p.randomization_draws,
        **({} if p.randomization_beats_per_class is None
           else {"beats_per_class": p.randomization_beats_per_class}),
        **({} if p.randomization_path_beats_per_class is None
           else {"path_beats_per_class": p.randomization_path_beats_per_class})}
    assert experiment_params(p, "perturbation") == {
        "fractions": list(p.fractions), "replacements": list(p.perturbation_replacements),
        "roar": p.roar}
    assert experiment_params(p, "localization") == {}


def test_unknown_experiment_names_the_valid_ones():
    with pytest.raises(UnknownNameError, match="similarity"):
        experiment_params(load_profile("smoke"), "simlarity")


def test_no_import_cycle_between_pipeline_and_profiles():
    import ast
    import inspect

    import ecgsignal.run.profiles as profiles

    tree = ast.parse(inspect.getsource(profiles))
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not any(m and m.startswith("ecgsignal.run") for m in imported), imported
