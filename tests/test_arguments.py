"""Arguments are left alone: a function that changes what it was given fails, naming the argument.

In-process (no sandbox): each mutant of the zoo that modifies an argument is run through its
exercise's checks, and the verdict must name what it changed. Correct code passes (test_checks).
"""

from __future__ import annotations

import pytest

from autograder import checks
from autograder.protocol.encoding import encode
from conftest import load_module
from mutants import MUTANTS, build_submission

pytestmark = pytest.mark.pure  # no sandbox, no subprocess: `make test-fast` runs these

CHANGES = {  # mutant -> what its message must name
    "iqr_sorts_in_place": "argument `values`",
    "to_int_fills_in_place": "argument `values`",
    "normalize_in_place": "argument `x`",
    "nll_rewrites_target": "argument `target`",
    "regularized_adds_in_place": "argument `loss`",
    "sgd_zeroes_grad": "parameter 0.weight's .grad",
    "l1_abs_in_place": "parameters `weight`, `bias`",
}
BY_NAME = {m.name: m for m in MUTANTS}


@pytest.mark.parametrize("name", list(CHANGES))
def test_changing_an_argument_fails_and_names_it(tmp_path, name):
    mutant = BY_NAME[name]
    sub = build_submission(tmp_path / "sub", mutant.target, mutant.source)
    fn = getattr(load_module(sub, mutant.module), mutant.function)
    verdicts = []
    for check in checks.for_exercise(mutant.target):
        want = {k: encode(v) for k, v in check.run(check.reference(), "cpu").items()}
        got = {k: encode(v) for k, v in check.run(fn, "cpu").items()}
        verdicts.append(check.verdict(got, want) or "")
    named = [v for v in verdicts if "changed" in v and CHANGES[name] in v]
    assert named, verdicts


def test_references_change_nothing():
    """PyTorch's own references, through the same protocols, never report a change."""
    for found in checks.all_checks().values():
        for check in found:
            if check.reference() is not None:
                assert "changed" not in check.run(check.reference(), "cpu"), check.describe()
