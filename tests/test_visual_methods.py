"""Method gallery, timing and lead-share figures (Agg backend)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from ecgsignal.errors import DataError  # noqa: E402
from ecgsignal.evaluation.lead_shares import lead_share_table  # noqa: E402
from ecgsignal.visual.methods import (  # noqa: E402
    plot_lead_shares,
    plot_method_gallery,
    plot_method_timings,
)


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def test_method_gallery_one_panel_per_method():
    rng = np.random.default_rng(0)
    beat = rng.normal(size=(12, 50))
    maps = {f"m{i}": rng.normal(size=(12, 50)) for i in range(7)}
    fig = plot_method_gallery(beat, maps, 250.0, ncols=3, labels={"m0": "first"}, suptitle="x")
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 7 and len(fig.axes) == 9
    assert visible[0].get_title() == "first" and visible[6].get_title() == "m6"
    np.testing.assert_allclose(visible[3].images[0].get_array(),
                               np.abs(maps["m3"]) / np.abs(maps["m3"]).max())
    with pytest.raises(DataError):
        plot_method_gallery(beat, {}, 250.0)


def test_timings_bars_are_medians():
    df = pd.DataFrame({"method": ["a", "a", "a", "b", "b", "b"],
                       "ms_per_beat": [1.0, 2.0, 9.0, 50.0, 40.0, 45.0]})
    ax = plot_method_timings(df, kinds={"a": "gradient", "b": "perturbation"})
    widths = [p.get_width() for p in ax.patches if np.isfinite(p.get_width())]
    assert widths == [2.0, 45.0]  # sorted by median
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b"]
    assert ax.get_xscale() == "log"
    with pytest.raises(DataError):
        plot_method_timings(pd.DataFrame({"method": []}))


def test_lead_shares_bars_match_table():
    rng = np.random.default_rng(2)
    df = lead_share_table({"x": rng.normal(size=(6, 12, 20)),
                           "y": np.repeat(rng.normal(size=(6, 1, 20)), 12, axis=1)}, n_boot=50)
    ax = plot_lead_shares(df)
    heights = [p.get_height() for p in ax.patches]
    assert len(heights) == 24
    np.testing.assert_allclose(heights[12:], 1 / 12)
    np.testing.assert_allclose(heights[:12], df[df["method"] == "x"]["value"])
    with pytest.raises(DataError):
        plot_lead_shares(df.drop(columns="ci_low"))


def test_method_bars_grouped_with_cis():
    from ecgsignal.visual.methods import plot_method_bars

    df = pd.DataFrame({"method": ["a", "b", "a", "b"], "norm": ["raw", "raw", "abs", "abs"],
                       "value": [0.1, 0.5, 0.3, 0.7], "ci_low": [0.0, 0.4, 0.2, 0.6],
                       "ci_high": [0.2, 0.6, 0.4, 0.8]})
    ax = plot_method_bars(df, hue="norm", highlight=["b"])
    heights = [p.get_height() for p in ax.patches]
    assert heights == [0.1, 0.5, 0.3, 0.7]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["raw", "abs"]
    bold = [t.get_text() for t in ax.get_xticklabels() if t.get_fontweight() == "bold"]
    assert bold == ["b"]
    single = plot_method_bars(df[df["norm"] == "raw"], methods=["b", "a"])
    assert [p.get_height() for p in single.patches] == [0.5, 0.1]
    with pytest.raises(DataError, match="lacks columns"):
        plot_method_bars(df, hue="nope")
