"""Shared helpers of the browser tests: a quiet local HTTP server, Debian's Chromium, and the
checks a reader's visit makes on every page (links, text, images, plotly, explorer controls)."""

from __future__ import annotations

import contextlib
import functools
import gzip
import http.server
import re
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


#: File types a static host sends gzip-compressed (GitHub Pages does for these).
GZIP_TYPES = {".html", ".css", ".js", ".json", ".svg", ".txt", ".xml", ".map", ".ipynb"}


@functools.lru_cache(maxsize=512)
def _gzip_cached(path: str, mtime: float) -> bytes:
    return gzip.compress(Path(path).read_bytes(), compresslevel=6)


def _gzipped(path: Path) -> bytes:
    return _gzip_cached(str(path), path.stat().st_mtime)


@contextlib.contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve ``directory`` on 127.0.0.1 (a free port) like a static host: text files gzipped
    for clients that accept it, so the bytes a page transfers are those a reader downloads;
    yields the base URL."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):  # keep pytest output clean
            pass

        def do_GET(self):  # text compressed with gzip, as static hosts (GitHub Pages) serve it
            path = Path(self.translate_path(self.path))
            if (path.is_file() and path.suffix in GZIP_TYPES
                    and "gzip" in self.headers.get("Accept-Encoding", "")):
                body = _gzipped(path)
                self.send_response(200)
                self.send_header("Content-Type", self.guess_type(str(path)))
                self.send_header("Content-Encoding", "gzip")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            else:
                super().do_GET()

    class Server(http.server.ThreadingHTTPServer):
        def handle_error(self, request, client_address):  # a page closed mid-download
            import sys

            if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
                super().handle_error(request, client_address)

    srv = Server(("127.0.0.1", 0), functools.partial(Quiet, directory=directory))
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()
        srv.server_close()


