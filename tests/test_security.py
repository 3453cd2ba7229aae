"""Tampering and the network (issue 6, item 4).

* Nothing loads pickles from caches, results or users' files: a static scan of the package's
  source (and the book's extension and notebooks) for pickle-loading calls, plus behavioural
  tests in which a booby-trapped pickle (it creates a marker file when unpickled) is offered to
  every loader and the marker never appears.
* No network at run time: a ``sitecustomize`` blocks every non-loopback connection and name
  lookup (and logs it) in the ``ecgsignal`` CLI and in a papermill-run chapter with its kernel.
* User-provided names (classes, beats, lead sets) are escaped in the HTML the package writes; in
  a headless browser, names built to run script never run.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import textwrap
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from reliability_runs import (
    REPO,
    SMOKE_EXPERIMENTS,
    base_env,
    blocker_env,
    smoke_run,
    write_book,
)

from ecgsignal.data.leads import LEAD_NAMES
from ecgsignal.errors import CacheError, DataError
from ecgsignal.evaluation.results import make_table
from ecgsignal.evaluation.store import AttributionStore
from ecgsignal.io import load_npz, sha256_file
from ecgsignal.models import (
    CheckpointWarning,
    ModelConfig,
    TrainConfig,
    TrainedModel,
    build_model,
    load_checkpoint,
    load_or_train,
)
from ecgsignal.models.report import auroc_table
from ecgsignal.widgets import (
    load_cube,
    perturbation_cube,
    perturbation_figure,
    randomization_cube,
    randomization_figure,
)

SRC = REPO / "src" / "ecgsignal"


# ============================================================================ static scan
_PICKLE_MODULES = {"pickle", "_pickle", "cPickle", "dill", "cloudpickle", "joblib", "marshal",
                   "shelve", "jsonpickle"}
_UNSAFE_NAMES = {"read_pickle", "unsafe_load", "full_load", "load_pickle"}


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _is_const(node: ast.AST | None, value: object) -> bool:
    return isinstance(node, ast.Constant) and node.value is value


def pickle_risks(source: str, where: str = "<source>") -> list[str]:
    """Lines of ``source`` that could unpickle data: imports of pickle-like modules,
    ``torch.load`` without ``weights_only=True``, ``np.load`` without ``allow_pickle=False``,
    any ``allow_pickle=True``, pandas' ``read_pickle``, ``yaml.load``, ``eval``/``exec``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        line = f"{where}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Import):
            found += [f"{line} import {a.name}" for a in node.names
                      if a.name.split(".")[0] in _PICKLE_MODULES]
        elif isinstance(node, ast.ImportFrom):
            mod = (node.module or "").split(".")[0]
            if mod in _PICKLE_MODULES:
                found.append(f"{line} from {node.module} import ...")
            if mod in ("torch", "numpy") and any(a.name == "load" for a in node.names):
                found.append(f"{line} from {node.module} import load (unchecked keywords)")
        elif isinstance(node, ast.Call):
            name = _dotted(node.func)
            last = name.rsplit(".", 1)[-1]
            kw = {k.arg: k.value for k in node.keywords}
            if "allow_pickle" in kw and not _is_const(kw["allow_pickle"], False):
                found.append(f"{line} {name}(allow_pickle=...) not False")
            if name in ("torch.load",) and not _is_const(kw.get("weights_only"), True):
                found.append(f"{line} torch.load without weights_only=True")
            if name in ("np.load", "numpy.load") and not _is_const(kw.get("allow_pickle"), False):
                found.append(f"{line} {name} without allow_pickle=False")
            if last in _UNSAFE_NAMES or name == "yaml.load":
                found.append(f"{line} {name}")
            if name in ("eval", "exec"):
                found.append(f"{line} {name}()")
    return found


