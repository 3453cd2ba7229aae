"""Tables of trained models: test AUROC per class and seed, summaries over seeds, training runs.

The paper's bar is a test AUROC of at least 0.95 for every class (Arends et al. 2026). With a
handful of seeds, the spread over seeds is summarised by the mean and a Student-t 95 % interval
(a percentile bootstrap over 5 values would be too narrow).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.stats import t as student_t

from ecgsignal.errors import DataError
from ecgsignal.models.checkpoints import TrainedModel
from ecgsignal.tables import require_columns

__all__ = [
    "AUROC_BAR",
    "auroc_table",
    "below_bar",
    "history_table",
    "seed_summary",
    "t_interval",
    "training_table",
]

#: The paper's model bar: every class reaches this test AUROC.
AUROC_BAR: float = 0.95


def _check_models(models: Mapping[int, TrainedModel]) -> None:
    if not models:
        raise DataError("no trained models given (expected {seed: TrainedModel})")
    for s, m in models.items():
        if not isinstance(m, TrainedModel):
            raise DataError(f"seed {s!r}: expected a TrainedModel, got {type(m).__name__}")


def auroc_table(models: Mapping[int, TrainedModel], class_names: Sequence[str] | None = None,
                ) -> pd.DataFrame:
    """Tidy test AUROC per seed and class, as recorded when each model was trained.

    Parameters
    ----------
    models:
        ``{seed: TrainedModel}`` (e.g. ``{s: ctx.trained(s) for s in ctx.seeds}``).
    class_names:
        Class order of the rows (default: the first model's order).

    Returns
    -------
    pandas.DataFrame
        Columns ``seed``, ``class``, ``auroc``.
    """
    _check_models(models)
    names = list(class_names) if class_names is not None else list(next(iter(models.values())).auroc)
    rows = []
    for seed, tm in models.items():
        missing = [c for c in names if c not in tm.auroc]
        if missing:
            raise DataError(f"model of seed {seed} has no AUROC for classes {missing}")
        rows += [{"seed": int(seed), "class": c, "auroc": float(tm.auroc[c])} for c in names]
    return pd.DataFrame(rows)


def t_interval(values: np.ndarray, ci: float = 0.95) -> tuple[float, float, float]:
    """Mean and Student-t confidence interval of a few values (e.g. one per seed).

    Returns ``(mean, low, high)``; the bounds are NaN with fewer than two finite values.
    """
    v = np.asarray(values, np.float64).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(v.mean())
    if v.size < 2:
        return mean, float("nan"), float("nan")
    if not 0.0 < ci < 1.0:
        raise DataError(f"ci must lie in (0, 1), got {ci!r}")
    half = float(student_t.ppf(0.5 + ci / 2, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size))
    return mean, mean - half, mean + half


def seed_summary(df: pd.DataFrame, value: str = "auroc", by: Sequence[str] = ("class",),
                 ci: float = 0.95, bar: float | None = AUROC_BAR,
                 clip: tuple[float, float] | None = (0.0, 1.0)) -> pd.DataFrame:
    """Mean, Student-t CI, SD, min and max of ``value`` over seeds, per group.

    Parameters
    ----------
    df:
        Tidy table with a ``seed`` column (e.g. :func:`auroc_table`).
    value, by:
        The column summarised and the grouping columns (order of first appearance is kept).
    ci:
        Coverage of the interval.
    bar:
        If given, adds ``n_below`` (seeds below the bar) and ``all_above`` columns.
    clip:
        Range the interval is clipped to (AUROC's ``[0, 1]`` by default; ``None`` for
        unbounded values): with two or three seeds a t-interval easily leaves it.

    Returns
    -------
    pandas.DataFrame
        One row per group: the ``by`` columns, ``n_seeds``, ``mean``, ``ci_low``, ``ci_high``,
        ``sd``, ``min``, ``max`` (and ``n_below``, ``all_above``).
    """
    require_columns(df, ("seed", value, *by))
    rows = []
    for key, g in df.groupby(list(by), sort=False):
        key = key if isinstance(key, tuple) else (key,)
        v = g[value].to_numpy(np.float64)
        mean, lo, hi = t_interval(v, ci)
        if clip is not None and np.isfinite(lo):
            lo, hi = float(np.clip(lo, *clip)), float(np.clip(hi, *clip))
        row = dict(zip(by, key))
        row.update({"n_seeds": int(g["seed"].nunique()), "mean": mean, "ci_low": lo,
                    "ci_high": hi, "sd": float(np.std(v, ddof=1)) if v.size > 1 else float("nan"),
                    "min": float(np.min(v)), "max": float(np.max(v))})
        if bar is not None:
            row["n_below"] = int((v < bar).sum())
            row["all_above"] = bool((v >= bar).all())
        rows.append(row)
    return pd.DataFrame(rows)


def below_bar(df: pd.DataFrame, bar: float = AUROC_BAR) -> pd.DataFrame:
    """The (seed, class) rows of an :func:`auroc_table` whose AUROC is under ``bar``."""
    if not {"seed", "class", "auroc"} <= set(df.columns):
        raise DataError("expected an auroc_table (columns seed, class, auroc)")
    return df[df["auroc"] < bar].reset_index(drop=True)


def training_table(models: Mapping[int, TrainedModel]) -> pd.DataFrame:
    """One row per seed: epochs run, best epoch, training seconds, macro AUROC, from the cache.

    Returns
    -------
    pandas.DataFrame
        Columns ``seed``, ``epochs_run``, ``best_epoch`` (the epoch of the lowest validation
        loss, whose weights were kept), ``train_seconds`` (of the original training, s),
        ``macro_auroc`` (test), ``min_auroc`` (worst class), ``from_cache``.
    """
    _check_models(models)
    rows = []
    for seed, tm in models.items():
        hist = tm.history or []
        best = (min(hist, key=lambda h: h.get("val_loss", np.inf)).get("epoch", 0) if hist else 0)
        au = np.array(list(tm.auroc.values()), np.float64)
        rows.append({"seed": int(seed), "epochs_run": len(hist), "best_epoch": int(best),
                     "train_seconds": float(tm.train_seconds), "macro_auroc": float(au.mean()),
                     "min_auroc": float(au.min()), "from_cache": bool(tm.from_cache)})
    return pd.DataFrame(rows)


def history_table(models: Mapping[int, TrainedModel]) -> pd.DataFrame:
    """Tidy per-epoch history of every seed: ``seed``, ``epoch``, ``metric``, ``value``.

    Metrics are those the training loop records (``train_loss``, ``val_loss``, ``val_auroc``,
    ``lr``, ``seconds``).
    """
    _check_models(models)
    rows = []
    for seed, tm in models.items():
        for h in tm.history or []:
            ep = int(h.get("epoch", 0))
            rows += [{"seed": int(seed), "epoch": ep, "metric": k, "value": float(v)}
                     for k, v in h.items() if k != "epoch" and v is not None]
    if not rows:
        raise DataError("the models carry no training history")
    return pd.DataFrame(rows)
