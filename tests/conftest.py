"""Shared fixtures: paths of the reference solutions and the stubs."""

from __future__ import annotations

import importlib.util
import re
import shutil
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions"
EXERCISES = ROOT / "exercises"

# The capstone imports its sibling modules by name (``from convolution import conv2d``), as a learner's
# file does beside their others: in-process tests find the solutions' modules by name (last on the path).
if str(SOLUTIONS) not in sys.path:
    sys.path.append(str(SOLUTIONS))


def contract_functions(contract: Path = ROOT / "docs" / "contract.md") -> dict[str, list[str]]:
    """The functions (and classes) the contract's tables name, module by module, in its order:
    read from the contract itself, so the tests hold the catalogue, the stubs and the solutions to it."""
    sections = re.split(r"^## (\w+)\.py — ", contract.read_text(encoding="utf-8"), flags=re.M)[1:]
    return {
        module: re.findall(r"^\| `(?:class )?(\w+)\(", body, flags=re.M)
        for module, body in zip(sections[::2], sections[1::2])
    }


CONTRACT = contract_functions()


def pytest_collection_modifyitems(items):
    """The solutions' doctests are pure: ``make test-fast`` runs them too."""
    for item in items:
        if isinstance(item, pytest.DoctestItem):
            item.add_marker(pytest.mark.pure)


def submission_with(tmp_path: Path, module: str, appended: str) -> Path:
    """The reference solutions, with ``appended`` added at the end of ``module`` (redefining functions)."""
    sub = tmp_path / "submission"
    shutil.copytree(SOLUTIONS, sub)
    path = sub / f"{module}.py"
    path.write_text(path.read_text() + "\n\n" + textwrap.dedent(appended))
    return sub


def by_id(result) -> dict:
    """A grade's exercise results by exercise id."""
    return {e.exercise.id: e for e in result.exercises}


def load_module(directory: Path, name: str):
    """Imports ``directory/name.py`` under a private module name (tests only; never in the scorer).
    The modules it imports by name (the capstone's ``from convolution import conv2d``) come from the
    same directory, whatever another test imported under those names before."""
    key = f"_under_test_{directory.name}_{name}"
    spec = importlib.util.spec_from_file_location(key, directory / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    siblings = [p.stem for p in SOLUTIONS.glob("*.py")]
    saved = {m: sys.modules.pop(m) for m in siblings if m in sys.modules}
    sys.path.insert(0, str(directory))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(directory))
        for m in siblings:
            sys.modules.pop(m, None)
        sys.modules.update(saved)
    return module


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def warm_grader():
    """One grader whose worker stays warm across tests (each submission still gets fresh processes)."""
    from autograder.scoring.grader import Grader
    from autograder.scoring.results import Limits

    with Grader(limits=Limits(check_timeout=10.0, exercise_timeout=60.0, total_timeout=300.0)) as grader:
        yield grader


@pytest.fixture(scope="session")
def losses_cycle(tmp_path_factory):
    """04_losses through nbgrader's whole cycle with test_nbgrader_e2e's learners (the hostile one too),
    autograded once for the session: test_nbgrader_e2e checks it, test_browser opens its pages."""
    from test_nbgrader_e2e import build_cycle  # the learners live beside the tests that check them

    return build_cycle(tmp_path_factory.mktemp("nbgrader"))
