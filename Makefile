# The two commands: `make run` serves the platform, `make test` runs the tests.
# Both install what is missing (Debian packages, the Python venv) and are idempotent.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 5000
PYTEST_ARGS ?=

.PHONY: run test system venv images bench clean-containers

run: system venv
	$(VENV)/bin/bdp images build --base
	$(VENV)/bin/bdp server --host $(HOST) --port $(PORT)

test: system venv
	$(PY) -m pytest $(PYTEST_ARGS)

bench: system venv
	$(PY) -m bench

# Debian packages and a running Docker Engine.
system:
	bash scripts/setup-system.sh

venv: $(VENV)/.installed

$(VENV)/.installed: setup.py
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@
