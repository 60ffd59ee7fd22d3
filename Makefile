# TraceBridge developer tasks. The two you need: `make run` (demo plant + API) and `make test`.
# `make help` lists the rest.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:
MAKEFLAGS += --no-builtin-rules

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
UV_VERSION := 0.13.9
LOCK := requirements.lock
INSTALLED := $(VENV)/.installed
# One lock for every platform (--universal), resolved for the oldest Python we support.
LOCK_COMPILE = $(UV) pip compile pyproject.toml --extra dev --universal --python-version 3.11 \
  --custom-compile-command "make lock" --quiet

# uv ignores pip's configuration and would otherwise cache in the home directory; keep its cache
# in the checkout's ignored var/ so a fresh clone never writes outside itself.
export UV_CACHE_DIR ?= $(CURDIR)/var/cache/uv

DEMO_DB := var/demo.db
SCALE ?= 1
SERVE_HOST ?= 127.0.0.1
SERVE_PORT ?= 8000
# xdist workers cost ~3 s of start-up and then share the 2 cores of the CI machine. Measured on
# ~280 tests (~15 s): in-process 14-19 s, two workers 17-18 s, i.e. within noise; the workers win
# once the suite runs for minutes, which the simulated-plant tests will. PYTEST_WORKERS=0 runs
# in-process (easier to debug, stops at the first collection error).
PYTEST_WORKERS ?= 2
PYTEST_ARGS ?=
BENCH_ARGS ?=
LINT_PATHS := $(wildcard src tests bench)

.PHONY: help venv run demo test lint lock lock-upgrade lock-check bench clean distclean \
        services-status

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | \
	  awk 'BEGIN {FS = ":.*## "}; {printf "  make %-16s %s\n", $$1, $$2}'

# ---- environment ------------------------------------------------------------------------------

venv: $(INSTALLED) ## Create .venv and install the locked runtime + dev dependencies

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "$(PYTHON) is older than Python 3.11: set PYTHON=python3.11" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(UV): | $(BIN)/python
	$(BIN)/python -m pip install --quiet "uv==$(UV_VERSION)"

$(INSTALLED): $(LOCK) pyproject.toml | $(UV)
	$(UV) --version | grep -qF "uv $(UV_VERSION)" || \
	  $(BIN)/python -m pip install --quiet "uv==$(UV_VERSION)"
	$(UV) pip install --python $(BIN)/python --quiet -r $(LOCK)
	$(UV) pip install --python $(BIN)/python --quiet --no-deps -e .
	@# A dependency added to pyproject.toml but not to the lock shows up here, not at import time.
	$(UV) pip check --python $(BIN)/python || \
	  { echo "requirements.lock does not satisfy pyproject.toml: run 'make lock'" >&2; exit 1; }
	touch $@

lock: | $(UV) ## Re-pin requirements.lock after editing dependencies (keeps existing pins)
	$(LOCK_COMPILE) -o $(LOCK)

lock-upgrade: | $(UV) ## Re-pin requirements.lock to the newest allowed versions
	$(LOCK_COMPILE) --upgrade -o $(LOCK)

# Compiling onto a copy of the lock keeps its pins as preferences, so the result differs only when
# pyproject.toml asks for something the lock does not provide.
lock-check: | $(UV) ## Fail when requirements.lock is out of date with pyproject.toml
	@copy=$$(mktemp); trap 'rm -f "$$copy"' EXIT; cp $(LOCK) "$$copy"; \
	$(LOCK_COMPILE) -o "$$copy"; \
	diff -u $(LOCK) "$$copy" || \
	  { echo "requirements.lock is out of date with pyproject.toml: run 'make lock'" >&2; exit 1; }

# ---- run --------------------------------------------------------------------------------------

demo: venv ## Build the demo plant (SCALE=1) and ingest it into a fresh var/demo.db
	mkdir -p var
	rm -f $(DEMO_DB) $(DEMO_DB)-wal $(DEMO_DB)-shm
	TRACEBRIDGE_DATABASE_URL=sqlite:///$(DEMO_DB) $(BIN)/tracebridge demo --scale $(SCALE)

# `tracebridge serve` prints the URLs it serves.
run: demo ## Demo plant + API on http://127.0.0.1:8000 (SERVE_HOST, SERVE_PORT)
	@echo "Serving the demo plant from $(DEMO_DB); Ctrl-C stops."
	TRACEBRIDGE_DATABASE_URL=sqlite:///$(DEMO_DB) \
	  $(BIN)/tracebridge serve --host $(SERVE_HOST) --port $(SERVE_PORT)

# ---- check ------------------------------------------------------------------------------------

lint: venv ## ruff, import-linter contracts, mypy --strict (runs all three, fails if any fails)
	@failed=(); \
	$(BIN)/ruff check $(LINT_PATHS) || failed+=(ruff); \
	$(BIN)/lint-imports || failed+=(lint-imports); \
	$(BIN)/mypy src || failed+=(mypy); \
	if (( $${#failed[@]} )); then echo "lint failed: $${failed[*]}" >&2; exit 1; fi

# Without TRACEBRIDGE_TEST_POSTGRES_URL / _AMQP_URL, services.sh starts a throwaway PostgreSQL and RabbitMQ for the run
# when the server is installed, so `make test` alone is complete on a fresh machine.
test: venv lock-check lint ## Lint, then every test, on SQLite, PostgreSQL and RabbitMQ
	@rc=0; \
	bash scripts/services.sh with postgres rabbitmq -- \
	  $(BIN)/python -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS) || rc=$$?; \
	if (( rc == 5 )); then echo "make test: pytest collected no tests — that is a failure" >&2; fi; \
	exit $$rc

bench: venv ## Run each benchmark script in bench/ (BENCH_ARGS="--scale 10" is passed to each)
	@shopt -s nullglob; scripts=(bench/bench_*.py); \
	if (( ! $${#scripts[@]} )); then echo "make bench: no benchmark scripts in bench/" >&2; exit 1; fi; \
	for script in "$${scripts[@]}"; do echo "== $$script"; $(BIN)/python "$$script" $(BENCH_ARGS); done

services-status: ## Show the throwaway services started from this checkout
	bash scripts/services.sh status

# ---- tidy -------------------------------------------------------------------------------------

clean: ## Remove build output, tool caches and the demo database (keeps .venv)
	rm -rf build dist out src/*.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis \
	  .import_linter_cache
	find $(wildcard src tests bench) -name __pycache__ -type d -prune -exec rm -rf {} +
	rm -f $(DEMO_DB) $(DEMO_DB)-wal $(DEMO_DB)-shm

distclean: clean ## Also stop throwaway services and remove .venv and var/
	bash scripts/services.sh stop
	rm -rf $(VENV) var
