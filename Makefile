# The two commands a newcomer needs: `make run` and `make test`. Both bootstrap what they need.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bootstrap clean bench

bootstrap: $(STAMP)

# Reinstalled when the project's dependencies change; idempotent otherwise. The dev stack is a
# distribution of its own (devstack/pyproject.toml) so the production image never carries it.
$(STAMP): pyproject.toml devstack/pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --quiet -e '.[dev]' -e ./devstack
	@touch $@

run: bootstrap
	@$(BIN)/python -m devstack

# Two processes by default (TEST_WORKERS=0 runs in this one): most of the suite waits on servers,
# brokers and worker processes, so two halves overlap their waits. A module stays in one process.
TEST_WORKERS ?= 2
test: bootstrap
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadscope

lint: bootstrap
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache

# Benchmarks (not part of `make test`): each prints its figures beside a same-run baseline.
bench: bootstrap
	$(BIN)/python -m bench.audit_ingest
	$(BIN)/python -m bench.worker_ingest
	$(BIN)/python -m bench.audit_queries
	$(BIN)/python -m bench.api
	$(BIN)/python -m bench.counts
	$(BIN)/python -m bench.load
