# plancube: the two commands a newcomer needs are `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: setup demo serve test check lint format typecheck pytest bench clean
.PHONY: web-test web-build web-check bench-web bench-peers bench-pnl bench-pnl-all bench-structure

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "plancube needs Python 3.11 or newer (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

setup: $(VENV)/.installed  ## create .venv and install plancube with its dev tools

demo: setup  ## load the demo company plan into data/plancube.duckdb (or $$PLANCUBE_DB) and serve it
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

bench-structure: setup  ## adding 5k/20k/60k elements through parents and children, both stores
	$(BIN)/python -m benchmarks.structure

.PHONY: bench-auth
bench-auth: setup  ## bearer-token validation cost per request, cached keys (docs/sign-in.md)
	$(BIN)/python -m benchmarks.auth

.PHONY: bench-security
bench-security: setup  ## sign-in and element security: cost per request and on a 10^6-cell view
	$(BIN)/python -m benchmarks.security --out benchmarks/results/security.json
	$(BIN)/python -m benchmarks.security --store postgres --out benchmarks/results/security-postgres.json
	$(BIN)/python -m benchmarks.signin_cost

.PHONY: bench-feed
bench-feed: setup  ## write latency with 0, 100 and 1,000 live feed subscribers, see docs/benchmarks.md
	$(BIN)/python -m benchmarks.feed_fanout --repeat 3

.PHONY: bench-load
bench-load: setup  ## 50 planners at once (mixed, and writes only), both stores, see docs/benchmarks.md
	$(BIN)/python -m benchmarks.load --out benchmarks/results/load.json
	$(BIN)/python -m benchmarks.load --writes-only --out benchmarks/results/load-writes-only.json

bench-peers:  ## install the P&L benchmark's peers: LibreOffice (apt, as root), HyperFormula, pycel
	apt-get update -q && apt-get install -y --no-install-recommends libreoffice-calc-nogui python3-uno
	cd benchmarks && npm ci --no-audit --no-fund
	$(BIN)/python -m pip install -q -e '.[dev,bench]'

bench-pnl: setup  ## the driver-based P&L at size L: plancube beside numpy and the peers installed
	$(BIN)/python -m benchmarks.pnl --size L

bench-pnl-all: setup  ## the P&L at S, M, L, XL and the sparse XL, one after the other (~20 min)
	set -e; for size in S M L XL; do $(BIN)/python -m benchmarks.pnl --size $$size; done
	$(BIN)/python -m benchmarks.pnl --size XL --sparse

# -- web grid (issue 4): the front-end in server/web, built by Node; only these targets need Node.
WEB := server/web

$(WEB)/node_modules/.package-lock.json: $(WEB)/package-lock.json
	cd $(WEB) && npm ci --no-audit --no-fund

web-test: $(WEB)/node_modules/.package-lock.json  ## the grid's unit tests (vitest)
	cd $(WEB) && npm test

web-build: $(WEB)/node_modules/.package-lock.json  ## rebuild server/web/dist (then commit it)
	cd $(WEB) && npm run build

web-check:  ## CI: npm ci, unit tests, and the committed server/web/dist matches its sources
	bash $(WEB)/check-build.sh

bench-web: setup  ## the grid in Chromium at 5,000 x 36: first render, full recalc push, scroll
	$(BIN)/python -m benchmarks.web_grid

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
