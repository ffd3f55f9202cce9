"""Shared fixtures: paths of the reference solutions and the stubs."""

from __future__ import annotations

import importlib.util
import shutil
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions"
EXERCISES = ROOT / "exercises"

# The functions (and the class) of ../shared/EXERCISES.md, module by module.
CONTRACT = {
    "outliers": ["iqr", "outlier_bounds", "outlier_mask", "remove_outliers", "count_nan", "to_int"],
    "neurons": ["tanh", "neuron", "TinyNet", "count_parameters", "sensitive_mask"],
    "normalization": ["channel_stats", "normalize"],
    "losses": ["log_softmax", "nll_loss", "cross_entropy"],
    "convolution": ["pad2d", "conv_output_size", "conv1d", "conv2d", "edge_kernel", "blur_kernel"],
    "pooling": ["max_pool2d"],
    "regularization": ["l1_penalty", "l2_penalty", "regularized_loss", "sgd_step", "weight_decay_for"],
}


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
    """Imports ``directory/name.py`` under a private module name (tests only; never in the scorer)."""
    key = f"_under_test_{directory.name}_{name}"
    spec = importlib.util.spec_from_file_location(key, directory / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(directory))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(directory))
    return module


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def warm_grader():
    """One grader whose worker stays warm across tests (each submission still gets fresh processes)."""
    from autograder.scoring.grader import Grader, Limits

    with Grader(limits=Limits(check_timeout=10.0, exercise_timeout=60.0, total_timeout=300.0)) as grader:
        yield grader
