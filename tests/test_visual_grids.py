"""Small multiples: the per-class similarity matrices and the per-method perturbation curves."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from exp_fakes import FakeContext, make_beats  # noqa: E402

from ecgsignal.errors import DataError  # noqa: E402
from ecgsignal.evaluation.experiments.similarity import run_similarity  # noqa: E402
from ecgsignal.visual.grids import plot_perturbation_grid, plot_similarity_grid  # noqa: E402


def _sim_table():
    beats = make_beats([0, 0, 0, 1, 1, 1, 1, 2, 2], ("A", "B", "C"))
    rng = np.random.default_rng(0)
    maps = {(f"m{i}", 0): rng.standard_normal(beats.x.shape).astype(np.float32) for i in range(4)}
    return run_similarity(FakeContext(beats=beats, maps=maps, n_boot=100),
                          {"measures": ["spearman_abs", "pearson"]})


def test_similarity_grid_panels_titles_and_values():
    df = _sim_table()
    fig = plot_similarity_grid(df, "pearson", ncols=2)
    visible = [ax for ax in fig.axes if ax.get_visible() and ax.images]
    assert [ax.get_title().split(":")[0] for ax in visible] == ["A", "B", "C"]
    assert [ax.get_title().split("n = ")[1].split(",")[0] for ax in visible] == ["3", "4", "2"]
    assert all("CI ±" in ax.get_title() for ax in visible)
    # the drawn matrix of class B is Experiment 1's matrix of class B
    from ecgsignal.evaluation.experiments.similarity import similarity_matrix

    want = similarity_matrix(df, "pearson", "B").to_numpy(dtype=float)
    np.testing.assert_allclose(np.asarray(visible[1].images[0].get_array()), want)
    assert len(fig.axes) == 5  # 2 × 2 grid + colour bar; the fourth panel hidden
    plt.close(fig)
    fig = plot_similarity_grid(df, "pearson", classes=["all"])
    assert fig.axes[0].get_title().startswith("all: n = 9")
    plt.close(fig)
    with pytest.raises(DataError, match="no rows for measure"):
        plot_similarity_grid(df, "ssim")
    with pytest.raises(DataError, match="have no rows"):
        plot_similarity_grid(df, "pearson", classes=["Z"])


def _pert_table():
    fr = [0.0, 0.5, 1.0]
    rows = []
    curves = {("m1", "morf"): [0.9, 0.3, 0.1], ("m1", "lerf"): [0.9, 0.8, 0.1],
              ("m2", "morf"): [0.9, 0.6, 0.1], ("m2", "lerf"): [0.9, 0.7, 0.1],
              ("random_ranking", "random"): [0.9, 0.5, 0.1]}
    for (m, order), ys in curves.items():
        for f, y in zip(fr, ys):
            rows.append({"method": m, "class": "all", "fraction": f, "measure": "mean_prob",
                         "value": y, "ci_low": y - 0.05, "ci_high": y + 0.05, "order": order,
                         "replacement": "zero", "unit": "patch"})
    return pd.DataFrame(rows)


def test_perturbation_grid():
    fig = plot_perturbation_grid(_pert_table(), ncols=4)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in axes] == ["m1", "m2"]
    # each panel: MoRF, LeRF and the random ranking, with CI bands
    assert len(axes[0].lines) == 3 and len(axes[0].collections) == 3
    np.testing.assert_allclose(axes[0].lines[0].get_ydata(), [0.9, 0.3, 0.1])
    assert axes[0].get_legend() is not None and axes[1].get_legend() is None
    assert [t.get_text() for t in axes[0].get_legend().get_texts()] == ["MORF", "LERF",
                                                                       "random ranking"]
    lo, hi = axes[1].get_ylim()
    assert lo <= 0.05 and hi >= 0.95  # shared limits cover every band
    plt.close(fig)
    with pytest.raises(DataError, match="no curves"):
        plot_perturbation_grid(_pert_table(), ["m3"])
    with pytest.raises(DataError, match="no curve rows"):
        plot_perturbation_grid(_pert_table(), replacement="noise")
