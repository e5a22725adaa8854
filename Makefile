# `make demo` and `make test` work on a fresh machine with Python 3.11: each builds its virtual
# environment on first use. The runtime's (.venv: demo, dev, bench and deployments) carries no test
# tools: where hypothesis is installed, pandera imports it, and pytest through its plugins, in
# every run's process (0.6 s of CPU a run). The tests have their own (.venv-test).
VENV ?= .venv
TEST_VENV ?= .venv-test
PYTHON ?= python3

# Each environment installs the exact versions of its lockfile, then the project itself.
define install_locked
	$(PYTHON) -m venv $(1)
	$(1)/bin/pip install --quiet --upgrade pip
	$(1)/bin/pip install --quiet --requirement $(2)
	$(1)/bin/pip install --quiet --no-deps --editable '.$(3)'
	touch $(1)/.installed
endef

$(VENV)/.installed: pyproject.toml requirements.lock
	$(call install_locked,$(VENV),requirements.lock,)
$(TEST_VENV)/.installed: pyproject.toml requirements-test.lock
	$(call install_locked,$(TEST_VENV),requirements-test.lock,[test])

# The lockfiles anew from pyproject.toml's ranges, each resolved in a fresh environment. The
# runtime's includes the Celery extra, so a deployment from the lockfile can run Celery workers.
lock:
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock && .venv-lock/bin/pip install --quiet '.[celery]'
	.venv-lock/bin/pip freeze --exclude kaggle-lb > requirements.lock
	.venv-lock/bin/pip install --quiet '.[test]' && .venv-lock/bin/pip freeze --exclude kaggle-lb > requirements-test.lock
	rm -rf .venv-lock

.PHONY: install demo test dev bench lint lock
install: $(VENV)/.installed

# The demo and the UI share one data directory and one Dagster instance, so `make demo` then
# `make dev` shows the demo's competitions, runs and checks; the UI's own syncs read the demo's
# exports, offline.
DEMO_HOME := $(CURDIR)/.kaggle_lb
DEMO_ENV := KAGGLE_LB_HOME=$(DEMO_HOME) DAGSTER_HOME=$(DEMO_HOME)/dagster \
	KAGGLE_LB_SOURCE=$(CURDIR)/kaggle_lb/demo/exports
$(DEMO_HOME)/dagster/dagster.yaml: dagster.yaml
	mkdir -p $(@D) && cp dagster.yaml $@

demo: $(VENV)/.installed $(DEMO_HOME)/dagster/dagster.yaml
	$(DEMO_ENV) $(VENV)/bin/kaggle-lb demo

test: $(TEST_VENV)/.installed
	$(TEST_VENV)/bin/pytest

dev: $(VENV)/.installed $(DEMO_HOME)/dagster/dagster.yaml
	$(DEMO_ENV) $(VENV)/bin/dagster dev

# Sync benchmark against the per-row design (see README, Performance); JSON in benchmarks/results/.
bench: $(VENV)/.installed
	$(VENV)/bin/python -m benchmarks.sync_benchmark

# Lint and format check (ruff) and types (mypy over kaggle_lb/), as .ci/run runs them.
lint: $(TEST_VENV)/.installed
	$(TEST_VENV)/bin/ruff check .
	$(TEST_VENV)/bin/ruff format --check .
	$(TEST_VENV)/bin/mypy
