# Two commands for a new user:  `make book`  and  `make test`.
# Both create the virtual environment themselves when it is missing.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PROFILE ?= book
# torch is pinned to the CPU build that lies on this machine's disk. Elsewhere set
# TORCH_INDEX=https://download.pytorch.org/whl/cpu (or a CUDA index), see README.
TORCH_SPEC  ?= torch==2.13.0
TORCH_INDEX ?=
PYTEST_ARGS ?=
# The installer: uv when it can be installed from PyPI, else pip (INSTALLER=pip forces pip).
INSTALLER ?= uv
# uv reads no pip configuration: pass pip's find-links (this machine's local torch build) on.
UV_LINKS := $(foreach d,$(PIP_FIND_LINKS),--find-links $(d))

.PHONY: env book run-book build-book test test-fast lint bench browser clean

env: $(VENV)/.installed

# Bytecode is written as modules are first imported, also where PYTHONDONTWRITEBYTECODE is set (as
# on this project's build machines): unexported, so that each module the kernels import is compiled
# once, into the venv (and src/, ignored by git), not again in every kernel (10 s of imports each,
# against 4 s with bytecode). uv (from PyPI, into the venv) installs the same packages as pip:
# `make env` takes 12 s here, pip 75 s. It compiles nothing up front: its --compile-bytecode
# compiled all of site-packages, 23 s of a 32 s set-up, where lazy compiling costs the first
# kernels ~6 s once.
# INSTALLER=pip, or a failed uv install, keeps plain pip. zennit goes in without its torchvision
# requirement: no torchvision here matches the local torch.
unexport PYTHONDONTWRITEBYTECODE

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(if $(filter uv,$(INSTALLER)),$(PY) -m pip install -q uv || true)
	if [ "$(INSTALLER)" = uv ] && [ -x $(VENV)/bin/uv ]; then \
	  $(VENV)/bin/uv pip install -q --python $(PY) $(UV_LINKS) $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) "$(TORCH_SPEC)" && \
	  $(VENV)/bin/uv pip install -q --python $(PY) --no-deps "zennit==0.5.1" click && \
	  $(VENV)/bin/uv pip install -q --python $(PY) $(UV_LINKS) -e ".[book,ptbxl,dask,dev]" "$(TORCH_SPEC)"; \
	else \
	  $(PY) -m pip install -q --upgrade pip && \
	  $(PY) -m pip install -q $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) "$(TORCH_SPEC)" && \
	  $(PY) -m pip install -q -e ".[book,ptbxl,dask,dev]" "$(TORCH_SPEC)" && \
	  $(PY) -m pip install -q --no-deps "zennit==0.5.1" click; \
	fi
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

## The main job: run every chapter on the embedded synthetic data and build the site.
book: env
	$(VENV)/bin/ecgsignal book run --profile $(PROFILE)
	$(VENV)/bin/ecgsignal book build
	@echo "Site: $(CURDIR)/_build/html/index.html"

## Headless Chromium for the browser test (Debian package; never `playwright install`).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium is missing: install Debian's chromium (apt-get install chromium)"; exit 1; fi; }

## The whole test suite (slow, notebook and browser tests included).
test: env browser
	$(VENV)/bin/ruff check src tests
	$(PY) -m pytest $(PYTEST_ARGS)

## Quick loop while developing: skips the slow, notebook and browser tests.
test-fast: env
	$(PY) -m pytest -m "not slow and not notebooks and not browser" $(PYTEST_ARGS)

lint: env
	$(VENV)/bin/ruff check src tests

bench: env
	$(VENV)/bin/ecgsignal bench

clean:
	rm -rf _build notebooks/_executed .cache
