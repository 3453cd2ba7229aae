"""The site's plumbing without a browser: header buttons, alt text, styled tables, figure titles,
the one place of the repository URL, the publishing workflow and the Binder set-up."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import re
from pathlib import Path

import matplotlib
import nbformat
import numpy as np
import pandas as pd
import pytest
import yaml

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ecgsignal.run import book as bk  # noqa: E402
from ecgsignal.run.chapter import TABLE_CLASS, glue, table  # noqa: E402
from ecgsignal.visual.describe import describe_figure  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def _site_ext():
    spec = importlib.util.spec_from_file_location("ecgsignal_site",
                                                  REPO / "book" / "_ext" / "ecgsignal_site.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _buttons(page: str) -> list:
    """sphinx-book-theme's header buttons of an executed chapter (the shape it builds)."""
    return [
        {"type": "group", "label": "download-buttons", "buttons": [
            {"type": "link", "url": f"../../_sources/book/_executed/{page}.ipynb",
             "label": "download-notebook-button"}]},
        {"type": "link", "label": "repository-button", "url": "https://github.com/o/r"},
        {"type": "link", "label": "issues-button",
         "url": f"https://github.com/o/r/issues/new?title=Issue%20on%20page%20%2Fbook/_executed/{page}.html"},
        {"type": "group", "label": "launch-buttons", "buttons": [
            {"type": "link", "url": f"https://mybinder.org/v2/gh/o/r/main?urlpath=lab/tree/book/_executed/{page}.ipynb"},
            {"type": "link", "url": f"https://colab.research.google.com/github/o/r/blob/main/book/_executed/{page}.ipynb"}]},
    ]


def test_only_launch_links_point_to_the_source_notebooks():
    ext = _site_ext()
    ctx = {"header_buttons": _buttons("06_randomization")}
    ext.fix_launch_links(None, "book/_executed/06_randomization", "page.html", ctx, None)
    dl, _, issue, launch = ctx["header_buttons"]
    assert dl["buttons"][0]["url"] == "../../_sources/book/_executed/06_randomization.ipynb"
    assert "book/_executed/06_randomization.html" in issue["url"]
    assert [b["url"].split("/main")[-1] for b in launch["buttons"]] == [
        "?urlpath=lab/tree/notebooks/06_randomization.ipynb", "/notebooks/06_randomization.ipynb"]


def test_describe_figure_names_titles_and_axes():
    fig, axes = plt.subplots(1, 2)
    axes[0].set(title="Cascading from the top", xlabel="stage", ylabel="Spearman $|a|$")
    axes[1].set_title("Controls")
    fig.suptitle("Randomisation")
    text = describe_figure(fig)
    assert text == ("Figure: Randomisation — Cascading from the top, x: stage, y: Spearman |a|; "
                    "Controls")
    plt.close(fig)
    fig, _ = plt.subplots(1, 3)
    assert describe_figure(fig) == "Figure with 3 panels"
    plt.close(fig)


def test_prepare_executed_records_alt_text_and_notes_the_static_explorer():
    png = base64.b64encode(b"\x89PNG fake bytes").decode()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("plt.show()"), nbformat.v4.new_code_cell("w"),
                nbformat.v4.new_code_cell("old")]
    nb.cells[1].outputs = [nbformat.v4.new_output("display_data", data={
        "image/png": png, "text/plain": "Figure: Similarity matrix, x: method"})]
    nb.cells[2].outputs = [nbformat.v4.new_output("display_data", data={
        "application/vnd.jupyter.widget-view+json": {"model_id": "a"}, "text/plain": "VBox()"})]
    nb.cells[3].outputs = [nbformat.v4.new_output("display_data", data={
        "image/png": png + "AA", "text/plain": "<Figure size 640x480 with 1 Axes>"})]
    out = bk.prepare_executed(nb)
    key = hashlib.sha256(base64.b64decode(png)).hexdigest()
    assert out.metadata["ecgsignal"]["alt"] == {key: "Figure: Similarity matrix, x: method"}
    assert out.cells[2].outputs[0]["data"]["text/html"] == bk.LIVE_NOTE   # no static explorer
    nb.cells[3].outputs = [nbformat.v4.new_output("display_data", data={
        "text/html": "<script>ECGX.randomization(gd, {})</script>", "text/plain": "HTML"})]
    nb.cells[2].outputs = [nbformat.v4.new_output("display_data", data={
        "application/vnd.jupyter.widget-view+json": {"model_id": "a"}, "text/plain": "VBox()"})]
    note = bk.prepare_executed(nb).cells[2].outputs[0]["data"]["text/html"]
    assert note.endswith(bk.LIVE_NOTE_STATIC + "</p>")


