"""Run the chapter notebooks with papermill and build the site with Jupyter Book 1.

Layout (fixed by ``_toc.yml``)::

    notebooks/<chapter>.ipynb        sources: one ``parameters`` cell, committed without outputs
    book/_executed/<chapter>.ipynb   executed copies written by :func:`run_book` (git-ignored)
    _build/html/index.html           the site written by :func:`build_book` (git-ignored)

The toc lists the executed copies, and ``_config.yml`` sets ``execute_notebooks: "off"``, so
building the site renders what papermill produced and never re-runs an experiment. They live
inside the book's source tree (Jupyter Book 1 reads only there; ``_build`` is excluded from its
sources) in ``book/_executed``; the site's Binder buttons are pointed back at the source notebooks
by the local Sphinx extension ``book/_ext/ecgsignal_site.py``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import yaml

from ecgsignal.errors import ConfigError, ECGSignalError
from ecgsignal.io import atomic_path, write_bytes
from ecgsignal.paths import project_root
from ecgsignal.run.chapter_jobs import (
    STAMP_KEY,
    chapter_stamp,
    default_jobs,
    environment,
    plan_waves,
    read_stamp,
    run_jobs,
    source_digest,
    threads_per_kernel,
)
from ecgsignal.timing import ENV_CHAPTER, ENV_FILE, append_record
from ecgsignal.visual.plotly_html import PLOTLYJS_ENV, vendor_plotly

__all__ = [
    "CHAPTERS",
    "EXECUTED_DIR",
    "NOTEBOOK_DIR",
    "BookError",
    "ChapterError",
    "ChapterRun",
    "build_book",
    "chapters_from_toc",
    "external_assets",
    "prepare_executed",
    "run_book",
]

#: Chapter notebooks (stems in ``notebooks/``) in reading order; ``_toc.yml`` lists the same.
CHAPTERS: tuple[str, ...] = (
    "01_data",
    "02_models",
    "03_gallery",
    "04_similarity",
    "05_consistency",
    "06_randomization",
    "07_perturbation",
    "08_localization",
    "09_pitfalls",
    "13_beyond_heatmaps",
    "10_workshop",
    "11_your_data",
    "12_performance",
    "14_statistics",
)
NOTEBOOK_DIR = "notebooks"
EXECUTED_DIR = "book/_executed"
_FAILED_DIR = "_build/failed"
TIMINGS_DIR = "_build/timings"
LIVE_NOTE = ("<p class=\"ecgsignal-live-note\">This explorer is live: it needs a running Python "
             "kernel. Open the chapter on Binder (rocket icon above) or in Jupyter to use it.</p>")
#: Added to the note on pages that also show a static explorer (one that needs no kernel).
LIVE_NOTE_STATIC = " The static explorer on this page works without one."


class BookError(ECGSignalError, RuntimeError):
    """The book cannot be run or built (missing notebooks, a failed Jupyter Book build…)."""


class ChapterError(BookError):
    """A chapter notebook failed; names the chapter and the failing cell.

    Attributes
    ----------
    chapter, cell_index, ename, evalue, failed_copy:
        The notebook stem, the 0-based index of the failing cell in the source notebook
        (``None`` if unknown), the
        exception name and message, and where the executed copy with the error was kept.
    """

    def __init__(self, chapter: str, cell_index: int | None, ename: str, evalue: str,
                 failed_copy: Path | None, source: str = "") -> None:
        self.chapter, self.cell_index, self.ename, self.evalue = chapter, cell_index, ename, evalue
        self.failed_copy, self.source = failed_copy, source
        where = (f"cell {cell_index} (0-based, of notebooks/{chapter}.ipynb)"
                 if cell_index is not None else "an unknown cell")
        first = source.strip().splitlines()[0][:100] if source.strip() else ""
        msg = f"chapter {chapter!r} failed at {where}: {ename}: {evalue}"
        if first:
            msg += f"\n  cell starts: {first}"
        if failed_copy is not None:
            msg += f"\n  executed copy with the error: {failed_copy}"
        super().__init__(msg)

    def __reduce__(self) -> tuple:  # rebuilt in the parent when a chapter fails in a worker
        return (type(self), (self.chapter, self.cell_index, self.ename, self.evalue,
                             self.failed_copy, self.source))


@dataclass(frozen=True)
class ChapterRun:
    """One executed chapter: where from, where to, how long (wall-clock seconds)."""

    name: str
    source: Path
    output: Path
    seconds: float
    n_cells: int
    skipped: bool = False


def _root(root: str | os.PathLike | None) -> Path:
    if root is not None:
        return Path(root).resolve()
    found = project_root()
    if found is None:
        raise BookError("no book found: run from the project folder (with _config.yml and "
                        "pyproject.toml) or pass root=")
    return found


def _toc_files(node: Any) -> Iterator[str]:
    if isinstance(node, Mapping):
        for key in ("root", "file"):
            if isinstance(node.get(key), str):
                yield node[key]
        for key in ("parts", "chapters", "sections"):
            for child in node.get(key, []) or []:
                yield from _toc_files(child)
    elif isinstance(node, list):
        for child in node:
            yield from _toc_files(child)


def toc_files(root: str | os.PathLike) -> list[str]:
    """Every ``file``/``root`` entry of ``root/_toc.yml``, in order (without extensions)."""
    path = Path(root) / "_toc.yml"
    if not path.is_file():
        raise BookError(f"no _toc.yml in {root}")
    try:
        toc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise BookError(f"{path} is not valid YAML: {exc}") from exc
    return [re.sub(r"\.(ipynb|md)$", "", f) for f in _toc_files(toc)]


def chapters_from_toc(root: str | os.PathLike | None = None) -> list[str]:
    """Chapter stems, in order: the toc entries that live in :data:`EXECUTED_DIR`."""
    prefix = EXECUTED_DIR + "/"
    return [f[len(prefix):] for f in toc_files(_root(root)) if f.startswith(prefix)]


def _parameters_cells(nb: Any) -> int:
    return sum(1 for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", []))


def prepare_executed(nb: Any) -> Any:
    """Make an executed notebook ready for the site (in place; returns it).

    * The ``parameters`` cell and papermill's ``injected-parameters`` cell get the tag
      ``remove-cell``: the site hides them.
    * Live ipywidgets outputs (which need a kernel) are replaced by a note pointing to Binder,
      and the saved widget state is dropped, so no page tries to load the widget manager from a
      CDN.
    * Every image output's plain-text form (for matplotlib figures, the description that
      :func:`ecgsignal.run.chapter.describe_figures` installs) is recorded as its alt text in
      ``nb.metadata["ecgsignal"]["alt"]``, keyed by the SHA-256 of the image bytes — the name
      myst-nb gives the image file; ``book/_ext/ecgsignal_site.py`` applies it.
    """
    alt: dict[str, str] = {}
    note = LIVE_NOTE.replace("</p>", LIVE_NOTE_STATIC + "</p>") if _has_static_explorer(nb) \
        else LIVE_NOTE
    for cell in nb.cells:
        tags = cell.setdefault("metadata", {}).setdefault("tags", [])
        if ("parameters" in tags or "injected-parameters" in tags) and "remove-cell" not in tags:
            tags.append("remove-cell")
        for out in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            data = out.get("data")
            if data and "application/vnd.jupyter.widget-view+json" in data:
                out["data"] = {"text/html": note, "text/plain": "(live explorer)"}
            elif data:
                alt.update(_image_alt(data))
    nb.metadata.pop("widgets", None)
    if alt:
        nb.metadata.setdefault("ecgsignal", {})["alt"] = alt
    return nb


_IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif")


def _has_static_explorer(nb: Any) -> bool:
    """Whether a code cell of ``nb`` shows a static explorer (the ``data-ecgx`` plotly figure)."""
    for cell in nb.cells:
        for out in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            html = (out.get("data") or {}).get("text/html", "")
            if "ECGX" in ("".join(html) if isinstance(html, list) else str(html)):
                return True
    return False


def _image_alt(data: Mapping[str, Any]) -> dict[str, str]:
    """``{sha256 of the image bytes: alt text}`` for an output's images with a description."""
    text = data.get("text/plain", "")
    text = " ".join(("".join(text) if isinstance(text, list) else str(text)).split())
    if not text or re.fullmatch(r"<Figure size .*>", text):
        return {}
    out = {}
    for mime in _IMAGE_TYPES:
        content = data.get(mime)
        if isinstance(content, list):
            content = "".join(content)
        if isinstance(content, str) and content:
            try:
                raw = base64.b64decode(content)
            except (binascii.Error, ValueError):
                continue
            out[hashlib.sha256(raw).hexdigest()] = text
    return out




