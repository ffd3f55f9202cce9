"""The grade of whole submissions: full marks for the solutions, zero 'not started' for the stubs,
and a results.json in Gradescope's shape."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import get_args

import pytest

from autograder.course import catalogue
from autograder.feedback import report
from autograder.scoring.grader import Grader, grade
from autograder.scoring.results import Outcome
from conftest import EXERCISES, ROOT, SOLUTIONS


@pytest.fixture(scope="module")
def solutions_result():
    return grade(SOLUTIONS)


@pytest.fixture(scope="module")
def grader():
    """A warm grader with the default limits for the file's other grades (``grade`` above starts its own)."""
    with Grader() as warm:
        yield warm


@pytest.fixture(scope="module")
def stubs_result(grader):
    return grader.grade(EXERCISES)


def test_solutions_score_full_marks_on_every_check(solutions_result):
    for ex in solutions_result.exercises:
        failed = [
            f"[{u.check.suite}] {u.check.name} ({u.device}): {u.message}"
            for u in ex.units
            if u.verdict not in ("passed", "skipped")
        ]
        assert ex.outcome == "passed" and not failed, (ex.exercise.id, ex.message, failed)
    assert solutions_result.score == solutions_result.max_score == catalogue.total_points()


def test_solutions_run_public_and_hidden_checks(solutions_result):
    assert solutions_result.suites == ("public", "hidden")
    for ex in solutions_result.exercises:
        assert {u.check.suite for u in ex.units} == {"public", "hidden"}, ex.exercise.id


def test_stubs_score_zero_as_not_started(stubs_result):
    assert [e.exercise.id for e in stubs_result.exercises] == [e.id for e in catalogue.EXERCISES]
    for ex in stubs_result.exercises:
        assert (ex.outcome, ex.score) == ("not_started", 0), (ex.exercise.id, ex.message)


def test_results_json_follows_the_contract(solutions_result, stubs_result):
    for result in (solutions_result, stubs_result):
        data = report.results_json(result)
        assert set(data) >= {"score", "max_score", "execution_time", "tests"}
        assert data["max_score"] == pytest.approx(catalogue.total_points())
        assert data["score"] == pytest.approx(sum(t["score"] for t in data["tests"]))
        for test in data["tests"]:
            assert set(test) >= {"name", "score", "max_score", "status", "outcome", "output", "visibility", "exercise"}
            assert test["status"] in ("passed", "failed")
            assert test["outcome"] in get_args(Outcome)
            assert test["visibility"] in ("visible", "hidden", "after_due_date", "after_published")
            assert test["exercise"] in catalogue.BY_ID
        assert {t["exercise"] for t in data["tests"]} == set(catalogue.BY_ID)
    assert "neurons.TinyNet" in {t["exercise"] for t in report.results_json(stubs_result)["tests"]}


def test_cli_writes_results_json_and_exits_zero_whatever_the_score(tmp_path):
    out = tmp_path / "results.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "autograder",
            "grade",
            "--submission",
            str(EXERCISES),
            "--exercise",
            "pooling",
            "--json",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    assert data["score"] == 0 and data["max_score"] == 4
    assert "not started" in proc.stdout


def test_cli_fails_only_when_the_grader_cannot_run(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "autograder", "grade", "--submission", str(tmp_path / "nope")],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0 and "not found" in proc.stderr


def test_missing_module_is_an_error_not_a_crash(tmp_path, grader):
    (tmp_path / "losses.py").write_text("import torch\n")
    result = {e.exercise.id: e for e in grader.grade(tmp_path, ["losses", "pooling"]).exercises}
    assert result["losses.nll_loss"].outcome == "error"
    assert "defines no nll_loss" in result["losses.nll_loss"].message
    assert result["pooling.max_pool2d"].outcome == "error"
    assert "no pooling.py" in result["pooling.max_pool2d"].message


def test_syntax_error_names_the_line(tmp_path, grader):
    (tmp_path / "pooling.py").write_text("def max_pool2d(x, kernel_size:\n    pass\n")
    ex = grader.grade(tmp_path, ["pooling"]).exercises[0]
    assert ex.outcome == "error" and "SyntaxError" in ex.message and "line 1" in ex.message


def test_the_plain_process_sandbox_grades_the_same(tmp_path):
    result = grade(SOLUTIONS, ["losses"], sandbox="process")
    assert "plain process" in result.sandbox
    assert all(e.outcome == "passed" for e in result.exercises)


def test_table_fits_80_columns_without_colour_codes(stubs_result):
    import io

    from rich.console import Console

    buf = io.StringIO()
    con = Console(file=buf, width=80, no_color=True, force_terminal=False)
    con.print(report.table(stubs_result))
    text = buf.getvalue()
    assert "\x1b[" not in text
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "not started" in text and "total" in text and "convolution.py" in text


def test_data_dependent_code_fails_on_meta_and_is_told_why(tmp_path, grader):
    """Raising on meta is something learner code can do on purpose: it weighs as a failure (issue 19)."""
    import shutil

    shutil.copytree(SOLUTIONS, tmp_path / "sub")
    path = tmp_path / "sub" / "losses.py"
    path.write_text(
        path.read_text()
        + """

def log_softmax(logits, dim=-1):
    m = logits.amax(dim, keepdim=True)
    shifted = logits - m if bool(torch.isfinite(m).all()) else logits  # data-dependent: meta cannot follow
    return shifted - shifted.exp().sum(dim, keepdim=True).log()
"""
    )
    ex = grader.grade(tmp_path / "sub", ["losses.log_softmax"]).exercises[0]
    assert ex.outcome == "failed" and ex.score == pytest.approx(ex.max_score / 1.25), ex.message
    assert "torch.where" in ex.message and "meta device" in ex.message
    assert any(".item()" in n for n in ex.notes), ex.notes
    assert {u.verdict for u in ex.units if u.device == "meta"} == {"failed"}
    assert {u.verdict for u in ex.units if u.device == "cpu"} == {"passed"}


def test_cuda_checks_say_why_they_were_skipped(solutions_result):
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA is available here: the CUDA checks ran")
    assert "CUDA checks skipped: no CUDA on this machine" in solutions_result.sandbox
