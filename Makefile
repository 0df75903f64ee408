# make run  - install into .venv and serve on the embedded SQLite database; without Shopee
#            credentials (ORDERWATCH_SHOPEE_PARTNER_KEY) it serves the demo against the sandbox
# make test - install into .venv, lint, type-check (tests and bench too), check the import
#             contracts ([tool.importlinter] in pyproject.toml) and run the suite on SQLite,
#             then on PostgreSQL when one answers (CI requires it: ORDERWATCH_REQUIRE_POSTGRES=1)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PG_TEST_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/postgres
PYTEST_WORKERS ?= 2
# worksteal: a worker that runs out takes queued tests from the other; with xdist's default
# (load) the tests already queued on one worker wait for it while the other idles (~1 min)
PYTEST_ARGS ?= -n $(PYTEST_WORKERS) --dist worksteal -q
# Bytecode caches on for the test runs even where the environment turns them off: pytest
# keeps its rewritten test and plugin modules, each orderwatch subprocess its compiled
# modules (rewriting and compiling them again cost each pass about 10 s).
PYTEST := PYTHONDONTWRITEBYTECODE= $(BIN)/pytest
# The PostgreSQL pass leaves tests/statemachines out: the machines touch no database, so
# their tests (a fifth of a pass's CPU, mostly property tests) would only run again.
PG_PYTEST_ARGS ?= --ignore=tests/statemachines

.PHONY: install run test lint browser test-sqlite test-postgres bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	@if [ -n "$$ORDERWATCH_SHOPEE_PARTNER_KEY" ]; then $(BIN)/orderwatch serve; else \
		echo "no ORDERWATCH_SHOPEE_PARTNER_KEY: serving the demo against the built-in Shopee sandbox"; \
		$(BIN)/orderwatch demo; fi

lint: $(STAMP)
	$(BIN)/ruff check service statemachines handlers migrations tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports --no-logo --no-cache

test-sqlite: $(STAMP)
	ORDERWATCH_TEST_DATABASE_URL=sqlite $(PYTEST) $(PYTEST_ARGS)

test-postgres: $(STAMP)
	@if $(BIN)/python -m tests.pg_ready "$(PG_TEST_URL)"; then \
		ORDERWATCH_TEST_DATABASE_URL="$(PG_TEST_URL)" $(PYTEST) $(PYTEST_ARGS) $(PG_PYTEST_ARGS); \
	elif [ -n "$$ORDERWATCH_REQUIRE_POSTGRES" ]; then \
		echo "PostgreSQL at $(PG_TEST_URL) does not answer, and it is required"; exit 1; \
	else \
		echo "PostgreSQL does not answer: the PostgreSQL pass is skipped"; \
	fi

# The dashboard's browser test drives Debian's chromium through chromium-driver: install
# them when missing (as root, as CI runs); without them the test skips, and fails under CI=true.
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
				--no-install-recommends chromium chromium-driver; \
		else \
			echo "chromium or chromium-driver is missing (install them as root): the browser test will skip"; \
		fi; \
	fi

test: lint browser test-sqlite test-postgres

bench: $(STAMP)
	$(BIN)/python bench/apply.py

clean:
	rm -rf $(VENV) orderwatch.db orderwatch.db-wal orderwatch.db-shm orderwatch.db-writelock \
		orderwatch.db-spool orderwatch.db-spool-wal orderwatch.db-spool-shm