_ADDED_TAGS = {"injected-parameters", "papermill-error-cell-tag"}


def _failed_cell(nb: Any) -> tuple[int | None, str]:
    """Index, in the *source* notebook, of the cell papermill marked failed (or still running).

    Papermill's output adds cells of its own (the injected parameters, an error banner and an
    anchor); they are skipped so the index points at the cell the author edits.
    """
    own = [c for c in nb.cells if not _ADDED_TAGS & set(c.get("metadata", {}).get("tags", []))]
    tests = (
        lambda c: c.get("metadata", {}).get("papermill", {}).get("status") == "failed",
        lambda c: c.get("metadata", {}).get("papermill", {}).get("status") == "running",
        # a timed-out cell is interrupted: "completed", with a KeyboardInterrupt error output
        lambda c: any(o.get("output_type") == "error" for o in c.get("outputs", [])),
    )
    for test in tests:
        for index, cell in enumerate(own):
            if test(cell):
                return index, cell.get("source", "")
    return None, ""


def run_book(
    profile: str,
    only: str | None = None,
    *,
    root: str | os.PathLike | None = None,
    out_dir: str | os.PathLike | None = None,
    timeout: int | None = None,
    progress: bool = True,
    parameters: Mapping[str, Any] | None = None,
    kernel_name: str = "python3",
    jobs: int | None = None,
    force: bool = False,
) -> list[ChapterRun]:
    """Execute the chapter notebooks with papermill into the folder the toc reads.

    Parameters
    ----------
    profile:
        Profile name (``smoke``, ``book``, ``full``) or a profile YAML path, passed to every
        notebook as the parameter ``profile``.
    only:
        Run only this chapter: a notebook stem (``"06_randomization"``) or its name without
        the number (``"randomization"``).
    root:
        The book's folder (default: the project root found from the working directory).
    out_dir:
        Where executed copies go (default ``root/book/_executed``, the folder ``_toc.yml`` lists).
    timeout:
        Per-cell timeout in seconds (default: the profile's ``cell_timeout``).
    progress:
        Show a progress bar over chapters and each chapter's time.
    parameters:
        Extra papermill parameters for every chapter.
    kernel_name:
        Jupyter kernel to run (``python3``: this environment's kernel).
    jobs:
        Chapters executed at once, each in its own kernel (default
        :func:`~ecgsignal.run.chapter_jobs.default_jobs`: 2 on a machine with two or more
        cores). The data and model chapters run first, chapter 12 last
        (:func:`~ecgsignal.run.chapter_jobs.plan_waves`).
    force:
        Run every chapter, even those whose executed copy is up to date (same notebook,
        profile, parameters and package source; :func:`~ecgsignal.run.chapter_jobs.chapter_stamp`).

    Returns
    -------
    list of ChapterRun
        One per chapter, in reading order (``skipped=True``: up to date, not run).

    Raises
    ------
    ChapterError
        A cell failed or timed out: names the chapter, the cell index and the error; the
        executed copy with the error is kept under ``_build/failed`` and the previous good
        copy in ``out_dir`` is left as it was.
    ConfigError
        Unknown profile or chapter, or a notebook without exactly one ``parameters`` cell.
    """
    import nbformat

    from ecgsignal.run.profiles import load_profile

    book = _root(root)
    prof = load_profile(profile)
    cell_timeout = int(timeout if timeout is not None else prof.cell_timeout)
    if cell_timeout <= 0:
        raise ConfigError(f"timeout must be a positive number of seconds, got {cell_timeout}")
    chapters = chapters_from_toc(book) if (book / "_toc.yml").is_file() else list(CHAPTERS)
    if only is not None:
        stem = Path(only).stem
        if stem not in chapters:  # a chapter's name without its number: "models"
            named = [c for c in chapters if c.split("_", 1)[-1] == stem]
            if len(named) != 1:
                raise ConfigError(f"unknown chapter {only!r}; valid: {', '.join(chapters)}")
            stem = named[0]
        chapters = [stem]
    src_dir = book / NOTEBOOK_DIR
    missing = [c for c in chapters if not (src_dir / f"{c}.ipynb").is_file()]
    if missing:
        raise ConfigError(f"chapter notebooks missing from {src_dir}: {', '.join(missing)}")
    for c in chapters:
        n = _parameters_cells(nbformat.read(src_dir / f"{c}.ipynb", as_version=4))
        if n != 1:
            raise ConfigError(f"chapter {c!r} must have exactly one cell tagged 'parameters', "
                              f"found {n}")
    jobs = default_jobs() if jobs is None else int(jobs)
    if jobs < 1:
        raise ConfigError(f"jobs must be a positive integer, got {jobs}")
    dest = Path(out_dir).resolve() if out_dir is not None else book / EXECUTED_DIR
    params = {"profile": str(profile), **dict(parameters or {})}
    digest = source_digest()
    stamps = {c: chapter_stamp(src_dir / f"{c}.ipynb", prof, params, digest) for c in chapters}
    done: dict[str, ChapterRun] = {}
    todo = []
    for c in chapters:
        if not force and read_stamp(dest / f"{c}.ipynb") == stamps[c]:
            done[c] = ChapterRun(c, src_dir / f"{c}.ipynb", dest / f"{c}.ipynb", 0.0, 0,
                                 skipped=True)
        else:
            todo.append(c)
    jobs = max(1, min(jobs, len(todo)))
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(todo), desc=f"chapters ({jobs} at once)", unit="chapter")
        if done:
            bar.write(f"  up to date, not run: {', '.join(done)} (force=True / --force runs them)")

    def finished(name: str, run: ChapterRun) -> None:
        if bar is not None:
            bar.update(1)
            bar.write(f"  {name}: {run.seconds:.1f} s ({run.n_cells} cells)")

    waves = [[(c, (c, src_dir / f"{c}.ipynb", dest / f"{c}.ipynb", book, params, cell_timeout,
                   kernel_name, stamps[c])) for c in wave] for wave in plan_waves(todo)]
    threads = os.environ.get("OMP_NUM_THREADS") or str(threads_per_kernel(jobs))
    try:
        # ECGSIGNAL_WORKERS: an experiment with independent parts (Experiment 3's weight draws)
        # spreads them over `jobs` processes, so a long chapter uses the cores that the other
        # kernel leaves idle once the short chapters are done
        env = {"OMP_NUM_THREADS": threads,
               "ECGSIGNAL_WORKERS": os.environ.get("ECGSIGNAL_WORKERS") or str(jobs)}
        done.update(run_jobs(_run_chapter, waves, jobs, env=env, on_done=finished))
    finally:
        if bar is not None:
            bar.close()
    return [done[c] for c in chapters]


