"""Naming a mistake from the evidence: the named mistakes themselves are written in each exercise's
record (``modules/``).

When checks fail, the scorer recomputes each failing check with the known-wrong variants of the
exercise (PyTorch code, run in the scorer on the same seeded inputs); a mistake is named, with
how to fix it, only when its variant reproduces every failing result, gradients included. Two mistakes are
recognised from other evidence: a float32 result for float64 input, and tensors created on
the default device (seen by the placement check on the ``meta`` device).
"""

from __future__ import annotations

from typing import Any

from autograder.course import catalogue, variants
from autograder.course.compare import EXACT, compare
from autograder.course.records import Mistake

MISTAKES: tuple[Mistake, ...] = tuple(m for e in catalogue.EXERCISES for m in e.mistakes)

FLOAT32_RESULT = Mistake(
    "a float64 input returned as float32",
    "create tensors with dtype=x.dtype (torch.zeros(..., dtype=x.dtype) or x.new_zeros)",
)
DEFAULT_DEVICE = Mistake(
    "tensors created on the default device",
    "pass device=x.device when creating tensors (or use x.new_zeros / torch.zeros_like)",
)


def for_exercise(exercise_id: str) -> list[Mistake]:
    return [m for m in MISTAKES if m.exercise == exercise_id]


def reproduces(mistake: Mistake, check, got: dict | None, raised: str | None = None) -> bool:
    """True when one of the mistake's variants gives the learner's whole result on this check:
    every value it returned (output and gradients alike, within the check's tolerance), or the
    same exception when the learner's code raised ``raised``.

    Runs in the scorer: each variant is PyTorch/NumPy code applied to the check's seeded inputs.
    """
    for variant in mistake.variants:
        kind, want = variants.result(check, variant, variant)  # a variant is a function of the record
        if kind == "raised":  # the variant raises here too, or does not apply
            if raised is not None and want == raised:
                return True
            continue
        if (
            got is not None
            and set(got) == set(want)
            and all(compare(got[k], want[k], getattr(check, "tol", EXACT)) is None for k in want)
        ):
            return True
    return False


def identify(evidence: list[tuple[Any, dict | None, str | None]]) -> Mistake | None:
    """The first mistake whose variant reproduces every failing result (``(check, learner's value,
    exception type it raised)`` triples): a mistake that explains only part of the evidence is not
    named."""
    if not evidence:
        return None
    for mistake in for_exercise(evidence[0][0].exercise):
        if all(reproduces(mistake, check, got, raised) for check, got, raised in evidence):
            return mistake
    return None


FACTS = {"float32_result": FLOAT32_RESULT, "created_cpu_tensor": DEFAULT_DEVICE}  # Unit.facts → mistake


def from_evidence(facts: set[str]) -> Mistake | None:
    """Mistakes that show in the shape of the evidence (a dtype, a tensor made on the CPU) rather
    than in values a variant could reproduce."""
    return next((FACTS[f] for f in FACTS if f in facts), None)
