"""What a chapter notebook calls: one object holding the profile, the context and the results.

A chapter's parameters cell sets ``profile`` and any overrides (``None`` = the profile's value);
the next cell calls :func:`open_chapter`. Everything expensive (data, models, maps, experiment
tables) is cached, so chapters share work and a rerun with warm caches takes seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from ecgsignal.data.dataset import ECGDataset
from ecgsignal.evaluation.context import ExperimentContext
from ecgsignal.evaluation.experiments import run_experiment
from ecgsignal.paths import project_root
from ecgsignal.run.pipeline import build_context, build_dataset, experiment_params
from ecgsignal.run.profiles import Profile, load_profile
from ecgsignal.visual.describe import describe_figure


def results_root() -> Path:
    """``<project>/results`` (or ``./results`` outside a project checkout)."""
    root = project_root()
    return (root if root is not None else Path.cwd()) / "results"


@dataclass
class Chapter:
    """A chapter's handle on the pipeline.

    Attributes
    ----------
    profile:
        The resolved :class:`Profile` (named profile + the notebook's overrides).
    out_dir:
        Where experiment tables are saved (``results/<profile>/<experiment>/``).
    """

    profile: Profile
    out_dir: Path
    progress: bool = False
    _tables: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False)

    @cached_property
    def dataset(self) -> ECGDataset:
        """The profile's dataset with its split."""
        return build_dataset(self.profile)

    @cached_property
    def ctx(self) -> ExperimentContext:
        """The shared experiment context (models from the checkpoint cache)."""
        return build_context(self.profile, dataset=self.dataset, progress=self.progress)

    @property
    def has_masks(self) -> bool:
        """Whether the data carry ground-truth masks (synthetic data only)."""
        return self.dataset.has_masks

    def params(self, experiment: str, **params: Any) -> dict[str, Any]:
        """The parameters :meth:`run` passes to ``experiment``: the profile's, updated by
        ``params``."""
        return {**experiment_params(self.profile, experiment), **params}

    def run(self, experiment: str, **params: Any) -> pd.DataFrame:
        """Run (or read back) an experiment with the profile's parameters, updated by ``params``."""
        p = self.params(experiment, **params)
        key = experiment + repr(sorted(p.items()))
        if key not in self._tables:
            self._tables[key] = run_experiment(experiment, self.ctx, out_dir=self.out_dir, params=p)
        return self._tables[key]


def open_chapter(profile: str | Profile = "book", progress: bool = False,
                 **overrides: Any) -> Chapter:
    """Resolve ``profile`` with the notebook's ``overrides`` (``None`` values ignored).

    Wrong types or unknown names raise :class:`~ecgsignal.errors.ConfigError` naming the field.
    """
    prof = load_profile(profile, **overrides)
    describe_figures()
    tag = prof.name if prof.dataset == "synthetic" else f"{prof.name}-{prof.dataset}"
    return Chapter(profile=prof, out_dir=results_root() / tag, progress=progress)


def glue(name: str, value: Any, display: bool = False) -> None:
    """Glue ``value`` for the prose (myst-nb) when available.

    Returns ``None``, so that a cell ending with a ``glue(...)`` call shows no stray output
    (a bare float or a quoted string on the page).
    """
    try:
        from myst_nb import glue as _glue
    except ImportError:  # a plain kernel without the book extra: nothing to glue into
        return
    _glue(name, value, display=display)


#: CSS class of the tables that :func:`table` renders (the reader's test allows missing-value
#: marks only inside such tables).
TABLE_CLASS = "ecgsignal-table"


def table(df: pd.DataFrame, *, digits: int = 3, caption: str | None = None,
          index: bool = True, na_rep: str = "—") -> Any:
    """A styled table for a chapter page: numbers rounded, missing values shown as ``na_rep``.

    Parameters
    ----------
    df:
        The table (any shape).
    digits:
        Decimals of float columns.
    caption:
        Shown above the table.
    index:
        Show the index (``False`` hides it).
    na_rep:
        What a missing value (NaN, ``<NA>``, None) is shown as.

    Returns
    -------
    pandas.io.formats.style.Styler
        Displayed by Jupyter as an HTML ``<table class="ecgsignal-table">``.
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"table() needs a pandas DataFrame, got {type(df).__name__}")
    floats = [c for c in df.columns if pd.api.types.is_float_dtype(df[c])]
    sty = (df.style.format(na_rep=na_rep)
           .format(f"{{:.{int(digits)}f}}", subset=floats, na_rep=na_rep)
           .set_table_attributes(f'class="{TABLE_CLASS}"'))
    if caption:
        sty = sty.set_caption(caption)
    if not index:
        sty = sty.hide(axis="index")
    return sty


def describe_figures() -> bool:
    """Make IPython describe matplotlib figures by their titles (their ``text/plain`` output).

    The plain-text form of a figure shown in a notebook becomes
    :func:`ecgsignal.visual.describe.describe_figure`'s one-line description instead of
    ``<Figure size 640x480 with 1 Axes>``; the book uses it as the image's alt text. Returns
    whether an IPython shell was there to configure (outside one this does nothing).
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    ip = get_ipython()
    if ip is None:
        return False
    # The inline backend drops every formatter registered for Figure when it loads (at the first
    # figure): load it now with a throwaway figure, then register; re-register before each cell
    # in case a later backend switch drops it again.
    plt.close(plt.figure())
    plain = ip.display_formatter.formatters["text/plain"]

    def register(*_: Any) -> None:
        if Figure not in plain.type_printers:
            plain.for_type(Figure, lambda fig, p, cycle: p.text(describe_figure(fig)))

    register()
    if not getattr(ip, "_ecgsignal_describes_figures", False):
        ip.events.register("pre_run_cell", register)
        ip._ecgsignal_describes_figures = True
    return True
