"""Generic relations (autograder/course/relations.py): named only when one reproduces every failing value.

In-process, as tests/test_mistakes.py: a wrong function is run through its exercise's public checks and
the failing evidence is diagnosed by the judge's own ``diagnose``.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from autograder import checks
from autograder.course import catalogue, relations
from autograder.protocol.encoding import encode
from autograder.scoring.judge import diagnose
from autograder.scoring.results import Unit

pytestmark = pytest.mark.pure  # no sandbox, no subprocess: `make test-fast` runs these


def _failures(exercise: str, fn, suites=("public",)) -> list[Unit]:
    failures = []
    for check in checks.for_exercise(exercise, suites):
        want = {k: encode(v) for k, v in check.run(check.reference(), "cpu").items()}
        try:
            got = {k: encode(v) for k, v in check.run(fn, "cpu").items()}
        except Exception as exc:  # noqa: BLE001 - a function that raises fails the check
            failures.append(Unit(check, "cpu", "failed", f"raised {type(exc).__name__}", raised=type(exc).__name__))
            continue
        message = check.verdict(got, want)
        if message:
            failures.append(Unit(check, "cpu", "failed", message, got=got))
    return failures


def _named(exercise: str, fn, suites=("public",)):
    failures = _failures(exercise, fn, suites)
    assert failures, f"{exercise}: the wrong function passed every check"
    return diagnose(failures)


def test_a_loss_summed_where_pytorch_takes_the_mean_is_named_in_the_exercises_words():
    def nll_always_sum(log_probs, target, weight=None, reduction="mean", ignore_index=-100):
        return F.nll_loss(
            log_probs, target, weight, reduction="sum" if reduction == "mean" else reduction, ignore_index=ignore_index
        )

    named = _named("losses.nll_loss", nll_always_sum)
    assert named is not None and "sum over the batch" in named.name, named


def test_a_doubled_output_is_named_with_its_factor():
    def conv2d_twice(x, weight, bias=None, stride=1, padding=0):
        return 2 * F.conv2d(x, weight, bias, stride, padding)

    named = _named("convolution.conv2d", conv2d_twice)
    assert named is not None and "times 2" in named.name, named


def test_an_option_half_used_is_named():
    """A padding pair of which only the height's value is used (the width's taken as 0)."""

    def conv2d(x, weight, bias=None, stride=1, padding=0):
        ph = padding if isinstance(padding, int) else padding[0]
        return F.conv2d(x, weight, bias, stride, (ph, 0))

    named = _named("convolution.conv2d", conv2d)
    assert named is not None and "only the first value of padding" in named.name, named


def test_one_channel_used_instead_of_all_is_named():
    def conv2d(x, weight, bias=None, stride=1, padding=0):
        return F.conv2d(x[:, :1], weight[:, :1], bias, stride, padding)

    named = _named("convolution.conv2d", conv2d)
    assert named is not None and "first channel of x" in named.name, named


def test_a_float32_computation_of_float64_inputs_is_named_as_such():
    def normalize(x, mean, std):
        shape = (1, -1) + (1,) * (x.dim() - 2)
        return ((x.float() - mean.float().reshape(shape)) / std.float().reshape(shape)).to(x.dtype)

    named = _named("normalization.normalize", normalize, ("public", "hidden"))
    assert named is not None and "float32" in named.name, named


def test_right_values_without_a_gradient_are_named_detached():
    def l2_penalty(model):
        first = next(model.parameters())
        return sum(p.detach().pow(2).sum() for p in model.parameters()).to(first.dtype)

    named = _named("regularization.l2_penalty", l2_penalty)
    assert named is not None and "no gradient" in named.name and ".detach()" in named.fix, named


def test_parameters_left_unchanged_by_a_step_are_named():
    def sgd_step(params, lr, weight_decay=0.0):
        for p in params:
            p = p - lr * p.grad  # rebinds the name: the model's parameter is not touched

    named = _named("regularization.sgd_step", sgd_step)
    assert named is not None and "keep their values" in named.name, named


def test_a_finite_value_never_matches_an_infinite_reference():
    """rtol·|inf| is inf: without care any finite value would be 'close' to an infinite reference (and a
    relation that divides by zero would reproduce anything)."""
    from autograder.course.compare import compare

    inf = float("inf")
    assert compare(encode(torch.tensor([1.0, 2.0])), encode(torch.tensor([inf, 2.0]))) is not None
    assert compare(encode(torch.tensor([inf, 2.0])), encode(torch.tensor([inf, 2.0]))) is None
    assert compare(encode(torch.tensor([-inf])), encode(torch.tensor([inf]))) is not None


def test_a_relation_that_explains_part_of_the_evidence_is_not_named():
    """Twice PyTorch's value on one input and three times on the others: no single factor holds."""
    calls = []

    def conv2d(x, weight, bias=None, stride=1, padding=0):
        calls.append(1)
        return (2 if len(calls) == 1 else 3) * F.conv2d(x, weight, bias, stride, padding)

    failures = _failures("convolution.conv2d", conv2d)
    assert len(failures) >= 2
    assert relations.identify([(u.check, u.got, u.raised) for u in failures]) is None