@contextlib.contextmanager
def chromium():
    """Debian's Chromium driven by playwright (never `playwright install`)."""
    if not CHROMIUM.is_file():
        pytest.fail("Debian's chromium is missing: run `make browser` (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


# ----------------------------------------------------------------------------- a reader's checks
#: Tables where a missing value may show (``ecgsignal.run.chapter.table`` and pandas Stylers).
STYLED_TABLES = "table.ecgsignal-table, table[id^='T_']"

_TEXT_PROBLEMS_JS = """(styled) => {
  const main = document.querySelector('main') || document.body;
  const problems = [];
  if (!main) return problems;          // a redirect page (index.html) while it navigates
  const inStyled = el => !!el.closest(styled);
  const text = el => (el.innerText || '').trim();
  // prose and glued values: not code, not styled tables
  const prose = Array.from(main.querySelectorAll('p, li, dd, td, th, h1, h2, h3, caption, span.pasted-text'))
      .filter(el => !inStyled(el) && !el.closest('pre, code, .cell_input, .highlight'));
  for (const el of prose) {
    const t = text(el);
    if (/NaN:/.test(t)) problems.push('"NaN:" in text: ' + t.slice(0, 120));
    if (/<NA>/.test(t)) problems.push('<NA> outside a styled table: ' + t.slice(0, 120));
    const f = t.match(/\\b\\d+\\.\\d{9,}\\b/);
    if (f) problems.push('bare float repr in text: ' + f[0]);
  }
  for (const el of main.querySelectorAll('span.pasted-text')) {
    const t = text(el);
    if (/^['"]/.test(t) || /['"]$/.test(t)) problems.push('quoted Python string pasted: ' + t.slice(0, 120));
    if (t.includes('`')) problems.push('literal backticks pasted: ' + t.slice(0, 120));
  }
  // cell outputs that are the repr of a float, a string or a list of strings
  for (const el of main.querySelectorAll('div.output.text_plain')) {
    const t = text(el);
    if (/^-?\\d+\\.\\d+(e[-+]?\\d+)?$/i.test(t)) problems.push('bare float output: ' + t);
    if (/^(['"]).*\\1$/s.test(t)) problems.push('quoted string output: ' + t.slice(0, 120));
    if (/^\\[\\s*(['"]).*\\]$/s.test(t)) problems.push('quoted list output: ' + t.slice(0, 120));
    if (/<NA>/.test(t)) problems.push('<NA> in a raw output: ' + t.slice(0, 120));
  }
  // raw (unstyled) data frames with missing values
  for (const table of main.querySelectorAll('table')) {
    if (table.matches(styled)) continue;
    for (const cell of table.querySelectorAll('td')) {
      const t = text(cell);
      if (t === 'NaN' || t === '<NA>' || t === 'None') {
        problems.push('missing value "' + t + '" in an unstyled table'); break;
      }
    }
  }
  return problems;
}"""


def text_problems(page) -> list[str]:
    """What a reader should not see on ``page`` (a playwright page): ``NaN:`` left over from
    conditional text, ``<NA>``/``NaN`` cells outside a styled table, a bare float repr, a quoted
    Python string or list, literal Markdown backticks in a pasted value."""
    return page.evaluate(_TEXT_PROBLEMS_JS, STYLED_TABLES)


def image_problems(page) -> list[str]:
    """Images of the page's main part without a meaningful alt text, or sharing one."""
    imgs = page.evaluate("""() => Array.from(document.querySelectorAll('main img'))
        .map(i => [i.getAttribute('src') || '', (i.getAttribute('alt') || '').trim()])""")
    problems, seen = [], {}
    for src, alt in imgs:
        name = src.rsplit("/", 1)[-1]
        if not alt or alt == src or name in alt or re.search(r"\.(png|jpe?g|svg|gif)$", alt):
            problems.append(f"image {name} has no meaningful alt text: {alt!r}")
        elif alt in seen and seen[alt] != src:
            problems.append(f"images {seen[alt]} and {name} share the alt text {alt!r}")
        seen.setdefault(alt, name)
    return problems


def local_links(page) -> list[str]:
    """Every same-origin URL the page links to or loads (links, images, scripts, styles), without
    fragments; the header's download links included."""
    return page.evaluate("""() => {
      const out = new Set();
      const add = u => { if (!u) return; try {
          const url = new URL(u, document.baseURI);
          if (url.origin === location.origin) { url.hash = ''; out.add(url.href); } } catch (e) {} };
      document.querySelectorAll('a[href]').forEach(a => add(a.getAttribute('href')));
      document.querySelectorAll('img[src], script[src]').forEach(e => add(e.getAttribute('src')));
      document.querySelectorAll('link[href]').forEach(e => {
          if (/stylesheet|icon|preload/.test(e.getAttribute('rel') || '')) add(e.getAttribute('href')); });
      return Array.from(out).sort();
    }""")


def issue_link_pages(page) -> list[str]:
    """Pages named by the header's "open issue" links (their ``title`` query), site-relative."""
    hrefs = page.evaluate("""() => Array.from(document.querySelectorAll('a[href*="/issues/new"]'))
        .map(a => a.getAttribute('href'))""")
    out = []
    for h in hrefs:
        title = parse_qs(urlparse(h).query).get("title", [""])[0]
        m = re.search(r"on page (/\S+\.html)", title)
        if m:
            out.append(m.group(1).lstrip("/"))
    return out


def url_status(url: str, cache: dict[str, int]) -> int:
    """HTTP status of ``url`` (GET on the local server), cached."""
    if url not in cache:
        try:
            with urllib.request.urlopen(url, timeout=30) as r:
                cache[url] = r.status
        except urllib.error.HTTPError as e:
            cache[url] = e.code
    return cache[url]


def plotly_state(page) -> dict:
    """Whether the page has a plotly figure, loads plotly.js, and defines ``Plotly``."""
    return page.evaluate("""() => ({
      figures: document.querySelectorAll('.plotly-graph-div').length,
      script: Array.from(document.querySelectorAll('script[src]'))
                .some(s => /plotly(\\.min)?\\.js/.test(s.getAttribute('src'))),
      defined: typeof window.Plotly !== 'undefined'})""")


_CONTROLS = ("g.updatemenu-header-group", "g.updatemenu-button",
             "g.slider-container rect.slider-rail-touch-rect", "g.slider-container rect.slider-grip-rect")


def control_problems(page, width: int) -> list[str]:
    """Explorer controls (menus, buttons, slider rail and grip) of ``page`` that lie outside the
    ``width``-px viewport or that a tap at their centre would not reach; explorers wider than
    the viewport; a modebar that overlaps a figure title."""
    problems = []
    for fig_i, fig in enumerate(page.locator(".plotly-graph-div").all()):
        box = fig.bounding_box()
        if box and (box["x"] < -0.5 or box["x"] + box["width"] > width + 0.5):
            problems.append(f"figure {fig_i} spans x {box['x']:.0f}–{box['x'] + box['width']:.0f}")
        for sel in _CONTROLS:
            for ctl_i, ctl in enumerate(fig.locator(sel).all()):
                if not ctl.is_visible():
                    continue
                ctl.scroll_into_view_if_needed()
                b = ctl.bounding_box()
                if b is None or b["width"] == 0:
                    continue
                what = f"figure {fig_i} {sel} #{ctl_i}"
                if b["x"] < -0.5 or b["x"] + b["width"] > width + 0.5:
                    problems.append(f"{what} outside the viewport: x {b['x']:.0f}–{b['x'] + b['width']:.0f}")
                    continue
                cx, cy = b["x"] + b["width"] / 2, b["y"] + b["height"] / 2
                hit = page.evaluate("""([x, y, gi, sel, ci]) => {
                    const ctl = document.querySelectorAll('.plotly-graph-div')[gi]
                                 .querySelectorAll(sel)[ci];
                    const el = document.elementFromPoint(x, y);
                    // plotly draws a control's hit area as a sibling inside the same group
                    const group = ctl.closest('g.updatemenu-header-group, g.updatemenu-button, g.slider-container');
                    return !!el && (ctl.contains(el) || (group && group.contains(el)));
                }""", [cx, cy, fig_i, sel, ctl_i])
                if not hit:
                    problems.append(f"{what} is covered: a tap at its centre misses it")
        overlap = page.evaluate("""(gi) => {
            const gd = document.querySelectorAll('.plotly-graph-div')[gi];
            const mb = gd.querySelector('.modebar-container .modebar, .modebar');
            const title = gd.querySelector('g.g-gtitle text');
            if (!mb || !title) return false;
            const a = mb.getBoundingClientRect(), b = title.getBoundingClientRect();
            if (a.width === 0 || b.width === 0) return false;
            return a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
        }""", fig_i)
        if overlap:
            problems.append(f"figure {fig_i}: the modebar overlaps the title")
    return problems
