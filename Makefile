# The two commands a fresh machine needs: `make up` (local stack) and `make test` (every suite).
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: up demo test lint unit integration infra e2e bench system-deps install clean openapi

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

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check . || true

unit: $(STAMP)
	$(BIN)/pytest -q tests/unit

integration: $(STAMP)
	$(BIN)/pytest -q tests/integration

infra: $(STAMP)
	$(BIN)/pytest -q tests/infra

e2e: install
	$(BIN)/pytest -q tests/e2e

test: install
	$(BIN)/ruff check .
	$(BIN)/pytest -q -n 2 tests/unit tests/integration
	$(BIN)/pytest -q tests/infra
	$(BIN)/pytest -q tests/e2e

bench: install
	$(BIN)/python bench/run.py

openapi: $(STAMP)
	$(BIN)/gridshare openapi > docs/openapi.json

clean:
	rm -rf $(VENV) cdk.out .local .benchmarks
