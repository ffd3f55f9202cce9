"""The learner's stubs are generated from the solutions, up to date, and leak nothing."""

from __future__ import annotations

import ast
import inspect
import shutil
import textwrap

import pytest

from autograder.packaging import stubs
from conftest import CONTRACT, EXERCISES, SOLUTIONS
from conftest import load_module as _load

pytestmark = pytest.mark.pure  # no sandbox, no subprocess: `make test-fast` runs these

SAMPLE = '''\
"""A sample module."""

import math


def area(r):
    """Area of a circle of radius r."""
    ### BEGIN SOLUTION
    return math.pi * r ** 2
    ### END SOLUTION


class Box:
    def __init__(self, w):
        super().__init__()
        ### BEGIN SOLUTION
        self.w = w
        ### END SOLUTION
'''


def _solution_lines(source: str) -> list[str]:
    """Stripped lines between the markers that carry real code."""
    lines, inside = [], False
    for line in source.splitlines():
        marker = line.strip()
        if marker == stubs.BEGIN_MARKER:
            inside = True
        elif marker == stubs.END_MARKER:
            inside = False
        elif inside and not _trivial(marker):
            lines.append(marker)
    return lines


def _trivial(line: str) -> bool:
    return (
        line in {"return", "return out", "pass", "else:", "try:", "continue", "break"}
        or line.startswith("#")
        or all(ch in "()[]{},:; " for ch in line)
    )


def test_exercises_are_up_to_date_with_solutions():
    assert stubs.stale(SOLUTIONS, EXERCISES) == [], "run `python -m autograder.packaging.stubs`"


def test_every_contract_module_has_a_solution_and_a_stub():
    for module in CONTRACT:
        assert (SOLUTIONS / f"{module}.py").is_file()
        assert (EXERCISES / f"{module}.py").is_file()


def test_check_fails_on_a_stale_stub_and_passes_after_generate(tmp_path, capsys):
    solutions, exercises = tmp_path / "solutions", tmp_path / "exercises"
    shutil.copytree(SOLUTIONS, solutions, ignore=shutil.ignore_patterns("__pycache__"))
    assert stubs.stale(solutions, exercises) == sorted(p.name for p in solutions.glob("*.py"))
    stubs.generate(solutions, exercises)
    assert stubs.main(["--check", "--solutions", str(solutions), "--exercises", str(exercises)]) == 0

    (exercises / "losses.py").write_text("# edited by hand\n", encoding="utf-8")
    assert stubs.stale(solutions, exercises) == ["losses.py"]
    assert stubs.main(["--check", "--solutions", str(solutions), "--exercises", str(exercises)]) == 1
    assert "losses.py" in capsys.readouterr().err

    assert stubs.main(["--solutions", str(solutions), "--exercises", str(exercises)]) == 0
    assert stubs.stale(solutions, exercises) == []


def test_make_stub_replaces_region_and_keeps_signature_and_docstring():
    stub = stubs.make_stub(SAMPLE)
    assert "math.pi" not in stub and "self.w = w" not in stub
    assert "BEGIN SOLUTION" not in stub and "END SOLUTION" not in stub
    assert "def area(r):" in stub and '"""Area of a circle of radius r."""' in stub
    assert "import math" in stub and "super().__init__()" in stub
    assert "    raise NotImplementedError\n" in stub
    assert "        raise NotImplementedError\n" in stub  # indentation of the method's marker
    assert stub.count("raise NotImplementedError") == 2
    ast.parse(stub)


def test_make_stub_leaves_source_without_markers_unchanged():
    source = "def f():\n    return 1\n"
    assert stubs.make_stub(source) == source


@pytest.mark.parametrize(
    "source",
    [
        "def f():\n    ### BEGIN SOLUTION\n    return 1\n",
        "def f():\n    return 1\n    ### END SOLUTION\n",
        "def f():\n    ### BEGIN SOLUTION\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n",
        "def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n    ### END SOLUTION\n",
    ],
    ids=["begin-without-end", "end-without-begin", "nested-begin", "extra-end"],
)
def test_unbalanced_markers_raise_value_error(source):
    with pytest.raises(ValueError):
        stubs.make_stub(source)


def test_stub_that_would_not_parse_raises_value_error():
    source = textwrap.dedent(
        """\
        def f():
            x = (
            ### BEGIN SOLUTION
            1)
            ### END SOLUTION
        """
    )
    with pytest.raises(ValueError):
        stubs.make_stub(source)


@pytest.mark.parametrize("module_name", sorted(CONTRACT))
def test_every_stub_function_raises_not_implemented(module_name):
    module = _load(EXERCISES, module_name)
    public = [
        obj
        for name, obj in vars(module).items()
        if not name.startswith("_")
        and (inspect.isfunction(obj) or inspect.isclass(obj))
        and obj.__module__ == module.__name__
    ]
    assert {obj.__name__ for obj in public} >= set(CONTRACT[module_name])
    for obj in public:
        params = inspect.signature(obj).parameters.values()
        args = [None for p in params if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        with pytest.raises(NotImplementedError):
            obj(*args)  # a class raises on construction


@pytest.mark.parametrize("module_name", sorted(CONTRACT))
def test_solution_defines_the_contract(module_name):
    module = _load(SOLUTIONS, module_name)
    for name in CONTRACT[module_name]:
        assert callable(getattr(module, name)), name


@pytest.mark.parametrize("module_name", sorted(CONTRACT))
def test_no_solution_line_appears_in_stub(module_name):
    solution = (SOLUTIONS / f"{module_name}.py").read_text(encoding="utf-8")
    stub_lines = {line.strip() for line in (EXERCISES / f"{module_name}.py").read_text(encoding="utf-8").splitlines()}
    body = _solution_lines(solution)
    assert body, "the solution has no fenced body"
    leaked = [line for line in body if line in stub_lines]
    assert leaked == []