def _python_sources() -> list[tuple[str, str]]:
    out = [(str(p.relative_to(REPO)), p.read_text()) for p in sorted(SRC.rglob("*.py"))]
    out += [(str(p.relative_to(REPO)), p.read_text())
            for p in sorted((REPO / "book").rglob("*.py")) if "_build" not in p.parts]
    for nb in sorted((REPO / "notebooks").glob("*.ipynb")):
        cells = json.loads(nb.read_text())["cells"]
        for i, c in enumerate(cells):
            if c.get("cell_type") == "code":
                src = "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
                src = "\n".join("" if ln.lstrip().startswith(("%", "!")) else ln
                                for ln in src.splitlines())
                out.append((f"{nb.relative_to(REPO)}[cell {i}]", src))
    return out


def test_the_scanner_finds_every_kind_of_pickle_load():
    bad = textwrap.dedent("""
        import pickle
        import joblib as jl
        from dill import loads
        from torch import load
        x = torch.load(p)
        y = torch.load(p, weights_only=False)
        z = np.load(p)
        w = numpy.load(p, allow_pickle=True)
        v = pd.read_pickle(p)
        u = yaml.load(text)
        t = yaml.unsafe_load(text)
        s = eval(text)
        r = np.savez(p, allow_pickle=True)
    """)
    flagged = {int(r.split(":")[1].split()[0]) for r in pickle_risks(bad)}
    assert flagged == set(range(2, 15))  # every line of the snippet
    good = textwrap.dedent("""
        state = torch.load(p, map_location="cpu", weights_only=True)
        with np.load(p, allow_pickle=False) as z: pass
        cfg = yaml.safe_load(text)
        obj = ast.literal_eval(text)
    """)
    assert pickle_risks(good) == []


def test_no_source_file_can_load_a_pickle():
    sources = _python_sources()
    assert len(sources) > 40  # the scan saw the package
    risks = [r for where, src in sources for r in pickle_risks(src, where)]
    assert risks == []


def test_checkpoints_and_tables_are_pickle_free_formats():
    ckpt = (SRC / "models" / "checkpoints.py").read_text()
    assert "weights_only=True" in ckpt
    results = (SRC / "evaluation" / "results.py").read_text()
    assert "to_csv" in results and "read_csv" in results and "pickle" not in results


# ============================================================================ booby-trapped pickles
class Trap:
    """Unpickling this creates ``marker``: proof that a pickle ran code."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _trapped_object_array(marker: Path) -> np.ndarray:
    a = np.empty(2, dtype=object)
    a[0], a[1] = Trap(marker), "x"
    return a


def test_the_trap_is_live(tmp_path):
    """Control: loading the same files *with* pickles allowed does run the payload."""
    torch.save({"w": Trap(tmp_path / "m1")}, tmp_path / "t.pt")
    torch.load(tmp_path / "t.pt", weights_only=False)
    np.save(tmp_path / "t.npy", _trapped_object_array(tmp_path / "m2"), allow_pickle=True)
    np.load(tmp_path / "t.npy", allow_pickle=True)
    assert (tmp_path / "m1").exists() and (tmp_path / "m2").exists()


def test_pickled_checkpoint_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    pt = tmp_path / "evil.pt"
    torch.save({"stem.weight": Trap(marker)}, pt)
    with pytest.raises(CacheError, match=r"evil\.pt could not be loaded safely"):
        load_checkpoint(pt, 9)
    whole = tmp_path / "module.pt"
    torch.save(build_model(9), whole)  # a pickled nn.Module, not a state dict
    with pytest.raises(CacheError, match=r"module\.pt could not be loaded safely"):
        load_checkpoint(whole, 9)
    assert not marker.exists()


def test_pickled_checkpoint_in_the_cache_is_retrained_not_run(tmp_path):
    from ecgsignal.data.synthetic import SyntheticConfig, make_synthetic

    ds = make_synthetic(SyntheticConfig(n=90, fs=100.0, seed=0))
    small, fast = ModelConfig(channels=8, dilations=(1,), block_strides=(1,)), TrainConfig(epochs=1)
    tm = load_or_train(ds, small, fast, cache_dir=tmp_path, progress=False)
    marker = tmp_path / "pwned"
    torch.save({"stem.weight": Trap(marker)}, tm.checkpoint)
    meta_path = tm.checkpoint.with_suffix(".json")
    meta = json.loads(meta_path.read_text())
    meta["sha256"] = sha256_file(tm.checkpoint)  # the attacker fixes the checksum too
    meta_path.write_text(json.dumps(meta))
    with pytest.warns(CheckpointWarning, match="could not be loaded safely"):
        again = load_or_train(ds, small, fast, cache_dir=tmp_path, progress=False)
    assert not again.from_cache and not marker.exists()


def test_pickled_arrays_are_refused_everywhere(tmp_path):
    from ecgsignal.data.arrays import load_arrays

    marker = tmp_path / "pwned"
    trap = _trapped_object_array(marker)
    np.savez(tmp_path / "entry.npz", a=trap)
    with pytest.raises(CacheError, match=r"entry\.npz"):
        load_npz(tmp_path / "entry.npz")
    with pytest.raises(CacheError, match=r"entry\.npz"):
        load_cube(tmp_path / "entry.npz")

    store = AttributionStore(tmp_path / "store")
    good = np.zeros((2, 12, 20), np.float32)
    (tmp_path / "store").mkdir()
    np.savez(tmp_path / "store" / "k.npz", a=trap)
    with pytest.warns(UserWarning, match=r"k\.npz"):
        np.testing.assert_array_equal(store.get("k", lambda: good, good.shape), good)

    np.save(tmp_path / "beats.npy", trap, allow_pickle=True)
    with pytest.raises(DataError, match=r"beats\.npy: it holds Python objects .*refused as untrusted"):
        load_arrays(tmp_path / "beats.npy", lead_order=LEAD_NAMES, fs=250)
    np.savez(tmp_path / "beats.npz", signals=trap, lead_names=np.array(LEAD_NAMES))
    with pytest.raises(DataError, match=r"beats\.npz: it holds Python objects .*refused as untrusted"):
        load_arrays(tmp_path / "beats.npz", fs=250)
    assert not marker.exists()


# ============================================================================ network
_PROBE = r"""
import json, socket, urllib.request
out = {}
def attempt(name, fn):
    try:
        fn()
        out[name] = "reached"
    except OSError as exc:
        out[name] = "blocked" if "blocked by the test" in str(exc) else f"other: {exc}"
