# Credo — the two commands a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.credo-installed
# Python 3.12 (Lambda's runtime) where the machine has it, else 3.11.
PYTHON ?= $(shell for p in python3.12 $$HOME/.pyenv/versions/3.12*/bin/python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null && { echo $$p; break; }; done)
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_DISABLE_VERSION_CHECK := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help setup demo test lint bench docs synth build deploy world clean

help: ## show the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

# The virtualenv is rebuilt when requirements or the package definition change.
$(STAMP): requirements-dev.txt layers/core/pyproject.toml
	@test -n "$(PYTHON)" || { echo "error: Credo needs Python 3.12 or 3.11 on PATH" >&2; exit 1; }
	@echo "==> creating $(VENV) with $$($(PYTHON) --version) (takes 1-2 minutes the first time)"
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

setup: $(STAMP) ## create or refresh the virtualenv (.venv)

demo: $(STAMP) ## run the whole pipeline end to end on a small synthetic world
	$(BIN)/credo demo

build: $(STAMP) ## build the Lambda layers and the training job's source bundle into .build/ (no Docker; only what changed)
	$(BIN)/python -m infra.build_layers
	$(BIN)/python -m infra.training_bundle

test: build ## run every test tier
	$(BIN)/python -m pytest -n 2 --dist loadfile tests

lint: $(STAMP) ## ruff, ruff format --check, mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(STAMP) ## measure speed and memory; writes docs/benchmarks.md
	$(BIN)/python bench/bench_world.py
	$(BIN)/python bench/bench_linkage.py
	$(BIN)/python bench/bench_mining.py
	$(BIN)/python bench/bench_training.py
	$(BIN)/python bench/bench_training_memory.py
	$(BIN)/python bench/bench_history_ceiling.py
	$(BIN)/python bench/bench_oracle_gap.py
	$(BIN)/python bench/bench_buying_label.py
	$(BIN)/python bench/bench_table.py
	$(BIN)/python bench/bench_table.py --wide-text
	$(BIN)/python bench/bench_table.py --time-column --sizes 100000
	$(BIN)/python bench/bench_text_columns.py
	$(BIN)/python bench/bench_scoring.py
	$(BIN)/python bench/bench_packages.py

docs: $(STAMP) ## regenerate docs/features.md and docs/openapi.json from the code (tests fail when they drift)
	$(BIN)/python -m credo.features > docs/features.md
	$(BIN)/python -m credo.scoring.api > docs/openapi.json

world: $(STAMP) ## write a synthetic world to .demo/world (CUSTOMERS=20000 SEED=7)
	$(BIN)/credo world --customers $${CUSTOMERS:-20000} --seed $${SEED:-7} --out .demo/world

synth: build ## synthesize the CDK app into cdk.out/ (offline)
	$(BIN)/python app.py

deploy: build ## deploy every stack to the AWS account of the current credentials (CDK CLI pinned in package.json)
	npm ci --no-audit --no-fund
	npx --no-install cdk deploy --all

clean: ## remove generated files (keeps .venv)
	rm -rf .demo .build cdk.out .pytest_cache .mypy_cache .ruff_cache
