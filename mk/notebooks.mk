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

lab: $(VENV)/.installed ## open JupyterLab on your own copies of the notebooks (my-notebooks/)
	@for nb in release/*/*.ipynb; do \
		dest="my-notebooks/$${nb#release/}"; \
		if [ ! -e "$$dest" ]; then mkdir -p "$$(dirname "$$dest")" && cp "$$nb" "$$dest" && echo "copied $$dest"; fi; \
	done
	$(NB_PATH) $(VENV)/bin/jupyter lab $(NB_ROOT_OK) my-notebooks

grade-notebook: $(VENV)/.installed ## grade the code of notebook NB=path in the sandbox, like make grade
	@test -n "$(NB)" || { echo "usage: make grade-notebook NB=my-notebooks/04_losses/losses.ipynb"; exit 2; }
	$(PYTHON) -m autograder grade --notebook "$(NB)" --suite $(SUITE) \
		$(foreach e,$(EX),--exercise $(e)) $(if $(JSON),--json $(JSON))

# The instructor's targets need the solutions: a student release has none of them.
ifneq ($(wildcard solutions/*.py),)
.PHONY: notebooks check-notebooks release release-assignment collect autograde feedback export formgrader student-release

notebooks: $(VENV)/.installed ## regenerate source/ (nbgrader source notebooks) from lessons/ and solutions/
	$(PYTHON) -m autograder.nbsource

check-notebooks: $(VENV)/.installed ## fail when source/ is stale
	$(PYTHON) -m autograder.nbsource --check

release: notebooks ## nbgrader generate_assignment: every assignment in source/ into release/
	$(NBGRADER) generate_assignment "$(if $(ASSIGNMENT),$(ASSIGNMENT),*)" --force

release-assignment: $(VENV)/.installed ## publish release/ to the exchange, where learners fetch it
	@mkdir -p "$(NBGRADER_EXCHANGE)" && chmod 777 "$(NBGRADER_EXCHANGE)"
	@for a in $(NB_ALL); do $(NBGRADER) release_assignment $$a --force || exit 1; done

collect: $(VENV)/.installed ## copy the learners' submissions from the exchange into submitted/
	@for a in $(NB_ALL); do $(NBGRADER) collect $$a || exit 1; done

autograde: $(VENV)/.installed ## nbgrader autograde, then the sandbox grades the same notebooks; disagreements listed
	$(NB_PATH) $(PYTHON) -m autograder.nbcycle autograde $(foreach a,$(ASSIGNMENT),--assignment $(a))

feedback: $(VENV)/.installed ## feedback HTML for every graded submission, released to the exchange
	$(NBGRADER) generate_feedback "$(if $(ASSIGNMENT),$(ASSIGNMENT),*)" --force
	$(NBGRADER) release_feedback "$(if $(ASSIGNMENT),$(ASSIGNMENT),*)"

export: $(VENV)/.installed ## the grades as CSV (GRADES=grades.csv)
	$(NBGRADER) export --to $(GRADES)

formgrader: $(VENV)/.installed ## JupyterLab with nbgrader's formgrader, to grade the written answers
	@echo "In JupyterLab open Nbgrader → Formgrader, then Manage Submissions → Manual grading."
	$(NB_PATH) $(VENV)/bin/jupyter lab $(NB_ROOT_OK) --ServerApp.root_dir="$(CURDIR)"

student-release: $(VENV)/.installed ## what a learner receives, in dist/student/ and dist/student.zip
	$(PYTHON) -m autograder.bundle dist/student
endif
