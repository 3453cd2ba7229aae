"""Sphinx extension of the ecgsignal book: launch buttons, alt text, plotly per page, clean scripts.

1. Launch buttons. The site renders the executed copies in ``book/_executed/`` (git-ignored build
   products), so sphinx-book-theme would build Binder/JupyterHub/Colab links to
   ``book/_executed/X.ipynb``, which does not exist in the repository. The links of the *launch*
   menu (and only those) are rewritten to ``notebooks/X.ipynb``, the committed, parameterised
   source that a reader re-executes live. The ``.ipynb`` download item (the executed copy under
   ``_sources/``) and the "open issue" link (the page's own path) are left as they are.

2. Alt text. ``ecgsignal.run.book.prepare_executed`` records a description of every image output
   (for matplotlib figures: titles and axis labels) in the notebook's metadata, keyed by the
   SHA-256 of the image, which is also the name myst-nb gives the image file. Each image node
   whose file matches gets that description as its ``alt``.

3. plotly.js only where needed. ``_static/vendor/plotly.min.js`` (about 4.8 MB) is added to a
   page's ``<head>`` only when the page holds a plotly figure (an explorer), not to every page.

4. No Font Awesome JavaScript. pydata-sphinx-theme's stylesheet already carries Font Awesome's
   icon classes and web fonts, so its ``fontawesome.js`` (1.5 MB, which only swaps the same
   icons for SVGs) is dropped from every page and from the output.

5. Duplicate inline scripts. Under Jupyter Book 1.0.4, sphinx-thebe registers its inline
   configuration script (``const THEBE_JS_URL = …``) twice, and every page then logs
   "Identifier 'THEBE_JS_URL' has already been declared". Exact duplicates are dropped from the
   page's script list.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from docutils import nodes

EXECUTED = "book/_executed/"
SOURCES = "notebooks/"
LAUNCH_LABEL = "launch-buttons"       # sphinx-book-theme's label of the launch dropdown
PLOTLY_JS = "vendor/plotly.min.js"    # under html_static_path; copied by `ecgsignal book build`
PLOTLY_MARKER = "plotly-graph-div"    # class of every plotly figure's <div>


def _rewrite(node: Any) -> None:
    if isinstance(node, dict):
        url = node.get("url")
        if isinstance(url, str) and EXECUTED in url:
            node["url"] = url.replace(EXECUTED, SOURCES)
        for value in node.values():
            _rewrite(value)
    elif isinstance(node, list):
        for value in node:
            _rewrite(value)


def _launch_menus(node: Any):
    if isinstance(node, dict):
        if node.get("label") == LAUNCH_LABEL:
            yield node
        else:
            for value in node.values():
                yield from _launch_menus(value)
    elif isinstance(node, list):
        for value in node:
            yield from _launch_menus(value)


def fix_launch_links(app, pagename, templatename, context, doctree) -> None:
    """``html-page-context`` hook, run after sphinx-book-theme has added its buttons."""
    if pagename.startswith(EXECUTED):
        for menu in _launch_menus(context.get("header_buttons", [])):
            _rewrite(menu)


def add_alt_text(app, doctree) -> None:
    """``doctree-read`` hook: alt text of notebook images from the notebook's metadata."""
    docname = app.env.docname
    path = Path(app.env.doc2path(docname))
    if path.suffix != ".ipynb" or not path.is_file():
        return
    try:
        meta = json.loads(path.read_text(encoding="utf-8")).get("metadata", {})
    except (OSError, ValueError):
        return
    alt = (meta.get("ecgsignal") or {}).get("alt") or {}
    if not alt:
        return
    for image in doctree.findall(nodes.image):
        key = Path(str(image.get("uri", ""))).stem
        if key in alt:
            image["alt"] = alt[key]


def plotly_where_needed(app, pagename, templatename, context, doctree) -> None:
    """``html-page-context`` hook: load plotly.js on the pages that draw a plotly figure."""
    if PLOTLY_MARKER in (context.get("body") or ""):
        app.add_js_file(PLOTLY_JS, priority=200)


FONTAWESOME_JS = re.compile(
    r'[ \t]*<script[^>]*src="[^"]*_static/scripts/fontawesome\.js[^"]*"[^>]*>\s*</script>\n?')


def drop_fontawesome_js(app, exception) -> None:
    """``build-finished`` hook: remove fontawesome.js from the pages and the output."""
    if exception is not None or app.builder.format != "html":
        return
    out = Path(app.outdir)
    for page in out.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        new = FONTAWESOME_JS.sub("", text)
        if new != text:
            page.write_text(new, encoding="utf-8")
    for f in (out / "_static" / "scripts").glob("fontawesome.js*"):
        f.unlink()


def _script_key(js: Any) -> tuple:
    # sphinx-thebe registers its inline script with filename None, Sphinx re-adds it with "".
    filename = getattr(js, "filename", js) or ""
    attrs = getattr(js, "attributes", {}) or {}
    return str(filename), tuple(sorted((str(k), str(v)) for k, v in attrs.items()))


def drop_duplicate_scripts(app, pagename, templatename, context, doctree) -> None:
    """``html-page-context`` hook: keep the first of identical ``<script>`` entries."""
    scripts = context.get("script_files")
    if not scripts:
        return
    seen: set[tuple] = set()
    unique = []
    for js in scripts:
        key = _script_key(js)
        if key not in seen:
            seen.add(key)
            unique.append(js)
    scripts[:] = unique


def setup(app):
    app.connect("doctree-read", add_alt_text)
    app.connect("html-page-context", fix_launch_links, priority=900)
    app.connect("html-page-context", plotly_where_needed, priority=500)
    app.connect("html-page-context", drop_duplicate_scripts, priority=900)
    app.connect("build-finished", drop_fontawesome_js)
    return {"version": "1.1", "parallel_read_safe": True, "parallel_write_safe": True}
