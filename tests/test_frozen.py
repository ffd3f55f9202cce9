"""The learner's bundle carries its public checks frozen into data (autograder/checks/frozen.py):
they must judge exactly as the checks they were frozen from, and hold no code that gives answers.
"""

from __future__ import annotations

import pickle
import types

import pytest
import torch

from autograder import checks
from autograder.checks import frozen
from autograder.checks.core import on_device
from autograder.course import catalogue, mistakes
from autograder.protocol.encoding import encode
from mutants import MUTANTS, SOLUTIONS, splice

pytestmark = pytest.mark.pure  # no sandbox, no subprocess: `make test-fast` runs these

SOURCE = [c for m in catalogue.MODULES for c in checks.for_module(m, ("public",))]


@pytest.fixture(scope="module")
def thawed():
    return frozen.thaw(frozen.freeze(SOURCE))


def _implementations(exercise: str):
    """The solution, every mutant of the zoo and every catalogued mistake's variants for ``exercise``."""
    module, function = exercise.split(".")
    source = (SOLUTIONS / f"{module}.py").read_text()
    yield "solution", _defined(source, function)
    for mutant in MUTANTS:
        if mutant.target == exercise:
            yield mutant.name, _defined(splice(source, function, mutant.source), function)
    for mistake in mistakes.for_exercise(exercise):
        for i, variant in enumerate(mistake.variants):
            yield f"{mistake.name}:{i}", variant


def _defined(source: str, name: str):
    namespace = types.ModuleType("_frozen_test_module")
    exec(compile(source, "<solution>", "exec"), namespace.__dict__)  # tests only: never in the scorer
    return getattr(namespace, name)


def _verdict(check, fn):
    try:
        got = {k: encode(v) for k, v in check.run(fn, "cpu").items()}
    except Exception as exc:  # noqa: BLE001 - an implementation that raises: the same for both
        return f"raised {type(exc).__name__}"
    return check.verdict(got, check.expected("cpu"))


@pytest.mark.parametrize("exercise", [e.id for e in catalogue.EXERCISES])
def test_frozen_checks_judge_every_implementation_as_their_source_does(thawed, exercise):
    pairs = [(s, f) for s, f in zip(SOURCE, thawed) if s.exercise == exercise]
    assert pairs, f"{exercise} has no public check"
    compared = 0
    for label, fn in _implementations(exercise):
        for source, copy in pairs:
            assert (copy.exercise, copy.name, copy.devices) == (source.exercise, source.name, source.devices)
            assert copy.wire_plan() == source.wire_plan()
            assert _verdict(copy, fn) == _verdict(source, fn), (label, source.name)
            compared += 1
    assert compared >= 2 * len(pairs)  # the solution and at least one wrong implementation


def test_frozen_results_are_pytorchs_on_every_device(thawed):
    for source, copy in zip(SOURCE, thawed):
        cpu = source.expected("cpu")
        assert _same(copy.expected("cpu"), cpu), source.describe()
        assert _same(copy.expected("meta", cpu), source.expected("meta", cpu))
        assert _same(copy.expected("cuda"), {k: on_device(v, "cuda") for k, v in cpu.items()})


def _same(a, b) -> bool:
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return (
            isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
            if not a.is_floating_point()
            else torch.allclose(a, b, equal_nan=True, rtol=0, atol=0)
        )
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b or (a != a and b != b)


def test_a_frozen_suite_holds_no_code(thawed):
    """No reference, no input maker, no model builder survives freezing; loading refuses any that is
    smuggled in (a pickle naming a public check module's reference function)."""
    for check in thawed:
        assert not any(frozen._is_code(v) for v in vars(check).values()), check.describe()
        assert not {"_reference", "make", "build"} & vars(check).keys(), check.describe()
    from autograder.checks.public import regularization

    smuggled = pickle.dumps(
        {"version": frozen.VERSION, "checks": [(type(SOURCE[0]), {"r": regularization.l1_reference})]}
    )
    with pytest.raises(frozen.FrozenError, match="l1_reference"):
        frozen.thaw(smuggled)
    with pytest.raises(frozen.FrozenError):
        frozen.thaw(pickle.dumps({"version": frozen.VERSION, "checks": [(dict, {})]}))


def test_the_registry_reads_a_frozen_suite_where_the_modules_are_absent(tmp_path, monkeypatch):
    package = tmp_path / "autograder" / "checks" / "public"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / frozen.FILE_NAME).write_bytes(frozen.freeze(SOURCE))
    import autograder.checks.public as public

    monkeypatch.setattr(public, "__path__", [str(package)])
    monkeypatch.setattr(public, "__file__", str(package / "__init__.py"))
    for name in [n for n in list(__import__("sys").modules) if n.startswith("autograder.checks.public.")]:
        monkeypatch.delitem(__import__("sys").modules, name)
    frozen._suite.cache_clear()
    try:
        found = checks.for_exercise("regularization.l1_penalty", ("public",))
        assert [c.name for c in found] == [c.name for c in SOURCE if c.exercise == "regularization.l1_penalty"]
        assert all("recorded" in vars(c) for c in found)
    finally:
        frozen._suite.cache_clear()
