# The two commands: `make run` serves the platform, `make test` runs the tests.
# Both install what is missing (Debian packages, the Python venv) and are idempotent.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 5000
# Workers (pytest-xdist): PYTEST_WORKERS=3 overlaps the docker tests' waits on 2 cores, but
# is not the default yet: platforms of parallel tests still collide on the engine now and
# then (a default subnet, ssh control sockets under long paths).
PYTEST_WORKERS ?= 0
PYTEST_ARGS ?=

.PHONY: run test system venv images bench bench-tools clean-containers

run: system venv
	$(VENV)/bin/bdp images build --base
	$(VENV)/bin/bdp server --host $(HOST) --port $(PORT)

test: system venv
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

bench: system venv bench-tools
	$(PY) -m bench

# What only the benchmarks need: wrk, the load generator of bench/bench_api.py.
bench-tools:
	command -v wrk >/dev/null || (apt-get update -q && apt-get install -y -q wrk)

# Debian packages and a running Docker Engine.
system:
	bash scripts/setup-system.sh

venv: $(VENV)/.installed

$(VENV)/.installed: setup.py
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@
