"""Precision is a checked property: for every exercise with float64 inputs, PyTorch's reference computed
in float32 (``relations._in_float32``, as a learner's ``.float()`` or float32 buffer would) fails at least
one check, and the feedback names it a float32 computation.

In-process, but every check of every exercise runs twice: marked slow, out of the pure tier's minute.
"""

from __future__ import annotations

import pytest

from autograder import checks
from autograder.checks.core import Raises
from autograder.course import catalogue, relations
from autograder.protocol.encoding import encode
from autograder.scoring.judge import diagnose
from autograder.scoring.results import Unit

pytestmark = pytest.mark.slow

# exercises with float64 inputs where a float32 computation is not (yet) a checked property, and why
FLOAT32_UNCHECKED = {
    "neurons.sensitive_mask": "a boolean mask: float32 rounding flips it only within 1e-7 of min_slope",
    "regularization.regularized_loss": "its float64 input is a model: the float32 variant cannot narrow one",
}


def _float64_calls(exercise: str):
    found = []
    for check in checks.for_exercise(exercise):
        if isinstance(check, Raises):  # its reference raises by design: nothing to compute in float32
            continue
        try:
            float32 = relations._in_float32(check.reference())
            want = {k: encode(v) for k, v in check.run(check.reference(), "cpu").items()}
            got = {k: encode(v) for k, v in check.run(float32, "cpu").items()}
        except Exception:  # noqa: BLE001 - no float64 input here (the variant refuses), or no reference
            continue
        found.append((check, want, got))
    return found


@pytest.mark.parametrize("exercise", [e.id for e in catalogue.EXERCISES])
def test_every_exercise_with_float64_inputs_catches_and_names_a_float32_computation(exercise):
    calls = _float64_calls(exercise)
    if not calls or exercise in FLOAT32_UNCHECKED:
        pytest.skip(FLOAT32_UNCHECKED.get(exercise, "no float64 input"))
    failures = [
        Unit(check, "cpu", "failed", message, got=got)
        for check, want, got in calls
        if (message := check.verdict(got, want))
    ]
    assert failures, f"{exercise}: a float32 computation of its float64 inputs passes every check"
    named = diagnose(failures)
    assert named is not None and "float32" in named.name, named
