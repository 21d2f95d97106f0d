# footfall: every routine action. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt pyproject.toml simulator/pyproject.toml devtools/pyproject.toml | sha1sum | cut -c1-12)

.DEFAULT_GOAL := help
.PHONY: help install demo test lint format airflow simulator api db-upgrade sites-check bench bench-spine bench-parse \
	bench-ingest bench-share bench-fuzz bench-quality bench-quality-eval bench-backfill bench-forecast bench-forecast-eval \
	bench-cycle bench-dag-parse bench-ui-health bench-nowcast bench-nowcast-eval bench-nowcast-real \
	bench-short-horizon-bounds bench-waiting reliability lock clean \
	stack stack-init
CALIT2 ?= ../shared/data/calit2-building-people-counts

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-20s %s\n", $$1, $$2}'

$(STAMP): requirements.txt pyproject.toml simulator/pyproject.toml devtools/pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -e .
	$(BIN)/pip install --quiet --no-deps -e connector
	$(BIN)/pip install --quiet --no-deps -e simulator
	$(BIN)/pip install --quiet --no-deps -e devtools
	@rm -f $(VENV)/.installed-*; touch $@

install: $(STAMP) ## create .venv and install the pinned set, footfall and the connector, simulator, devtools (editable)

demo: install ## run the main job end to end: simulator + real Airflow runs of every demo site, then a summary
	$(BIN)/footfall-dev demo

test: lint ## lint, then the whole test suite (PostgreSQL tests use FOOTFALL_TEST_PG_URL)
	$(BIN)/pytest -q

lint: install ## ruff lint and format check, mypy on include/ (configured in pyproject.toml)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install ## apply ruff fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

airflow: install ## Airflow (standalone) with the demo DAGs on http://localhost:8080, simulator on :8765
	$(BIN)/footfall db upgrade
	$(BIN)/footfall-dev airflow --simulator-port 8765 standalone

STACK_ENV := AIRFLOW_HOME=$(CURDIR)/stack_home AIRFLOW__CORE__DAGS_FOLDER=$(CURDIR)/dags \
	AIRFLOW__CORE__PLUGINS_FOLDER=$(CURDIR)/plugins PATH=$(CURDIR)/$(BIN):$$PATH

STACK_POOLS := $(CURDIR)/stack_home/vendor_pools.json

stack-init: install ## create and migrate the native stack's databases (this machine's PostgreSQL), and its vendor pools
	for db in footfall_airflow footfall; do \
	  psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$$db'" | grep -q 1 \
	    || psql -h 127.0.0.1 -U postgres -c "CREATE DATABASE $$db"; done
	set -a; . deploy/airflow.env; . deploy/stack.env; set +a; $(STACK_ENV) $(BIN)/airflow db migrate
	set -a; . deploy/stack.env; set +a; $(BIN)/footfall db upgrade
	mkdir -p $(CURDIR)/stack_home; set -a; . deploy/stack.env; set +a; $(BIN)/footfall sites pools --output $(STACK_POOLS)
	set -a; . deploy/airflow.env; . deploy/stack.env; set +a; $(STACK_ENV) $(BIN)/airflow pools import $(STACK_POOLS)

stack: stack-init ## production processes natively (deploy/Procfile): Airflow on Celery + Redis, 2 workers, footfall API
	$(STACK_ENV) $(BIN)/honcho -f deploy/Procfile -e deploy/airflow.env,deploy/stack.env start

simulator: install ## serve the simulated counting devices on 127.0.0.1:8765
	$(BIN)/footfall-simulator serve --port 8765

db-upgrade: install ## migrate the warehouse (FOOTFALL_DB_URL, default data/footfall.db)
	$(BIN)/footfall db upgrade

sites-check: install ## validate every site file in include/sites
	$(BIN)/footfall sites check

api: install ## the ingestion API (push devices and on-site connectors) on 127.0.0.1:8443 (plain HTTP locally)
	$(BIN)/footfall api serve --host 127.0.0.1 --port 8443

