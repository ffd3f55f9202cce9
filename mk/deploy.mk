# A course with learners' own Unix accounts, a shared nbgrader exchange and JupyterHub (deploy/README.md).
#   make hub-deps     installs JupyterHub's proxy (node's configurable-http-proxy, pinned) system-wide
#   make course-setup INSTRUCTOR=teacher LEARNERS="ann bea" (as root) runs deploy/setup_course.py

CHP_VERSION ?= 5.3.0
INSTRUCTOR  ?=
LEARNERS    ?=

# The instructor's targets: a learner's bundle (no solutions/) neither has them nor lists them.
ifneq ($(wildcard solutions/*.py),)
.PHONY: hub-deps course-setup

hub-deps: ## install JupyterHub's configurable-http-proxy (npm, pinned; as root) for deploy/ and its tests
	@if configurable-http-proxy --version 2>/dev/null | grep -qx '$(CHP_VERSION)'; then \
		echo "configurable-http-proxy $(CHP_VERSION) is installed"; \
	else \
		npm install --global --no-audit --no-fund configurable-http-proxy@$(CHP_VERSION); \
	fi

course-setup: $(VENV)/.installed ## set up the shared exchange, the instructor's course and the learners (as root; deploy/README.md)
	@test -n "$(INSTRUCTOR)" || { echo "usage: make course-setup INSTRUCTOR=user LEARNERS=\"user1 user2\""; exit 2; }
	$(PYTHON) deploy/setup_course.py --instructor $(INSTRUCTOR) $(foreach l,$(LEARNERS),--learner $(l))
endif
