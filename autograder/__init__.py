"""Autograder for the neural-networks-by-hand exercises.

Layout: ``catalogue`` (the contract) → ``checks`` (what is tested) → ``sandbox`` and
``worker`` (where learner code runs) → ``grader`` (scores) → ``report`` (what people read).
"""
