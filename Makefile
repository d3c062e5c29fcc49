# qloop — every target installs what it needs first: on a fresh clone `make run` and
# `make test` are the only two commands a user types.
.DEFAULT_GOAL := help
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
QLOOP := $(VENV)/bin/qloop
STAMP := $(VENV)/.installed

.PHONY: help install compose-tools browser-tools lint test chaos test-unit test-integration run bench broker-start broker-stop clean

help: ## Show this help
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP) ## Create .venv, install qloop with its dev extras, fetch the Kafka jars
	$(QLOOP) broker fetch

compose-tools: ## docker-compose (Debian) to validate compose/ without a Docker engine
	@command -v docker-compose >/dev/null || { \
	  command -v apt-get >/dev/null || { echo "install docker-compose to validate compose/"; exit 1; }; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq docker-compose >/dev/null; }

lint: $(STAMP) ## ruff + mypy --strict + import-linter layer contracts
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check streams processors sinks schemas
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

browser-tools: ## Headless Chromium (Debian) for the dashboard's browser test
	@command -v chromium >/dev/null || { \
	  command -v apt-get >/dev/null || { echo "install chromium to test the dashboard"; exit 1; }; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

test: install compose-tools browser-tools ## Install everything, lint, then run unit and integration tests (real Kafka, real ClickHouse)
	$(MAKE) lint
	$(VENV)/bin/pytest tests/unit -q
	$(VENV)/bin/pytest tests/integration -q -m "not chaos"

chaos: install ## The whole fault suite (S1, S2, S4, S7, S8, S10, S11 and their controls) and the 100k-set history run, slow ones included
	CI=true $(VENV)/bin/pytest tests/integration/test_faults.py tests/integration/test_chaos.py tests/integration/test_history.py -q -s

test-unit: $(STAMP) ## Fast offline tests only
	$(VENV)/bin/pytest tests/unit -q

test-integration: install ## Integration tests against a real broker and engine (chaos-only ones excluded)
	$(VENV)/bin/pytest tests/integration -q -m "not chaos"

run: install ## Run the main job (vqe-h2) on the embedded defaults
	$(QLOOP) run vqe-h2

bench: install ## Benchmarks: qloop vs the raw simulator limit and the naive way (JSON)
	$(QLOOP) bench --json

broker-start: install ## Start the local Kafka broker (KRaft, loopback)
	$(QLOOP) broker start

broker-stop: $(STAMP) ## Stop the local Kafka broker
	$(QLOOP) broker stop

clean: ## Remove the venv and local data (.qloop)
	-$(QLOOP) broker stop 2>/dev/null
	rm -rf $(VENV) .qloop .mypy_cache .ruff_cache .pytest_cache