def test_table_is_styled_and_hides_missing_values():
    df = pd.DataFrame({"n": [3, 4], "value": [0.123456, np.nan], "label": ["a", None]},
                      index=pd.Index(["NORM", "RBBB"], name="class"))
    html = table(df, digits=2, caption="Masks").to_html()
    assert f'class="{TABLE_CLASS}"' in html and "Masks" in html
    assert "0.12" in html and "0.123456" not in html
    assert "nan" not in html.lower() and "None" not in html and html.count("—") == 2
    with pytest.raises(TypeError, match="DataFrame"):
        table([1, 2])


def test_glue_returns_nothing_so_no_cell_prints_a_value():
    assert glue("x", 0.22013223790636105) is None


def test_area_figures_have_distinct_titles():
    from ecgsignal.visual.perturbation import plot_area_between

    rows = []
    for kind in ("abc", "morf_vs_random"):
        for measure in ("mean_prob", "auroc"):
            for unit in ("patch", "lead"):
                for m in ("saliency", "occlusion"):
                    rows.append({"method": m, "class": "all", "measure": f"{kind}_{measure}",
                                 "value": 0.1, "ci_low": 0.0, "ci_high": 0.2,
                                 "replacement": "zero", "unit": unit})
    df = pd.DataFrame(rows)
    titles = []
    for kind, measure, unit in (("abc", "mean_prob", "patch"), ("morf_vs_random", "mean_prob", "patch"),
                                ("abc", "auroc", "patch"), ("abc", "mean_prob", "lead")):
        ax = plot_area_between(df, measure=measure, kind=kind, unit=unit)
        titles.append(ax.get_title())
        plt.close(ax.figure)
    assert len(set(titles)) == 4, titles
    assert titles[0] == "Area LeRF − MoRF of the mean probability, removing patches ranked by |a|, all classes"


def _repo_url() -> str:
    return yaml.safe_load((REPO / "_config.yml").read_text())["repository"]["url"]


def test_the_repository_url_lives_only_in_config():
    url = _repo_url()
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", url)
    slug = url.removeprefix("https://github.com/")
    for rel in ("README.md", "environment.yml", "binder/requirements.txt", "binder/postBuild",
                ".github/workflows/book.yml", "Makefile", "pyproject.toml"):
        text = (REPO / rel).read_text()
        assert slug not in text, f"{rel} repeats the repository URL; it belongs in _config.yml"
    assert "repository.url" in (REPO / "README.md").read_text()


def test_the_workflow_builds_checks_and_deploys_the_book():
    wf = yaml.safe_load((REPO / ".github" / "workflows" / "book.yml").read_text())
    on = wf.get("on", wf.get(True))                       # YAML 1.1 reads `on` as True
    assert on["push"]["branches"] == ["main"]
    steps = [s for job in wf["jobs"].values() for s in job["steps"]]
    runs = "\n".join(s.get("run", "") for s in steps)
    uses = [s.get("uses", "") for s in steps]
    assert "book run --profile book" in runs and "book build" in runs
    assert "github.repository" in runs                   # the URL comes from the GitHub context
    assert any(u.startswith("actions/cache") for u in uses)
    assert any(".cache/ecgsignal" in str(s.get("with", {}).get("path", "")) for s in steps)
    assert "linkchecker" in runs and "_build/html" in runs
    assert any(u.startswith("actions/upload-pages-artifact") for u in uses)
    assert any(u.startswith("actions/deploy-pages") for u in uses)


def test_binder_installs_the_package_with_the_live_explorers_dependencies():
    req = (REPO / "binder" / "requirements.txt").read_text()
    assert re.search(r"^torch==", req, re.M) and "ipywidgets" in req
    post = (REPO / "binder" / "postBuild").read_text()
    assert re.search(r"pip install .*-e \"?\.\[book,lrp\]", post)


def test_fontawesome_js_is_dropped_from_pages_and_output(tmp_path):
    ext = _site_ext()
    (tmp_path / "_static" / "scripts").mkdir(parents=True)
    (tmp_path / "_static" / "scripts" / "fontawesome.js").write_text("x")
    (tmp_path / "_static" / "scripts" / "bootstrap.js").write_text("x")
    page = tmp_path / "book" / "intro.html"
    page.parent.mkdir()
    page.write_text('<head>\n  <script defer src="../_static/scripts/fontawesome.js?digest=1"></script>\n'
                    '<script defer src="../_static/scripts/bootstrap.js"></script></head>')

    class App:
        outdir = str(tmp_path)

        class builder:
            format = "html"

    ext.drop_fontawesome_js(App, None)
    assert "fontawesome" not in page.read_text() and "bootstrap.js" in page.read_text()
    assert not (tmp_path / "_static" / "scripts" / "fontawesome.js").exists()
    assert (tmp_path / "_static" / "scripts" / "bootstrap.js").exists()
