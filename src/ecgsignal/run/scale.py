"""From a bench record to the paper's scale: per-beat engine cost and the hours it implies.

Used by the performance chapter to extrapolate the measured cost of the 12 methods to the paper's
873,710 beats (Arends et al. 2026) on one machine, and the number of workers that would finish a
given number of models within a time budget.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from ecgsignal.errors import ConfigError

__all__ = ["per_beat_costs", "scale_table"]


def per_beat_costs(record: Mapping[str, Any] | None) -> dict[str, float]:
    """Seconds per beat of each method's engine row in a bench record (``{}`` when none)."""
    if not record:
        return {}
    return {e["method"]: float(e["engine_s"]) / float(e["n_beats"])
            for e in record.get("engine", []) if float(e.get("n_beats", 0)) > 0}


def scale_table(runs: Mapping[str, Mapping[str, Any] | None], paper_beats: int, paper_seeds: int,
                budget_hours: float = 4.0) -> pd.DataFrame:
    """One row per bench record: ms per beat (all methods), hours for 1 and ``paper_seeds`` models.

    Parameters
    ----------
    runs:
        Label → bench record (``ecgsignal bench --json``); records without engine rows are skipped.
    paper_beats, paper_seeds:
        The scale to extrapolate to (beats per model, number of models).
    budget_hours:
        Wall-clock budget for the workers column.
    """
    if paper_beats <= 0 or paper_seeds <= 0 or budget_hours <= 0:
        raise ConfigError("paper_beats, paper_seeds and budget_hours must be positive")
    lines = []
    for name, record in runs.items():
        costs = per_beat_costs(record)
        if not costs:
            continue
        per_beat = sum(costs.values())
        hours = per_beat * paper_beats / 3600
        dev = record["machine"]
        lines.append({"where": f"{name}: {dev['device_name']} ({dev['cores']} cores)",
                      "methods": len(costs), "ms per beat (all methods)": round(per_beat * 1e3, 2),
                      "hours, 1 model": round(hours, 1),
                      f"hours, {paper_seeds} models": round(hours * paper_seeds, 1),
                      f"workers for {paper_seeds} models in {budget_hours:g} h":
                          int(math.ceil(hours * paper_seeds / budget_hours))})
    return pd.DataFrame(lines)
