"""A check's results under a known-wrong variant are computed once and reused (autograder/course/variants.py):
the same diagnosis for the next learner with the same mistake, without running PyTorch again."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from autograder import checks
from autograder.course import mistakes, variants
from autograder.protocol.encoding import encode
from autograder.scoring.judge import diagnose
from autograder.scoring.results import Unit

pytestmark = pytest.mark.pure  # no sandbox, no subprocess: `make test-fast` runs these


@pytest.fixture(autouse=True)
def fresh_cache():
    variants.clear()
    yield
    variants.clear()


def _check(exercise: str = "neurons.tanh"):
    return checks.for_exercise(exercise, ("public",))[0]


class Counted:
    """A variant that counts its calls."""

    def __init__(self, fn):
        self.fn, self.calls = fn, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.fn(*args, **kwargs)


def test_a_variant_runs_once_per_check_and_key():
    check = _check()
    doubled = Counted(lambda x: 2 * torch.tanh(x))
    first = variants.result(check, "doubled", doubled)
    calls = doubled.calls
    assert first[0] == "ok" and calls >= 1
    again = variants.result(check, "doubled", doubled)
    assert again is first and doubled.calls == calls  # remembered: not run again


def test_another_check_or_key_runs_the_variant_again():
    one, other = checks.for_exercise("neurons.tanh", ("public",))[:2]
    doubled = Counted(lambda x: 2 * torch.tanh(x))
    variants.result(one, "doubled", doubled)
    after_one = doubled.calls
    variants.result(other, "doubled", doubled)
    after_other = doubled.calls
    variants.result(one, "halved", doubled)
    assert after_one < after_other < doubled.calls


def test_a_variant_that_raises_is_remembered_by_its_exception_type():
    def broken(x):
        raise ZeroDivisionError("no")

    counted = Counted(broken)
    assert variants.result(_check(), "broken", counted) == ("raised", "ZeroDivisionError")
    calls = counted.calls
    assert variants.result(_check(), "broken", counted) == ("raised", "ZeroDivisionError")
    assert counted.calls == calls


def test_the_results_it_holds_stay_within_its_budget(monkeypatch):
    check = _check()
    kind, one = variants.result(check, "probe", torch.tanh)
    size = variants._tensor_bytes(one)
    assert kind == "ok" and size > 0
    variants.clear()
    monkeypatch.setattr(variants, "BUDGET_BYTES", 2 * size)  # room for two results of this check
    for key in range(5):
        variants.result(check, key, torch.tanh)
        assert variants._held <= variants.BUDGET_BYTES
    assert len(variants._results) == 2
    assert [k for _, k in variants._results] == [3, 4]  # the least recently used went first
    counted = Counted(torch.tanh)
    variants.result(check, 0, counted)  # dropped: run again
    assert counted.calls >= 1


def test_a_result_larger_than_the_budget_is_returned_but_not_kept(monkeypatch):
    monkeypatch.setattr(variants, "BUDGET_BYTES", 0)
    kind, values = variants.result(_check(), "big", torch.tanh)
    assert kind == "ok" and values and not variants._results and variants._held == 0


def _failures(exercise: str, fn) -> list[Unit]:
    failures = []
    for check in checks.for_exercise(exercise, ("public",)):
        want = {k: encode(v) for k, v in check.run(check.reference(), "cpu").items()}
        got = {k: encode(v) for k, v in check.run(fn, "cpu").items()}
        message = check.verdict(got, want)
        if message:
            failures.append(Unit(check, "cpu", "failed", message, got=got))
    return failures


def _nll_always_sum(log_probs, target, weight=None, reduction="mean", ignore_index=-100):
    return F.nll_loss(
        log_probs, target, weight, reduction="sum" if reduction == "mean" else reduction, ignore_index=ignore_index
    )


def _conv2d_twice(x, weight, bias=None, stride=1, padding=0):
    return 2 * F.conv2d(x, weight, bias, stride, padding)


@pytest.mark.parametrize(
    ("exercise", "wrong", "words"),
    [("losses.nll_loss", _nll_always_sum, "sum over the batch"), ("convolution.conv2d", _conv2d_twice, "times 2")],
)
def test_the_next_learner_with_the_same_mistake_gets_the_same_diagnosis_without_recomputing(
    exercise, wrong, words, monkeypatch
):
    failures = _failures(exercise, wrong)
    first = diagnose(failures)
    assert first is not None and words in first.name, first
    kept = len(variants._results)
    assert kept > 0
    ran = []
    real = type(failures[0].check).run

    def counted_run(self, fn, device, *args, **kwargs):
        ran.append(fn)
        return real(self, fn, device, *args, **kwargs)

    monkeypatch.setattr(type(failures[0].check), "run", counted_run)
    second = diagnose(_failures_again(failures))
    assert second == first
    variant_runs = [fn for fn in ran if fn is not failures[0].check.reference()]
    assert len(variants._results) == kept
    # only the cheap pre-test of the output transforms (PyTorch's own output, once per check) runs again
    assert len(variant_runs) <= len(failures), variant_runs


def _failures_again(failures: list[Unit]) -> list[Unit]:
    """The same failing values from another learner: new units, the same checks."""
    return [Unit(u.check, u.device, u.verdict, u.message, got=u.got) for u in failures]


def test_a_named_mistake_that_raises_is_still_named_from_the_cache():
    """``mistakes.reproduces`` matches a learner's exception by its type, from the remembered outcome."""
    for mistake in mistakes.MISTAKES:
        for check in checks.for_exercise(mistake.exercise, ("public",)):
            for variant in mistake.variants:
                kind, value = variants.result(check, variant, variant)
                if kind == "raised":
                    assert mistakes.reproduces(mistake, check, None, value)
                    assert mistakes.reproduces(mistake, check, None, value)  # and again, remembered
                    return
    pytest.skip("no named mistake raises on any of its exercise's public checks")
