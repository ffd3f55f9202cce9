"""State that arguments carry is checked from a non-trivial start: a model arrives with a seeded ``.grad``
on every trainable parameter and its training flag is watched, so a function that clears gradients or
leaves the model in eval mode is told so (docs/contract.md says what each function may change).

In-process: the functions run through their exercises' public checks, as the worker runs them.
"""

from __future__ import annotations

import pytest
import torch

from autograder import checks
from autograder.protocol.encoding import encode
from conftest import SOLUTIONS, load_module

pytestmark = pytest.mark.pure  # no sandbox, no subprocess: `make test-fast` runs these


def _verdicts(exercise: str, fn) -> list[str]:
    found = []
    for check in checks.for_exercise(exercise, ("public",)):
        if check.plan().kind != "model":  # the protocol that hands the function a model (plans.model_protocol)
            continue
        want = {k: encode(v) for k, v in check.run(check.reference(), "cpu").items()}
        got = {k: encode(v) for k, v in check.run(fn, "cpu").items()}
        found.append(check.verdict(got, want) or "")
    assert found, f"{exercise} has no public check on a model"
    return found


@pytest.mark.parametrize(
    "exercise",
    ["regularization.l1_penalty", "regularization.l2_penalty", "neurons.count_parameters", "capstone.accuracy"],
)
def test_the_solutions_leave_grads_and_training_mode_alone(exercise):
    module, function = exercise.split(".")
    fn = getattr(load_module(SOLUTIONS, module), function)
    assert _verdicts(exercise, fn) == [""] * len(_verdicts(exercise, fn))


def test_a_penalty_that_clears_the_gradients_is_caught():
    def l2_penalty(model):
        model.zero_grad()  # set_to_none: invisible when the model arrives without gradients
        return sum(p.pow(2).sum() for p in model.parameters())

    messages = _verdicts("regularization.l2_penalty", l2_penalty)
    assert messages and all(".grad" in m for m in messages), messages


def test_an_accuracy_that_leaves_the_model_in_eval_mode_is_caught():
    capstone = load_module(SOLUTIONS, "capstone")

    def accuracy(model, images, labels):
        model.eval()
        return capstone.accuracy(model, images, labels)

    messages = _verdicts("capstone.accuracy", accuracy)
    assert messages and all("training mode" in m for m in messages), messages


def test_an_accuracy_that_restores_the_mode_keeps_full_marks():
    capstone = load_module(SOLUTIONS, "capstone")

    def accuracy(model, images, labels):
        was_training = model.training
        model.eval()
        try:
            return capstone.accuracy(model, images, labels)
        finally:
            model.train(was_training)

    assert all(m == "" for m in _verdicts("capstone.accuracy", accuracy))


def test_the_model_arrives_with_gradients_and_in_training_mode():
    seen = {}

    def count_parameters(model):
        seen["grads"] = [p.grad is not None for p in model.parameters() if p.requires_grad]
        seen["training"] = model.training
        return sum(p.numel() for p in model.parameters() if p.requires_grad)

    _verdicts("neurons.count_parameters", count_parameters)
    assert seen["grads"] and all(seen["grads"]) and seen["training"] is True
    assert torch.is_grad_enabled()