bench-spine: install ## per-site-run cost of the pipeline beside Airflow's own overhead
	$(BIN)/python bench/spine.py

bench-parse: install ## rows/s per vendor preset beside bare JSON/XML/CSV decoding
	$(BIN)/python bench/parse.py

bench-ingest: install ## ingestion API throughput with 50 concurrent connectors beside a bare endpoint
	$(BIN)/python bench/ingest.py

bench-fuzz: install ## the fuzz suite (decoders, presets, schemathesis on the API) with 400 examples per test
	$(BIN)/python bench/fuzz.py

bench-share: install ## public /now at 200 connections (wrk) beside a bare FastAPI endpoint
	$(BIN)/python bench/share.py

bench-quality: install ## validation + discrepancy checks per batch and per million rows beside bare pandas
	$(BIN)/python bench/quality.py

bench-quality-eval: install ## precision/recall per check on injected faults, and what CalIt2 raises
	$(BIN)/python bench/quality_eval.py --calit2 $(CALIT2)

bench-backfill: install ## history import into PostgreSQL beside a bare COPY
	$(BIN)/python bench/backfill.py

bench-forecast: install ## retraining on 100 sites x 1 year: time and peak memory
	$(BIN)/python bench/forecast.py

bench-nowcast: install ## a live sync with the 2-hour nowcast beside the same sync without it
	nice $(BIN)/python bench/nowcast.py

bench-nowcast-eval: install ## the 2-hour nowcast against the day-ahead profile it rescales, on CalIt2
	nice $(BIN)/python bench/nowcast_eval.py $(CALIT2)

bench-waiting: install ## the waiting model against the simulation and against reported queue data
	nice $(BIN)/python bench/waiting.py

bench-cycle: install ## the live 5-minute cycle of N sites under the real scheduler beside N no-op DAGs (long: 25 min a size)
	$(BIN)/python bench/cycle.py

bench-dag-parse: install ## parsing 1,000 site files as the dag-processor does, beside 1,000 no-op DAGs
	$(BIN)/python bench/dag_parse.py

bench-forecast-eval: install ## footfall evaluate on CalIt2 (day-ahead and 2 hours) against the targets
	$(BIN)/python bench/forecast_eval.py $(CALIT2)

bench-nowcast-real: install ## the published 2-hour nowcast on every real dataset beside evaluate's 2 h model
	nice $(BIN)/python bench/nowcast_real.py $(CALIT2)

bench-short-horizon-bounds: install ## the 2 h model against bounds that peek at the answers, every real dataset
	nice $(BIN)/python bench/short_horizon_bounds.py $(CALIT2)

bench-ui-health: install ## the Sites page's one statement at 1,000 sites on PostgreSQL beside a bare GROUP BY
	$(BIN)/python bench/ui_health.py

reliability: install ## the fault suite (tests/reliability) with its figures: faults, tries, 5xx, rows lost/doubled, half-loaded windows
	$(BIN)/python bench/reliability.py $(RELIABILITY_ARGS)

lock: ## re-resolve the direct dependencies into requirements.txt (needs the registry)
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet "apache-airflow==3.3.2" apache-airflow-providers-standard great-expectations \
	  pandas "sqlalchemy>=2" alembic "psycopg[binary]" pydantic pyyaml requests defusedxml lightgbm holidays openpyxl \
	  pymysql "apache-airflow-providers-celery==3.26.0" "celery[redis]==5.6.3" pytest hypothesis trustme playwright honcho \
	  ruff mypy pandas-stubs types-PyYAML types-requests types-defusedxml types-openpyxl types-tqdm
	( sed -n '1,5p' requirements.txt; .lock-venv/bin/pip freeze ) > requirements.txt.new && mv requirements.txt.new requirements.txt
	rm -rf .lock-venv

clean: ## remove local state (embedded warehouse, Airflow homes), keep .venv
	rm -rf data airflow_home stack_home .pytest_cache
