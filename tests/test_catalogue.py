"""The catalogue agrees with the contract and with the reference solutions."""

from __future__ import annotations

import ast
import re

import pytest

from autograder.course import catalogue
from conftest import CONTRACT as CONTRACT_FUNCTIONS
from conftest import EXERCISES, SOLUTIONS

pytestmark = pytest.mark.pure  # no sandbox, no subprocess: `make test-fast` runs these


def test_catalogue_lists_exactly_the_contract_in_teaching_order():
    assert [e.id for e in catalogue.EXERCISES] == [f"{m}.{f}" for m, fs in CONTRACT_FUNCTIONS.items() for f in fs]
    assert all(e.points > 0 for e in catalogue.EXERCISES)


@pytest.mark.parametrize("directory", [SOLUTIONS, EXERCISES])
def test_every_contract_function_is_defined(directory):
    for module, functions in CONTRACT_FUNCTIONS.items():
        tree = ast.parse((directory / f"{module}.py").read_text())
        defined = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
        assert set(functions) <= defined, (directory.name, module)


def _calls(module: str) -> dict[str, set[str]]:
    tree = ast.parse((SOLUTIONS / f"{module}.py").read_text())
    names = set(CONTRACT_FUNCTIONS[module])
    return {
        n.name: {c.id for c in ast.walk(n) if isinstance(c, ast.Name) and c.id in names and c.id != n.name}
        for n in tree.body
        if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name in names
    }


@pytest.mark.parametrize("exercise", catalogue.EXERCISES, ids=lambda e: e.id)
def test_uses_matches_what_the_solution_calls(exercise):
    calls = _calls(exercise.module)
    seen, todo = set(), list(calls[exercise.function])
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += calls.get(name, ())
    assert {f"{exercise.module}.{n}" for n in seen} == set(exercise.uses)


@pytest.mark.parametrize(
    "op",
    [
        "convolution",
        "_convolution",
        "conv2d",
        "conv1d",
        "cudnn_convolution",
        "slow_conv2d_forward",
        "im2col",
        "col2im",
        "mkldnn_convolution",
        "conv_depthwise2d",
    ],
)
def test_conv_pattern_catches_every_convolution_op(op):
    assert catalogue.get("convolution.conv2d").forbidden_ops_in([op]) == [op]


@pytest.mark.parametrize("op", ["_convert_indices_from_coo_to_csr", "bmm", "mm", "mul", "copy_"])
def test_conv_pattern_spares_other_ops(op):
    assert catalogue.get("convolution.conv1d").forbidden_ops_in([op]) == []


def test_select_by_module_or_id():
    assert [e.id for e in catalogue.select(["pooling", "losses.nll_loss"])] == ["losses.nll_loss", "pooling.max_pool2d"]
    with pytest.raises(KeyError):
        catalogue.select(["nope"])
    assert re.fullmatch(r"[a-z_]+\.[A-Za-z_]+", catalogue.EXERCISES[0].id)


def _forbidden_paragraph(exercise) -> str | None:
    import ast
    import re

    tree = ast.parse((SOLUTIONS / f"{exercise.module}.py").read_text())
    node = next(n for n in tree.body if getattr(n, "name", None) == exercise.function)
    found = re.search(r"Forbidden:(.*?)(\n\s*\n|$)", ast.get_docstring(node) or "", re.S)
    return found.group(1) if found else None


@pytest.mark.parametrize("exercise", catalogue.EXERCISES, ids=lambda e: e.id)
def test_a_docstrings_forbidden_line_agrees_with_the_catalogue(exercise):
    """A stub says "Forbidden:" exactly where the catalogue forbids something, and names what it
    forbids: one of its ATen ops, or the exercise whose forbidden operations it inherits."""
    paragraph = _forbidden_paragraph(exercise)
    forbids = bool(exercise.forbidden or exercise.forbidden_pattern or exercise.forbidden_names)
    assert forbids == (paragraph is not None), paragraph
    if paragraph is None or not exercise.forbidden:
        return
    inherited = [e for e in catalogue.EXERCISES if e.module == exercise.module and f"``{e.function}``" in paragraph]
    covered = set(exercise.forbidden) - {op for e in inherited for op in e.forbidden}
    assert not covered or any(op in paragraph for op in covered), (exercise.id, sorted(covered))


def test_the_readmes_assignment_table_agrees_with_the_catalogue():
    import re

    readme = (SOLUTIONS.parent / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `(\d\d_(\w+))` \| ([^|]+) \((\d+)\) \| ([^|]+) \| (\d+) \|$", readme, flags=re.M)
    assert [module for _, module, *_ in rows] == list(catalogue.MODULES)
    for assignment, module, functions, points, written, total in rows:
        exercises = [e for e in catalogue.EXERCISES if e.module == module]
        assert functions.split(", ") == [e.function for e in exercises], assignment
        assert int(points) == sum(e.points for e in exercises), assignment
        manual = sum(int(p) for p in re.findall(r"\((\d+)\)", written))
        assert int(total) == int(points) + manual, assignment


def test_the_contract_s_tables_name_the_catalogue_s_modules_in_order():
    assert list(CONTRACT_FUNCTIONS) == list(catalogue.MODULES)
    assert CONTRACT_FUNCTIONS == {
        m: [e.function for e in catalogue.EXERCISES if e.module == m] for m in catalogue.MODULES
    }
