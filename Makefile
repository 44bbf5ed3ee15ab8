# tenant-iam: `make run` serves the API, `make test` runs the whole suite.
# Without DATABASE_URL both use an embedded PostgreSQL kept under .data/.

VENV ?= .venv
PYTHON := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint format db-migrate db-rollback db-schema seed-data bench lock clean

# Runtime dependencies pinned by requirements.lock, the same set the container installs.
$(STAMP): pyproject.toml requirements.lock
	test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -c requirements.lock -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(PYTHON) -m api.serving.run

test: $(STAMP)
	$(PYTHON) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check api db tests
	$(VENV)/bin/ruff format --check api db tests
	$(VENV)/bin/mypy

format: $(STAMP)
	$(VENV)/bin/ruff check --fix api db tests
	$(VENV)/bin/ruff format api db tests

db-migrate: $(STAMP)
	$(PYTHON) -m db.migrate up

db-rollback: $(STAMP)
	$(PYTHON) -m db.migrate down

# Rewrites db/schema.sql from the migrations; a test fails while it is stale.
db-schema: $(STAMP)
	$(PYTHON) -m db.schema_snapshot

# Fills the database (DATABASE_URL, else the embedded one) with SCALE projects over 1,000
# tenants, with COPY: for benchmarks.
SCALE ?= 100000
seed-data: $(STAMP)
	$(PYTHON) -m db.seed_data --scale $(SCALE)

# The API under its production server configuration against the database's own limit;
# prints one table and writes JSON under .bench/ (see tests/bench).
bench: $(STAMP)
	$(PYTHON) -m tests.bench

# Re-pins the runtime dependencies (after a change to pyproject.toml's dependencies).
lock:
	rm -rf .lock-venv && python3 -m venv .lock-venv
	.lock-venv/bin/pip install --quiet .
	echo "# Runtime dependencies of tenant-iam, pinned: make lock rewrites this file." > requirements.lock
	.lock-venv/bin/pip freeze --exclude tenant-iam >> requirements.lock
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
