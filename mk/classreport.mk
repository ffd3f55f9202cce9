# The class report (issue 25): what a class got wrong, from grade-batch's stored results.
RESULTS     ?= results
SUBMISSIONS ?=
REPORT      ?= class-report
GRADEBOOK   ?=

ifneq ($(wildcard solutions/*.py),)
.PHONY: class-report bench-class-report

class-report: $(VENV)/.installed ## one HTML page + JSON of a graded class (RESULTS=results SUBMISSIONS=dir GRADEBOOK=db)
	$(PYTHON) -m autograder class-report --out $(REPORT) \
		$(if $(wildcard $(RESULTS)),--json-dir $(RESULTS)) $(if $(SUBMISSIONS),--submissions $(SUBMISSIONS)) \
		$(if $(GRADEBOOK),--gradebook $(GRADEBOOK))

bench-class-report: $(VENV)/.installed ## time class-report on 300 synthetic submissions; compare similarity methods
	$(PYTHON) bench/class_report.py --count 300 --compare
endif
