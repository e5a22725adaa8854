# `make demo` and `make test` work on a fresh machine with Python 3.11: each builds the virtual
# environment on first use.
VENV ?= .venv
PYTHON ?= python3

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet --editable '.[test]'
	touch $@

.PHONY: install demo test dev bench
install: $(VENV)/.installed

demo: $(VENV)/.installed
	$(VENV)/bin/kaggle-lb demo

test: $(VENV)/.installed
	$(VENV)/bin/pytest

dev: $(VENV)/.installed
	$(VENV)/bin/dagster dev

# Sync benchmark against the per-row design (see README, Performance); JSON in benchmarks/results/.
bench: $(VENV)/.installed
	$(VENV)/bin/python -m benchmarks.sync_benchmark
