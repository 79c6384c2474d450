# Set-up is part of every target: a fresh machine needs only `make demo` or `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck browser clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[bench,dev]'
	touch $(STAMP)

## The built-in default job: a synthetic BUSI-like dataset with planted duplicates, scanned.
demo: $(STAMP)
	$(VENV)/bin/busi-curate demo --out demo-output

## The whole test suite (real-BUSI tests run when ../shared/data/BUSI exists; browser tests when Chromium does).
test: $(STAMP) browser
	$(PY) -m pytest -q -rs

lint: $(STAMP)
	$(VENV)/bin/ruff check busi_curate benchmark tests

typecheck: $(STAMP)
	$(VENV)/bin/mypy busi_curate

## Headless Chromium + driver from Debian for the review-UI tests (skipped cleanly when this fails).
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  { (apt-get update -qq && apt-get install -y -qq chromium chromium-driver) >/dev/null 2>&1 \
	    || echo "note: could not install chromium; browser tests will be skipped"; }

clean:
	rm -rf $(VENV) demo-output .pytest_cache
