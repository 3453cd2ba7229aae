"""Figures of the trained models: test AUROC per class over seeds, and the training curves.

- :func:`plot_auroc` — one column per class: each seed's AUROC as a dot, the mean with its
  Student-t 95 % CI over seeds as an error bar, and the paper's bar (0.95) as a dashed line;
- :func:`plot_history` — a training metric per epoch: one thin line per seed, the mean over the
  seeds still training, and the t-CI band where at least two seeds contribute.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import MaxNLocator

from ecgsignal.errors import DataError
from ecgsignal.models.report import AUROC_BAR, seed_summary, t_interval

__all__ = ["plot_auroc", "plot_history"]


def plot_auroc(df: pd.DataFrame, ax: Axes | None = None, *, bar: float | None = AUROC_BAR,
               ci: float = 0.95) -> Axes:
    """Test AUROC per class: seeds as dots, mean ± t-CI over seeds, the bar dashed.

    Parameters
    ----------
    df:
        :func:`ecgsignal.models.report.auroc_table` (``seed``, ``class``, ``auroc``).
    bar:
        Horizontal reference line (the paper's 0.95), or ``None``.
    ci:
        Coverage of the interval over seeds.

    Returns
    -------
    matplotlib.axes.Axes
    """
    if not {"seed", "class", "auroc"} <= set(df.columns):
        raise DataError("expected an auroc_table (columns seed, class, auroc)")
    if df.empty:
        raise DataError("no AUROC rows to draw")
    summ = seed_summary(df, "auroc", ("class",), ci=ci, bar=bar)
    classes = list(summ["class"])
    seeds = sorted(df["seed"].unique())
    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 3.8))
    x = np.arange(len(classes))
    offsets = np.linspace(-0.22, 0.22, len(seeds)) if len(seeds) > 1 else np.zeros(1)
    colors = plt.get_cmap("tab10")(np.arange(len(seeds)) % 10)
    for off, s, c in zip(offsets, seeds, colors):
        d = df[df["seed"] == s].set_index("class").reindex(classes)
        ax.scatter(x + off, d["auroc"], s=14, color=c, alpha=0.8, label=f"seed {s}", zorder=2)
    m = summ["mean"].to_numpy(float)
    lo = np.where(np.isfinite(summ["ci_low"]), summ["ci_low"], m)
    hi = np.where(np.isfinite(summ["ci_high"]), summ["ci_high"], m)
    ax.errorbar(x, m, yerr=[m - lo, np.minimum(hi, 1.0) - m], fmt="D", ms=5, color="black",
                capsize=4, lw=1.2, zorder=3, label=f"mean, {ci:.0%} CI (t)")
    if bar is not None:
        ax.axhline(bar, color="crimson", ls="--", lw=1, label=f"bar {bar:g}")
    ax.set_xticks(x, classes)
    low = float(np.nanmin([df["auroc"].min(), np.nanmin(lo)]))
    ax.set_ylim(max(0.0, min(low, bar if bar is not None else low) - 0.03), 1.005)
    ax.set_ylabel("test AUROC")
    ax.legend(frameon=False, fontsize=7, ncol=3, loc="lower left")
    return ax


def plot_history(df: pd.DataFrame, metric: str = "val_auroc", ax: Axes | None = None, *,
                 ci: float = 0.95, limits: tuple[float, float] | None = None) -> Axes:
    """A per-epoch training metric over seeds: thin line per seed, mean and t-CI band.

    Parameters
    ----------
    df:
        :func:`ecgsignal.models.report.history_table` (``seed``, ``epoch``, ``metric``,
        ``value``).
    metric:
        ``val_auroc``, ``val_loss``, ``train_loss``…
    limits:
        Range the band is clipped to (e.g. ``(0, 1)`` for AUROC).

    Returns
    -------
    matplotlib.axes.Axes
    """
    if not {"seed", "epoch", "metric", "value"} <= set(df.columns):
        raise DataError("expected a history_table (columns seed, epoch, metric, value)")
    d = df[df["metric"] == metric]
    if d.empty:
        raise DataError(f"no rows for metric {metric!r}; have {sorted(df['metric'].unique())}")
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 3.4))
    for _, g in d.groupby("seed"):
        g = g.sort_values("epoch")
        ax.plot(g["epoch"], g["value"], color="0.65", lw=0.7)
    epochs = np.sort(d["epoch"].unique())
    stats = np.array([t_interval(d.loc[d["epoch"] == e, "value"].to_numpy(), ci) for e in epochs])
    ax.plot(epochs, stats[:, 0], color="black", lw=1.6, label="mean over seeds")
    ok = np.isfinite(stats[:, 1])
    if limits is not None:
        stats[:, 1:] = np.clip(stats[:, 1:], *limits)
    if ok.any():
        ax.fill_between(epochs[ok], stats[ok, 1], stats[ok, 2], color="C0", alpha=0.25, lw=0,
                        label=f"{ci:.0%} CI (t)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric.replace("_", " "))
    ax.legend(frameon=False, fontsize=8)
    return ax
