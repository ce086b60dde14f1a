# One entry point for every job. `make help` lists them.
# The virtualenv is rebuilt whenever a requirements file changes, so a fresh clone needs nothing else.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SAM_VENV  := .venv-sam
SAM       := $(SAM_VENV)/bin/sam
SAM_STAMP := $(SAM_VENV)/.installed
# PortOne's official V1 Python client for tests/conformance; it pins requests==2.26.0, which clashes with ours.
IAMPORT_VENV  := .venv-iamport
IAMPORT_STAMP := $(IAMPORT_VENV)/.installed
# The browser tests' Node packages (package.json: axe-core), installed exactly as package-lock.json pins them.
NODE_STAMP := node_modules/.installed
EVENT  ?= events/issue_billing.json
ENV_VARS ?= events/env.json
# `make build` / `make deploy`: the function's and the layer's architecture (template parameter Architecture).
ARCH      ?= arm64
BUILD_DIR ?= .aws-sam/build

.DEFAULT_GOAL := help
.PHONY: help venv test unit lint invoke emulator clean

help: ## List the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

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

$(IAMPORT_STAMP): requirements-iamport.txt
	$(PYTHON) -m venv $(IAMPORT_VENV)
	$(IAMPORT_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(IAMPORT_VENV)/bin/python -m pip install --quiet -r requirements-iamport.txt
	touch $@

venv: $(STAMP) $(SAM_STAMP) $(IAMPORT_STAMP) ## Build .venv (function and tests), .venv-sam (the SAM CLI), .venv-iamport

test: lint browser $(SAM_STAMP) $(IAMPORT_STAMP) ## Run every test (lint and types first)
	SAM_CLI=$(SAM) IAMPORT_PYTHON=$(IAMPORT_VENV)/bin/python $(BIN)/python -m pytest -n 2 --dist loadgroup

unit: $(STAMP) ## Run only the fast unit tests
	$(BIN)/python -m pytest tests/unit

lint: $(STAMP) ## ruff and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

invoke: $(STAMP) ## Invoke the handler on EVENT like `sam local invoke`, no Docker (BEFORE= events to run first)
	$(BIN)/python -m local.invoke --event $(EVENT) --env-vars $(ENV_VARS) $(addprefix --before ,$(BEFORE))

emulator: $(STAMP) ## Run the PortOne V1 emulator on 127.0.0.1:8090
	$(BIN)/python -m local.portone_emulator --port 8090

.PHONY: dev browser e2e

dev: $(STAMP) ## The local stack: card page :8080, API :3000, PortOne emulator, moto (ARGS=--jwt signs callers in)
	$(BIN)/python -m local.dev --env-vars $(ENV_VARS) $(ARGS)

$(NODE_STAMP): package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund
	touch $@

# Debian's Chromium for the browser tests (never `playwright install`: it downloads a browser build), a
# Korean font so the page's screenshots are legible, and the accessibility scanner the tests inject into the
# page. apt-get needs root, as on CI.
browser: $(NODE_STAMP) ## Install Debian's Chromium (and a Korean font) when missing, and axe-core
	@if ! command -v chromium >/dev/null || ! fc-list :lang=ko | grep -q .; then \
	  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium fonts-nanum; \
	fi

e2e: $(STAMP) browser ## Run only the browser tests (tests/e2e), screenshots in test-artifacts/screenshots
	$(BIN)/python -m pytest tests/e2e

# Mutation testing, on demand only (not in `make test` or .ci/run): mutmut 3 writes the mutants of
# functions/billing, mypy refuses some, and local/mutate.py runs each of the others in a long-lived pytest
# session per core against the unit and integration tests that execute the statement it changed: its module's
# own, and at most MOST_TESTS others, likeliest killers first ([tool.mutmut] in pyproject.toml). A verdict that still holds is taken over
# from tests/mutation-history.jsonl (checked in) instead of run again; FRESH=1 measures every test again and
# runs the chosen mutants again anyway.
# MODULE=billing.cards runs one module's mutants, MOST_TESTS=0 every test that reaches each. The report:
# python -m local.mutation_report.
MODULE ?=
MOST_TESTS ?=
FRESH ?=

.PHONY: mutate
mutate: $(STAMP) ## Mutation testing of functions/billing, then the score (MODULE=billing.cards: one module)
	$(BIN)/python -m local.mutate run $(if $(MODULE),'$(MODULE).*') $(if $(MOST_TESTS),--most-tests $(MOST_TESTS)) $(if $(FRESH),--fresh)
	$(BIN)/python -m local.mutation_report $(if $(MODULE),--module $(MODULE))

.PHONY: build bench deploy

build: $(SAM_STAMP) ## Build what `sam deploy` ships, no Docker (ARCH=arm64|x86_64), print the sizes
	LAYER_ARCH=$(ARCH) SAM_CLI_TELEMETRY=0 $(SAM) build --build-dir $(BUILD_DIR) \
	    --parameter-overrides Architecture=$(ARCH)
	$(PYTHON) -m benchmarks.artifacts $(BUILD_DIR)

bench: build $(STAMP) ## Cold start, warm path, size, memory vs targets (RECORD=1: the README's reference run)
	$(BIN)/python -m benchmarks.run --build-dir $(BUILD_DIR) $(if $(RECORD),--record)

# The first deploy is guided (stack name, parameters) and saves the answers in samconfig.toml; once it
# names a stack, later deploys reuse them and only ask to confirm the change set.
# A layer built for one architecture never goes to a stack deployed for the other (local/deploy_arch.py);
# the guided first deploy offers the architecture built as the stack's.
# EDGE=1: the public edge too (local/deploy.py): edge.yaml in us-east-1, the stack with its outputs, and the
# page uploaded to it (EDGE_DOMAIN=pay.example.com [HOSTED_ZONE=Z...]; STACK= and REGION= the first time).
EDGE ?=
EDGE_DOMAIN ?=
HOSTED_ZONE ?=
STACK ?=
REGION ?=

deploy: build $(STAMP) ## Build, then `sam deploy` (--guided until samconfig.toml names a stack; EDGE=1: with the edge)
	@if [ -n "$(EDGE)" ]; then \
	  $(BIN)/python -m local.deploy --template-file $(BUILD_DIR)/template.yaml --sam $(SAM) --arch $(ARCH) \
	    $(if $(STACK),--stack-name $(STACK)) $(if $(REGION),--region $(REGION)) \
	    $(if $(EDGE_DOMAIN),--domain $(EDGE_DOMAIN)) $(if $(HOSTED_ZONE),--hosted-zone $(HOSTED_ZONE)); \
	elif grep -Eq '^[[:space:]]*stack_name[[:space:]]*=' samconfig.toml; then \
	  $(BIN)/python -m local.deploy_arch --arch $(ARCH) || exit 2; \
	  echo "$(SAM) deploy --template-file $(BUILD_DIR)/template.yaml"; \
	  $(SAM) deploy --template-file $(BUILD_DIR)/template.yaml; \
	else \
	  echo "$(SAM) deploy --guided --template-file $(BUILD_DIR)/template.yaml --parameter-overrides Architecture=$(ARCH)"; \
	  $(SAM) deploy --guided --template-file $(BUILD_DIR)/template.yaml --parameter-overrides Architecture=$(ARCH); \
	fi

clean: ## Remove the virtualenv and build output
	rm -rf $(VENV) $(SAM_VENV) $(IAMPORT_VENV) node_modules .aws-sam .pytest_cache .mypy_cache .ruff_cache mutants
