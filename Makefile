# plancube: the two commands a newcomer needs are `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: setup demo serve test check lint format typecheck pytest bench clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "plancube needs Python 3.11 or newer (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

setup: $(VENV)/.installed  ## create .venv and install plancube with its dev tools

demo: setup  ## load the demo company plan into data/demo.duckdb and serve it
	$(BIN)/plancube demo

serve: setup  ## serve data/plancube.duckdb (or $$PLANCUBE_DB)
	$(BIN)/plancube serve

test: setup lint typecheck pytest  ## everything CI runs

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: setup
	$(BIN)/mypy

pytest: setup
	$(BIN)/pytest

bench: setup  ## API benchmarks (view and write latency), see docs/benchmarks.md
	$(BIN)/python -m benchmarks.api_latency

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
