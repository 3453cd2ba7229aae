"""Live explorers: ipywidgets driving the real model in a kernel (Jupyter, Voila, Binder).

Built from explicit widgets, ``observe`` callbacks and an ``Output`` area, never ``interact``:
an ``interact`` cell can stall notebook execution until the timeout (nbclient #312) and its
output is frozen in static HTML. Each explorer draws once when built, so a notebook executed
by papermill shows the initial state and moves on.

Every state change recomputes what it needs with the model (and caches it), draws a matplotlib
figure into the ``Output`` and records the numbers in :attr:`state` (handy for tests and for
readers who want the arrays).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from torch import nn

from ecgsignal.data.leads import LEAD_NAMES
from ecgsignal.errors import ConfigError
from ecgsignal.widgets import _draw
from ecgsignal.widgets.artefacts import PERTURBATIONS, apply_perturbation, noise_for
from ecgsignal.widgets.cubes import _check_beats, _check_outputs, _targets

__all__ = ["PerturbationExplorer", "RandomizationExplorer"]


def _beat_options(class_names: Sequence[str], targets: np.ndarray) -> list[tuple[str, int]]:
    return [(f"beat {i + 1} ({class_names[int(t)]})", i) for i, t in enumerate(targets)]


class _Explorer:
    """Shared plumbing: the Output area, drawing into it, display."""

    widget: Any
    state: dict[str, Any]

    def _show(self, fig: Figure) -> None:
        # Assign the Output's outputs instead of `with output: clear_output(wait=True)`, which
        # left papermill waiting for the cell until its timeout in 4 of 16 runs (0 of 34 this way).
        import base64

        data = _draw.png(fig)
        self.state["png"] = data
        self.output.outputs = ({
            "output_type": "display_data",
            "data": {"image/png": base64.b64encode(data).decode("ascii"),
                     "text/plain": "<explorer figure>"},
            "metadata": {},
        },)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


class RandomizationExplorer(_Explorer):
    """Choose a method, a beat and how many layers (top-down) are randomised; see the map.

    The map of the chosen stage is drawn over the beat, beside the Spearman(|a|) similarity to
    the trained model's map at every stage (Adebayo et al. 2018, "Sanity checks for saliency
    maps"). Randomised models come from
    :func:`ecgsignal.evaluation.randomization.iter_randomized` (seeded, the model untouched).

    Parameters
    ----------
    model:
        The trained classifier.
    beats:
        ``(B, 12, T)`` float32 beats in mV.
    class_names:
        The ``C`` class names.
    methods:
        Attribution methods offered in the menu.
    targets:
        ``(B,)`` class explained per beat (default: the trained model's prediction).
    order, seed, baselines, fs, device:
        As in :func:`ecgsignal.widgets.cubes.randomization_cube`.

    Attributes
    ----------
    method, beat, layers:
        The ``Dropdown``, ``Dropdown`` and ``IntSlider`` controls.
    output:
        The ``Output`` the figure is drawn into.
    widget:
        The whole explorer (a ``VBox``); the object itself also displays as it.
    state:
        ``method``, ``beat``, ``n_layers``, ``map`` ``(12, T)``, ``similarity`` (to the
        trained map), ``similarities`` (every stage), ``png``.
    """

    def __init__(self, model: nn.Module, beats: np.ndarray, class_names: Sequence[str],
                 methods: Sequence[str], *, targets: Sequence[int] | np.ndarray | None = None,
                 order: str = "top_down", seed: int = 0, baselines: np.ndarray | None = None,
                 fs: float = 250.0, device: str | None = None) -> None:
        import ipywidgets as w

        from ecgsignal.evaluation.randomization import iter_randomized

        self.beats, self.class_names = _check_beats(beats, class_names)
        if not methods:
            raise ConfigError("methods is empty: name at least one attribution method")
        _check_outputs(model, self.beats, len(self.class_names), device)
        self.targets = _targets(model, self.beats, targets, len(self.class_names), device)
        self.seed, self.baselines, self.fs, self.device = seed, baselines, float(fs), device
        self._models: list[nn.Module] = []
        self.stage_names: list[str] = []
        for _, name, m in iter_randomized(model, order=order, seed=seed):
            self._models.append(m.eval())
            self.stage_names.append(name)
        self._maps: dict[tuple[str, int], np.ndarray] = {}
        self.state: dict[str, Any] = {}
        self.method = w.Dropdown(options=list(methods), value=methods[0], description="method")
        self.beat = w.Dropdown(options=_beat_options(self.class_names, self.targets), value=0,
                               description="beat")
        self.layers = w.IntSlider(value=0, min=0, max=len(self._models) - 1,
                                  description="layers randomised", continuous_update=False,
                                  style={"description_width": "initial"})
        self.stage_label = w.HTML()
        self.output = w.Output()
        for control in (self.method, self.beat, self.layers):
            control.observe(self._on_change, names="value")
        self.widget = w.VBox([w.HBox([self.method, self.beat]),
                              w.HBox([self.layers, self.stage_label]), self.output])
        self.update()

    def stage_maps(self, method: str, beat: int) -> np.ndarray:
        """``(S, 12, T)`` maps of beat ``beat`` at every stage (computed once, then cached)."""
        from ecgsignal.attribution import attribute

        key = (method, beat)
        if key not in self._maps:
            x = self.beats[beat:beat + 1]
            t = self.targets[beat:beat + 1]
            self._maps[key] = np.stack([
                attribute(m, x, t, method, seed=self.seed, baselines=self.baselines,
                          device=self.device, fs=self.fs)[0] for m in self._models])
        return self._maps[key]

    def _on_change(self, change: dict) -> None:
        self.update()

    def update(self) -> None:
        """Recompute for the current controls and redraw."""
        from ecgsignal.evaluation.similarity import spearman_abs

        method, b, k = self.method.value, int(self.beat.value), int(self.layers.value)
        maps = self.stage_maps(method, b)
        sims = spearman_abs(np.repeat(maps[:1], len(maps), 0), maps).astype(np.float32)
        self.stage_label.value = (f"<b>{k}</b> of {len(maps) - 1} stages randomised"
                                  + (f" (down to <code>{self.stage_names[k]}</code>)" if k else ""))
        self.state.update(method=method, beat=b, n_layers=k, map=maps[k],
                          similarity=float(sims[k]), similarities=sims)
        fig = Figure(figsize=(11, 4.6))
        ax_map, ax_sim = fig.subplots(1, 2, gridspec_kw={"width_ratios": [2.2, 1]})
        _draw.map_over_beat(ax_map, self.beats[b], maps[k], self.fs, LEAD_NAMES)
        ax_map.set_title(f"{method}, {k} stage(s) randomised — Spearman |a| vs trained = "
                         f"{sims[k]:.2f}", fontsize=10)
        _draw.similarity_curve(ax_sim, sims, k, self.stage_names)
        fig.tight_layout()
        self._show(fig)


class PerturbationExplorer(_Explorer):
    """Choose leads, a perturbation kind and its strength; see beat, probabilities, attribution.

    Kinds and units: :mod:`ecgsignal.widgets.artefacts` (zero, noise, scale, shift). Any
    subset of the 12 leads can be perturbed (toggle buttons); the noise ``ε`` is drawn once per
    beat from ``seed``, so moving the strength slider scales the same noise.

    Parameters
    ----------
    model:
        The classifier.
    beats:
        ``(B, 12, T)`` float32 beats in mV.
    class_names:
        The ``C`` class names.
    method:
        The attribution method shown.
    targets:
        ``(B,)`` class explained per beat (default: the prediction for the unperturbed beat).
    leads:
        Leads perturbed at first (names).
    kind, strength:
        The perturbation shown first.
    seed, baselines, fs, device:
        As in :func:`ecgsignal.widgets.cubes.perturbation_cube`.

    Attributes
    ----------
    lead_buttons:
        One ``ToggleButton`` per lead.
    kind, strength, beat:
        ``Dropdown``, ``FloatSlider``, ``Dropdown``.
    output, widget:
        As in :class:`RandomizationExplorer`.
    state:
        ``leads`` (names), ``kind``, ``strength``, ``beat``, ``perturbed`` ``(12, T)``, ``probs``
        ``(C,)``, ``reference_probs`` ``(C,)``, ``map`` ``(12, T)``, ``png``.
    """

    def __init__(self, model: nn.Module, beats: np.ndarray, class_names: Sequence[str],
                 method: str = "integrated_gradients", *,
                 targets: Sequence[int] | np.ndarray | None = None,
                 leads: Sequence[str] = ("V1",), kind: str = "zero", strength: float = 1.0,
                 seed: int = 0, baselines: np.ndarray | None = None, fs: float = 250.0,
                 device: str | None = None) -> None:
        import ipywidgets as w

        self.model = model
        self.beats, self.class_names = _check_beats(beats, class_names)
        self.reference_probs = _check_outputs(model, self.beats, len(self.class_names), device)
        self.targets = _targets(model, self.beats, targets, len(self.class_names), device)
        self.method_name = str(method)
        self.seed, self.baselines, self.fs, self.device = seed, baselines, float(fs), device
        self.noise = noise_for(self.beats.shape, seed)
        pert = PERTURBATIONS.get(kind)
        pert.coefficients(strength)  # validates the starting strength
        self.state: dict[str, Any] = {}
        chosen = {str(v) for v in leads}
        unknown = chosen - set(LEAD_NAMES)
        if unknown:
            raise ConfigError(f"unknown leads {sorted(unknown)}; valid: {', '.join(LEAD_NAMES)}")
        self.lead_buttons = [
            w.ToggleButton(value=name in chosen, description=name,
                           layout=w.Layout(width="48px"), tooltip=f"perturb lead {name}")
            for name in LEAD_NAMES]
        self.kind = w.Dropdown(options=PERTURBATIONS.available(), value=kind, description="kind")
        self.strength = w.FloatSlider(value=float(strength), min=0.0, max=self._max(kind),
                                      step=self._max(kind) / 40, description="strength",
                                      continuous_update=False, readout_format=".3f")
        self.unit = w.HTML(value=pert.unit)
        self.beat = w.Dropdown(options=_beat_options(self.class_names, self.targets), value=0,
                               description="beat")
        self.output = w.Output()
        for control in (*self.lead_buttons, self.strength, self.beat):
            control.observe(self._on_change, names="value")
        self.kind.observe(self._on_kind, names="value")
        self.widget = w.VBox([w.HBox(self.lead_buttons),
                              w.HBox([self.kind, self.strength, self.unit]), self.beat,
                              self.output])
        self.update()

    @staticmethod
    def _max(kind: str) -> float:
        p = PERTURBATIONS.get(kind)
        return float(p.max_strength if p.max_strength is not None else max(p.grid))

    def _on_kind(self, change: dict) -> None:
        kind = change["new"]
        top = self._max(kind)
        with self.strength.hold_trait_notifications():
            self.strength.max = top
            self.strength.step = top / 40
            self.strength.value = min(self.strength.value, top)
        self.unit.value = PERTURBATIONS.get(kind).unit
        self.update()

    def _on_change(self, change: dict) -> None:
        self.update()

    @property
    def leads(self) -> list[str]:
        """Names of the leads currently toggled on."""
        return [b.description for b in self.lead_buttons if b.value]

    def update(self) -> None:
        """Recompute for the current controls and redraw."""
        from ecgsignal.attribution import attribute
        from ecgsignal.models import predict_proba

        b, kind, s = int(self.beat.value), self.kind.value, float(self.strength.value)
        leads = self.leads
        x = self.beats[b:b + 1]
        xp = apply_perturbation(x, leads, kind, s, noise=self.noise[b:b + 1]) if leads else x.copy()
        probs = predict_proba(self.model, xp, device=self.device)[0]
        amap = attribute(self.model, xp, self.targets[b:b + 1], self.method_name, seed=self.seed,
                         baselines=self.baselines, device=self.device, fs=self.fs)[0]
        tc = int(self.targets[b])
        self.state.update(leads=leads, kind=kind, strength=s, beat=b, perturbed=xp[0], probs=probs,
                          reference_probs=self.reference_probs[b], map=amap)
        fig = Figure(figsize=(11, 4.6))
        ax_map, ax_p = fig.subplots(1, 2, gridspec_kw={"width_ratios": [2.2, 1]})
        mask = np.isin(np.array(LEAD_NAMES), leads)
        _draw.map_over_beat(ax_map, xp[0], amap, self.fs, LEAD_NAMES, original=x[0], mask=mask)
        what = ", ".join(leads) if leads else "no lead"
        ax_map.set_title(f"{self.method_name}; {kind} {s:g} {PERTURBATIONS.get(kind).unit} on "
                         f"{what}", fontsize=10)
        _draw.probabilities(ax_p, probs, self.class_names, tc, reference=self.reference_probs[b])
        ax_p.set_title(f"p({self.class_names[tc]}) {self.reference_probs[b, tc]:.3f} → "
                       f"{probs[tc]:.3f}", fontsize=10)
        fig.tight_layout()
        self._show(fig)
