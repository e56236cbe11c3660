# ragfleet developer commands. `make run` and `make test` are the two set-up commands.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
# torch first: the CPU build is pinned; an unpinned resolve pulls a multi-GB CUDA wheel.
TORCH := torch==2.13.0

.PHONY: run test tools lint format bench-eval bench-ingest bench-latency bench-queue clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet $(TORCH)
	$(BIN)/pip install --quiet -e '.[local]'
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[local,dev]'
	touch $@

run: $(VENV)/.installed  ## Install and serve the API on the embedded default with the sample corpus.
	$(BIN)/ragfleet serve

# The monitoring tests run promtool and a real Prometheus (Debian package prometheus).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
tools:
	@command -v promtool >/dev/null || { $(SUDO) apt-get update -qq && \
	  $(SUDO) apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }

test: $(VENV)/.installed-dev tools lint  ## Install, lint, type-check and run the test suite.
	$(BIN)/python -m pytest

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(VENV)/.installed-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

SCIFACT ?= ../shared/data/beir/scifact

bench-eval: $(VENV)/.installed  ## Retrieval quality on BEIR SciFact (all modes).
	$(BIN)/ragfleet eval beir $(SCIFACT) --reindex

bench-ingest: $(VENV)/.installed-dev  ## Ingestion throughput against the bare model.
	$(BIN)/python bench/ingest.py $(SCIFACT)

bench-latency: $(VENV)/.installed-dev  ## /v1/search latency over loopback HTTP.
	$(BIN)/python bench/latency.py $(SCIFACT)

bench-queue: $(VENV)/.installed-dev  ## Celery queue against the in-process runner; kill -9 recovery.
	$(BIN)/python bench/queue_ingest.py $(SCIFACT)

clean:
	rm -rf $(VENV) .ragfleet .pytest_cache .mypy_cache .ruff_cache
