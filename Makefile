# flask-pdfqueue: `make run` starts the service on the embedded stack, `make test` tests it.
# Both install what is missing first (Debian packages when root, and the .venv).

SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: setup run stop test lint typecheck bench clean

setup:
	@bash scripts/bootstrap.sh

run:
	@bash scripts/run.sh

stop:
	@bash scripts/stop.sh

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: setup
	$(VENV)/bin/mypy

test: setup lint typecheck
	@bash scripts/test-databases.sh
	$(VENV)/bin/pytest $(PYTEST_ARGS)

clean: stop
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
