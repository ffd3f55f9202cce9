"""The notebooks and nbgrader's cycle: sources, release, autograde, feedback, gradebook."""
