# Grading a class on a Dask cluster (issue 12, docs/cluster.md): the scaling benchmark.
COUNT ?= 40

ifneq ($(wildcard solutions/*.py),)
.PHONY: bench-cluster

bench-cluster: $(VENV)/.installed ## time one class on local grade-batch and on 1 and 2 Dask workers (COUNT=40)
	$(PYTHON) bench/cluster_scaling.py --count $(COUNT)
endif
