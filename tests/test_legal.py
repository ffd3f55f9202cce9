"""Right both ways: every case of the legal-code corpus (tests/legal.py) scores full marks.

Each case is graded through the real sandbox, in both kinds where bubblewrap runs: correct code
never loses a point to a guard, whatever it prints, imports or names.
"""

from __future__ import annotations

import pytest

from autograder.course import catalogue
from autograder.scoring import launcher
from autograder.scoring.grader import Grader
from autograder.scoring.results import Limits
from conftest import submission_with
from legal import LEGAL

KINDS = ["process"] + (["bwrap"] if launcher.choose("auto").contained else [])


@pytest.fixture(scope="module", params=KINDS)
def grader(request):
    with Grader(request.param, limits=Limits(check_timeout=20.0, exercise_timeout=60.0)) as g:
        yield g


def test_corpus_is_well_formed():
    names = [case.name for case in LEGAL]
    assert len(names) == len(set(names)) and len(LEGAL) >= 15
    assert all(case.module in catalogue.MODULES and case.why.strip() for case in LEGAL)


@pytest.mark.parametrize("case", LEGAL, ids=[case.name for case in LEGAL])
def test_legal_code_scores_full_marks(tmp_path, grader, case):
    result = grader.grade(submission_with(tmp_path, case.module, case.source), [case.module])
    lost = [
        f"{e.exercise.id}: {e.outcome} {e.score}/{e.max_score} {e.message}"
        for e in result.exercises
        if e.outcome != "passed" or e.score != e.max_score
    ]
    assert not lost, "\n".join(lost)
