# Two commands for a newcomer: `make run` (the pipeline) and `make test` (the whole suite).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
export DO_NOT_TRACK := 1

.PHONY: run test test-fast venv clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

## Ingest data/raw, build the dbt project, self-heal if needed.
run: $(STAMP)
	$(BIN)/adp run

## The whole suite, every tier (real dbt, browser, Claude Code client), two workers.
test: $(STAMP)
	bash .ci/test-deps
	$(BIN)/python -m pytest -n 2 --durations=25

## Quick inner loop: no real dbt, no browser, no client.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not dbt and not browser and not claude_e2e and not spark"

clean:
	rm -rf dbt/target dbt/logs logs/*.log logs/backups logs/proposals logs/findings logs/fixes
