"""Every chapter notebook is thin and committed clean (the house rules, checked fast, no kernel).

Exactly one cell tagged ``parameters`` (papermill injects the profile after it); no outputs or
execution counts committed; no ``def``, ``class`` or assigned ``lambda`` in a code cell (logic
lives in :mod:`ecgsignal`); a ``Summary`` and an ``Exercises`` heading; and every ``ecgsignal``
import comes from :mod:`ecgsignal.book`, the chapters' one import surface.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
# chapter 12 (performance) is moving its logic into the package (issue 15, bench helper): its
# import cell is checked once that lands
IMPORT_SURFACE_PENDING: set[str] = set()


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def _code(cell: dict) -> str:
    # IPython magics and shell escapes are not Python
    return "\n".join(ln for ln in "".join(cell["source"]).splitlines()
                     if not ln.lstrip().startswith(("%", "!")))


def hygiene_problems(cells: list[dict], check_imports: bool = True) -> list[str]:
    """The house-rule violations of a notebook's cells, each as a sentence."""
    problems = []
    params = [i for i, c in enumerate(cells) if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(params) != 1:
        problems.append(f"{len(params)} cells tagged 'parameters' (cells {params}); exactly one")
    for i, c in enumerate(cells):
        if c["cell_type"] != "code":
            continue
        if c.get("outputs") or c.get("execution_count") is not None:
            problems.append(f"cell {i} has committed outputs or an execution count")
        try:
            tree = ast.parse(_code(c))
        except SyntaxError as exc:
            problems.append(f"cell {i} is not valid Python: {exc}")
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                problems.append(f"cell {i} defines {node.name!r}: move it into the package")
            elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.NamedExpr)) and isinstance(
                    node.value, ast.Lambda):
                problems.append(f"cell {i} assigns a lambda (line {node.lineno}): a def in disguise")
            elif check_imports and isinstance(node, ast.ImportFrom) and node.module and (
                    node.module.startswith("ecgsignal") and node.module != "ecgsignal.book"):
                problems.append(f"cell {i} imports from {node.module}; chapters import from "
                                "ecgsignal.book only")
            elif check_imports and isinstance(node, ast.Import) and any(
                    a.name.startswith("ecgsignal") and a.name != "ecgsignal.book" for a in node.names):
                problems.append(f"cell {i} imports an ecgsignal module; use ecgsignal.book")
    headings = {m.group(1).strip() for c in cells if c["cell_type"] == "markdown"
                for m in re.finditer(r"^#{1,6}\s+(.+)$", "".join(c["source"]), re.M)}
    for needed in ("Summary", "Exercises"):
        if needed not in headings:
            problems.append(f"no '{needed}' heading")
    return problems


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_chapter_notebook_hygiene(path):
    assert hygiene_problems(_cells(path), check_imports=path.stem not in IMPORT_SURFACE_PENDING) == []


def _nb(*cells: tuple[str, str, list[str]]) -> list[dict]:
    return [{"cell_type": kind, "metadata": {"tags": tags}, "source": src,
             **({"outputs": [], "execution_count": None} if kind == "code" else {})}
            for kind, src, tags in cells]


def test_hygiene_check_catches_each_violation():
    good = _nb(("code", "profile = 'book'", ["parameters"]),
               ("code", "from ecgsignal.book import glue\n%matplotlib inline\nx = sorted(y, key=len)", []),
               ("markdown", "## Summary\n\ntext\n\n## Exercises\n\n1. try", []))
    assert hygiene_problems(good) == []
    bad = _nb(("code", "a = 1", []),
              ("code", "def f():\n    pass\nclass K: pass\ng = lambda v: v\n"
                       "from ecgsignal.run.chapter import glue\nimport ecgsignal.tables", []),
              ("code", "b = 2", ["parameters"]), ("code", "c = 3", ["parameters"]),
              ("markdown", "## Summary of sorts", []))
    bad[0]["outputs"] = [{"output_type": "stream", "text": "1"}]
    found = "\n".join(hygiene_problems(bad))
    for needle in ("2 cells tagged 'parameters'", "cell 0 has committed outputs", "defines 'f'",
                   "defines 'K'", "assigns a lambda", "imports from ecgsignal.run.chapter",
                   "cell 1 imports an ecgsignal module", "no 'Summary' heading",
                   "no 'Exercises' heading"):
        assert needle in found, needle


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_chapter_imports_exist_in_the_book_surface(path):
    import ecgsignal.book as book

    wanted = [a.name for c in _cells(path) if c["cell_type"] == "code"
              for node in ast.walk(ast.parse(_code(c)))
              if isinstance(node, ast.ImportFrom) and node.module == "ecgsignal.book"
              for a in node.names]
    assert path.stem in IMPORT_SURFACE_PENDING or wanted
    assert [n for n in wanted if n not in book.__all__ or not hasattr(book, n)] == []
