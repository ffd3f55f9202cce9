# Notebooks: JupyterLab for learners, and the instructor's nbgrader cycle (nbgrader_config.py):
#   make notebooks → make release → make release-assignment → (learners fetch and submit)
#   → make collect → make autograde → make formgrader (manual answers) → make feedback → make export
# ASSIGNMENT=04_losses limits a step to one assignment (default: every assignment in source/).

ASSIGNMENT ?=
NB        ?=
GRADES    ?= grades.csv
NBGRADER_EXCHANGE ?= $(CURDIR)/.nbgrader-exchange
export NBGRADER_EXCHANGE

NB_PATH      = PATH="$(CURDIR)/$(VENV)/bin:$$PATH"
NBGRADER     = $(NB_PATH) $(CURDIR)/$(PYTHON) -m nbgrader
NB_ALL       = $(if $(ASSIGNMENT),$(ASSIGNMENT),$(sort $(notdir $(wildcard source/[0-9]*))))
NB_ROOT_OK   = $(if $(filter 0,$(shell id -u)),--allow-root)  # JupyterLab refuses root without it

.PHONY: lab grade-notebook

# make lab: JupyterLab whose file browser shows NOTEBOOKS (default my-notebooks/), and whose
# Assignments tab (Nbgrader → Assignment List) fetches into that folder and submits from it.
# nbgrader's server extension reads nbgrader_config.py through JUPYTER_CONFIG_PATH and fetches into
# Exchange.assignment_dir (NBGRADER_ASSIGNMENT_DIR below): left relative, nbgrader would resolve it
# against the server's working directory, not the folder the file browser shows. With the default
# exchange (this copy's own .nbgrader-exchange/) and nothing published there yet, release/ is
# published to it first (autograder/nbcourse/lab.py), so the tab lists the course's assignments. LAB_ARGS go to
# `jupyter lab` (e.g. LAB_ARGS="--no-browser --port=8899").
NOTEBOOKS ?= my-notebooks
LAB_ARGS  ?=
NB_DIR     = $(abspath $(NOTEBOOKS))

lab: $(VENV)/.installed ## JupyterLab on my-notebooks/: fetch, validate and submit in its Assignments tab
	@mkdir -p "$(NB_DIR)"
ifeq ($(origin NBGRADER_EXCHANGE),file)
	@$(PYTHON) -m autograder publish
endif
	@echo "In JupyterLab: Nbgrader → Assignment List, Fetch an assignment (it lands in $(NB_DIR)),"
	@echo "work in its notebook (Validate is on the notebook's toolbar), then Submit in the same list."
	JUPYTER_CONFIG_PATH="$(CURDIR)$${JUPYTER_CONFIG_PATH:+:$$JUPYTER_CONFIG_PATH}" \
	NBGRADER_ASSIGNMENT_DIR="$(NB_DIR)" $(NB_PATH) $(VENV)/bin/jupyter lab $(NB_ROOT_OK) \
		--ServerApp.root_dir="$(NB_DIR)" $(LAB_ARGS)

grade-notebook: $(VENV)/.installed ## grade the code of notebook NB=path in the sandbox, like make grade
	@test -n "$(NB)" || { echo "usage: make grade-notebook NB=my-notebooks/04_losses/losses.ipynb"; exit 2; }
	$(PYTHON) -m autograder grade --notebook "$(NB)" --suite $(SUITE) \
		$(foreach e,$(EX),--exercise $(e)) $(if $(JSON),--json $(JSON))

# The instructor's targets need the solutions: a student release has none of them.
ifneq ($(wildcard solutions/*.py),)
.PHONY: notebooks check-notebooks release release-assignment collect autograde feedback export formgrader student-release

notebooks: $(VENV)/.installed ## regenerate source/ (nbgrader source notebooks) from lessons/ and solutions/
	$(PYTHON) -m autograder notebooks

check-notebooks: $(VENV)/.installed ## fail when source/ is stale
	$(PYTHON) -m autograder notebooks --check

release: notebooks ## nbgrader generate_assignment: every assignment in source/ into release/
	$(NBGRADER) generate_assignment "$(if $(ASSIGNMENT),$(ASSIGNMENT),*)" --force

release-assignment: $(VENV)/.installed ## publish release/ to the exchange, where learners fetch it
	@mkdir -p "$(NBGRADER_EXCHANGE)" && chmod 777 "$(NBGRADER_EXCHANGE)"
	@for a in $(NB_ALL); do $(NBGRADER) release_assignment $$a --force || exit 1; done

collect: $(VENV)/.installed ## copy the learners' submissions from the exchange into submitted/
	@for a in $(NB_ALL); do $(NBGRADER) collect $$a || exit 1; done

autograde: $(VENV)/.installed ## nbgrader autograde, then the sandbox grades the same notebooks; disagreements listed
	$(NB_PATH) $(PYTHON) -m autograder autograde $(foreach a,$(ASSIGNMENT),--assignment $(a))

feedback: $(VENV)/.installed ## feedback HTML for every graded submission, released to the exchange
	$(NBGRADER) generate_feedback "$(if $(ASSIGNMENT),$(ASSIGNMENT),*)" --force
	$(NBGRADER) release_feedback "$(if $(ASSIGNMENT),$(ASSIGNMENT),*)"

# make export: the gradebook from COURSE_ROOT's gradebook.db (nbgrader's API, autograder/nbcourse/gradebook.py):
# GRADES, one row per learner (totals, a column per exercise and per written answer, answers still
# to grade flagged), and CANVAS, the same scores in Canvas's gradebook import layout.
COURSE_ROOT ?= $(CURDIR)
CANVAS      ?= $(basename $(GRADES))-canvas.csv
EXPORT_ARGS ?=

export: $(VENV)/.installed ## the gradebook (GRADES=grades.csv) and Canvas's import CSV (CANVAS=grades-canvas.csv)
	cd "$(COURSE_ROOT)" && $(NBGRADER) export --exporter=autograder.nbcourse.gradebook.CourseExport \
		--to "$(abspath $(GRADES))" --CourseExport.canvas="$(abspath $(CANVAS))" $(EXPORT_ARGS)

formgrader: $(VENV)/.installed ## JupyterLab with nbgrader's formgrader, to grade the written answers
	@echo "In JupyterLab open Nbgrader → Formgrader, then Manage Submissions → Manual grading."
	$(NB_PATH) $(VENV)/bin/jupyter lab $(NB_ROOT_OK) --ServerApp.root_dir="$(CURDIR)"

student-release: $(VENV)/.installed ## what a learner receives, in dist/student/ and dist/student.zip
	$(PYTHON) -m autograder student-release dist/student
endif
