# The README's commands. Every target creates .venv and installs the package first if needed.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
SWEEP_ARGS ?=

.PHONY: install system-packages sweep test test-fast lint docs tensorboard demo clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(INSTALLED): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,launchers]'
	touch $(INSTALLED)

install: $(INSTALLED)

# The main job: one decoder of each family raced over seeds (experiment=race_decoders: seeds
# 1-4 for all, then 2 more a round for those the paired test cannot yet tell from the best, up
# to 8 seeds and 32 jobs), 13 epochs each, two single-threaded jobs at a time (launcher=joblib).
# SWEEP_LAUNCHER= runs the jobs one after another (Hydra's basic launcher); SWEEP_ARGS adds
# overrides; SWEEP_EXPERIMENT=race_all_decoders races all 13 variants (about an hour).
SWEEP_LAUNCHER ?= joblib
SWEEP_EXPERIMENT ?= race_decoders

sweep: install
	$(VENV)/bin/decoderlab-train -m experiment=$(SWEEP_EXPERIMENT) \
		$(if $(SWEEP_LAUNCHER),launcher=$(SWEEP_LAUNCHER)) $(SWEEP_ARGS)

# the one-node SLURM cluster of tests/test_slurm.py (slurm-wlm, munge: installed only when missing);
# when they cannot be installed the SLURM tests fail with the command to run, after the others
system-packages:
	@scripts/install-slurm || echo "make: SLURM and MUNGE are missing; tests/test_slurm.py will fail" >&2

test: install system-packages
	$(PY) -m pytest

test-fast: install
	$(PY) -m pytest -m "not slow"

lint: install
	$(PY) -m ruff check src tests benchmarks
	$(PY) -m ruff format --check src tests benchmarks

# the documentation site (mkdocs, Material theme, mkdocstrings) into site/; strict: a broken
# link or anchor, or a page left out of the navigation, fails the build
DOCS_INSTALLED := $(VENV)/.docs-installed

$(DOCS_INSTALLED): pyproject.toml | $(INSTALLED)
	$(PY) -m pip install --quiet -e '.[docs]'
	touch $(DOCS_INSTALLED)

docs: $(DOCS_INSTALLED)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

tensorboard: install
	$(VENV)/bin/tensorboard --logdir outputs --port 6006

demo: install
	$(VENV)/bin/decoderlab-demo

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache site
