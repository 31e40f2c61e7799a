# wa-connector: `make run` starts everything, `make test` runs every test.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test check lint lint-defs bench clean

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

run: $(STAMP)
	$(PY) -m connector.cli dev

test: $(STAMP)
	$(PY) -m connector.cli lint-defs
	$(PY) -m tests.run_suite

lint: $(STAMP)
	$(PY) -m ruff check connector tests bench worker.py wsgi.py
	$(PY) -m mypy

lint-defs: $(STAMP)
	$(PY) -m connector.cli lint-defs

check: lint test

bench: $(STAMP)
	$(PY) -m bench.run_all

clean:
	rm -rf $(VENV) instance .pytest_cache .mypy_cache .ruff_cache
