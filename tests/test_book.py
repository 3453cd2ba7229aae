"""The book's machinery: toc ↔ chapters, the papermill runner, the Jupyter Book build, offline assets."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import plotly.graph_objects as go
import pytest
import yaml

from ecgsignal.errors import ConfigError
from ecgsignal.run import book as bk
from ecgsignal.visual import plotly_html as ph

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _single_thread_kernels(monkeypatch):
    """Kernels started by papermill use one math thread (2-core shared box)."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


def _nb(*cells: tuple[str, list[str]]) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for src, tags in cells:
        cell = nbformat.v4.new_code_cell(src)
        if tags:
            cell.metadata["tags"] = tags
        nb.cells.append(cell)
    return nb


def _book(root: Path, chapters: dict[str, nbformat.NotebookNode]) -> Path:
    (root / "notebooks").mkdir(parents=True)
    (root / "book").mkdir()
    (root / "_config.yml").write_text("title: test\n")
    (root / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    entries = "".join(f"  - file: book/_executed/{c}\n" for c in chapters)
    (root / "_toc.yml").write_text(f"format: jb-book\nroot: book/intro\nchapters:\n{entries}")
    (root / "book" / "intro.md").write_text("# Intro\n")
    for name, nb in chapters.items():
        nbformat.write(nb, root / "notebooks" / f"{name}.ipynb")
    return root


# ----------------------------------------------------------------------------- toc and chapters
def test_chapters_constant_matches_the_repository_toc():
    assert bk.chapters_from_toc(REPO) == list(bk.CHAPTERS)
    files = bk.toc_files(REPO)
    assert files[0] == "book/intro"
    assert {"book/conclusions", "book/references"} <= set(files)
    for f in files:
        if not f.startswith(bk.EXECUTED_DIR):
            assert (REPO / f"{f}.md").is_file(), f


def test_config_builds_from_executed_copies_offline():
    cfg = yaml.safe_load((REPO / "_config.yml").read_text())
    assert cfg["execute"]["execute_notebooks"] == "off"
    sc = cfg["sphinx"]["config"]
    # plotly.js is not loaded on every page: the site extension adds it where a figure is
    assert "vendor/plotly.min.js" not in sc.get("html_js_files", [])
    ext = (REPO / "book" / "_ext" / "ecgsignal_site.py").read_text()
    assert 'PLOTLY_JS = "vendor/plotly.min.js"' in ext
    assert sc["html_static_path"] == ["book/_static"] and sc["nb_ipywidgets_js"] == {}
    assert cfg["launch_buttons"]["binderhub_url"] and cfg["launch_buttons"]["thebe"] is False
    assert "sphinx-mathjax-offline" in cfg["sphinx"]["extra_extensions"]
    ignored = (REPO / "book" / ".gitignore").read_text().split()
    assert "_static/vendor/" in ignored and "_executed/" in ignored
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    assert "python=3.11" in env["dependencies"]
    assert any("-e .[book,ptbxl,dask,lrp]" in p for d in env["dependencies"] if isinstance(d, dict)
               for p in d["pip"])


# ----------------------------------------------------------------------------- running chapters
@pytest.mark.notebooks
def test_run_book_executes_with_parameters_and_hides_them(tmp_path):
    nb = _nb(('profile = "book"\nextra = 1', ["parameters"]),
             ("import os\nprint(profile, extra, os.environ['ECGSIGNAL_PLOTLYJS'])", []))
    root = _book(tmp_path / "b", {"ch1": nb})
    runs = bk.run_book("smoke", root=root, progress=False, timeout=60, parameters={"extra": 7})
    assert [r.name for r in runs] == ["ch1"] and runs[0].seconds > 0
    out = nbformat.read(root / bk.EXECUTED_DIR / "ch1.ipynb", as_version=4)
    assert out.cells[-1].outputs[0]["text"].strip() == "smoke 7 external"
    tagged = [c.metadata["tags"] for c in out.cells if "remove-cell" in c.metadata.get("tags", [])]
    assert ["parameters", "remove-cell"] in tagged and ["injected-parameters", "remove-cell"] in tagged
    assert not list((root / bk.EXECUTED_DIR).glob(".*"))       # no temporary files left
    assert (root / bk.EXECUTED_DIR / "ch1.ipynb").stat().st_mode & 0o777 == 0o644
    assert "ECGSIGNAL_PLOTLYJS" not in os.environ or os.environ["ECGSIGNAL_PLOTLYJS"] != "external"


@pytest.mark.notebooks
def test_failing_chapter_names_chapter_and_cell_and_keeps_good_copy(tmp_path):
    good = _nb(('profile = "book"', ["parameters"]), ("x = 1", []))
    root = _book(tmp_path / "b", {"ch1": good})
    bk.run_book("smoke", root=root, progress=False, timeout=60)
    before = (root / bk.EXECUTED_DIR / "ch1.ipynb").read_bytes()
    bad = _nb(('profile = "book"', ["parameters"]), ("x = 1", []),
              ("raise ValueError('planted failure')", []))
    nbformat.write(bad, root / "notebooks" / "ch1.ipynb")
    with pytest.raises(bk.ChapterError) as info:
        bk.run_book("smoke", root=root, progress=False, timeout=60)
    err = info.value
    # source cells: parameters 0, x = 1 → 1, raise → 2 (papermill's own cells are not counted)
    assert err.chapter == "ch1" and err.cell_index == 2 and err.ename == "ValueError"
    assert "planted failure" in str(err) and "'ch1'" in str(err) and "cell 2" in str(err)
    assert err.failed_copy is not None and err.failed_copy.is_file()
    assert (root / bk.EXECUTED_DIR / "ch1.ipynb").read_bytes() == before


@pytest.mark.notebooks
def test_cell_timeout_is_reported_as_a_chapter_error(tmp_path):
    nb = _nb(('profile = "book"', ["parameters"]), ("import time\ntime.sleep(30)", []))
    root = _book(tmp_path / "b", {"slow": nb})
    with pytest.raises(bk.ChapterError) as info:
        bk.run_book("smoke", root=root, progress=False, timeout=2)
    assert info.value.chapter == "slow" and info.value.cell_index == 1
    assert "Timeout" in info.value.ename or "timed out" in str(info.value).lower()


def test_run_book_rejects_bad_requests(tmp_path):
    two = _nb(('profile = "book"', ["parameters"]), ("y = 2", ["parameters"]))
    root = _book(tmp_path / "b", {"a": _nb(('profile = "book"', ["parameters"])), "b": two})
    with pytest.raises(ConfigError, match="'b' must have exactly one cell tagged 'parameters', found 2"):
        bk.run_book("smoke", root=root, progress=False)
    with pytest.raises(ConfigError, match="unknown chapter 'zz'; valid: a, b"):
        bk.run_book("smoke", only="zz", root=root, progress=False)
    with pytest.raises(ConfigError, match="unknown profile"):
        bk.run_book("nope", root=root, progress=False)
    (root / "notebooks" / "a.ipynb").unlink()
    with pytest.raises(ConfigError, match="missing from .*: a"):
        bk.run_book("smoke", only="a", root=root, progress=False)


def test_prepare_executed_replaces_live_widgets():
    nb = _nb(("x", ["parameters"]), ("w", []))
    nb.cells[1].outputs = [nbformat.v4.new_output(
        "display_data", data={"application/vnd.jupyter.widget-view+json": {"model_id": "abc"},
                              "text/plain": "VBox()"})]
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    out = bk.prepare_executed(nb)
    assert "widgets" not in out.metadata
    assert out.cells[1].outputs[0]["data"]["text/html"] == bk.LIVE_NOTE
    assert "remove-cell" in out.cells[0].metadata["tags"]


# ----------------------------------------------------------------------------- building
def test_build_book_names_missing_chapters(tmp_path):
    root = _book(tmp_path / "b", {"ch1": _nb(('profile = "x"', ["parameters"]))})
    with pytest.raises(bk.BookError, match=r"(?s)book/_executed/ch1.*ecgsignal book run"):
        bk.build_book(root)


def test_external_assets_finds_only_loaded_remote_urls(tmp_path):
    (tmp_path / "a.html").write_text(
        '<link rel="stylesheet" href="https://cdn.example/x.css">'
        '<link rel="canonical" href="https://site.example/a.html">'
        '<a href="https://doi.org/10.1/x">paper</a>'
        '<script src="//cdn.example/y.js"></script><script src="_static/z.js"></script>'
        '<img src="HTTPS://img.example/i.png">')
    found = bk.external_assets(tmp_path)
    assert found == [("a.html", "https://cdn.example/x.css"), ("a.html", "//cdn.example/y.js"),
                     ("a.html", "HTTPS://img.example/i.png")]


# ----------------------------------------------------------------------------- plotly as HTML
def test_vendor_plotly_copies_the_bundled_file(tmp_path):
    dst = ph.vendor_plotly(tmp_path / "_static")
    assert dst == tmp_path / "_static" / "vendor" / "plotly.min.js"
    assert dst.read_bytes() == ph.plotly_js_path().read_bytes()
    assert dst.stat().st_mode & 0o777 == 0o644
    mtime = dst.stat().st_mtime_ns
    assert ph.vendor_plotly(tmp_path / "_static") == dst and dst.stat().st_mtime_ns == mtime


def test_figure_html_modes(monkeypatch):
    fig = go.Figure(go.Scatter(x=[0, 1], y=[1, 2]))
    size = ph.plotly_js_path().stat().st_size
    ext = ph.figure_html(fig, mode="external")
    assert "Plotly.newPlot" in ext and len(ext) < 50_000 and "<html" not in ext
    ph.reset_inline_state()
    first = ph.figure_html(fig, mode="inline")
    second = ph.figure_html(fig, mode="inline")
    assert len(first) > size and len(second) < 50_000      # plotly.js travels once per session
    assert "if (!window.Plotly)" in first
    monkeypatch.setenv(ph.PLOTLYJS_ENV, "external")
    assert ph.plotlyjs_mode() == "external"
    monkeypatch.setenv(ph.PLOTLYJS_ENV, "cdn")
    with pytest.raises(ConfigError, match="unknown plotly.js mode 'cdn'"):
        ph.figure_html(fig)
    post = ph.figure_html(fig, mode="external", post_script="window.seen = '{plot_id}';")
    div_id = post.split('id="')[1].split('"')[0]
    assert f"window.seen = '{div_id}';" in post


@pytest.mark.notebooks
@pytest.mark.slow
def test_build_book_renders_executed_copies_offline(tmp_path):
    """A real Jupyter Book build with the project's config: no CDN asset on any page."""
    import shutil

    root = tmp_path / "site"
    (root / "book" / "_static").mkdir(parents=True)
    shutil.copy(REPO / "_config.yml", root / "_config.yml")
    (root / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    shutil.copytree(REPO / "book" / "_ext", root / "book" / "_ext",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("_static/ecgsignal.css", "references.bib", "references.md"):
        shutil.copy(REPO / "book" / name, root / "book" / name)
    (root / "book" / "intro.md").write_text("# Intro\n\n$$a^2 + b^2$$ {cite}`adebayo2018sanity`\n")
    (root / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n"
                                   "  - file: book/_executed/ch1\n  - file: book/references\n")
    nb = _nb(('profile = "smoke"', ["parameters", "remove-cell"]), ("fig", []))
    nb.cells[1].outputs = [nbformat.v4.new_output("display_data", data={
        "text/html": ph.figure_html(go.Figure(go.Bar(x=["a"], y=[1])), mode="external"),
        "text/plain": "<IPython.core.display.HTML object>"})]
    nb.cells.insert(0, nbformat.v4.new_markdown_cell("# Chapter one"))
    (root / bk.EXECUTED_DIR).mkdir(parents=True)
    nbformat.write(nb, root / bk.EXECUTED_DIR / "ch1.ipynb")

    index = bk.build_book(root, strict=True)
    html = root / "_build" / "html"
    assert index == html / "index.html" and index.is_file()
    assert bk.external_assets(html) == []
    page = (html / "book" / "_executed" / "ch1.html").read_text()
    assert "Plotly.newPlot" in page and "_static/vendor/plotly.min.js" in page
    assert 'profile = "smoke"' not in page                        # parameters hidden
    assert "urlpath=lab/tree/notebooks/ch1.ipynb" in page          # Binder opens the source
    assert "book/_executed/ch1.ipynb" not in page.split("mybinder.org")[1].split('"')[0]
    assert page.count("const THEBE_JS_URL") == 1                   # duplicate dropped
    assert (html / "_static" / "vendor" / "plotly.min.js").is_file()
    intro = (html / "book" / "intro.html").read_text()
    assert "_static/mathjax/tex-chtml.js" in intro                  # math served locally


# ----------------------------------------------------------------------------- up to date, parallel
def test_up_to_date_chapters_are_skipped_until_their_inputs_change(tmp_path):
    root = _book(tmp_path / "b", {"ch1": _nb(('profile = "book"', ["parameters"]), ("x = 1", []))})
    first = bk.run_book("smoke", root=root, progress=False, timeout=60, jobs=1)
    out = root / bk.EXECUTED_DIR / "ch1.ipynb"
    assert not first[0].skipped and out.is_file()
    before = out.read_bytes()
    again = bk.run_book("smoke", root=root, progress=False, timeout=60, jobs=1)
    assert again[0].skipped and again[0].seconds == 0 and out.read_bytes() == before
    # another profile, other parameters, an edited notebook, or force: the chapter runs again
    assert not bk.run_book("book", root=root, progress=False, timeout=60, jobs=1)[0].skipped
    assert not bk.run_book("book", root=root, progress=False, timeout=60, jobs=1,
                           parameters={"x": 2})[0].skipped
    assert not bk.run_book("book", root=root, progress=False, timeout=60, jobs=1,
                           force=True, parameters={"x": 2})[0].skipped
    nbformat.write(_nb(('profile = "book"', ["parameters"]), ("x = 2", [])),
                   root / "notebooks" / "ch1.ipynb")
    assert not bk.run_book("book", root=root, progress=False, timeout=60, jobs=1,
                           parameters={"x": 2})[0].skipped


def test_chapters_run_in_parallel_kernels_and_log_their_time(tmp_path):
    from ecgsignal.timing import read_timings

    code = "import os\nprint(os.getpid(), os.environ['ECGSIGNAL_CHAPTER'])"
    chapters = {c: _nb(('profile = "book"', ["parameters"]), (code, [])) for c in ("a", "b", "c")}
    root = _book(tmp_path / "b", chapters)
    runs = bk.run_book("smoke", root=root, progress=False, timeout=60, jobs=2)
    assert [r.name for r in runs] == ["a", "b", "c"] and not any(r.skipped for r in runs)
    for c in chapters:
        out = nbformat.read(root / bk.EXECUTED_DIR / f"{c}.ipynb", as_version=4)
        assert out.cells[-1].outputs[0]["text"].split()[1] == c
        recs = read_timings(bk.timings_file(root, "smoke", c))
        wall = [r for r in recs if r["kind"] == "chapter"]
        assert len(wall) == 1 and wall[0]["seconds"] >= wall[0]["cells"] > 0


def test_a_wave_smaller_than_jobs_gives_its_kernels_the_spare_cores(monkeypatch):
    from ecgsignal.run import chapter_jobs as cj

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(cj.os, "cpu_count", lambda: 8)
    assert cj._wave_env({"OMP_NUM_THREADS": "4"}, 1, 2)["OMP_NUM_THREADS"] == "8"
    assert cj._wave_env({"OMP_NUM_THREADS": "4"}, 3, 2)["OMP_NUM_THREADS"] == "4"
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # the caller's choice is kept
    assert cj._wave_env({"OMP_NUM_THREADS": "3"}, 1, 2)["OMP_NUM_THREADS"] == "3"


def test_a_chapter_failing_in_a_worker_is_reported_with_its_cell(tmp_path):
    good = _nb(('profile = "book"', ["parameters"]), ("x = 1", []))
    bad = _nb(('profile = "book"', ["parameters"]), ("x = 1", []), ("1 / 0", []))
    root = _book(tmp_path / "b", {"good": good, "bad": bad})
    with pytest.raises(bk.ChapterError) as info:
        bk.run_book("smoke", root=root, progress=False, timeout=60, jobs=2)
    assert info.value.chapter == "bad" and info.value.cell_index == 2
    assert info.value.ename == "ZeroDivisionError"


def test_waves_put_data_and_models_first_and_the_report_last():
    from ecgsignal.run.chapter_jobs import plan_waves

    waves = plan_waves(list(bk.CHAPTERS))
    assert len(waves) == 2 and waves[-1] == ["12_performance"]
    assert waves[0][:3] == ["02_models", "01_data", "06_randomization"]
    # chapters 09 and 13 read Experiment 3 of chapter 06: they start by their cost (and wait for
    # the experiment's lock while it is computed: tests/test_file_lock.py), not last
    assert waves[0][3:7] == ["07_perturbation", "13_beyond_heatmaps", "04_similarity",
                             "09_pitfalls"]
    assert sorted(c for w in waves for c in w) == sorted(bk.CHAPTERS)
    with pytest.raises(ConfigError, match="jobs must be a positive integer"):
        bk.run_book("smoke", root=REPO, progress=False, jobs=0)


def test_only_takes_a_chapter_name_without_its_number(tmp_path):
    nb = _nb(('profile = "book"', ["parameters"]), ("x = 1", []))
    root = _book(tmp_path / "b", {"01_first": nb, "02_second": nb})
    runs = bk.run_book("smoke", only="second", root=root, progress=False, timeout=60, jobs=1)
    assert [r.name for r in runs] == ["02_second"]
    with pytest.raises(ConfigError, match="unknown chapter 'third'"):
        bk.run_book("smoke", only="third", root=root, progress=False)
