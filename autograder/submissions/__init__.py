"""A class at once: grade-batch, the Dask cluster and Gradescope."""
