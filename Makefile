# plexfm: the two commands that do everything from a fresh clone are `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install test lint typecheck unit demo bench reliability screenshots clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

lint: install
	$(BIN)/ruff check daemon tests bench

typecheck: install
	$(BIN)/mypy

unit: install
	$(BIN)/python -m pytest

## make test: install everything, then lint, type-check and run every test
test: lint typecheck unit

## make demo: generated history, loopback last.fm fake, plexfm against it
demo: install
	$(BIN)/python -m tests.fakes.demo

## make screenshots: regenerate docs/screenshots/ (the tests save theirs to tests/artifacts/)
screenshots: install
	PLEXFM_SCREENSHOTS=$(CURDIR)/docs/screenshots $(BIN)/python -m pytest -q -p no:cacheprovider \
		tests/test_browser_pages.py -k every_page_is_clean

bench: install
	$(BIN)/python -m bench.bench_ingest

## make reliability: run the bad-input and fault tests, write docs/reliability.md
reliability: install
	$(BIN)/python -m bench.reliability

clean:
	rm -rf $(VENV) demo-data .pytest_cache .mypy_cache .ruff_cache
