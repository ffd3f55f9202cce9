"""The report renders the verdicts the judge stored (each suite's named mistake among them) and never judges."""

from __future__ import annotations

import ast
from pathlib import Path
from types import SimpleNamespace

import pytest

from autograder.course import catalogue
from autograder.course.records import Mistake
from autograder.feedback import report
from autograder.scoring.results import ExerciseResult, Unit

pytestmark = pytest.mark.pure

REPORT = Path(report.__file__)


def _failed_public_part(suite_mistakes: dict) -> ExerciseResult:
    check = SimpleNamespace(suite="public", name="float64, (3, 4)")
    unit = Unit(check, "cpu", "failed", "values differ at [0, 1]")
    part = ExerciseResult(catalogue.get("neurons.tanh"), "failed", 0.0, 1.0, units=[unit])
    part.suite_mistakes = suite_mistakes
    return part


def test_the_suite_s_test_shows_the_mistake_the_judge_stored():
    stored = Mistake("a tanh that overflows", "shift by the sign first")
    ok, text = report.suite_view(_failed_public_part({"public": stored}), "public")
    assert not ok and stored.describe() in text


def test_no_mistake_is_named_where_the_judge_stored_none():
    ok, text = report.suite_view(_failed_public_part({}), "public")
    assert not ok and "looks like" not in text and "values differ" in text


def test_the_report_imports_no_judge():
    imported = {
        node.module
        for node in ast.walk(ast.parse(REPORT.read_text(encoding="utf-8")))
        if isinstance(node, ast.ImportFrom) and node.module
    }
    assert not {m for m in imported if m.startswith(("autograder.scoring.judge", "autograder.course.mistakes"))}
    assert "diagnose" not in REPORT.read_text(encoding="utf-8")
