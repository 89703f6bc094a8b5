# The README's commands. Every target creates .venv and installs the package first if needed.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
SWEEP_ARGS ?=

.PHONY: install sweep test test-fast lint tensorboard demo clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(INSTALLED): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,launchers]'
	touch $(INSTALLED)

install: $(INSTALLED)

# Two single-threaded jobs at a time: the fastest safe setting measured on a 2-core machine
# (3.9 min for the 24 jobs, against 5.0 min one after another with default threads).
# SWEEP_LAUNCHER= runs them sequentially (Hydra's basic launcher).
SWEEP_LAUNCHER ?= joblib

sweep: install
	$(VENV)/bin/decoderlab-train -m experiment=compare_decoders \
		$(if $(SWEEP_LAUNCHER),launcher=$(SWEEP_LAUNCHER)) $(SWEEP_ARGS)

test: install
	$(PY) -m pytest

test-fast: install
	$(PY) -m pytest -m "not slow"

lint: install
	$(PY) -m ruff check src tests benchmarks
	$(PY) -m ruff format --check src tests benchmarks

tensorboard: install
	$(VENV)/bin/tensorboard --logdir outputs --port 6006

demo: install
	$(VENV)/bin/decoderlab-demo

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
