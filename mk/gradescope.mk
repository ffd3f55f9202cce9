# Class grading: the Gradescope autograder zip and the class-grading benchmark (issue 5).
ifneq ($(wildcard solutions/*.py),)
.PHONY: gradescope bench-class

gradescope: $(VENV)/.installed ## build autograder.zip for Gradescope (setup.sh, run_autograder, hidden checks, pinned requirements)
	$(PYTHON) -m autograder gradescope build --out autograder.zip

bench-class: $(VENV)/.installed ## time grade-batch on 100 submissions against a CLI loop and nbgrader autograde
	$(PYTHON) bench/class_grading.py
endif
