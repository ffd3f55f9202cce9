"""What is graded: the catalogue of exercises, their hints and their named mistakes."""
