"""Plotly figures as HTML that render offline: in the static site and in a live kernel.

Jupyter Book 1 drops plotly 7's default renderer output (the ``application/vnd.plotly.v1+json``
bundle it cannot draw), so chapters display figures as plain HTML: a ``<div>`` and a
``<script>`` calling ``Plotly.newPlot``. Where ``Plotly`` itself comes from depends on the mode:

* ``"external"`` — the page already loads plotly.js. The book's site extension
  (``book/_ext/ecgsignal_site.py``) loads the copy that :func:`vendor_plotly` places in
  ``book/_static/vendor/`` (no CDN) on the pages that draw a plotly figure, and
  :func:`ecgsignal.run.book.run_book` sets this mode for the chapters it executes, so the
  4.6 MB library is stored once for the whole site, not once per notebook.
* ``"inline"`` — a live kernel (Jupyter, Voila, Binder): the first figure of a session carries
  plotly.js inline, guarded so that an AMD loader (``define``) cannot capture it; later figures
  reuse the global ``Plotly``.

The mode is read from the environment variable :data:`PLOTLYJS_ENV` (``external`` or
``inline``; default ``inline``) unless given explicitly.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import plotly
import plotly.graph_objects as go

from ecgsignal.errors import ConfigError
from ecgsignal.io import atomic_path, sha256_file

__all__ = [
    "PLOTLYJS_ENV",
    "figure_html",
    "json_for_script",
    "plotly_js_path",
    "plotlyjs_mode",
    "reset_inline_state",
    "show",
    "vendor_plotly",
]

#: Environment variable choosing where plotly.js comes from: ``external`` or ``inline``.
PLOTLYJS_ENV = "ECGSIGNAL_PLOTLYJS"
_MODES = ("external", "inline")
_inline_sent = False


def plotly_js_path() -> Path:
    """The ``plotly.min.js`` bundled inside the installed plotly package (no download)."""
    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise FileNotFoundError(f"plotly.min.js not found in the plotly package at {path}")
    return path


def vendor_plotly(static_dir: str | os.PathLike) -> Path:
    """Copy the bundled ``plotly.min.js`` to ``static_dir/vendor/plotly.min.js`` (atomically).

    The copy is skipped when an identical file is already there. ``static_dir`` is the book's
    ``book/_static``; ``vendor/`` is git-ignored (the file is 4.6 MB, a build product).

    Returns
    -------
    Path
        The vendored file.
    """
    src = plotly_js_path()
    dst = Path(static_dir) / "vendor" / "plotly.min.js"
    if dst.is_file() and dst.stat().st_size == src.stat().st_size and sha256_file(dst) == sha256_file(src):
        return dst
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)
        os.chmod(tmp, 0o644)  # served to browsers; mkstemp made it 0600
    return dst


def plotlyjs_mode(mode: str | None = None) -> str:
    """Resolve the plotly.js mode: ``mode`` if given, else ``$ECGSIGNAL_PLOTLYJS``, else inline."""
    m = mode if mode is not None else os.environ.get(PLOTLYJS_ENV, "inline")
    if m not in _MODES:
        raise ConfigError(f"unknown plotly.js mode {m!r} (from {PLOTLYJS_ENV} or argument); "
                          f"valid: {', '.join(_MODES)}")
    return m


def reset_inline_state() -> None:
    """Forget that plotly.js was already sent inline (the next inline figure carries it again)."""
    global _inline_sent
    _inline_sent = False


def _inline_plotly_script() -> str:
    # Shadow define/module/exports so plotly's UMD wrapper sets window.Plotly even where an AMD
    # loader (require.js in classic Jupyter) is present; skip if Plotly is already loaded.
    js = plotly_js_path().read_text(encoding="utf-8")
    return ("<script type=\"text/javascript\">if (!window.Plotly) {(function(define, module, exports) {"
            + js + "\n}).call(window, undefined, undefined, undefined);}</script>")


def figure_html(fig: go.Figure, *, post_script: str | None = None, mode: str | None = None,
                div_id: str | None = None, config: dict | None = None) -> str:
    """HTML fragment (``<div>`` + ``<script>``) drawing ``fig`` with plotly.js.

    Parameters
    ----------
    fig:
        The figure.
    post_script:
        JavaScript run right after the figure is drawn; ``{plot_id}`` is replaced by the id of
        the figure's ``<div>`` (plotly's ``to_html`` convention). The explorers attach their
        browser-side logic here.
    mode:
        ``"external"`` (the page provides plotly.js) or ``"inline"`` (carry plotly.js with the
        first figure of the session); default: :func:`plotlyjs_mode`.
    div_id:
        Fixed id for the ``<div>`` (default: a random one from plotly).
    config:
        plotly.js config (default: responsive, no logo).

    Returns
    -------
    str
        The fragment, without ``<html>``/``<body>``.
    """
    global _inline_sent
    resolved = plotlyjs_mode(mode)
    cfg = {"responsive": True, "displaylogo": False}
    cfg.update(config or {})
    body = fig.to_html(include_plotlyjs=False, full_html=False, post_script=post_script,
                       div_id=div_id, config=cfg)
    if resolved == "inline" and not _inline_sent:
        _inline_sent = True
        return _inline_plotly_script() + body
    return body


def show(fig: go.Figure, *, post_script: str | None = None, mode: str | None = None) -> None:
    """Display ``fig`` as HTML in the running notebook (see :func:`figure_html`).

    Works in the static site (Jupyter Book renders the ``text/html`` output and the page loads
    plotly.js from ``_static/vendor``) and in a live kernel (plotly.js sent inline once).
    """
    from IPython.display import HTML, display

    display(HTML(figure_html(fig, post_script=post_script, mode=mode)))


def json_for_script(obj: object) -> str:
    """JSON safe to embed inside a ``<script>`` element (no ``</script>`` break-out)."""
    return json.dumps(obj, separators=(",", ":")).replace("</", "<\\/")