def test_no_relation_is_named_when_the_learners_code_raised():
    check = checks.for_exercise("convolution.conv2d", ("public",))[0]
    assert relations.identify([(check, None, "RuntimeError")]) is None


def test_every_relation_has_a_unique_key_and_words():
    keys = [r.key for r in relations.RELATIONS]
    assert len(set(keys)) == len(keys)
    assert all(r.name.strip() and r.fix.strip() for r in relations.RELATIONS)


def test_the_first_hint_after_a_named_diagnosis_is_the_one_for_it(tmp_path):
    """A grade that names a mistake puts it first among the exercise's hints; a pass forgets it."""
    from types import SimpleNamespace

    from autograder.course import hints
    from autograder.course.records import Mistake

    exercise = catalogue.BY_ID["losses.nll_loss"]
    hints.next_hint(tmp_path, exercise.id)  # one of the exercise's own hints already seen
    named = Mistake("the loss is the sum over the batch: PyTorch takes the mean", "divide by the weights' sum")
    failing = SimpleNamespace(exercises=[SimpleNamespace(exercise=exercise, outcome="failed", mistake=named)])
    hints.remember(tmp_path, failing)
    assert hints.next_hint(tmp_path, exercise.id) == (1, named.describe())
    assert hints.next_hint(tmp_path, exercise.id) == (2, exercise.hints[0])
    assert hints.listed(tmp_path, exercise.id) == (named.describe(), *exercise.hints)
    hints.remember(tmp_path, failing)  # the same diagnosis again: the hints go on where they were
    assert hints.next_hint(tmp_path, exercise.id)[0] == 3
    passing = SimpleNamespace(exercises=[SimpleNamespace(exercise=exercise, outcome="passed", mistake=None)])
    hints.remember(tmp_path, passing)
    assert hints.listed(tmp_path, exercise.id) == exercise.hints


def test_a_passing_grade_writes_no_hint_state(tmp_path):
    from types import SimpleNamespace

    from autograder.course import hints

    exercise = catalogue.BY_ID["losses.nll_loss"]
    hints.remember(
        tmp_path, SimpleNamespace(exercises=[SimpleNamespace(exercise=exercise, outcome="passed", mistake=None)])
    )
    assert not (tmp_path / hints.STATE_FILE).exists()


def test_every_wording_in_a_record_names_a_relation_that_exists():
    """An exercise's ``relations`` words a library relation (by key), an option's (``reduction='sum'``,
    ``l2:doubled``: the option is the exercise's) or an argument's (``zero:b``)."""
    import inspect
    import re

    library = {r.key for r in relations.RELATIONS}
    option_kinds = {
        "doubled",
        "halved",
        "ignored",
        "one",
        "plus1",
        "minus1",
        "swapped",
        "first_only",
        "second_only",
        "first_twice",
        "second_twice",
    }
    for exercise in catalogue.EXERCISES:
        for key, (name, fix) in exercise.relations.items():
            assert name.strip() and fix.strip(), (exercise.id, key)
            if key in library:
                continue
            option = re.fullmatch(r"(\w+)(?:=(.+)|:(\w+))", key)
            assert option, (exercise.id, key)
            if option.group(3):
                assert option.group(3) in option_kinds, (exercise.id, key)
            parameters = inspect.signature(checks.for_exercise(exercise.id)[0].reference()).parameters
            assert option.group(1) in parameters, (exercise.id, key, list(parameters))


def test_a_diagnosis_that_rests_on_hidden_evidence_is_not_remembered_as_a_hint(tmp_path):
    from types import SimpleNamespace

    from autograder.course import hints
    from autograder.course.records import Mistake

    exercise = catalogue.BY_ID["losses.nll_loss"]
    hidden = SimpleNamespace(check=SimpleNamespace(suite="hidden"), verdict="failed")
    named = Mistake("the loss with the opposite sign", "keep the minus")
    result = SimpleNamespace(
        exercises=[SimpleNamespace(exercise=exercise, outcome="failed", mistake=named, units=[hidden])]
    )
    hints.remember(tmp_path, result)
    assert hints.listed(tmp_path, exercise.id) == exercise.hints


def test_no_relation_is_named_from_a_boolean_mask():
    """A strict threshold's mask equals the mask for min_slope doubled on these inputs by coincidence: a mask
    carries too little to tell a relation from chance, so none is named (the catalogue's mistake may be)."""

    def sensitive_mask(activation, x, min_slope=0.1):
        x = x.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            (slope,) = torch.autograd.grad(activation(x).sum(), x)
        return slope.abs() > min_slope

    failures = _failures("neurons.sensitive_mask", sensitive_mask, ("public", "hidden"))
    assert failures
    assert relations.identify([(u.check, u.got, u.raised) for u in failures]) is None
