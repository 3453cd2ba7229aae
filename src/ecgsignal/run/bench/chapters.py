"""Where the book's time goes, per chapter and per stage, from the chapter kernels' timing logs.

``ecgsignal book run`` makes every chapter kernel write its stages (:mod:`ecgsignal.timing`) to
``_build/timings/<profile>/<chapter>.jsonl``: self times of kinds ``data``, ``training``,
``attribution`` (name: the method), ``experiment`` and ``bootstrap`` (nested stages subtracted,
so they add up without counting anything twice), and one ``chapter`` record with the kernel's
wall-clock ``seconds`` (start-up included) and ``cells`` (the sum of papermill's cell
durations). From these:

* **kernel** (start-up and saving) = ``seconds - cells``;
* **other** (plotting, tables, glue, what no stage covers) = ``cells -`` the sum of stage times.

When chapters run in parallel kernels their wall times overlap: the total row is the *sum* of
the chapters' times (CPU-side work), not the book's elapsed time.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd

from ecgsignal.errors import ConfigError
from ecgsignal.timing import KINDS, read_timings

__all__ = ["COLUMNS", "chapter_profile", "chapter_tables", "chapter_times", "chapters_section",
           "format_chapters", "method_profile", "profile_highlights", "timings_dir"]

STAGES: tuple[str, ...] = ("data", "training", "attribution", "experiment", "bootstrap",
                           "waiting")
COLUMNS: tuple[str, ...] = ("wall", "kernel", *STAGES, "other")
"""Columns of :func:`chapter_profile`, seconds: the chapter's wall time and its parts."""

NO_LOGS = ("no chapter timing logs in {dir}: run `make book` or `ecgsignal book run --profile "
           "{profile}` first (each chapter kernel writes its stages there)")


def timings_dir(profile: str = "book", root: str | os.PathLike | None = None) -> Path:
    """``<root>/_build/timings/<profile>``, where the chapter kernels of ``profile`` log."""
    from ecgsignal.paths import project_root
    from ecgsignal.run.book import TIMINGS_DIR

    base = Path(root) if root is not None else (project_root() or Path.cwd())
    return base / TIMINGS_DIR / Path(str(profile)).stem


def _logs(profile: str, root: str | os.PathLike | None,
          directory: str | os.PathLike | None) -> list[dict[str, Any]]:
    d = Path(directory) if directory is not None else timings_dir(profile, root)
    files = sorted(d.glob("*.jsonl")) if d.is_dir() else []
    recs = [dict(r, chapter=r.get("chapter") or f.stem) for f in files for r in read_timings(f)]
    if not any(r["kind"] == "chapter" for r in recs):
        raise ConfigError(NO_LOGS.format(dir=d, profile=Path(str(profile)).stem))
    return recs


def chapter_profile(profile: str = "book", root: str | os.PathLike | None = None, *,
                    directory: str | os.PathLike | None = None) -> pd.DataFrame:
    """Seconds per chapter and stage (:data:`COLUMNS`), chapters in run order, and a total row.

    Only chapters whose kernel finished (with a ``chapter`` record) are listed: a chapter still
    running (this one, when the book calls it from chapter 12) has no wall time yet.

    Parameters
    ----------
    profile:
        The profile the chapters ran under (``smoke``, ``book``, ``full`` or a YAML path).
    root:
        The book's folder (default: the project root).
    directory:
        Read the ``*.jsonl`` logs from this folder instead.

    Returns
    -------
    pandas.DataFrame
        Index ``chapter`` (plus ``"total"``, the column sums: overlapping wall times when the
        chapters ran in parallel kernels), columns :data:`COLUMNS` in seconds.

    Raises
    ------
    ConfigError
        No finished chapter's log was found (the message says how to make them).
    """
    recs = _logs(profile, root, directory)
    rows: dict[str, dict[str, float]] = {}
    done = {r["chapter"]: r for r in recs if r["kind"] == "chapter"}
    for ch in done:
        row = dict.fromkeys(COLUMNS, 0.0)
        for r in recs:
            if r["chapter"] == ch and r["kind"] in KINDS:
                row[r["kind"]] += float(r["seconds"])
        wall = float(done[ch]["seconds"])
        cells = float(done[ch].get("cells", wall))
        row["wall"] = wall
        row["kernel"] = max(0.0, wall - cells)
        row["other"] = max(0.0, cells - sum(row[k] for k in STAGES))
        rows[ch] = row
    df = pd.DataFrame.from_dict(rows, orient="index", columns=list(COLUMNS))
    df.index.name = "chapter"
    df = df.sort_index()
    df.loc["total"] = df.sum(axis=0)
    return df