attempt("http", lambda: urllib.request.urlopen("http://example.com/", timeout=3))
attempt("tcp", lambda: socket.create_connection(("192.0.2.1", 80), timeout=3))
attempt("udp", lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("8.8.8.8", 53)))
attempt("dns", lambda: socket.getaddrinfo("pypi.org", 443))
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen()
cli = socket.create_connection(srv.getsockname(), timeout=3)
conn, _ = srv.accept(); cli.sendall(b"ping"); out["loopback"] = conn.recv(4).decode()
print(json.dumps(out))
"""


def test_the_network_blocker_blocks_outside_and_keeps_loopback(tmp_path):
    log = tmp_path / "net.log"
    env = blocker_env(base_env(tmp_path / "cache"), log)
    proc = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True,
                          text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out == {"http": "blocked", "tcp": "blocked", "udp": "blocked", "dns": "blocked",
                   "loopback": "ping"}
    logged = log.read_text()
    for target in ("example.com", "192.0.2.1", "8.8.8.8", "pypi.org"):
        assert target in logged


@pytest.mark.slow
def test_cli_experiments_run_with_the_network_blocked():
    run = smoke_run("A", block_network=True)  # also the first run of test_determinism
    assert not run.netlog.exists() or run.netlog.read_text() == ""
    for e in SMOKE_EXPERIMENTS:
        assert len(pd.read_csv(run.out / e / "results.csv")) > 10


@pytest.mark.slow
@pytest.mark.notebooks
def test_a_chapter_runs_with_the_network_blocked(tmp_path):
    """run_book executes a chapter (open_chapter → an experiment → a static explorer) with
    papermill; the runner and its Jupyter kernel both start with the network blocked."""
    root = write_book(tmp_path / "book", "offline", [
        ('profile = "smoke"\nmethods = None\nn_per_class = None', ["parameters"]),
        ("from ecgsignal.run.chapter import glue, open_chapter\n"
         "ch = open_chapter(profile, methods=methods, n_per_class=n_per_class)\n"
         "df = ch.run('localization')\n"
         "glue('rows', len(df))\n"
         "print('ROWS', len(df))\n"
         "import socket, sitecustomize\n"
         "print('KERNEL GUARDED', socket.getaddrinfo.__module__ == 'sitecustomize')", []),
        ("from ecgsignal.widgets import randomization_cube, randomization_figure\n"
         "cube = randomization_cube(ch.ctx.model(), ch.ctx.beats.x[:1], ch.dataset.class_names,\n"
         "                          ['saliency'], fs=ch.dataset.fs)\n"
         "randomization_figure(cube).show()", []),
    ])
    log = tmp_path / "net.log"
    env = blocker_env(base_env(tmp_path / "cache"), log)
    env["OMP_NUM_THREADS"] = "1"
    code = ("from ecgsignal.run.book import run_book\n"
            f"run_book('smoke', root={str(root)!r}, progress=False,\n"
            "         parameters={'methods': 'saliency,gradcam,random', 'n_per_class': 1})\n")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert not log.exists() or log.read_text() == ""
    executed = json.loads((root / "book" / "_executed" / "offline.ipynb").read_text())
    text = json.dumps(executed["cells"])
    assert "ROWS" in text and "ECGX.randomization" in text
    assert "KERNEL GUARDED True" in text  # the kernel itself ran with the network blocked


# ============================================================================ HTML escaping
SCRIPT = "<script>window.__xss = 1</script>"
IMG = '<img src=x onerror="window.__xss = 2">'
LINK = '<a href="javascript:window.__xss = 3">click</a>'
EVIL = [SCRIPT, IMG, LINK]


class _Tags(HTMLParser):
    """Start tags and the text of each script element of an HTML fragment."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "script":
            self._in_script = True
            self.scripts.append("")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts[-1] += data


