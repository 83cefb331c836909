# Two commands matter: `make demo` and `make test`. Both install what they need first.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PORT ?= 8000

.PHONY: install demo test unit lint services bench clean reliability mutation bundle

LOCK := requirements.lock
RUNTIME_LOCK := requirements-runtime.lock
LOCK_TOOLS := .lock-tools
UV_VERSION := 0.13.9

.PHONY: lock

# Exactly the versions (and file hashes) of requirements.lock, pip included; then the project
# itself, editable, without resolving anything again (its build backend, setuptools, is in the
# lock too). Reinstalls only when the lock or pyproject.toml changes.
$(STAMP): $(LOCK) pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --require-hashes -r $(LOCK)
	$(VENV)/bin/pip install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

install: $(STAMP)

## Regenerate requirements.lock after changing the dependencies in pyproject.toml: runtime,
## the dev extra, the build backend and pip, for every platform and Python >= 3.11, with
## hashes. Versions already locked are kept when they still fit; `make lock UPGRADE=1` takes
## the newest that the bounds allow. Then requirements-runtime.lock, what a server installs
## (docs/deploy.md): the same without the dev extra, each at requirements.lock's version.
lock:
	test -x $(LOCK_TOOLS)/bin/uv || (python3 -m venv $(LOCK_TOOLS) && \
		$(LOCK_TOOLS)/bin/pip install -q 'uv==$(UV_VERSION)')
	python3 -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['build-system']['requires'], 'pip', sep='\n')" \
		| $(LOCK_TOOLS)/bin/uv pip compile -q pyproject.toml - --extra dev --universal \
		--python-version 3.11 --generate-hashes --custom-compile-command 'make lock' \
		$(if $(UPGRADE),--upgrade) -o $(LOCK)
	python3 -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['build-system']['requires'], 'pip', sep='\n')" \
		| $(LOCK_TOOLS)/bin/uv pip compile -q pyproject.toml - --constraint $(LOCK) --universal \
		--python-version 3.11 --generate-hashes --custom-compile-command 'make lock' \
		-o $(RUNTIME_LOCK)

## Run the demo server on the embedded SQLite default (http://localhost:8000; another port:
## `make demo PORT=8100`).
demo: install
	$(VENV)/bin/wallet demo --port $(PORT)

## Lint, type-check and run every test (SQLite and PostgreSQL; PostgreSQL is started if down):
## all but the browser suite on both cores (two pytest-xdist workers), then the browser suite
## in a serial pass of its own, as one run would have it (ARCHITECTURE.md#tests says why).
## Both passes always run; either failing fails the target.
test: install services lint
	$(VENV)/bin/pytest -q -n 2 --dist load --ignore=tests/e2e; parallel=$$?; \
	$(VENV)/bin/pytest -q tests/e2e; browser=$$?; \
	test $$parallel -eq 0 && test $$browser -eq 0

## After changing a module the app shell preloads (pwa/static/index.html): build the shell's
## bundle again and commit it (pwa/bundle.mjs; needs Node.js and npm, esbuild pinned in
## pwa/package-lock.json). Until then the server serves the modules themselves, and
## tests/wallet_api/test_shell_bundle.py fails.
bundle:
	cd pwa && npm ci --no-audit --no-fund --ignore-scripts && node bundle.mjs

## Only the pure-logic tier (tests/unit: no database, no server); runs in seconds.
unit: install
	$(VENV)/bin/pytest -q tests/unit

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

services:
	bash .ci/services

## B1-B6 in one go (about 10 minutes; run it on a quiet machine): charges vs pgbench and raw
## sqlite3, monthly funding vs a bare INSERT ... SELECT, live-event latency and SSE memory,
## the client import vs clients made one by one, each role's first screen on a phone (Lighthouse).
bench: install services
	$(PY) -m bench.run --wait-quiet 60
	$(PY) -m bench.funding_bench
	$(PY) -m bench.live_bench --rate 60
	$(PY) -m bench.import_bench
	$(PY) -m bench.first_screen

## The long reliability suite: bank test, 20 kill -9s and PostgreSQL restarts, deep fuzzing
## (docs/reliability.md). The short version runs inside `make test`.
reliability: install services
	WALLET_LONG=1 $(VENV)/bin/pytest -q tests/reliability

## Mutation testing of the money modules with mutmut, each module against its own tests, on
## SQLite (tests/mutation/; not part of `make test`). Writes docs/mutation-report.md.
## One module: `make mutation MODULES=payments/books.py`.
mutation: install
	$(PY) -m tests.mutation.run $(MODULES)

clean:
	rm -rf .mutation $(VENV) $(LOCK_TOOLS) .pytest_cache .mypy_cache .ruff_cache .hypothesis
