"""Beat, gallery and map-over-beat figures (Agg backend): what is drawn is what was given."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from ecgsignal.data.synthetic import CLASS_NAMES, generate  # noqa: E402
from ecgsignal.errors import DataError  # noqa: E402
from ecgsignal.visual.ecg import (  # noqa: E402
    class_band,
    plot_beat,
    plot_class_gallery,
    plot_map_over_beat,
)


@pytest.fixture(scope="module")
def batch():
    return generate(n=27, seed=1)


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def test_plot_beat_draws_leads_masks_band_overlay(batch):
    i = int(np.flatnonzero(batch.labels == CLASS_NAMES.index("STEMI"))[0])
    ax = plot_beat(batch.beats[i], batch.fs, band=class_band(batch.beats[batch.labels == 5]),
                   diff_mask=batch.diff_mask[i], criteria_mask=batch.criteria_mask[i],
                   overlay=batch.counterfactual[i], spacing=2.0)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == list(batch.lead_names)
    black = [ln for ln in ax.lines if ln.get_color() == "black"]
    assert len(black) == 12
    t = batch.t
    np.testing.assert_allclose(black[1].get_xdata(), t)
    np.testing.assert_allclose(black[1].get_ydata(), batch.beats[i, 1] - 2.0)
    dashed = [ln for ln in ax.lines if ln.get_linestyle() == "--"]
    assert len(dashed) == 12
    diff_leads = int(batch.diff_mask[i].any(axis=1).sum())
    orange = [ln for ln in ax.lines if ln.get_color() == "#e66101"]
    assert len(orange) == diff_leads > 0
    # one box per run of the criteria mask (STEMI: V1-V4, one window each)
    assert len(ax.patches) == 4
    assert len(ax.collections) == 12  # the band, one per lead
    assert ax.get_xlabel() == "time from R (s)"


def test_plot_beat_rejects_bad_shapes(batch):
    with pytest.raises(DataError, match="beat must be"):
        plot_beat(batch.beats[:2], batch.fs)
    with pytest.raises(DataError, match="diff_mask"):
        plot_beat(batch.beats[0], batch.fs, diff_mask=np.zeros((12, 5), bool))
    with pytest.raises(DataError, match="lead names"):
        plot_beat(batch.beats[0], batch.fs, lead_names=["I"])
    with pytest.raises(DataError, match="fs"):
        plot_beat(batch.beats[0], 0.0)
    with pytest.raises(DataError):
        class_band(np.zeros((0, 12, 10)))


def test_class_band_is_percentiles(batch):
    band = class_band(batch.beats, (0, 100))
    np.testing.assert_allclose(band[0], batch.beats.min(0), rtol=1e-6)
    np.testing.assert_allclose(band[1], batch.beats.max(0), rtol=1e-6)


def test_class_gallery_one_panel_per_class(batch):
    fig = plot_class_gallery(batch.beats, batch.labels, batch.class_names, batch.fs,
                             diff_mask=batch.diff_mask, criteria_mask=batch.criteria_mask)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 9
    assert [ax.get_title().split()[0] for ax in visible] == list(CLASS_NAMES)
    assert not visible[0].patches  # NORM: empty masks
    only = batch.labels < 2
    fig2 = plot_class_gallery(batch.beats[only], batch.labels[only], batch.class_names, batch.fs)
    assert len([ax for ax in fig2.axes if ax.get_visible()]) == 2
    idx = [int(np.flatnonzero(batch.labels == c)[-1]) for c in range(9)]
    fig3 = plot_class_gallery(batch.beats, batch.labels, batch.class_names, batch.fs, index=idx)
    assert f"beat {idx[4]}" in fig3.axes[4].get_title()
    with pytest.raises(DataError, match="not of class"):
        plot_class_gallery(batch.beats, batch.labels, batch.class_names, batch.fs,
                           index=[idx[1]] * 9)


def test_map_over_beat_scales_the_map(batch):
    rng = np.random.default_rng(0)
    a = rng.normal(size=batch.beats[0].shape)
    ax = plot_map_over_beat(batch.beats[0], a, batch.fs, colorbar=True)
    img = ax.images[0].get_array()
    np.testing.assert_allclose(img, np.abs(a) / np.abs(a).max())
    ax2 = plot_map_over_beat(batch.beats[0], a, batch.fs, signed=True,
                             criteria_mask=batch.criteria_mask[0])
    np.testing.assert_allclose(ax2.images[0].get_array(), a / np.abs(a).max())
    zero = plot_map_over_beat(batch.beats[0], np.zeros_like(a), batch.fs)
    assert np.all(zero.images[0].get_array() == 0)
    with pytest.raises(DataError, match="differs"):
        plot_map_over_beat(batch.beats[0], a[:, :10], batch.fs)
