# The commands a person types. `make help` lists them.
# Conda users: create and activate the environment (environment.yml), then add PY=python to any
# target, e.g. `make report PY=python`; the targets then use that environment instead of .venv.

PYTHON ?= python3
VENV ?= .venv
PY ?= $(VENV)/bin/python
PROFILE ?= workshop
LAB_DIR ?= notebooks
KERNEL := beauty-behaviour

ifeq ($(PY),$(VENV)/bin/python)
ENV_READY := $(VENV)/.installed
else
ENV_READY := kernel
endif

.DEFAULT_GOAL := help
.PHONY: help setup hooks kernel report results check-data test test-fast lab student lint strip clean \
	distclean benchmark-data benchmark-study benchmark-recsys benchmark-report benchmark-scale

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'
	@echo "  variables: PROFILE=smoke|workshop|full (default workshop), PY=python (use the active conda env)"

$(VENV)/.installed: pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	$(MAKE) --no-print-directory kernel PY=$(PY)
	touch $@

setup: $(ENV_READY) hooks ## create .venv, install the project, its Jupyter kernel and git hooks

# The hooks (.pre-commit-config.yaml) call the tools in .venv: installed only in a git checkout
# of the project that has one.
hooks: $(ENV_READY) ## install the git pre-commit hooks: strip outputs, ruff, notebook checks
	@if ! git rev-parse --is-inside-work-tree >/dev/null 2>&1 || [ -n "$$(git rev-parse --show-prefix)" ]; then \
		echo "not the top of a git checkout: pre-commit hooks not installed"; \
	elif [ ! -x $(VENV)/bin/python ]; then \
		echo "no $(VENV) (the hooks call its tools): pre-commit hooks not installed"; \
	else $(VENV)/bin/python -m pre_commit install || echo "warning: pre-commit hooks not installed"; fi

kernel: ## register the project's Jupyter kernel (beauty-behaviour) in the environment
	$(PY) -m ipykernel install --sys-prefix --name $(KERNEL) \
		--display-name "Python (beauty-behaviour)" --env TF_CPP_MIN_LOG_LEVEL 2 >/dev/null

report: $(ENV_READY) ## execute every notebook and build reports/index.html (PROFILE=workshop)
	$(PY) -m utils report --profile $(PROFILE)

results: $(ENV_READY) ## write docs/results.md from the headline values of the last run in reports/
	$(PY) -m utils results

check-data: $(ENV_READY) ## is every data file the profile needs here? says what to fetch and where
	$(PY) -m utils check --profile $(PROFILE)

test: $(ENV_READY) ## run all tests: unit, pipeline and the notebooks (nbval, smoke profile)
	$(PY) -m pytest

test-fast: $(ENV_READY) ## run the unit tests only (no notebook execution)
	$(PY) -m pytest tests -m "not slow"

benchmark-data: $(ENV_READY) ## time the simulator (1M events) and the REES46 conversion (20M rows) against pandas.read_csv
	$(PY) -m utils benchmark data --rows 20000000

benchmark-study: $(ENV_READY) ## time notebooks 04-06 (after 01-03 ran) and training speed per model
	$(PY) -m utils benchmark study --profile $(PROFILE)

benchmark-report: $(ENV_READY) ## build the whole report from a cold start; time per notebook against the goals (PROFILE=workshop; KEEP=dir keeps the build)
	$(PY) -m utils benchmark report --profile $(PROFILE) $(if $(KEEP),--keep $(KEEP))

benchmark-scale: $(ENV_READY) ## the out-of-core study at 1M, 5M and 20.7M events: time and memory of each stage (resumable, ~1 h)
	$(PY) -m utils benchmark scale

benchmark-recsys: $(ENV_READY) ## recommenders (GRU/LSTM/RNN/SASRec, baselines) on Amazon Beauty or DATASET=file: fixed epochs, 3 seeds, paired intervals
	$(PY) -m utils benchmark recsys --seeds 3 $(if $(DATASET),--dataset $(DATASET))

student: $(ENV_READY) ## write student copies to student/: solutions replaced by stubs, outputs cleared
	$(PY) -m utils student

lab: $(ENV_READY) ## open JupyterLab on the notebooks with the project's kernel (PROFILE=..., LAB_DIR=student)
	BEAUTY_PROFILE=$(PROFILE) $(PY) -m jupyter lab --notebook-dir=$(LAB_DIR) \
		--MappingKernelManager.default_kernel_name=$(KERNEL)

lint: $(ENV_READY) ## check the code style with ruff
	$(PY) -m ruff check utils tests

strip: $(ENV_READY) ## remove outputs from the notebooks before committing
	$(PY) -m nbstripout --keep-id notebooks/*.ipynb

clean: ## delete generated reports and interim/processed data (keeps raw and downloads)
	rm -rf reports/executed reports/figures reports/metrics reports/index.html reports/runs.json
	find data/interim data/processed -mindepth 1 ! -name .gitkeep -exec rm -rf {} +

distclean: clean ## clean, and delete the virtual environment
	rm -rf $(VENV)
