"""The built site in headless Chromium with the network cut off.

Builds the mini book (tests/minibook.py: the project's own Jupyter Book config, one chapter with
both static explorers from an untrained CNN, executed by papermill), serves ``_build/html`` on
127.0.0.1 and opens it in Debian's Chromium through the playwright package, aborting every request
that is not local. It asserts that every page loads without console errors (except the known
harmless ones below) and without trying the network, that the figures are drawn, that moving the
randomisation slider changes the shown map, and that toggling a lead changes the shown
probabilities — each time to exactly the slice of the precomputed cube.

Chromium: ``apt-get install chromium`` (``make browser``); never ``playwright install``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest
from browsing import (
    chromium,
    control_problems,
    image_problems,
    issue_link_pages,
    local_links,
    plotly_state,
    serve,
    text_problems,
    url_status,
)
from minibook import CHAPTER, make_mini_book

from ecgsignal.run.book import build_book, run_book
from ecgsignal.widgets import apply_perturbation, load_cube
from ecgsignal.widgets.static import bin_abs, quantize_maps

pytestmark = pytest.mark.browser

#: Console messages that are not faults of the site. Each entry: (regex, why it is harmless).
KNOWN_HARMLESS: tuple[tuple[str, str], ...] = (
    (r"favicon\.ico.*404|404.*favicon\.ico",
     "Chromium asks every server for /favicon.ico; the book sets no favicon"),
)
LOCAL_HOSTS = {"127.0.0.1", "localhost"}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The mini book, executed (papermill, smoke profile) and built (Jupyter Book 1)."""
    root = make_mini_book(tmp_path_factory.mktemp("minibook"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OMP_NUM_THREADS", "1")           # 2-core shared box: one math thread
        run_book("smoke", root=root, progress=False, timeout=300)
    build_book(root, strict=True)
    return root


@pytest.fixture(scope="module")
def server(site):
    with serve(site / "_build" / "html") as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


class Page:
    """A page opened with every non-local request aborted and its console recorded."""

    def __init__(self, browser, url: str, width: int = 1300, height: int = 900) -> None:
        self.ctx = browser.new_context(viewport={"width": width, "height": height})
        self.blocked: list[str] = []
        self.errors: list[str] = []
        self.ctx.route("**/*", self._route)
        self.page = self.ctx.new_page()
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
        self.page.goto(url, wait_until="load")

    def _route(self, route) -> None:
        u = urlparse(route.request.url)
        if u.scheme in ("data", "blob", "about") or u.hostname in LOCAL_HOSTS:
            route.continue_()
        else:
            self.blocked.append(route.request.url)
            route.abort()

    def transferred(self) -> int:
        """Bytes the page has transferred so far (document and every resource it loaded)."""
        return int(self.page.evaluate(
            "() => performance.getEntries().filter(e => 'transferSize' in e)"
            ".reduce((a, e) => a + (e.transferSize || e.encodedBodySize || 0), 0)"))

    def real_errors(self) -> list[str]:
        return [e for e in self.errors
                if not any(re.search(rx, e) for rx, _ in KNOWN_HARMLESS)]

    def close(self) -> None:
        self.ctx.close()


def _pages(site: Path) -> list[str]:
    html = site / "_build" / "html"
    return sorted(str(p.relative_to(html)) for p in html.rglob("*.html")
                  if not str(p.relative_to(html)).startswith(("_static", "_sources")))


def test_every_page_loads_offline_without_console_errors(site, server, browser):
    pages = _pages(site)
    assert f"book/_executed/{CHAPTER}.html" in pages and "book/intro.html" in pages
    for rel in pages:
        pg = Page(browser, f"{server}/{rel}")
        try:
            pg.page.wait_for_timeout(300)          # let deferred scripts run
            assert pg.real_errors() == [], (rel, pg.errors)
            assert pg.blocked == [], (rel, pg.blocked)
        finally:
            pg.close()


def test_math_renders_from_the_local_mathjax(site, server, browser):
    pg = Page(browser, f"{server}/book/intro.html")
    try:
        pg.page.wait_for_selector("mjx-container", timeout=20_000)
        assert pg.blocked == []
        # a number glued in the chapter is pasted into the prose page (7 = trained + 6 stages)
        assert "walks 7 stages" in " ".join(pg.page.inner_text("main").split())
    finally:
        pg.close()


def _gd(page, key: str) -> str:
    """JS expression for the explorer div whose state has ``key`` (``stage``: randomisation)."""
    return (f"Array.from(document.querySelectorAll('[data-ecgx-state]'))"
            f".find(e => JSON.parse(e.getAttribute('data-ecgx-state')).hasOwnProperty('{key}'))")


@pytest.fixture()
def explorers(site, server, browser):
    pg = Page(browser, f"{server}/book/_executed/{CHAPTER}.html")
    pg.page.wait_for_function("document.querySelectorAll('[data-ecgx-state]').length === 2",
                              timeout=30_000)
    yield pg
    assert pg.real_errors() == [] and pg.blocked == []
    pg.close()


def _state(page, gd: str) -> dict:
    return json.loads(page.evaluate(f"() => {gd}.getAttribute('data-ecgx-state')"))


def test_figures_are_drawn(explorers):
    page = explorers.page
    assert page.locator(".plotly-graph-div .main-svg").count() >= 2
    assert page.locator(".plotly-graph-div g.hm image").count() == 2      # the two heatmaps
    assert page.locator(".plotly-graph-div g.slider-container").count() == 2
    assert page.locator("p.ecgsignal-live-note").count() == 1             # live one replaced


def test_randomisation_slider_changes_the_map(site, explorers):
    page = explorers.page
    gd = _gd(page, "stage")
    cube = load_cube(site / "notebooks" / "randomization_cube.npz")
    codes, _ = quantize_maps(bin_abs(cube["maps"], 2), cube["maps"])     # T=300 → 150 columns
    z0 = np.array(page.evaluate(f"() => {gd}.data[0].z"))
    np.testing.assert_allclose(z0, codes[0, 0, 0] / 255, atol=1e-9)
    img0 = page.evaluate(f"() => {gd}.querySelector('g.hm image').getAttribute('href')")
    root = page.locator(".plotly-graph-div").filter(has=page.locator("g.slider-container")).first
    slider = root.locator("g.slider-container").first
    slider.scroll_into_view_if_needed()
    label = slider.locator("g.slider-labels text").filter(has_text=re.compile(r"^3$")).first
    box, rail = label.bounding_box(), slider.locator("rect.slider-rail-touch-rect").bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, rail["y"] + rail["height"] / 2)
    page.wait_for_function(f"() => JSON.parse({gd}.getAttribute('data-ecgx-state')).stage === 3")
    z3 = np.array(page.evaluate(f"() => {gd}.data[0].z"))
    np.testing.assert_allclose(z3, codes[0, 3, 0] / 255, atol=1e-9)       # exactly the cube slice
    assert not np.allclose(z3, z0)
    page.wait_for_function(f"() => {gd}.querySelector('g.hm image').getAttribute('href') !== "
                           f"{json.dumps(img0)}")                          # the drawn pixels changed
    marker = page.evaluate(f"() => {gd}.data[6].y[0]")
    assert marker == pytest.approx(float(cube["similarity"][0, 3, 0]), abs=1e-4)
    # the method menu works with the slider: method 1 at stage 3
    root.locator("g.updatemenu-header").first.click()
    root.locator("g.updatemenu-dropdown-button").filter(
        has=page.locator("text", has_text=str(cube["methods"][1]))).first.click()
    page.wait_for_function(f"() => JSON.parse({gd}.getAttribute('data-ecgx-state')).method === 1")
    assert _state(page, gd) == {"method": 1, "beat": 0, "stage": 3}
    np.testing.assert_allclose(np.array(page.evaluate(f"() => {gd}.data[0].z")),
                               codes[1, 3, 0] / 255, atol=1e-9)


def test_toggling_a_lead_changes_the_probabilities(site, explorers):
    page = explorers.page
    gd = _gd(page, "lead_set")
    cube = load_cube(site / "notebooks" / "perturbation_cube.npz")
    st = _state(page, gd)
    assert (st["lead_set"], st["kind"]) == (0, 0)                            # lead I removed
    g = st["strength"]
    before = page.evaluate(f"() => {gd}.data[3].y")
    np.testing.assert_allclose(before, cube["probs"][0, 0, 0, g], atol=1e-4)
    bars0 = page.evaluate(f"() => Array.from({gd}.querySelectorAll('g.bars path')).map(p => p.getAttribute('d'))")
    names = [str(n) for n in cube["lead_set_names"]]
    gap = [np.abs(cube["probs"][0, i, 0, g] - cube["probs"][0, 0, 0, g]).max() for i in range(len(names))]
    target = int(np.argmax(gap))                                           # the most telling lead
    assert gap[target] > 1e-3
    root = page.locator(".plotly-graph-div").filter(has=page.locator("g.updatemenu-button")).last
    button = root.locator("g.updatemenu-button").filter(
        has=page.locator("text", has_text=re.compile(f"^{re.escape(names[target])}$"))).first
    button.scroll_into_view_if_needed()
    button.click()
    page.wait_for_function(
        f"() => JSON.parse({gd}.getAttribute('data-ecgx-state')).lead_set === {target}")
    after = page.evaluate(f"() => {gd}.data[3].y")
    np.testing.assert_allclose(after, cube["probs"][0, target, 0, g], atol=1e-4)
    assert not np.allclose(after, before, atol=1e-4)
    page.wait_for_function(
        f"() => JSON.stringify(Array.from({gd}.querySelectorAll('g.bars path')).map(p => p.getAttribute('d')))"
        f" !== {json.dumps(json.dumps(bars0, separators=(',', ':')))}")   # the drawn bars moved
    # the beat drawn in the browser is the beat the model saw (same rule as apply_perturbation)
    y = np.array([v for v in page.evaluate(f"() => {gd}.data[1].y") if v is not None], float)
    xp = apply_perturbation(cube["signals"][0], cube["lead_sets"][target], "zero",
                            float(cube["strengths"][0, g]), noise=cube["noise"][0])
    mx = np.abs(cube["signals"][0]).max()
    np.testing.assert_allclose(y.reshape(12, -1), np.arange(12)[:, None] - (0.45 / mx) * xp,
                               atol=1e-4)


# ----------------------------------------------------------------------------- a reader's visit
#: Page weight budgets (bytes transferred on a first visit, text gzipped as a static host sends
#: it: see browsing.serve): issue 14's targets.
MAX_PLAIN_PAGE = 1_000_000
MAX_EXPLORER_PAGE = 6_000_000
PHONE = (390, 844)


def read_every_page(site: Path, server: str, browser) -> dict[str, int]:
    """A reader's visit of every page at desktop width; returns the bytes each page transferred.

    On every page: every same-origin link, image, script and stylesheet resolves (the ".ipynb"
    download links included) and the "open issue" link names a page that exists; no ``NaN:``,
    ``<NA>``, bare float repr, quoted Python string or pasted backticks (text_problems); every
    image has its own meaningful alt text; plotly.js is loaded exactly where a plotly figure is.
    """
    html = site / "_build" / "html"
    status: dict[str, int] = {}
    weights, problems = {}, []
    for rel in _pages(site):
        pg = Page(browser, f"{server}/{rel}")
        try:
            pg.page.wait_for_timeout(300)
            for url in local_links(pg.page):
                code = url_status(url, status)
                if code != 200:
                    problems.append(f"{rel}: {url[len(server):]} -> {code}")
            for named in issue_link_pages(pg.page):
                if not (html / named).is_file():
                    problems.append(f"{rel}: the open-issue link names {named}, which does not exist")
            problems += [f"{rel}: {p}" for p in text_problems(pg.page) + image_problems(pg.page)]
            st = plotly_state(pg.page)
            if st["script"] != (st["figures"] > 0) or (st["figures"] and not st["defined"]):
                problems.append(f"{rel}: {st['figures']} plotly figures but plotly.js loaded: "
                                f"{st['script']}")
            pg.page.wait_for_timeout(700)                 # late fonts and images
            weights[rel] = pg.transferred()
            # the front page must be light; no page, explorers included, may pass 6 MB
            budget = MAX_PLAIN_PAGE if rel in ("book/intro.html", "index.html") else MAX_EXPLORER_PAGE
            if weights[rel] > budget:
                problems.append(f"{rel}: {weights[rel] / 1e6:.2f} MB transferred > "
                                f"{budget / 1e6:.0f} MB")
        finally:
            pg.close()
    assert problems == [], "\n".join(problems)
    return weights


def explorer_on_a_phone(server: str, browser, rel: str, key: str) -> None:
    """At 390 px: no sideways scrolling, every explorer control inside the viewport and
    reachable by a tap, the modebar clear of the title; tapping a menu entry changes the state."""
    pg = Page(browser, f"{server}/{rel}", *PHONE)
    page = pg.page
    try:
        page.wait_for_function(f"() => {_gd(page, key)} !== undefined", timeout=30_000)
        page.wait_for_timeout(500)
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE[0], \
            "the page scrolls sideways at 390 px"
        assert control_problems(page, PHONE[0]) == []
        gd = _gd(page, key)
        idx = page.evaluate(
            f"() => Array.from(document.querySelectorAll('.plotly-graph-div')).indexOf({gd})")
        fig = page.locator(".plotly-graph-div").nth(idx)
        before = _state(page, gd)
        header = fig.locator("g.updatemenu-header-group").first
        header.scroll_into_view_if_needed()
        header.click()
        item = fig.locator("g.updatemenu-dropdown-button").nth(1)
        item.scroll_into_view_if_needed()
        box = item.bounding_box()
        assert box is not None and 0 <= box["x"] and box["x"] + box["width"] <= PHONE[0]
        item.click()
        page.wait_for_function(
            f"() => {gd}.getAttribute('data-ecgx-state') !== {json.dumps(json.dumps(before, separators=(',', ':')))}")
        assert _state(page, gd) != before
        assert pg.real_errors() == [] and pg.blocked == []
    finally:
        pg.close()


def test_a_reader_finds_every_link_clean_text_and_light_pages(site, server, browser):
    weights = read_every_page(site, server, browser)
    assert weights["book/intro.html"] <= MAX_PLAIN_PAGE


def test_explorers_work_on_a_phone(site, server, browser):
    explorer_on_a_phone(server, browser, f"book/_executed/{CHAPTER}.html", "lead_set")
    explorer_on_a_phone(server, browser, f"book/_executed/{CHAPTER}.html", "stage")


BAD_PAGE = """<main>
<p>Across measures it ranges from nan to nan (NaN: only one measure in this profile).</p>
<p>Numbers from <span class="pasted-text">'a sentence'</span> and
<span class="pasted-text">the `results/bench.json` file</span>.</p>
<div class="output text_plain"><pre>0.22013223790636105</pre></div>
<div class="output text_plain"><pre>['NORM', 'RBBB']</pre></div>
<table class="dataframe"><tr><td>NaN</td><td>&lt;NA&gt;</td></tr></table>
<table class="ecgsignal-table"><tr><td>NaN</td></tr></table>
<img src="_images/abc.png" alt="_images/abc.png">
<img src="_images/d.png" alt="Figure: a"><img src="_images/e.png" alt="Figure: a">
</main>"""


def test_the_reader_checks_catch_what_issue_14_found(browser):
    ctx = browser.new_context()
    page = ctx.new_page()
    try:
        page.set_content(BAD_PAGE)
        found = "\n".join(text_problems(page))
        for what in ('"NaN:" in text', "quoted Python string pasted", "literal backticks",
                     "bare float output", "quoted list output", "unstyled table"):
            assert what in found, what
        assert found.count("unstyled table") == 1          # the styled table may show NaN
        imgs = image_problems(page)
        assert any("abc.png has no meaningful alt" in p for p in imgs)
        assert any("share the alt text" in p for p in imgs)
        page.set_content("<main><p>Fine: 0.25 [0.20, 0.30].</p>"
                         "<span class='pasted-text'>ranges from 0.52 to 0.66</span>"
                         "<img src='x.png' alt='Figure: similarity matrix'></main>")
        assert text_problems(page) == [] and image_problems(page) == []
    finally:
        ctx.close()
