# Every target installs what it needs first, so each works on a fresh clone.
SHELL := /bin/bash
PYTHON_VERSION ?= 3.13
VENV ?= .venv
BIN := $(VENV)/bin
COUNT ?= 100

.DEFAULT_GOAL := help
.PHONY: help install test unit integration e2e infra test-compat lint format demo bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml requirements-dev.txt
	@py=""; for candidate in $$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/$(PYTHON_VERSION)*/bin/python$(PYTHON_VERSION) 2>/dev/null | sort -V -r) $$(command -v python$(PYTHON_VERSION)); do \
	  if "$$candidate" -c 'import venv' 2>/dev/null; then py=$$candidate; break; fi; done; \
	  if [ -z "$$py" ]; then echo "python$(PYTHON_VERSION) not found: install it (pyenv install $(PYTHON_VERSION))" >&2; exit 1; fi; \
	  echo "creating $(VENV) with $$py"; "$$py" -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed ## create .venv with the function, the local stack and the test tools

lint: install ## ruff and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The domain and the processor are covered by the fast tier alone; the floor keeps it so.
UNIT_COVERAGE_FLOOR ?= 85
TEST_COVERAGE_FLOOR ?= 90

test: lint ## lint, then every test (starts its own Keycloak; fetches it on first run), with coverage
	$(BIN)/pytest --cov=registrar --cov-report=term:skip-covered --cov-fail-under=$(TEST_COVERAGE_FLOOR)

# Its tests share no server, so they spread over the cores; past 4 workers, each one's start costs more than it saves.
unit: install ## the fast tier: no server, no JVM (a coverage floor on src/registrar)
	$(BIN)/pytest -m unit --numprocesses=auto --maxprocesses=4 --cov=registrar --cov-report=term-missing:skip-covered --cov-fail-under=$(UNIT_COVERAGE_FLOOR)

integration: install ## against a real Keycloak the session starts
	$(BIN)/pytest -m integration

e2e: install ## the local stack end to end
	$(BIN)/pytest -m e2e

infra: install ## the SAM template: translation, lint, deploy on moto
	$(BIN)/pytest -m infra

test-compat: lint ## the suites that speak to Keycloak, against each supported version on PostgreSQL
	$(BIN)/python -m tests.compat $(COMPAT_ARGS)

demo: install ## run the function over events/ against a local Keycloak (COUNT=N adds generated registrations)
	$(BIN)/python -m registrar_local demo --count $(COUNT)

bench: install ## benchmarks against a local Keycloak: a table, bench/results/ JSON and PNG (BENCH_ARGS=--quick)
	$(BIN)/python -m bench $(BENCH_ARGS)

clean: ## remove the virtual environment and build output (the Keycloak cache stays)
	rm -rf $(VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache
