"""What a learner reads: the report, results.json, repro, watch and the in-notebook checks."""
