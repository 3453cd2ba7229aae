"""The real book under the smoke profile: every chapter runs (papermill), the site builds, and
headless Chromium — network cut off — reads every page and drives both explorers, as a reader
would: every local link and image resolves, no stray raw output, plotly only on explorer pages,
page weights within budget, and both explorers usable at 390 px.

The book's sources (``_config.yml``, ``_toc.yml``, ``book/``, ``notebooks/``) are copied to a
temporary folder and executed there, so the test never touches the checkout's build products.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pytest
from browsing import chromium, serve
from test_browser import (
    MAX_EXPLORER_PAGE,
    MAX_PLAIN_PAGE,
    Page,
    _gd,
    _pages,
    _state,
    explorer_on_a_phone,
    read_every_page,
)

from ecgsignal.run.book import CHAPTERS, build_book, run_book

REPO = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.notebooks, pytest.mark.slow]


@pytest.fixture(scope="module")
def smoke_book(tmp_path_factory):
    """The repository's book executed with the smoke profile, then built."""
    root = tmp_path_factory.mktemp("smokebook")
    for name in ("_config.yml", "_toc.yml", "pyproject.toml"):
        shutil.copy(REPO / name, root / name)
    shutil.copytree(REPO / "book", root / "book",
                    ignore=shutil.ignore_patterns("_executed", "vendor", "__pycache__"))
    shutil.copytree(REPO / "notebooks", root / "notebooks",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "*.npz"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OMP_NUM_THREADS", "1")
        runs = run_book("smoke", root=root, progress=False, timeout=900)
    index = build_book(root)
    return root, runs, index


def test_every_chapter_runs_under_the_smoke_profile(smoke_book):
    root, runs, _ = smoke_book
    assert [r.name for r in runs] == list(CHAPTERS)
    for r in runs:
        nb = nbformat.read(r.output, as_version=4)
        errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                  if o.get("output_type") == "error"]
        assert errors == [], r.name
        assert nb.metadata["papermill"]["parameters"]["profile"] == "smoke"
        # (Summary and Exercises headings: tests/test_notebook_hygiene.py, on the sources)
        print(f"{r.name}: {r.seconds:.1f} s")


def test_site_has_every_chapter(smoke_book):
    root, _, index = smoke_book
    assert index.is_file()
    pages = _pages(root)
    for c in CHAPTERS:
        assert f"book/_executed/{c}.html" in pages, c


@pytest.fixture(scope="module")
def server(smoke_book):
    with serve(smoke_book[0] / "_build" / "html") as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


@pytest.mark.browser
def test_every_page_loads_offline_with_figures(smoke_book, server, browser):
    root = smoke_book[0]
    for rel in _pages(root):
        pg = Page(browser, f"{server}/{rel}")
        try:
            pg.page.wait_for_timeout(300)
            assert pg.real_errors() == [], (rel, pg.errors)
            assert pg.blocked == [], (rel, pg.blocked)
            if rel.startswith("book/_executed/"):
                n_fig = (pg.page.locator("main img").count()
                         + pg.page.locator("main .plotly-graph-div").count())
                assert n_fig >= 1, f"{rel} shows no figure"
        finally:
            pg.close()


def _explorer_page(browser, server, chapter: str, key: str):
    pg = Page(browser, f"{server}/book/_executed/{chapter}.html")
    pg.page.wait_for_function(f"() => {_gd(pg.page, key)} !== undefined", timeout=30_000)
    return pg


@pytest.mark.browser
def test_randomisation_slider_changes_the_shown_map(server, browser):
    pg = _explorer_page(browser, server, "06_randomization", "stage")
    page = pg.page
    try:
        gd = _gd(page, "stage")
        z0 = page.evaluate(f"() => {gd}.data[0].z")
        root = page.locator(".plotly-graph-div").filter(has=page.locator("g.slider-container")).first
        slider = root.locator("g.slider-container").first
        slider.scroll_into_view_if_needed()
        labels = slider.locator("g.slider-labels text")
        last = labels.nth(labels.count() - 1)
        box = last.bounding_box()
        rail = slider.locator("rect.slider-rail-touch-rect").bounding_box()
        page.mouse.click(box["x"] + box["width"] / 2, rail["y"] + rail["height"] / 2)
        page.wait_for_function(f"() => JSON.parse({gd}.getAttribute('data-ecgx-state')).stage > 0")
        z1 = page.evaluate(f"() => {gd}.data[0].z")
        assert json.dumps(z1) != json.dumps(z0), "moving the slider left the map unchanged"
        assert pg.real_errors() == [] and pg.blocked == []
    finally:
        pg.close()


@pytest.mark.browser
def test_toggling_a_lead_changes_the_shown_probabilities(server, browser):
    pg = _explorer_page(browser, server, "07_perturbation", "lead_set")
    page = pg.page
    try:
        gd = _gd(page, "lead_set")
        st0 = _state(page, gd)
        before = page.evaluate(f"() => {gd}.data[3].y")
        root = page.locator(".plotly-graph-div").filter(has=page.locator("g.updatemenu-button")).last
        buttons = root.locator("g.updatemenu-button")
        changed = False
        for i in range(buttons.count()):
            b = buttons.nth(i)
            b.scroll_into_view_if_needed()
            b.click()
            page.wait_for_timeout(150)
            st = _state(page, gd)
            if st.get("lead_set") != st0.get("lead_set"):
                after = page.evaluate(f"() => {gd}.data[3].y")
                if json.dumps(after) != json.dumps(before):
                    changed = True
                    break
        assert changed, "no lead toggle changed the shown probabilities"
        assert pg.real_errors() == [] and pg.blocked == []
    finally:
        pg.close()


@pytest.mark.browser
def test_a_reader_finds_every_link_clean_text_and_light_pages(smoke_book, server, browser):
    root = smoke_book[0]
    weights = read_every_page(root, server, browser)
    for rel, n in sorted(weights.items()):
        print(f"{rel}: {n / 1e6:.2f} MB")
    assert weights["book/intro.html"] <= MAX_PLAIN_PAGE
    assert weights["book/_executed/06_randomization.html"] <= MAX_EXPLORER_PAGE
    assert "book/protocols.html" in weights                 # the appendix the chapters cite


@pytest.mark.browser
def test_explorers_work_on_a_phone(smoke_book, server, browser):
    explorer_on_a_phone(server, browser, "book/_executed/06_randomization.html", "stage")
    explorer_on_a_phone(server, browser, "book/_executed/07_perturbation.html", "lead_set")
