"""AUROC-over-seeds and training-history figures (Agg backend)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from ecgsignal.errors import DataError  # noqa: E402
from ecgsignal.models.report import t_interval  # noqa: E402
from ecgsignal.visual.models import plot_auroc, plot_history  # noqa: E402


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def test_plot_auroc_means_and_bar():
    df = pd.DataFrame({"seed": [0, 0, 1, 1, 2, 2], "class": ["A", "B"] * 3,
                       "auroc": [0.99, 0.90, 0.97, 0.96, 0.98, 0.93]})
    ax = plot_auroc(df, bar=0.95)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["A", "B"]
    means = ax.containers[0].lines[0].get_ydata()
    np.testing.assert_allclose(means, [0.98, 0.93])
    assert any(np.allclose(ln.get_ydata(), 0.95) for ln in ax.lines)
    assert len(ax.collections) >= 3  # one scatter per seed
    one = plot_auroc(df[df["seed"] == 0], bar=None)  # a single seed: no interval, still drawn
    np.testing.assert_allclose(one.containers[0].lines[0].get_ydata(), [0.99, 0.90])
    with pytest.raises(DataError):
        plot_auroc(df.drop(columns="seed"))


def test_plot_history_mean_and_band():
    rows = [{"seed": s, "epoch": e, "metric": "val_auroc", "value": 0.5 + 0.1 * e + 0.01 * s}
            for s in range(3) for e in range(1, 4)]
    rows += [{"seed": 0, "epoch": 4, "metric": "val_auroc", "value": 0.95}]
    df = pd.DataFrame(rows)
    ax = plot_history(df, "val_auroc")
    mean = [ln for ln in ax.lines if ln.get_label() == "mean over seeds"][0]
    np.testing.assert_allclose(mean.get_ydata()[:3], [0.61, 0.71, 0.81])
    assert mean.get_ydata()[3] == pytest.approx(0.95)
    band = ax.collections[0].get_paths()[0].vertices[:, 1]
    lo = t_interval(np.array([0.6, 0.61, 0.62]))[1]
    assert band.min() == pytest.approx(lo)
    with pytest.raises(DataError, match="no rows"):
        plot_history(df, "val_loss")


def test_plot_history_limits_clip_the_band():
    rows = [{"seed": s, "epoch": e, "metric": "val_auroc", "value": v}
            for s, vals in enumerate([[0.5, 0.99], [0.9, 0.6]]) for e, v in enumerate(vals, 1)]
    ax = plot_history(pd.DataFrame(rows), "val_auroc", limits=(0.0, 1.0))
    ys = ax.collections[0].get_paths()[0].vertices[:, 1]
    assert ys.min() >= 0.0 and ys.max() <= 1.0
