# Class grading: the Gradescope autograder zip and the class-grading benchmark (issue 5).
ifneq ($(wildcard solutions/*.py),)
.PHONY: gradescope bench-class secret

secret: $(VENV)/.installed ## create the course secret the hidden checks draw their inputs from (keep it; never commit it)
	$(PYTHON) -m autograder secret

gradescope: $(VENV)/.installed ## build autograder.zip for Gradescope (setup.sh, run_autograder, hidden checks, pinned requirements)
	$(PYTHON) -m autograder gradescope build --out autograder.zip

bench-class: $(VENV)/.installed ## time grade-batch on 100 submissions against a CLI loop and nbgrader autograde
	$(PYTHON) bench/class_grading.py
endif
