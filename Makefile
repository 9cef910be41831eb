# ml-connector: `make run` to try it, `make test` to check it. Both set up .venv themselves.
PYTHON ?= $(shell bin/find-python)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: install run test lint services migrate clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

services:
	@bin/ensure-services

migrate: install
	DEBUG=$${DEBUG:-true} $(PY) manage.py migrate --noinput

# Checks Redis, migrates, starts the Procfile (web, worker, beat) with honcho; with no provider credentials,
# in sandbox mode with the FreshBooks and Slack stand-ins (bin/run, sandbox/run.py).
run: install
	@DEBUG=$${DEBUG:-true} $(PY) bin/run

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

test: install services
	@bin/ensure-chromium
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	REQUIRE_BROWSER=1 $(PY) -m pytest

clean:
	rm -rf $(VENV) var/static .pytest_cache
