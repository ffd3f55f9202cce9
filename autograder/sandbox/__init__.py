"""The untrusted side: the worker that imports learner code, and its walls and instruments."""
