# The two commands: `make run` (portal with demo data on the embedded default) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: run test setup install assets demo lint typecheck schema bench worker beat clean

run: setup demo ## set up everything, load demo data, start the portal
	@echo ""
	@echo "  OpenEM portal: http://$(HOST):$(PORT)/"
	@echo "  Demo logins (password: openem-demo): admin, curator, staff, member, researcher"
	@echo ""
	$(PY) manage.py runserver $(HOST):$(PORT)

test: setup ## run the test suite (set DATABASE_URL / CELERY_BROKER_URL for the full stack)
	$(VENV)/bin/pytest $(PYTEST_ARGS)

setup: install assets
	$(PY) manage.py migrate --no-input

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml clients/python/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ./clients/python  # openem-client: the `openem` command
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

assets: install ## front-end libraries from the npm registry (lock file); ReDoc without its CDN logo
	@if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --silent && npm run --silent build; fi
	$(PY) -m openem.assets

demo:
	$(PY) manage.py seed_demo
	$(PY) manage.py import_emdb_entries stats/demo/emdb_sample.csv

lint:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports  # the apps' layers: [tool.importlinter] in pyproject.toml

typecheck: ## types, and the apps' import layers (lint-imports; every landing runs this)
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy openem storage repository metadata ingest deposition fair stats publishing demo accounts clients/python/openem_client

schema:
	$(PY) manage.py spectacular --validate --fail-on-warn --file /dev/null

bench:
	$(PY) -m bench $(BENCH_ARGS)

worker: ## a Celery worker (full stack)
	$(VENV)/bin/celery -A openem worker -Q default,ingest,export --loglevel=INFO

beat:
	$(VENV)/bin/celery -A openem beat --loglevel=INFO

clean:
	rm -rf var test-output