@pytest.fixture(scope="module")
def evil_cubes():
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = build_model(4).eval()
    beats = (0.5 * np.random.default_rng(1).standard_normal((3, 12, 100))).astype(np.float32)
    classes = [*EVIL, "ok"]
    rc = randomization_cube(model, beats, classes, ["saliency"], targets=[0, 1, 2], fs=100.0)
    pc = perturbation_cube(model, beats, classes, "saliency", targets=[0, 1, 2], fs=100.0,
                           lead_sets={SCRIPT: ["V1"], IMG: ["I", "II"], LINK: list(LEAD_NAMES)},
                           kinds=["zero"], grids={"zero": [0.0, 1.0]})
    return rc, pc


def _explorers(evil_cubes):
    rc, pc = evil_cubes
    return [randomization_figure(rc, beat_labels=EVIL), perturbation_figure(pc, beat_labels=EVIL)]


def test_explorer_html_turns_no_name_into_markup(evil_cubes):
    for explorer in _explorers(evil_cubes):
        html = explorer.to_html(mode="external")
        parsed = _Tags()
        parsed.feed(html)
        # the runtime script, the figure's div and its script: no name became an element
        assert parsed.tags == ["script", "div", "div", "script"]
        assert SCRIPT not in html  # its "</script>" would end the figure's script early
        for k in (1, 2, 3):
            assert f"window.__xss = {k}" in html  # every name is there, as data
        assert all("window.__xss" not in s.strip()[:20] for s in parsed.scripts)


def test_tables_escape_names():
    df = make_table([{"experiment": "similarity", "method": IMG, "class": SCRIPT,
                      "measure": "spearman_abs", "value": 0.5}])
    tm = TrainedModel(model=build_model(2), auroc={SCRIPT: 0.97, LINK: 0.99},
                      checkpoint=Path("x.pt"), seconds=0.0, from_cache=True, key="k")
    for frame in (df, auroc_table({0: tm})):
        parsed = _Tags()
        parsed.feed(frame._repr_html_())
        assert not {"script", "img", "a"} & set(parsed.tags)
        assert "&lt;script&gt;" in frame._repr_html_()


