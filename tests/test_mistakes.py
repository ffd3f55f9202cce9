"""The catalogue of named mistakes (autograder/course/mistakes.py) is caught, and named, by public checks.

In-process: each mistake's variants are run through their exercise's public checks as if a
learner had written them. Every variant must fail at least one public check (a learner who
passes the public suite has avoided every catalogued mistake), and the failing evidence must
name that mistake (its variant reproduces every failing result, gradients included).
"""

from __future__ import annotations

import pytest

from autograder import checks
from autograder.course import mistakes
from autograder.protocol.encoding import encode
from autograder.scoring.judge import diagnose
from autograder.scoring.results import Unit

pytestmark = pytest.mark.pure  # no sandbox, no subprocess: `make test-fast` runs these

CASES = [(m, i) for m in mistakes.MISTAKES if m.exercise != "*" for i in range(len(m.variants))]


def _public_failures(exercise: str, fn) -> list[Unit]:
    failures = []
    for check in checks.for_exercise(exercise, ("public",)):
        want = {k: encode(v) for k, v in check.run(check.reference(), "cpu").items()}
        try:
            got = {k: encode(v) for k, v in check.run(fn, "cpu").items()}
        except Exception as exc:  # noqa: BLE001 - a variant that raises fails the check
            failures.append(Unit(check, "cpu", "failed", f"raised {type(exc).__name__}", raised=type(exc).__name__))
            continue
        message = check.verdict(got, want)
        if message:
            failures.append(Unit(check, "cpu", "failed", message, got=got))
    return failures


@pytest.mark.parametrize("mistake,variant", CASES, ids=[f"{m.exercise}:{m.name}:{i}" for m, i in CASES])
def test_public_checks_catch_and_name_every_catalogued_mistake(mistake, variant):
    failures = _public_failures(mistake.exercise, mistake.variants[variant])
    assert failures, f"no public check of {mistake.exercise} catches {mistake.name!r}"
    named = diagnose(failures)
    assert named is not None and named.name == mistake.name, (named, [u.message for u in failures])


def test_a_mistake_is_not_named_from_part_of_the_evidence():
    """A tanh that is right except for its slope at 0 is not 'a tanh that overflows'."""
    import torch

    overflow = next(m for m in mistakes.MISTAKES if m.name == "a tanh that overflows")
    for check in checks.for_exercise("neurons.tanh"):
        got = {
            k: encode(v)
            for k, v in check.run(
                lambda x: (
                    torch.where(x >= 0, 1.0, -1.0).to(x.dtype)
                    * (1 - torch.exp(-2 * x.abs()))
                    / (1 + torch.exp(-2 * x.abs()))
                ),
                "cpu",
            ).items()
        }
        if "x = 0" in check.name:  # the only evidence: the gradient at 0
            assert not mistakes.reproduces(overflow, check, got)
