# The README's commands. `make local-up` runs the cache on a local MinIO; `make test` runs every test.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup nix iproute2 tools lint unit e2e test bench local-up local-down local-clean local-env

setup: $(STAMP) nix iproute2

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

# Debian's iproute2 (`ip netns`): the distributed MinIO runs in a network namespace (e2e, LAYOUT=distributed).
iproute2:
	@command -v ip >/dev/null || { \
	  echo "==> installing Debian's iproute2"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq iproute2 >/dev/null; }

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

# The cache's speed against the manual recipe, on a MinIO of its own; writes BENCH.md (about 15 minutes).
bench: setup tools
	$(PY) -m bench.run --size full --output BENCH.md

local-up: $(STAMP)
	@$(PY) -m devtools.local up $(if $(STATE),--state $(STATE)) $(if $(LAYOUT),--layout $(LAYOUT))

local-down: $(STAMP)
	@$(PY) -m devtools.local down

local-clean: $(STAMP)
	@$(PY) -m devtools.local clean

local-env: $(STAMP)
	@$(PY) -m devtools.local env
