# Two commands matter: `make demo` and `make test`. Both install what they need first.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo test lint services bench clean reliability

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Run the demo server on the embedded SQLite default (http://127.0.0.1:8000).
demo: install
	$(VENV)/bin/wallet demo

## Lint, type-check and run every test (SQLite and PostgreSQL; PostgreSQL is started if down).
test: install services lint
	$(VENV)/bin/pytest -q

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

services:
	bash .ci/services

bench: install services
	$(PY) -m bench.run

## The long reliability suite: bank test, 20 kill -9s and PostgreSQL restarts, deep fuzzing
## (docs/reliability.md). The short version runs inside `make test`.
reliability: install services
	WALLET_LONG=1 $(VENV)/bin/pytest -q tests/reliability

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