def timings_file(book: Path, profile: str, chapter: str) -> Path:
    """Where a chapter kernel's :mod:`ecgsignal.timing` records go:
    ``_build/timings/<profile>/<chapter>.jsonl`` (rewritten each time the chapter runs)."""
    return book / TIMINGS_DIR / Path(str(profile)).stem / f"{chapter}.jsonl"


def _cell_seconds(nb: Any) -> float:
    return float(sum((c.get("metadata", {}).get("papermill", {}) or {}).get("duration") or 0.0
                     for c in nb.cells))


def _run_chapter(name: str, src: Path, dst: Path, book: Path, params: dict, cell_timeout: int,
                 kernel_name: str, stamp: str | None = None) -> ChapterRun:
    """Execute one chapter into ``dst`` (atomically); runs in a worker process when chapters run
    in parallel, so it imports what it needs itself."""
    import nbformat
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError as exec_error

    t0 = time.perf_counter()
    log = timings_file(book, params["profile"], name)
    log.parent.mkdir(parents=True, exist_ok=True)
    log.unlink(missing_ok=True)
    with atomic_path(dst, suffix=".ipynb") as tmp:
        # papermill wants an .ipynb name; it writes there as it goes, the final copy goes to tmp
        running = tmp.with_name(tmp.name + ".ipynb")
        try:
            try:
                # OpenMP threads that spin while waiting make torch 10-50x slower when anything
                # else shares the cores (measured on a 2-core box); passive waiting costs little.
                with environment(**{PLOTLYJS_ENV: "external", ENV_FILE: str(log), ENV_CHAPTER: name,
                             "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}):
                    pm.execute_notebook(str(src), str(running), parameters=params,
                                        kernel_name=kernel_name, execution_timeout=cell_timeout,
                                        progress_bar=False, log_output=False,
                                        cwd=str(src.parent), start_timeout=120,
                                        **_kernel_manager())
            except Exception as exc:  # re-raised as ChapterError, naming chapter and cell
                raise _chapter_error(name, exc, running, book, nbformat, exec_error) from exc
            nb = prepare_executed(nbformat.read(running, as_version=4))
            if stamp is not None:
                nb.metadata.setdefault("ecgsignal", {})[STAMP_KEY] = stamp
            wall = time.perf_counter() - t0
            append_record(log, {"kind": "chapter", "name": name, "chapter": name,
                                 "seconds": round(wall, 3), "cells": round(_cell_seconds(nb), 3)})
            nbformat.write(nb, tmp)
            os.chmod(tmp, 0o644)  # a build product others read (mkstemp made it 0600)
        finally:
            running.unlink(missing_ok=True)
    return ChapterRun(name, src, dst, time.perf_counter() - t0, len(nb.cells))


def _kernel_manager() -> dict[str, Any]:
    """On POSIX, kernels talk over Unix sockets with a prefix unique to each kernel, so kernels
    started at the same moment by parallel chapter workers cannot pick the same TCP port (a race
    in picking free ports that made one of them die before replying to ``kernel_info``) or the
    same socket files (jupyter_client's default IPC prefix is shared by every kernel started in
    one folder)."""
    if os.name != "posix":
        return {}
    import tempfile
    import uuid

    from jupyter_client import AsyncKernelManager
    from traitlets import default

    class IPCKernelManager(AsyncKernelManager):
        @default("transport")
        def _transport_default(self) -> str:
            return "ipc"

        @default("ip")
        def _ip_default(self) -> str:
            return os.path.join(tempfile.gettempdir(), f"ecgsignal-kernel-{uuid.uuid4().hex}")

    return {"kernel_manager_class": IPCKernelManager}


def _chapter_error(name: str, exc: Exception, running: Path, book: Path, nbformat: Any,
                   exec_error: type) -> ChapterError:
    failed, partial = None, None
    if running.exists() and running.stat().st_size:
        failed = book / _FAILED_DIR / f"{name}.ipynb"
        write_bytes(failed, running.read_bytes())
        partial = nbformat.read(running, as_version=4)
    idx, source = _failed_cell(partial) if partial is not None else (None, "")
    if isinstance(exc, exec_error):
        return ChapterError(name, idx, exc.ename, exc.evalue, failed, source or exc.source)
    return ChapterError(name, idx, type(exc).__name__, str(exc).strip()[:500], failed, source)


def _jupyter_book() -> list[str]:
    exe = Path(sys.executable).with_name("jupyter-book")
    if exe.is_file():
        return [str(exe)]
    found = shutil.which("jupyter-book")
    if found:
        return [found]
    raise BookError("jupyter-book is not installed: pip install -e '.[book]'")


def _static_dir(book: Path) -> Path:
    cfg = yaml.safe_load((book / "_config.yml").read_text()) or {}
    static = ((cfg.get("sphinx") or {}).get("config") or {}).get("html_static_path") or ["_static"]
    return book / static[0]


def build_book(root: str | os.PathLike | None = None, *, strict: bool = False,
               all_pages: bool = False, quiet: bool = True) -> Path:
    """Build the site with Jupyter Book 1 (execution off) and return ``_build/html/index.html``.

    Before building, the bundled ``plotly.min.js`` is copied into the static folder's
    ``vendor/`` (git-ignored) so every figure renders offline.

    Parameters
    ----------
    root:
        The book's folder (default: the project root).
    strict:
        Treat Sphinx warnings as errors (``-W --keep-going``).
    all_pages:
        Rebuild every page, not only the changed ones.
    quiet:
        Pass ``-q`` to Jupyter Book (warnings still shown on failure).

    Raises
    ------
    BookError
        Missing pages (e.g. a chapter never run: the message says which command runs it) or a
        failed build (with the tail of Jupyter Book's output).
    """
    book = _root(root)
    if not (book / "_config.yml").is_file():
        raise BookError(f"no _config.yml in {book}")
    missing = []
    for f in toc_files(book):
        if not any((book / f"{f}{ext}").is_file() for ext in (".md", ".ipynb", ".rst", "")):
            missing.append(f)
    if missing:
        prefix = EXECUTED_DIR + "/"
        hint = ""
        if any(m.startswith(prefix) for m in missing):
            hint = ("\n  chapters are executed copies: run `ecgsignal book run --profile book` "
                    "(or --only CHAPTER) first")
        raise BookError(f"pages listed in _toc.yml do not exist: {', '.join(missing)}{hint}")
    vendor_plotly(_static_dir(book))
    cmd = [*_jupyter_book(), "build", str(book), "--builder", "html"]
    if strict:
        cmd += ["-W", "--keep-going"]
    if all_pages:
        cmd.append("--all")
    if quiet:
        cmd.append("-q")
    proc = subprocess.run(cmd, cwd=book, capture_output=True, text=True, check=False)
    index = book / "_build" / "html" / "index.html"
    if proc.returncode != 0 or not index.is_file():
        tail = (proc.stdout + proc.stderr)[-4000:]
        raise BookError(f"jupyter-book build failed (exit {proc.returncode}):\n{tail}")
    return index


class _AssetScanner(HTMLParser):
    """Collects the URLs a page *loads* (scripts, stylesheets, images, frames, media)."""

    _LOADING_RELS = {"stylesheet", "preload", "modulepreload", "icon", "manifest", "prefetch"}

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k.lower(): (v or "") for k, v in attrs}
        if tag in ("script", "img", "iframe", "source", "video", "audio", "embed") and a.get("src"):
            self.urls.append(a["src"])
        elif tag == "link" and a.get("href") and self._LOADING_RELS & set(a.get("rel", "").lower().split()):
            self.urls.append(a["href"])


def external_assets(html_dir: str | os.PathLike) -> list[tuple[str, str]]:
    """``(page, url)`` for every script, stylesheet, image or frame a page loads from the network.

    Hyperlinks (``<a href>``) are navigation, not assets, and are ignored; so are ``<link>``
    elements that only name a page (``rel="canonical"`` and the like).
    """
    out = []
    root = Path(html_dir)
    for page in sorted(root.rglob("*.html")):
        scanner = _AssetScanner()
        scanner.feed(page.read_text(encoding="utf-8", errors="replace"))
        out += [(str(page.relative_to(root)), u) for u in scanner.urls
                if re.match(r"^(https?:)?//", u.strip(), re.IGNORECASE)]
    return out
