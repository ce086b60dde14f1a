# One entry point for every job. `make help` lists them.
# The virtualenv is rebuilt whenever a requirements file changes, so a fresh clone needs nothing else.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SAM_VENV  := .venv-sam
SAM       := $(SAM_VENV)/bin/sam
SAM_STAMP := $(SAM_VENV)/.installed
EVENT  ?= events/issue_billing.json
ENV_VARS ?= events/env.json

.DEFAULT_GOAL := help
.PHONY: help venv test unit lint invoke emulator clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): requirements-dev.txt layers/deps/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

$(SAM_STAMP): requirements-sam.txt
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/python -m pip install --quiet -r requirements-sam.txt
	touch $@

venv: $(STAMP) $(SAM_STAMP) ## Build .venv (function and tests) and .venv-sam (the SAM CLI)

test: lint $(SAM_STAMP) ## Run every test (lint and types first)
	SAM_CLI=$(SAM) $(BIN)/python -m pytest -n 2 --dist loadgroup

unit: $(STAMP) ## Run only the fast unit tests
	$(BIN)/python -m pytest tests/unit

lint: $(STAMP) ## ruff and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

invoke: $(STAMP) ## Invoke the handler on EVENT (default events/issue_billing.json) like `sam local invoke`, no Docker
	$(BIN)/python -m local.invoke --event $(EVENT) --env-vars $(ENV_VARS)

emulator: $(STAMP) ## Run the PortOne V1 emulator on 127.0.0.1:8090
	$(BIN)/python -m local.portone_emulator --port 8090

clean: ## Remove the virtualenv and build output
	rm -rf $(VENV) $(SAM_VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache
