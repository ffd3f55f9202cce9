"""The independent corpus (tests/corpus_misconceptions.py): every wrong answer loses points, and the
share that gets a named diagnosis does not fall below what was measured when the relations landed.

One grade per entry, made once for the session (``graded``): the grader runs 2 cores' worth of work.
"""

from __future__ import annotations

from collections import Counter

import pytest
from corpus_misconceptions import CORPUS
from diagnosis import measure

from mutants import MUTANTS

pytestmark = pytest.mark.slow

# measured when the relations landed (python tests/diagnosis.py): 6 of 70 named before them, 20 after
NAMED_AT_LEAST = 20


@pytest.fixture(scope="session")
def graded(warm_grader):
    return {row.name: row for row in measure(CORPUS, warm_grader)}


def test_the_corpus_is_large_independent_and_covers_every_module():
    from autograder.course import catalogue

    assert len(CORPUS) >= 60
    names = [m.name for m in CORPUS]
    assert len(set(names)) == len(names)
    zoo = {m.source.strip() for m in MUTANTS}
    assert not [m.name for m in CORPUS if m.source.strip() in zoo], "an entry copies the zoo"
    per_module = Counter(m.module for m in CORPUS)
    assert set(per_module) == set(catalogue.MODULES), per_module


@pytest.mark.parametrize("name", [m.name for m in CORPUS])
def test_every_wrong_answer_of_the_corpus_loses_points(graded, name):
    row = graded[name]
    assert row.killed, f"{name} ({row.target}) kept full marks: {row.message}"


def test_the_named_share_does_not_fall(graded):
    named = [r.name for r in graded.values() if r.killed and r.named_after]
    assert len(named) >= NAMED_AT_LEAST, sorted(named)


def test_the_relations_only_add_names(graded):
    """A wrong answer named before the relations is named the same way after them (they come second)."""
    for row in graded.values():
        if row.named_before:
            assert row.named_after == row.named_before, row
