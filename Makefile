# The README's two commands: `make demo` and `make test`. Each bootstraps .venv itself.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench bench-api bench-scoring bench-ingest bench-analytics bench-skab bench-console bench-latency bench-detection clean system-deps

$(BIN)/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "citysense needs Python >= 3.11"' \
	  || { echo "citysense needs Python 3.11 or newer (found: $(PYTHON))"; exit 1; }
	@$(PYTHON) -m venv $(VENV) || { echo "could not create .venv: on Debian/Ubuntu run 'sudo apt-get install python3-venv'"; exit 1; }

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/citysense demo

# Debian packages whose servers the tests start for real (Mosquitto, InfluxDB, Chromium).
system-deps:
	@scripts/ensure-system-deps.sh

test: $(STAMP) system-deps
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest -n auto

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# HTTP load on the API: /public/v1/status at 500 req/s, 24 h of readings at 1-minute buckets (SQLite, InfluxDB).
bench: bench-api bench-scoring bench-ingest bench-analytics bench-console bench-latency
bench-api: $(STAMP) system-deps
	$(BIN)/python bench/api_load.py run
	$(BIN)/python bench/api_load.py pages

# Analytics: readings/s per process through every detector and rule (two simulated days of the whole city).
bench-scoring: $(STAMP)
	$(BIN)/python bench/scoring.py --days 2 --repeat 3

# Ingest: sustained readings/s from MQTT (QoS 1) into SQLite and InfluxDB, packs of 1, 10, 100; lost, duplicated.
bench-ingest: $(STAMP) system-deps
	$(BIN)/python -m bench.ingest_bench --repeat 3

# Analytics scale-out: CPU s per million readings, one process versus two sharing partitions (Mosquitto, PostgreSQL).
bench-analytics: $(STAMP) system-deps
	$(BIN)/python -m bench.analytics_scaleout --repeat 3

# The general anomaly detector on SKAB (real labelled testbed data, GPL-3.0, kept outside the repo:
# the data/ folder of the public waico/SKAB repository). Writes bench/results/detection-skab.json.
SKAB_DATA ?= ../shared/data/skab
bench-skab: $(STAMP)
	$(BIN)/python bench/skab.py --data $(SKAB_DATA)

# Console: 100-row queue pages with their filter counts over 10,000 open tickets in PostgreSQL (p95 server time).
bench-console: $(STAMP) system-deps
	$(BIN)/python bench/console_load.py --out bench/results/console.json

# Reading to ticket: Mosquitto + PostgreSQL + `citysense analytics`, p50/p99 at the demo's rate and at 10,000 readings/s.
bench-latency: $(STAMP) system-deps
	$(BIN)/python -m bench.ticket_latency --probes 100

# Detection quality: the standard and hold-out evaluation sets (8 runs of 3 simulated days, each after 14 days of
# history the engine warms up on; CPU-heavy, about 50 min on two cores),
# and the anomaly detector on SKAB (bench-skab).
bench-detection: $(STAMP) bench-skab
	$(BIN)/python -m bench.detection

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .hypothesis
