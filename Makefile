# flask-pdfqueue: `make run` starts the service on the embedded stack, `make test` tests it.
# Both install what is missing first (Debian packages when root, and the .venv).

SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: setup run stop test test-n8n lint typecheck sql bench clean

setup:
	@bash scripts/bootstrap.sh

run:
	@bash scripts/run.sh

stop:
	@bash scripts/stop.sh

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	@# the package's layers and no import cycles (pyproject.toml, [tool.importlinter])
	$(VENV)/bin/lint-imports --no-logo
	@# the n8n community package (n8n/nodes) with n8n's own lint (@n8n/node-cli)
	@bash scripts/n8n-nodes.sh lint

typecheck: setup
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy --strict examples/packs/certificate/__init__.py

# sql/*.sql from the migrations (tests/test_sql_schema.py fails while they are stale).
sql: setup
	@for dialect in sqlite postgresql mysql; do \
	    $(PY) -c 'import sys; from flask_pdfqueue.records.migrations import offline_sql; sys.stdout.write(offline_sql(sys.argv[1]))' \
	        $$dialect >sql/$$dialect.sql.tmp && mv sql/$$dialect.sql.tmp sql/$$dialect.sql || exit 1; \
	done

test: setup lint typecheck
	@bash scripts/test-services.sh
	$(VENV)/bin/pytest $(PYTEST_ARGS)
	@# The integration suite again on PostgreSQL and MariaDB (skipped, with the reason, when missing).
	TEST_SQL_BACKEND=postgresql $(VENV)/bin/pytest $(PYTEST_ARGS) tests/integration
	TEST_SQL_BACKEND=mariadb $(VENV)/bin/pytest $(PYTEST_ARGS) tests/integration

# Issue 10's and 21's acceptance tests: the n8n kit (n8n/) and the community package
# (n8n/nodes, built and packed with n8n's tooling, npm-installed from the tarball) on a real
# n8n 2.41.1 and the real stack. n8n is installed into a cache folder outside the checkout
# when missing (~4 min and 3 GB cold; PDFQUEUE_N8N_CACHE moves it); the tests start and stop
# their own n8n and service.
test-n8n: setup
	@cache=$$(bash scripts/n8n-install.sh) && \
	    TEST_N8N_CACHE="$$cache" $(VENV)/bin/pytest $(PYTEST_ARGS) tests/n8n

# Issue 12's benchmarks on private servers (bench/README.md); about 25 minutes, BENCH_SCALE
# enlarges. Exits non-zero only when a correctness invariant breaks, never for slowness.
# The `bench` extra (Celery, for P5) goes into .venv once; again when setup.cfg changes.
bench: setup
	@stamp=$(VENV)/.bench-installed; \
	if [ ! -f $$stamp ] || [ setup.cfg -nt $$stamp ] || [ requirements.lock -nt $$stamp ]; then \
	    echo "bench: installing the bench extra into $(VENV) (log: $(VENV)/pip-bench.log)"; \
	    $(PY) -m pip install -c requirements.lock -e ".[bench]" >$(VENV)/pip-bench.log 2>&1 \
	        || { tail -n 30 $(VENV)/pip-bench.log >&2; exit 1; }; \
	    touch $$stamp; \
	fi
	$(PY) -m bench.run

clean: stop
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