def method_profile(profile: str = "book", root: str | os.PathLike | None = None, *,
                   directory: str | os.PathLike | None = None) -> pd.DataFrame:
    """Attribution seconds per method over all finished chapters, largest first.

    Returns
    -------
    pandas.DataFrame
        Index ``method``; columns ``seconds`` (self time summed over chapters), ``calls`` and
        ``chapters`` (how many chapters computed maps of the method).

    Raises
    ------
    ConfigError
        As :func:`chapter_profile`.
    """
    recs = _logs(profile, root, directory)
    done = {r["chapter"] for r in recs if r["kind"] == "chapter"}
    att = pd.DataFrame([r for r in recs if r["kind"] == "attribution" and r["chapter"] in done],
                       columns=["name", "seconds", "chapter"])
    out = att.groupby("name").agg(seconds=("seconds", "sum"), calls=("seconds", "size"),
                                  chapters=("chapter", "nunique"))
    out.index.name = "method"
    return out.sort_values("seconds", ascending=False)


def chapter_times(executed_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """Wall time of each executed chapter (papermill's ``metadata.papermill.duration``).

    Returns
    -------
    dict
        ``{"dir", "chapters": [{"chapter", "seconds", "profile", "end_time"}], "total_s"}``;
        ``chapters`` is empty when no executed notebook is found.
    """
    if executed_dir is None:
        from ecgsignal.paths import project_root

        root = project_root() or Path.cwd()
        executed_dir = root / "book" / "_executed"
    d = Path(executed_dir)
    chapters = []
    for nb in sorted(d.glob("*.ipynb")) if d.is_dir() else []:
        try:
            meta = json.loads(nb.read_text(encoding="utf-8")).get("metadata", {})
        except (OSError, ValueError):
            continue
        pm = meta.get("papermill") or {}
        if pm.get("duration") is None:
            continue
        chapters.append({"chapter": nb.stem, "seconds": float(pm["duration"]),
                         "profile": (pm.get("parameters") or {}).get("profile"),
                         "end_time": pm.get("end_time")})
    return {"dir": str(d), "chapters": chapters,
            "total_s": float(sum(c["seconds"] for c in chapters))}




def chapters_section(profile: str = "book", directory: str | os.PathLike | None = None,
                     root: str | os.PathLike | None = None) -> dict[str, Any]:
    """The ``chapters`` section of ``ecgsignal bench``, JSON-ready.

    Returns
    -------
    dict
        ``{"profile", "dir", "columns", "stages": [{"chapter", <COLUMNS>...}],
        "methods": [{"method", "seconds", "calls", "chapters"}]}``, or ``{"profile", "dir",
        "error"}`` (the message of :func:`chapter_profile`) when no log was found.
    """
    d = Path(directory) if directory is not None else timings_dir(profile, root)
    out: dict[str, Any] = {"profile": Path(str(profile)).stem, "dir": str(d)}
    try:
        stages = chapter_profile(profile, directory=d)
        methods = method_profile(profile, directory=d)
    except ConfigError as exc:
        return {**out, "error": str(exc)}
    out["columns"] = list(COLUMNS)
    out["stages"] = [{"chapter": str(c), **{k: round(float(v), 3) for k, v in r.items()}}
                     for c, r in stages.iterrows()]
    out["methods"] = [{"method": str(m), "seconds": round(float(r["seconds"]), 3),
                       "calls": int(r["calls"]), "chapters": int(r["chapters"])}
                      for m, r in methods.iterrows()]
    return out


def chapter_tables(section: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The stage and method tables of a :func:`chapters_section` result (empty without logs)."""
    if "error" in section:
        return pd.DataFrame(columns=list(COLUMNS)), pd.DataFrame(
            columns=["seconds", "calls", "chapters"])
    stages = pd.DataFrame(section["stages"]).set_index("chapter")[list(section["columns"])]
    methods = pd.DataFrame(section["methods"], columns=["method", "seconds", "calls",
                                                        "chapters"]).set_index("method")
    return stages, methods


def format_chapters(section: dict[str, Any]) -> str:
    """Plain-text tables of :func:`chapters_section` (or its error)."""
    if "error" in section:
        return f"chapters: {section['error']}"
    stages, methods = chapter_tables(section)
    head = f"{'chapter':<22}" + "".join(f"{c:>12}" for c in stages.columns)
    lines = [f"where the book's time goes (profile {section['profile']}, seconds; "
             "self times, nested stages subtracted):", head, "-" * len(head)]
    for ch, r in stages.iterrows():
        if ch == "total":
            lines.append("-" * len(head))
        lines.append(f"{str(ch):<22}" + "".join(f"{v:>12.1f}" for v in r))
    lines.append("(kernel = start-up and saving; waiting = a kernel waiting for its worker "
                 "processes, whose stages are counted in the other columns; other = plotting, "
                 "tables and what no stage covers; the total sums the chapters: wall times "
                 "overlap when chapters run in parallel kernels)")
    lines += ["", f"{'attribution by method':<26}{'seconds':>10}{'calls':>8}{'chapters':>10}"]
    for m, r in methods.iterrows():
        lines.append(f"{str(m):<26}{r['seconds']:>10.1f}{int(r['calls']):>8}"
                     f"{int(r['chapters']):>10}")
    return "\n".join(lines)


def profile_highlights(section: dict[str, Any]) -> dict[str, str]:
    """The profile's figures for a chapter's prose, formatted (``"n/a"`` without logs).

    Returns
    -------
    dict
        ``perf_book_chapters`` (finished chapters), ``perf_book_minutes`` (sum of their wall
        times), ``perf_book_top`` / ``perf_book_top_share`` (the longest chapter, % of the sum),
        ``perf_book_<stage>_share`` for kernel, training, attribution, experiment, bootstrap and
        other (% of the sum), ``perf_book_top_method`` and ``perf_book_note`` (what the figures
        are, or why there are none).
    """
    parts = ("kernel", *STAGES, "other")
    out = {k: "n/a" for k in ("perf_book_chapters", "perf_book_minutes", "perf_book_top",
                              "perf_book_top_share", "perf_book_top_method",
                              *(f"perf_book_{p}_share" for p in parts))}
    if "error" in section:  # glued as plain text: no Markdown code marks
        out["perf_book_note"] = section["error"].replace("`", "")
        return out
    stages, methods = chapter_tables(section)
    chapters = stages.drop(index="total")
    total = float(stages.loc["total", "wall"])
    top = chapters["wall"].idxmax()
    out.update(perf_book_chapters=str(len(chapters)), perf_book_minutes=f"{total / 60:.1f}",
               perf_book_top=str(top),
               perf_book_top_share=f"{100 * chapters.loc[top, 'wall'] / total:.0f}")
    for p in parts:
        out[f"perf_book_{p}_share"] = f"{100 * float(stages.loc['total', p]) / total:.0f}"
    if not methods.empty:
        out["perf_book_top_method"] = str(methods.index[0])
    # plain text: the glued string is shown as is (no Markdown inside)
    out["perf_book_note"] = (f"the chapters' wall times of the last run with the "
                             f"{section['profile']} profile, summed")
    return out
