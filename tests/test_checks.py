"""Every check agrees with itself: the reference solutions pass it in-process, the stubs are 'not started'.

This runs the checks without the sandbox, so a broken check is found fast and in isolation.
"""

from __future__ import annotations

import pytest

from autograder import checks
from autograder.course import catalogue
from autograder.protocol.encoding import encode
from conftest import EXERCISES, SOLUTIONS, load_module

pytestmark = pytest.mark.pure  # no sandbox, no subprocess: `make test-fast` runs these

ALL = [(c, i) for ex in catalogue.EXERCISES for i, c in enumerate(checks.for_exercise(ex.id))]


def _encoded(result: dict) -> dict:
    return {k: encode(v) for k, v in result.items()}


def _ids(param):
    check, i = param
    return f"{check.exercise}#{i}[{check.suite}]"


@pytest.mark.parametrize("check_and_index", ALL, ids=[_ids(p) for p in ALL])
def test_reference_solution_passes_check(check_and_index):
    check, _ = check_and_index
    module = load_module(SOLUTIONS, check.exercise.split(".")[0])
    fn = getattr(module, check.exercise.split(".")[1])
    want = _encoded(check.run(check.reference(), "cpu"))
    got = _encoded(check.run(fn, "cpu"))
    assert check.verdict(got, want) is None


@pytest.mark.parametrize(
    "check_and_index", [p for p in ALL if "meta" in p[0].devices], ids=[_ids(p) for p in ALL if "meta" in p[0].devices]
)
def test_reference_solution_runs_on_meta(check_and_index):
    check, _ = check_and_index
    module = load_module(SOLUTIONS, check.exercise.split(".")[0])
    fn = getattr(module, check.exercise.split(".")[1])
    want = _encoded(check.run(check.reference(), "meta"))
    got = _encoded(check.run(fn, "meta"))
    assert check.verdict(got, want) is None


@pytest.mark.parametrize("exercise", [e.id for e in catalogue.EXERCISES])
def test_stub_raises_not_implemented(exercise):
    module = load_module(EXERCISES, exercise.split(".")[0])
    fn = getattr(module, exercise.split(".")[1])
    for check in checks.for_exercise(exercise):
        with pytest.raises(NotImplementedError):
            check.run(fn, "cpu")


@pytest.mark.parametrize("exercise", [e.id for e in catalogue.EXERCISES])
def test_every_exercise_has_public_and_hidden_checks(exercise):
    suites = {c.suite for c in checks.for_exercise(exercise)}
    assert suites == {"public", "hidden"}


def test_every_check_has_its_own_seed_derived_from_its_identity():
    """No two checks share inputs by accident, and a check keeps its inputs wherever it moves in a
    list (the seed comes from suite, exercise and name, not from a number written by hand)."""
    from autograder.checks.core import seed_of

    found = [c for suite in checks.SUITES for cs in checks.all_checks((suite,)).values() for c in cs]
    seeds = [c.seed for c in found]
    assert len(set(seeds)) == len(seeds)
    assert all(c.seed == seed_of(c.suite, c.exercise, c.name) for c in found)
    assert len({(c.suite, c.exercise, c.name) for c in found}) == len(found)  # identities are unique


def test_checks_are_reproducible():
    for found in checks.all_checks().values():
        for check in found:
            reference = check.reference()
            if reference is None:
                continue
            first, second = _encoded(check.run(reference, "cpu")), _encoded(check.run(reference, "cpu"))
            assert check.judge(first, second) is None, check.describe()


def test_reference_sgd_step_is_torch_optim_sgd_bit_for_bit():
    import torch

    from autograder.checks.models import optim_sgd

    g = torch.Generator().manual_seed(0)
    ours = [torch.nn.Parameter(torch.randn(4, generator=g)) for _ in range(3)]
    theirs = [torch.nn.Parameter(p.detach().clone()) for p in ours]
    for a, b in zip(ours[:2], theirs[:2]):
        a.grad = torch.randn(4, generator=g)
        b.grad = a.grad.clone()
    optim_sgd(iter(ours), 0.3, weight_decay=0.05)
    torch.optim.SGD(theirs, 0.3, weight_decay=0.05).step()
    assert all(torch.equal(a, b) for a, b in zip(ours, theirs))
