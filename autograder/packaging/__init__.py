"""What is generated for learners: the stubs from the solutions, and the student bundle."""
