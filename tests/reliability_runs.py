"""Subprocess runs of the real entry points, shared by the reliability tests.

* :func:`run_cli` runs ``python -m ecgsignal.run.cli ...`` with its own cache folder
  (``ECGSIGNAL_CACHE``), optionally with the network blocked.
* :func:`smoke_run` runs ``ecgsignal experiment <name> --profile smoke`` for several experiments
  into a fresh cache and output folder, once per session per set of arguments: the determinism,
  crash-safety and network tests reuse the same runs instead of paying for them twice.
* :data:`NET_BLOCKER` is a ``sitecustomize`` module that refuses (and logs) every non-loopback
  connection, UDP datagram and name lookup in any Python process that starts with it on its
  ``PYTHONPATH``, including Jupyter kernels started by papermill. Loopback stays open, since
  Jupyter's kernel channels and a dask LocalCluster talk over 127.0.0.1.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
_ROOT = Path(tempfile.mkdtemp(prefix="ecgsignal-reliability-"))
atexit.register(shutil.rmtree, _ROOT, ignore_errors=True)

#: Experiments the determinism test compares (Exp 1, 5 and 4).
SMOKE_EXPERIMENTS = ("similarity", "localization", "perturbation")

NET_BLOCKER = r'''
"""sitecustomize written by the ecgsignal reliability tests: no network beyond loopback."""
import errno
import ipaddress
import os
import socket

_LOG = os.environ.get("ECGSIGNAL_NETLOG")
_LOCAL = {"", "localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}
try:
    _LOCAL.add(socket.gethostname().lower())
except OSError:
    pass


def _is_local(host):
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    host = str(host).split("%", 1)[0].strip("[]").lower()
    if host in _LOCAL:
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return ip.is_loopback or ip.is_unspecified


def _deny(what, target):
    if _LOG:
        with open(_LOG, "a") as fh:
            fh.write(f"{os.getpid()} {what} {target!r}\n")
    raise OSError(errno.ENETUNREACH, f"network access blocked by the test: {what} {target!r}")


def _inet(sock):
    return sock.family in (socket.AF_INET, socket.AF_INET6)


_connect = socket.socket.connect
_connect_ex = socket.socket.connect_ex
_sendto = socket.socket.sendto


def connect(self, address):
    if _inet(self) and not _is_local(address[0]):
        _deny("connect", address)
    return _connect(self, address)


def connect_ex(self, address):
    if _inet(self) and not _is_local(address[0]):
        _deny("connect_ex", address)
    return _connect_ex(self, address)


def sendto(self, data, *args):
    address = args[-1] if args else None
    if _inet(self) and isinstance(address, tuple) and not _is_local(address[0]):
        _deny("sendto", address)
    return _sendto(self, data, *args)


socket.socket.connect = connect
socket.socket.connect_ex = connect_ex
socket.socket.sendto = sendto


def _guard_lookup(name):
    real = getattr(socket, name)

    def lookup(host, *args, **kwargs):
        if not _is_local(host):
            _deny(name, host)
        return real(host, *args, **kwargs)

    setattr(socket, name, lookup)


for _name in ("getaddrinfo", "gethostbyname", "gethostbyname_ex", "gethostbyaddr"):
    _guard_lookup(_name)
'''


def blocker_env(env: dict[str, str], log: Path) -> dict[str, str]:
    """``env`` with :data:`NET_BLOCKER` installed as ``sitecustomize``, logging to ``log``."""
    site = _ROOT / "netblock"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(NET_BLOCKER)
    out = dict(env)
    out["PYTHONPATH"] = os.pathsep.join(p for p in (str(site), env.get("PYTHONPATH", "")) if p)
    out["ECGSIGNAL_NETLOG"] = str(log)
    return out


def base_env(cache: Path, hashseed: str = "0") -> dict[str, str]:
    """The test process's environment with its own cache, a fixed hash seed and quiet bars."""
    env = dict(os.environ)
    env.update(ECGSIGNAL_CACHE=str(cache), PYTHONHASHSEED=hashseed, TQDM_DISABLE="1",
               PYTHONDONTWRITEBYTECODE="1")
    return env


def cli_command(*args: str) -> list[str]:
    """The ``ecgsignal`` command line run by this interpreter."""
    return [sys.executable, "-m", "ecgsignal.run.cli", *args]


def run_cli(args: list[str], cache: Path, cwd: Path, *, hashseed: str = "0",
            netlog: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``ecgsignal <args>``; fail the test with its output when it exits non-zero."""
    env = base_env(cache, hashseed)
    if netlog is not None:
        env = blocker_env(env, netlog)
    proc = subprocess.run(cli_command(*args), cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"ecgsignal {' '.join(args)} exited {proc.returncode}:\n"
                             f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


@dataclass(frozen=True)
class SmokeRun:
    """Folders of one :func:`smoke_run`: ``out/<experiment>/results.csv``, the cache, the log."""

    root: Path
    out: Path
    cache: Path
    netlog: Path | None

    def table(self, experiment: str) -> bytes:
        return (self.out / experiment / "results.csv").read_bytes()

    def config(self, experiment: str) -> bytes:
        return (self.out / experiment / "config.json").read_bytes()


@functools.cache
def smoke_run(tag: str, experiments: tuple[str, ...] = SMOKE_EXPERIMENTS, hashseed: str = "0",
              block_network: bool = False) -> SmokeRun:
    """``ecgsignal experiment <e> --profile smoke`` for each ``e``, fresh cache, run once per session."""
    root = _ROOT / tag
    root.mkdir()
    run = SmokeRun(root, root / "out", root / "cache",
                   root / "net.log" if block_network else None)
    for e in experiments:
        run_cli(["experiment", e, "--profile", "smoke", "--out", str(run.out)], run.cache, root,
                hashseed=hashseed, netlog=run.netlog)
    return run


def write_book(root: Path, chapter: str, cells: list[tuple[str, list[str]]]) -> Path:
    """A minimal book folder for :func:`ecgsignal.run.book.run_book`: one chapter notebook.

    ``cells`` are ``(source, tags)`` code cells; exactly one should carry the ``parameters`` tag.
    """
    import nbformat

    (root / "notebooks").mkdir(parents=True)
    (root / "book").mkdir()
    (root / "book" / "intro.md").write_text("# Intro\n")
    (root / "_toc.yml").write_text(
        f"format: jb-book\nroot: book/intro\nchapters:\n  - file: book/_executed/{chapter}\n")
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    for src, tags in cells:
        cell = nbformat.v4.new_code_cell(src)
        if tags:
            cell.metadata["tags"] = tags
        nb.cells.append(cell)
    nbformat.write(nb, root / "notebooks" / f"{chapter}.ipynb")
    return root
