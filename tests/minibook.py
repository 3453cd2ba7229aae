"""A small book in a temporary folder, built from the real book's configuration.

It uses the project's own ``_config.yml``, local Sphinx extension, CSS and bibliography, a toc of
the same shape as the real one (root page, executed chapters in ``book/_executed``, the
references page), and one chapter notebook that renders both static explorers from an untrained
CNN and random beats, plus the live randomisation explorer (which the site replaces by a note).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
CHAPTER = "explorers"
N_BEATS = 2
METHODS = ("saliency", "input_x_gradient")

INTRO = """# A mini book

The question and the paper, in brief: attribution maps {cite}`adebayo2018sanity` on ECGs.

Display math renders offline:

$$\\rho_S(a, b) = \\operatorname{corr}(\\operatorname{rank}|a|, \\operatorname{rank}|b|)$$

The explorers are in {doc}`_executed/explorers`; the randomisation explorer walks
{glue:text}`_executed/explorers.ipynb::n_stages:d` stages (pasted from the chapter's results).
"""

SETUP = f"""\
import numpy as np
import torch
from ecgsignal.models.cnn import build_model
from ecgsignal.widgets import (RandomizationExplorer, perturbation_cube, perturbation_figure,
                               randomization_cube, randomization_figure, save_cube)

with torch.random.fork_rng():   # untrained weights, seeded, global RNG restored
    torch.manual_seed(0)
    model = build_model(9).eval()
rng = np.random.default_rng(0)
noise = rng.standard_normal(({N_BEATS}, 12, 300 + 8))
beats = (0.4 * np.stack([noise[..., i:i + 300] for i in range(8)]).mean(0)).astype(np.float32)
class_names = [f"class{{i}}" for i in range(9)]
import matplotlib.pyplot as plt
from ecgsignal.run.chapter import describe_figures
describe_figures()   # alt text of figures: their titles (as open_chapter does in the chapters)
"""

FIGURES = """\
fig, ax = plt.subplots(figsize=(4, 2))
ax.plot(beats[0, 0])
ax.set(title="Lead I of the first beat", xlabel="sample", ylabel="mV")
plt.show()
fig, ax = plt.subplots(figsize=(4, 2))
ax.plot(beats[1, 1])
ax.set(title="Lead II of the second beat", xlabel="sample", ylabel="mV")
plt.show()
"""

CUBES = f"""\
rcube = randomization_cube(model, beats, class_names, {list(METHODS)!r}, seed=0)
pcube = perturbation_cube(model, beats, class_names, "saliency", seed=0)
save_cube("randomization_cube.npz", rcube)
save_cube("perturbation_cube.npz", pcube)
from myst_nb import glue
glue("n_stages", len(rcube["stages"]), display=False)
"""


def _code(src: str, tags: list[str] | None = None) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(src)
    if tags:
        cell.metadata["tags"] = tags
    return cell


def chapter_notebook() -> nbformat.NotebookNode:
    """The mini book's chapter: both static explorers and one live explorer."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Explorers\n\nBoth explorers, drawn from an untrained CNN."),
        _code('profile = "smoke"', ["parameters"]),
        _code(SETUP),
        _code(CUBES),
        nbformat.v4.new_markdown_cell("## Two beats"),
        _code(FIGURES),
        nbformat.v4.new_markdown_cell("## Layer randomisation"),
        _code("randomization_figure(rcube).show()"),
        nbformat.v4.new_markdown_cell("## Lead perturbation"),
        _code("perturbation_figure(pcube).show()"),
        nbformat.v4.new_markdown_cell("## Live version"),
        _code(f"RandomizationExplorer(model, beats, class_names, {list(METHODS)!r})"),
        nbformat.v4.new_markdown_cell("## Summary\n\nDone.\n\n## Exercises\n\n1. Move the slider."),
    ]
    return nb


def make_mini_book(root: Path) -> Path:
    """Write the mini book's sources under ``root`` (which must not hold a book yet)."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "_config.yml", root / "_config.yml")
    (root / "pyproject.toml").write_text("[project]\nname = 'mini-book'\n")
    (root / "_toc.yml").write_text(
        "format: jb-book\nroot: book/intro\nparts:\n  - caption: Chapters\n    chapters:\n"
        f"      - file: book/_executed/{CHAPTER}\n      - file: book/references\n")
    book = root / "book"
    shutil.copytree(REPO / "book" / "_ext", book / "_ext",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (book / "_static").mkdir(parents=True)
    shutil.copy(REPO / "book" / "_static" / "ecgsignal.css", book / "_static" / "ecgsignal.css")
    shutil.copy(REPO / "book" / "references.bib", book / "references.bib")
    shutil.copy(REPO / "book" / "references.md", book / "references.md")
    (book / "intro.md").write_text(INTRO)
    (root / "notebooks").mkdir()
    nbformat.write(chapter_notebook(), root / "notebooks" / f"{CHAPTER}.ipynb")
    return root