def _menus_folded(page, timeout: float = 10_000) -> None:
    """Wait until no dropdown item of a plotly menu is in the page.

    plotly.js (``updatemenus/draw.js``, ``drawButtons``) folds a dropdown, after a click on one
    of its items, by fading the item groups out with a 250 ms d3 transition and removing them
    only at its end (``exit.transition().attr('opacity', '0').remove()``); a header click
    clears the items and enters fresh ones that fade in. While a fold fades, the fading items
    still match ``.updatemenu-dropdown-button``: a loop that re-opens the menu at once can
    count or resolve them, and Playwright then waits on an item at opacity ~0.005 that is
    being detached ("not stable", "detached from DOM", 30 s timeout), more often the busier
    the machine (the original loop failed 1 run in 5 with two busy-loop processes beside it).
    A reader pauses between clicks; the test waits for the fold to end.
    """
    page.wait_for_function(
        "document.querySelectorAll('.updatemenu-dropdown-button').length === 0",
        timeout=timeout)


@pytest.mark.browser
def test_explorers_in_a_browser_never_run_names(evil_cubes, tmp_path):
    """Headless Chromium loads both explorers (plotly.js inline), clicks every control, and
    the names, drawn as titles, menu labels and ticks, never execute."""
    playwright = pytest.importorskip("playwright.sync_api")
    chromium = next((p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser")
                     if os.path.exists(p)), None)
    if chromium is None:
        pytest.skip("no chromium (make browser installs it)")
    from ecgsignal.visual.plotly_html import reset_inline_state

    reset_inline_state()
    body = "".join(e.to_html(mode="inline") for e in _explorers(evil_cubes))
    page_file = tmp_path / "explorers.html"
    page_file.write_text("<!doctype html><html><head><meta charset='utf-8'>"
                         "<script>window.__xss = 0;</script></head><body>" + body +
                         "</body></html>")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(page_file.as_uri())
            page.wait_for_function("document.querySelectorAll('.main-svg').length >= 2")
            clicks = 0
            labels = "Array.from(document.querySelectorAll('svg text')).map(t => t.textContent)"
            texts: set[str] = set()  # every label plotly drew: titles, ticks, open menus' items
            links = ("Array.from(document.querySelectorAll('svg a'))"
                     ".map(a => a.getAttribute('href') || a.getAttribute('xlink:href') || '')")
            hrefs: list[str] = []
            for header in range(page.locator(".updatemenu-header").count()):
                for item in range(8):
                    _menus_folded(page)
                    page.locator(".updatemenu-header").nth(header).click()
                    texts.update(page.evaluate(labels))
                    hrefs.extend(page.evaluate(links))
                    buttons = page.locator(".updatemenu-dropdown-button")
                    if item >= buttons.count():
                        page.locator(".updatemenu-header").nth(header).click()  # fold it
                        break
                    buttons.nth(item).click()
                    clicks += 1
            _menus_folded(page)
            for button in range(page.locator(".updatemenu-button").count()):
                page.locator(".updatemenu-button").nth(button).click()
                clicks += 1
            assert clicks >= 6
            titles = page.evaluate(
                "Array.from(document.querySelectorAll('.js-plotly-plot'))"
                ".map(g => g.layout.title.text)")
            texts.update(page.evaluate(labels))
            xss = page.evaluate("window.__xss")
            images = page.evaluate("document.querySelectorAll('img').length")
            # control: the same name put into the page as markup does run in this browser
            page.set_content("<script>window.__xss = 0;</script><div id='d'></div><script>"
                             f"document.getElementById('d').innerHTML = {json.dumps(IMG)};"
                             "</script>")
            page.wait_for_function("window.__xss === 2", timeout=5000)
        finally:
            browser.close()
    assert xss == 0 and images == 0, (xss, images)
    assert not errors, errors
    assert any(re.search(r"window\.__xss = [123]", t) for t in titles), titles
    # names that are not plotly's own pseudo-HTML are drawn verbatim, as text, not as markup;
    # plotly reads <a href> itself: the link is drawn, its javascript: target dropped
    missing = [name for name in (SCRIPT, IMG) if not any(name in t for t in texts)]
    assert not missing, (missing, [t for t in sorted(texts) if "xss" in t])
    assert any("click" in t for t in texts) and not any(LINK in t for t in texts)
    assert hrefs and not any("javascript" in h.lower() for h in hrefs), hrefs
