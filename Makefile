# Two commands for a newcomer: `make run` and `make test`. Both create the
# virtual environment and install what is needed first; both can be typed
# twice in a row.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 8000
PYTEST_ARGS ?= -n 2

.PHONY: run test install lint bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Hen needs Python 3.11 or newer (found " + sys.version.split()[0] + ")")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## Set everything up, migrate the SQLite file, load demo data, serve on $(HOST):$(PORT)
## with the console gateway and the in-process dispatcher.
run: $(STAMP)
	$(BIN)/hen db upgrade
	$(BIN)/hen demo
	SMS_GATEWAY=$${SMS_GATEWAY:-console} $(BIN)/hen serve --host $(HOST) --port $(PORT)

## Set everything up, check the import layers (import-linter, contracts in pyproject.toml),
## and run the whole suite (SQLite, and PostgreSQL when reachable;
## with CI=true PostgreSQL is required). pytest's exit code is kept in $(VENV)/.pytest-rc.
test: $(STAMP)
	$(BIN)/lint-imports --no-cache
	@rc=0; $(BIN)/python -m pytest $(PYTEST_ARGS) || rc=$$?; echo $$rc > $(VENV)/.pytest-rc; exit $$rc

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache

clean:
	rm -rf $(VENV) hen.db hen.db-wal hen.db-shm .pytest_cache .hypothesis
