# Every entry point of the project. `make help` lists them.
PY        ?= $(shell command -v python3.11 || command -v python3)
VENV      := .venv
PYTHON    := $(VENV)/bin/python
SUBMISSION ?= exercises
EX        ?=
JSON      ?=
SUITE     ?= all
PYTEST_ARGS ?=
WARM      ?= $(or $(AUTOGRADER_WARM),1)# make grade asks a warm grader from its second run on (WARM=0: never)

.DEFAULT_GOAL := help

# Targets of the notebook/nbgrader cycle and of class grading live beside this file.
-include mk/*.mk
.PHONY: help venv grade watch hint repro test test-fast lint stubs check-stubs list bench bench-watch sandbox clean

# Targets inside `ifneq ($(wildcard solutions/*.py),)` are the instructor's: a learner's copy (no
# solutions/) neither has them nor lists them.
# (not INSTRUCTOR: mk/deploy.mk names the instructor's account so)
INSTRUCTOR_COPY := $(if $(wildcard solutions/*.py),1,0)

help: ## list every target with one line each
	@awk -v instructor=$(INSTRUCTOR_COPY) 'BEGIN {FS = ":.*## "} /^ifneq .*solutions/ {skip = !instructor} \
		/^endif/ {skip = 0} !skip && /^[a-zA-Z_-]+:.*## / {printf "  make %-18s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo "  variables: SUBMISSION=dir (default exercises)  EX=module.function  N=check  JSON=results.json$(if $(filter 1,$(INSTRUCTOR_COPY)),  SUITE=all|public|hidden)"

# A learner's copy installs what grading and the notebooks need; the instructor's adds the tests' tools.
# Then the worker's op recorder is compiled (once, about 40 s; without a C++ compiler grading works, slower).
$(VENV)/.installed: pyproject.toml autograder/sandbox/oprec.cpp
	@$(PY) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Python 3.11 is required (set PY=/path/to/python3.11)")'
	$(PY) -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -e ".$(if $(filter 1,$(INSTRUCTOR_COPY)),[test])"
	$(PYTHON) -m autograder op-recorder build --optional
	@touch $@

venv: $(VENV)/.installed ## create .venv from pyproject.toml (automatic on first use)

grade: $(VENV)/.installed ## grade SUBMISSION (default exercises/) and print the table
	AUTOGRADER_WARM=$(WARM) $(PYTHON) -m autograder grade --submission $(SUBMISSION) --suite $(SUITE) \
		$(foreach e,$(EX),--exercise $(e)) $(if $(JSON),--json $(JSON))


watch: $(VENV)/.installed ## re-grade a module of SUBMISSION each time you save it (Ctrl-C stops)
	$(PYTHON) -m autograder watch --submission $(SUBMISSION)

hint: $(VENV)/.installed ## print the next hint for EX (e.g. make hint EX=convolution.conv2d)
	@test -n "$(EX)" || { echo "usage: make hint EX=module.function"; exit 2; }
	@$(PYTHON) -m autograder hint $(EX) --submission $(SUBMISSION)

repro: $(VENV)/.installed ## re-run check N of EX on your code, then show your values (as `make grade` prints it)
	@test -n "$(EX)" -a -n "$(N)" || { echo "usage: make repro EX=module.function N=check (make grade prints both)"; exit 2; }
	@$(PYTHON) -m autograder repro $(EX) $(N) --submission $(SUBMISSION)

list: $(VENV)/.installed ## list exercises, points and forbidden operations
	$(PYTHON) -m autograder list

ifneq ($(wildcard solutions/*.py),)
test: $(VENV)/.installed ## the project's own test suite (it ends with its 15 slowest tests, to keep it quick)
	$(PYTHON) -m pytest --durations=15 $(PYTEST_ARGS)

lint: $(VENV)/.installed ## ruff (lint, import order, format) and mypy over the whole package, as pyproject.toml says
	$(VENV)/bin/ruff check autograder tests solutions bench deploy nbgrader_config.py
	$(VENV)/bin/ruff format --check autograder tests bench deploy nbgrader_config.py
	$(VENV)/bin/mypy

test-fast: $(VENV)/.installed ## the pure tier: no sandbox, no subprocess (under a minute)
	$(PYTHON) -m pytest -m pure -q $(PYTEST_ARGS)

stubs: $(VENV)/.installed ## regenerate exercises/ from solutions/
	$(PYTHON) -m autograder stubs

check-stubs: $(VENV)/.installed ## fail when exercises/ is stale
	$(PYTHON) -m autograder stubs --check

bench: $(VENV)/.installed ## time one and all exercises (cold, warm), watch and a wrong name against a bare `import torch`
	$(PYTHON) bench/grade_speed.py

bench-watch: $(VENV)/.installed ## time make watch from a save to the complete table (the README's figure)
	$(PYTHON) bench/watch_latency.py
endif

sandbox: ## install bubblewrap (Debian/Ubuntu, as root) for the contained sandbox
	@command -v bwrap >/dev/null || { apt-get update -qq && apt-get install -y -qq bubblewrap; }

clean: ## remove the virtual environment and caches
	rm -rf $(VENV) .pytest_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
