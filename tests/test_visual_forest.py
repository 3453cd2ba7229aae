"""The forest plot: one row per label, one offset point with its CI per group."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from ecgsignal.errors import DataError  # noqa: E402
from ecgsignal.visual.forest import plot_forest  # noqa: E402


def _table():
    return pd.DataFrame({
        "method": ["a", "b", "edge", "a", "b", "edge"],
        "measure": ["m1"] * 3 + ["m2"] * 3,
        "value": [0.5, 0.2, 0.9, 0.4, 0.1, 0.8],
        "ci_low": [0.4, 0.1, 0.85, 0.3, 0.0, 0.7],
        "ci_high": [0.6, 0.3, 0.95, 0.5, 0.2, 0.9],
    })


def test_points_errors_and_styles():
    fig, ax = plt.subplots()
    plot_forest(_table(), ax, group="measure", shaded=["edge"], bold=["b"], reference=0.0,
                reference_label="no similarity")
    lines = [c for c in ax.containers]  # one ErrorbarContainer per group
    assert len(lines) == 2
    x, y = lines[0].lines[0].get_data()
    np.testing.assert_allclose(x, [0.5, 0.2, 0.9])
    assert y[0] < 0 and 0 < y[1] < 1  # group 1 sits above (offset −) each row centre
    seg = lines[0].lines[2][0].get_segments()[0]  # horizontal CI of row "a"
    np.testing.assert_allclose(sorted(seg[:, 0]), [0.4, 0.6])
    ticks = {t.get_text(): t for t in ax.get_yticklabels()}
    assert list(ticks) == ["a", "b", "edge"]
    assert ticks["edge"].get_fontstyle() == "italic"
    assert ticks["b"].get_fontweight() == "bold"
    assert sorted(t.get_text() for t in ax.get_legend().get_texts()) == ["m1", "m2", "no similarity"]
    plt.close(fig)


def test_order_and_single_group():
    d = _table()[lambda t: t["measure"] == "m1"]
    ax = plot_forest(d, order=["edge", "a", "b"], reference=None, title="t")
    assert [t.get_text() for t in ax.get_yticklabels()] == ["edge", "a", "b"]
    assert ax.get_title() == "t" and ax.get_legend() is None
    plt.close(ax.figure)


def test_bad_tables():
    with pytest.raises(DataError, match="lacks columns"):
        plot_forest(_table().drop(columns="ci_low"))
    with pytest.raises(DataError, match="several rows"):
        plot_forest(_table())  # two rows per method without group
    with pytest.raises(DataError, match="empty"):
        plot_forest(_table().iloc[:0])
