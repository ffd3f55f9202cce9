"""One file per course module: each of its exercises' record, hints and named mistakes, together."""
