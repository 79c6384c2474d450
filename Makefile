# Set-up is part of every target: a fresh machine needs only `make demo` or `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
TEST_WORKERS ?= 2   # pytest-xdist workers (one per core of the 2-core CI machine; 0 = in-process)
STAMP  := $(VENV)/.installed
CORE   := $(VENV)/.installed-core

.PHONY: demo test lint typecheck browser clean device-bundle mutation

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[bench,dev,grid,dicom,scale]'
	touch $(STAMP) $(CORE)

# The curation half alone (no torch): what `make demo` needs, installed in well under a minute.
$(CORE): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e .
	touch $(CORE)

## The built-in default job: a synthetic BUSI-like dataset with planted duplicates, scanned (curation half only).
demo: $(CORE)
	$(VENV)/bin/busi-curate demo --out outputs/demo

## The whole test suite (real-BUSI tests run when ../shared/data/BUSI exists; browser tests when Chromium does),
## one test file per pytest-xdist worker (`make test TEST_WORKERS=0` runs it in one process).
test: $(STAMP) browser
	$(PY) -m pytest -q -rs -n $(TEST_WORKERS) --dist loadfile --durations=30

## Mutation testing over the curated mutants of tests/mutation/mutants.yaml (slow: about an hour on 2 shared
## cores, see docs/testing.md; not part of CI); writes docs/mutation.md. One mutant: `$(PY) tests/mutation/run.py --only ID --no-report`.
mutation: $(STAMP)
	nice $(PY) tests/mutation/run.py

lint: $(STAMP)
	$(VENV)/bin/ruff check busi_curate benchmark tests
	$(VENV)/bin/ruff format --check busi_curate benchmark tests

typecheck: $(STAMP)
	$(VENV)/bin/mypy  # busi_curate and benchmark; config in setup.cfg [mypy]

## Headless Chromium + driver from Debian for the review-UI tests (skipped cleanly when this fails).
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  { (apt-get update -qq && apt-get install -y -qq chromium chromium-driver) >/dev/null 2>&1 \
	    || echo "note: could not install chromium; browser tests will be skipped"; }

## Everything benchmark/device/run_paper.sh needs on a bare GPU machine, in the ignored $(DEVICE_BUNDLE)/:
## the pure-Python packages as installed here (MONAI, einops, segmentation-models-pytorch, timm,
## huggingface-hub, click, tqdm: the versions the tests ran with) copied into site/, requires.json (those
## versions and the smallest torch they all accept, checked on the device first), and the curated manifest
## packed at 128x128 (about 15 MB). Carry it with the run: carry [".device-bundle"].
DEVICE_BUNDLE ?= .device-bundle
BUSI_DIR ?= ../shared/data/BUSI
device-bundle: $(STAMP)
	rm -rf $(DEVICE_BUNDLE) && mkdir -p $(DEVICE_BUNDLE)
	$(PY) -m benchmark.device.bundle build $(DEVICE_BUNDLE)
	$(PY) -m benchmark.cli pack manifests/curated_busi_v1/manifest.csv manifests/curated_busi_v1/folds.csv \
	  $(BUSI_DIR) --size 128 --out $(DEVICE_BUNDLE)/curated128.npz

clean:
	rm -rf $(VENV) outputs/demo .pytest_cache
