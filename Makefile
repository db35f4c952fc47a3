# The two commands a fresh machine needs: `make up` (local stack) and `make test` (every suite).
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: up demo test fuzz check lint types unit integration local infra e2e bench system-deps install clean openapi

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "needs Python 3.11 (python3.11 or python3 on PATH)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[local,infra,dev]'
	touch $(STAMP)

install: $(STAMP) system-deps

# Mosquitto is the local IoT Core (mutual TLS + per-device ACLs); installed from Debian when missing.
system-deps:
	@command -v mosquitto >/dev/null 2>&1 || test -x /usr/sbin/mosquitto || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get install -y -q mosquitto >/dev/null 2>&1 || (apt-get update -q >/dev/null && apt-get install -y -q mosquitto >/dev/null)); \
	  else echo "Mosquitto is not installed: the local stack falls back to no device broker (see docs/local-stack.md)"; fi; }

up: install
	$(BIN)/gridshare up

demo: install
	$(BIN)/gridshare demo

# Pure code with no AWS: the kernel, the ledger and every context's domain modules.
TYPED := layers/gridshare/gridshare/kernel layers/gridshare/gridshare/ledger/core.py layers/gridshare/gridshare/ledger/assets.py layers/gridshare/gridshare/wallets/limits.py \
  layers/gridshare/gridshare/ledger/revenue_split.py layers/gridshare/gridshare/ledger/history.py \
  layers/gridshare/gridshare/telemetry/readings.py layers/gridshare/gridshare/telemetry/rollups.py \
  layers/gridshare/gridshare/telemetry/rejections.py \
  layers/gridshare/gridshare/telemetry/typed_schema.py layers/gridshare/gridshare/devices/commands.py \
  layers/gridshare/gridshare/telemetry/retention.py layers/gridshare/gridshare/telemetry/segments.py \
  layers/gridshare/gridshare/devices/command_catalogue.py \
  layers/gridshare/gridshare/identity/totp.py layers/gridshare/gridshare/identity/threats.py \
  layers/gridshare/gridshare/wallets/stripe_signature.py layers/gridshare/gridshare/wallets/movements.py \
  layers/gridshare/gridshare/contexts.py layers/gridshare/gridshare/http/no_content.py \
  layers/gridshare/gridshare/http/ranges.py layers/gridshare/gridshare/http/lean_query.py \
  layers/gridshare/gridshare/http/query_specs.py \
  layers/gridshare/gridshare/sites/energy.py layers/gridshare/gridshare/sites/shares.py \
  layers/gridshare/gridshare/devices/certificates.py \
  layers/gridshare/gridshare/communities/allocation.py layers/gridshare/gridshare/communities/energy.py \
  layers/gridshare/gridshare/communities/profiles.py layers/gridshare/gridshare/communities/geo.py \
  layers/gridshare/gridshare/devices/config.py layers/gridshare/gridshare/telemetry/calibration.py \
  layers/gridshare/gridshare/devices/health.py \
  layers/gridshare/gridshare/alerts/evaluation.py layers/gridshare/gridshare/alerts/rules.py \
  layers/gridshare/gridshare/alerts/baseline.py \
  layers/gridshare/gridshare/grid/topology.py layers/gridshare/gridshare/grid/metrics.py \
  layers/gridshare/gridshare/telemetry/reroll.py layers/gridshare/gridshare/telemetry/timestream_records.py \
  layers/gridshare/gridshare/telemetry/rollup_items.py \
  layers/gridshare/gridshare/market/clearing.py layers/gridshare/gridshare/market/matching.py \
  layers/gridshare/gridshare/market/fees.py layers/gridshare/gridshare/http/bearer.py \
  layers/gridshare/gridshare/market/rules.py layers/gridshare/gridshare/settlement/rules.py \
  layers/gridshare/gridshare/settlement/postings.py layers/gridshare/gridshare/settlement/metering.py \
  layers/gridshare/gridshare/settlement/shards.py layers/gridshare/gridshare/wallets/settlements.py \
  layers/gridshare/gridshare/notifications/preferences.py layers/gridshare/gridshare/notifications/topics.py \
  layers/gridshare/gridshare/notifications/settlement_notices.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: $(STAMP)
	$(BIN)/mypy --strict --ignore-missing-imports --follow-imports=silent $(TYPED)

# The fast loop: lint, types, unit tests (seconds).
check: lint types
	$(BIN)/pytest -q -n 2 tests/unit

unit: $(STAMP)
	$(BIN)/pytest -q -n 2 tests/unit

integration: $(STAMP)
	$(BIN)/pytest -q -n 2 tests/integration

local: install
	$(BIN)/pytest -q -n 2 tests/local

infra: $(STAMP)
	$(BIN)/pytest -q -n 2 --dist loadgroup tests/infra

e2e: install
	$(BIN)/pytest -q -n 2 --dist loadgroup tests/e2e

# e2e spends most of its time waiting on its stacks (well under two cores of CPU): it starts first, in the
# background, followed there by infra, and the other checks use the cores it leaves idle. Infra used to run
# last, alone; e2e ends well before unit/integration/local, so infra now fills that gap. Each background
# suite's output is shown when everything has ended. Every check runs; `make test` fails if any failed.
test: install
	@logs=$$(mktemp -d); \
	{ $(BIN)/pytest -q -n 2 --dist loadgroup tests/e2e >"$$logs/e2e" 2>&1 || echo e2e >>"$$logs/failed"; \
	  $(BIN)/pytest -q -n 2 --dist loadgroup tests/infra >"$$logs/infra" 2>&1 || echo infra >>"$$logs/failed"; } & background=$$!; \
	failed=""; \
	$(BIN)/ruff check . || failed="$$failed lint"; \
	$(BIN)/ruff format --check . || failed="$$failed lint"; \
	$(BIN)/mypy --strict --ignore-missing-imports --follow-imports=silent $(TYPED) || failed="$$failed types"; \
	$(BIN)/pytest -q -n 2 --durations=5 tests/unit tests/integration tests/local || failed="$$failed unit/integration/local"; \
	wait $$background || failed="$$failed e2e/infra"; \
	echo "---- tests/e2e (pytest -q -n 2 --dist loadgroup tests/e2e)"; cat "$$logs/e2e"; \
	echo "---- tests/infra (pytest -q -n 2 --dist loadgroup tests/infra)"; cat "$$logs/infra"; \
	for suite in $$(cat "$$logs/failed" 2>/dev/null); do failed="$$failed $$suite"; done; \
	rm -rf "$$logs"; \
	if [ -n "$$failed" ]; then echo "make test: failed:$$failed"; exit 1; fi

# The whole fuzz run (schemathesis, every check, >= 100 examples per operation, user and admin tokens) on a
# stack of its own; `make test` runs a seeded smoke of it (tests/e2e/test_fuzz_smoke.py).
fuzz: install
	GS_FUZZ_EXAMPLES=100 GS_FUZZ_CHECKS=all GS_FUZZ_PHASES=examples,coverage,fuzzing GS_FUZZ_SHRINK=1 GS_FUZZ_REPORT=1 \
	  $(BIN)/pytest -q -s tests/e2e/test_fuzz_smoke.py

bench: install
	$(BIN)/python bench/run.py

# What is generated from the request and response models: the document, the routes table, the query specs.
openapi: $(STAMP)
	$(BIN)/gridshare openapi > docs/openapi.json
	$(BIN)/gridshare openapi --api-md docs/api.md
	$(BIN)/gridshare query-specs > layers/gridshare/gridshare/http/query_specs.py

clean:
	rm -rf $(VENV) cdk.out .local .benchmarks
