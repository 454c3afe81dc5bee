# The README's commands. `make local-up` runs the cache on a local MinIO; `make test` runs every test.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup nix tools lint unit e2e test local-up local-down local-clean local-env

setup: $(STAMP) nix

# The venv is rebuilt when requirements.txt changes. Pulumi's Python host finds it through Pulumi.yaml.
$(STAMP): requirements.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

# Debian's Nix client, for the interop and end-to-end tests.
nix:
	@command -v nix >/dev/null || { \
	  echo "==> installing Debian's nix-bin"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq nix-bin >/dev/null; }

# Pulumi CLI and plugins, MinIO and mc at pinned versions, built once per machine (see tools/pins.env).
tools:
	@bash tools/ensure-tools.sh >/dev/null

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .

unit: setup
	$(PY) -m pytest -m "not e2e"

e2e: setup tools
	$(PY) -m pytest -m e2e

test: setup tools lint
	$(PY) -m pytest

local-up: $(STAMP)
	@$(PY) -m devtools.local up

local-down: $(STAMP)
	@$(PY) -m devtools.local down

local-clean: $(STAMP)
	@$(PY) -m devtools.local clean

local-env: $(STAMP)
	@$(PY) -m devtools.local env
