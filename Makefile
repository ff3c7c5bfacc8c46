# One command per task. `make test` is what the README names and what .ci/run calls.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: help setup demo test test-unit test-policy lint typecheck bench clean

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk -F':.*?## ' '{printf "  %-16s %s\n", $$1, $$2}'

setup: $(STAMP) ## create .venv with the pinned Python dependencies

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

demo: $(STAMP) lab-setup node-setup toolchain ## the platform for real on the lab: lab up, pulumi up of lab-dev and lab-prod, summary, proof
	$(PY) -m lab demo $(LAB_ARGS)

test: ## run every test tier that exists (lint, unit, policy, lab, toolchain, e2e)
	$(MAKE) lint
	$(MAKE) test-unit
	$(MAKE) test-policy
	$(MAKE) test-lab
	$(MAKE) test-toolchain
	$(MAKE) test-e2e

test-unit: $(STAMP) ## unit tier: the real program under Pulumi mocks
	$(PY) -m pytest -m unit tests/unit

test-policy: $(STAMP) ## policy tier: the CrossGuard pack's rules
	$(PY) -m pytest -m policy tests/policy

lint: $(STAMP) ## ruff + mypy on the program, the lab, the benchmarks, the scripts and render
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy components lab bench scripts render

bench: $(STAMP) ## time mocked evaluation of each stack (figures go to the README)
	$(PY) -m bench.eval_bench

clean: ## remove the virtualenv and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis

-include lab/lab.mk
-include toolchain/toolchain.mk
-include ops/ops.mk
