"""Sphinx extension of the ecgsignal book: launch buttons and clean script tags.

1. Launch buttons. The site renders the executed copies in ``book/_executed/`` (git-ignored build products), so
sphinx-book-theme would build Binder/JupyterHub/Colab links to ``book/_executed/X.ipynb``, which
does not exist in the repository. This rewrites those links to ``notebooks/X.ipynb``, the
committed, parameterised source that a reader re-executes live.

2. Duplicate inline scripts. Under Jupyter Book 1.0.4, sphinx-thebe registers its inline
   configuration script (``const THEBE_JS_URL = …``) twice, and every page then logs
   "Identifier 'THEBE_JS_URL' has already been declared". Exact duplicates are dropped from the
   page's script list.
"""

from __future__ import annotations

from typing import Any

EXECUTED = "book/_executed/"
SOURCES = "notebooks/"


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


def fix_launch_links(app, pagename, templatename, context, doctree) -> None:
    """``html-page-context`` hook, run after sphinx-book-theme has added its buttons."""
    if pagename.startswith(EXECUTED):
        _rewrite(context.get("header_buttons", []))


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
    app.connect("html-page-context", fix_launch_links, priority=900)
    app.connect("html-page-context", drop_duplicate_scripts, priority=900)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
