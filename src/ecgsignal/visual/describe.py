"""A one-line description of a matplotlib figure: its titles and axis labels.

Chapters show matplotlib figures as PNG images. The book uses this description as each image's
alt text (see :func:`ecgsignal.run.chapter.open_chapter` and ``book/_ext/ecgsignal_site.py``), so
a reader who cannot see the picture learns what it plots, and every figure of a page is named
by its own titles rather than by the file path of its PNG.
"""

from __future__ import annotations

from matplotlib.figure import Figure

__all__ = ["describe_figure"]


def _clean(text: str) -> str:
    return " ".join(str(text).replace("$", "").split())


def describe_figure(fig: Figure, *, max_panels: int = 6) -> str:
    """Describe ``fig`` in one line: suptitle, then each visible panel's title and axis labels.

    Parameters
    ----------
    fig:
        A matplotlib figure.
    max_panels:
        Panels described one by one; further panels are counted ("and 6 more panels").

    Returns
    -------
    str
        E.g. ``"Figure: Similarity left after full randomisation — x: similarity (95 % CI)"``.
        Never empty: a figure without any text is described by its number of panels.
    """
    parts: list[str] = []
    sup = getattr(fig, "_suptitle", None)
    if sup is not None and sup.get_text().strip():
        parts.append(_clean(sup.get_text()))
    for label in (getattr(fig, "_supxlabel", None), getattr(fig, "_supylabel", None)):
        if label is not None and label.get_text().strip():
            parts.append(_clean(label.get_text()))
    axes = [ax for ax in fig.axes if ax.get_visible() and ax.get_label() != "<colorbar>"]
    panels = []
    for ax in axes:
        title = " ".join(_clean(t) for t in (ax.get_title("left"), ax.get_title(),
                                              ax.get_title("right")) if t.strip())
        bits = [title] if title else []
        if ax.get_xlabel().strip():
            bits.append(f"x: {_clean(ax.get_xlabel())}")
        if ax.get_ylabel().strip():
            bits.append(f"y: {_clean(ax.get_ylabel())}")
        if bits:
            panels.append(", ".join(bits))
    unique = list(dict.fromkeys(panels))
    shown = unique[:max_panels]
    if shown:
        parts.append("; ".join(shown))
    if len(unique) > max_panels:
        parts.append(f"and {len(unique) - max_panels} more panels")
    if not parts:
        return f"Figure with {len(axes)} panel{'s' if len(axes) != 1 else ''}"
    return "Figure: " + " — ".join(parts)
