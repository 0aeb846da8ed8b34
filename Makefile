# The two commands: `make demo` and `make test`. Both set up .venv on a fresh machine.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,spark]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/jamsos demo --serve

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/jamsos rules check

# The integration tests run on SQLite and on a real PostgreSQL server, installed from Debian
# packages if missing, started on loopback for the run and stopped afterwards. The web tests drive
# Debian's Chromium (installed if missing) with Playwright.
PGTEST := /tmp/jamsos-make-pg
PGPORT ?= 54331

test: lint
	scripts/ensure-chromium
	@url=$$(scripts/pg-test-server start $(PGTEST) $(PGPORT)) || exit 1; \
	trap 'scripts/pg-test-server stop $(PGTEST)' EXIT; \
	echo "PostgreSQL for the tests: $$url"; \
	JAMSOS_TEST_DATABASE_URL=$$url $(BIN)/python -m pytest

# The unit tier: no database server, browser or Spark (SQLite and DuckDB are embedded); under a minute. `make test`
# still runs everything, and CI calls it.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -n 2 -m "not integration and not postgresql and not spark and not web"

bench: $(STAMP)
	@for f in bench/[!_]*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
