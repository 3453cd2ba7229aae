"""Chapter 13's figure: a beat, its two counterfactuals and the true one, per class."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from ecgsignal.data.leads import LEAD_NAMES
from ecgsignal.errors import DataError

__all__ = ["plot_counterfactual_examples"]


def plot_counterfactual_examples(ex: Mapping[str, Any], fs: float, r_offset: float = 0.4,
                                 ncols: int = 4) -> Figure:
    """One panel per class: beat, signal-space and parameter-space counterfactual, true one.

    ``ex`` is :func:`ecgsignal.evaluation.experiments.beyond.counterfactual_examples`'s result;
    each panel shows the lead where the true change is largest (mV against s from the R peak).
    """
    k = len(ex["classes"])
    if k == 0:
        raise DataError("no counterfactual example to plot (no explained non-NORM beat)")
    ncols = min(ncols, k)
    nrows = -(-k // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols, 2.6 * nrows), sharex=True,
                             squeeze=False, layout="constrained")
    axes = axes.ravel()
    t = np.arange(ex["beat"].shape[-1]) / fs - r_offset
    styles = (("beat", "beat", dict(color="0.2", lw=1.2)),
              ("true", "true counterfactual", dict(color="tab:green", lw=1.6)),
              ("params", "parameter-space", dict(color="tab:orange", lw=1.1, ls="--")),
              ("signal", "signal-space", dict(color="tab:blue", lw=1.0, ls=":")))
    for i, ax in enumerate(axes):
        if i >= k:
            ax.set_visible(False)
            continue
        lead = int(ex["lead"][i])
        for key, label, kw in styles:
            ax.plot(t, ex[key][i, lead], label=label, **kw)
        ax.set_title(f"{ex['classes'][i]} — lead {LEAD_NAMES[lead]}", fontsize=9)
        ax.set_xlabel("s from R")
        ax.set_ylabel("mV")
    axes[0].legend(fontsize=7, frameon=False)
    return fig
