"""The instructor's whole nbgrader cycle, for real: nbgrader's own commands, a real Jupyter kernel.

One small assignment (04_losses: three exercises, 8 points) goes generate → release → fetch and
submit by six learners → collect → ``python -m autograder.nbcourse.nbcycle autograde`` (nbgrader autograde
and the sandbox, compared) → feedback → export. Three learners are ordinary (the solutions, the
untouched notebook, a partly right one); three hand in something malformed (invalid JSON, a
deleted test cell, an answer cell turned into Markdown).
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
import time

import pytest

from autograder.nbcourse import nbcycle
from conftest import ROOT

pytestmark = pytest.mark.slow

ASSIGNMENT, NOTEBOOK, COURSE = "04_losses", "losses.ipynb", "nn-by-hand"
SOLVED, UNTOUCHED, PARTLY = "alice", "bob", "carol"
INVALID_JSON, DELETED_TEST, MARKDOWN_ANSWER = "dave", "erin", "frank"


def _answers_from_source(assignment: str = ASSIGNMENT, notebook: str = NOTEBOOK) -> dict[str, str]:
    source = json.loads((ROOT / "source" / assignment / notebook).read_text())
    return {
        c["metadata"]["nbgrader"]["grade_id"]: "".join(c["source"])
        for c in source["cells"]
        if c["metadata"].get("nbgrader", {}).get("solution") and c["cell_type"] == "code"
    }


def _solve(notebook: dict, grade_ids, assignment: str = ASSIGNMENT, name: str = NOTEBOOK) -> dict:
    """The learner writes the reference solution into these answer cells (fences and all)."""
    answers = _answers_from_source(assignment, name)
    for cell in notebook["cells"]:
        gid = cell["metadata"].get("nbgrader", {}).get("grade_id")
        if gid in grade_ids:
            cell["source"] = answers[gid]
    return notebook


ALL_ANSWERS = ("answer-losses-log_softmax", "answer-losses-nll_loss", "answer-losses-cross_entropy")


def _delete_test_cell(notebook: dict) -> dict:
    notebook["cells"] = [
        c
        for c in _solve(notebook, ALL_ANSWERS)["cells"]
        if c["metadata"].get("nbgrader", {}).get("grade_id") != "test-losses-nll_loss"
    ]
    return notebook


def _answer_to_markdown(notebook: dict) -> dict:
    for cell in _solve(notebook, ALL_ANSWERS)["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == "answer-losses-log_softmax":
            cell["cell_type"] = "markdown"
            cell.pop("outputs", None)
            cell.pop("execution_count", None)
    return notebook


LEARNERS = {
    SOLVED: lambda nb: _solve(nb, ALL_ANSWERS),
    UNTOUCHED: lambda nb: nb,
    PARTLY: lambda nb: _solve(nb, ALL_ANSWERS[:2]),
    INVALID_JSON: None,
    DELETED_TEST: _delete_test_cell,
    MARKDOWN_ANSWER: _answer_to_markdown,
}


def _run(args, cwd, env, check=True):
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def submitted_course(base, learners: dict, assignment: str = ASSIGNMENT, notebook: str = NOTEBOOK):
    """A course in ``base/course`` with its own exchange: ``assignment`` generated and released, each
    learner's fetched notebook changed by ``learners[student]`` (None: not JSON) and submitted, then
    collected. Returns the course folder and the environment for nbgrader."""
    course, exchange = base / "course", base / "exchange"
    (course / "source").mkdir(parents=True)
    exchange.mkdir()
    exchange.chmod(0o777)
    shutil.copy(ROOT / "nbgrader_config.py", course)
    shutil.copytree(ROOT / "source" / assignment, course / "source" / assignment)
    env = nbcycle.nbgrader_env()
    env["NBGRADER_EXCHANGE"] = str(exchange)
    nbgrader = [sys.executable, "-m", "nbgrader"]
    learner_options = [f"--course={COURSE}", f"--Exchange.root={exchange}"]

    _run(nbgrader + ["generate_assignment", assignment, "--force"], course, env)
    _run(nbgrader + ["release_assignment", assignment, "--force"], course, env)
    for student, change in learners.items():
        home = base / f"home-{student}"
        home.mkdir()
        _run(nbgrader + ["fetch_assignment", assignment] + learner_options, home, env)
        path = home / assignment / notebook
        if change is None:
            path.write_text('{"cells": [ this is not JSON')
        else:
            path.write_text(json.dumps(change(json.loads(path.read_text())), indent=1))
        _run(nbgrader + ["submit", assignment, f"--student={student}"] + learner_options, home, env)
    _run(nbgrader + ["collect", assignment], course, env)
    return course, env


@pytest.fixture(scope="module")
def cycle(tmp_path_factory):
    course, env = submitted_course(tmp_path_factory.mktemp("nbgrader"), LEARNERS)
    nbgrader = [sys.executable, "-m", "nbgrader"]
    timings = {}

    before = nbcycle.checksums(course / "submitted")
    start = time.monotonic()
    autograde = _run(
        [sys.executable, "-m", "autograder.nbcourse.nbcycle", "autograde", "--root", str(course)],
        ROOT,
        env,
        check=False,
    )
    timings["autograde"] = time.monotonic() - start
    after = nbcycle.checksums(course / "submitted")
    feedback = _run(nbgrader + ["generate_feedback", ASSIGNMENT, "--force"], course, env, check=False)
    _run(nbgrader + ["export", "--to", "grades.csv"], course, env)
    report = json.loads((course / "autograde-report.json").read_text())
    rows = {row["student"]: row for row in report["rows"]}
    with open(course / "grades.csv", newline="") as f:
        grades = {row["student_id"]: row for row in csv.DictReader(f)}
    return dict(
        course=course,
        autograde=autograde,
        rows=rows,
        report=report,
        before=before,
        after=after,
        feedback=feedback,
        grades=grades,
        timings=timings,
    )


def test_autograde_runs_to_the_end_and_exits_zero(cycle):
    proc = cycle["autograde"]
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert set(cycle["rows"]) == set(LEARNERS)


def test_exported_grades_are_full_zero_and_the_right_partial_score(cycle):
    grades = cycle["grades"]
    assert float(grades[SOLVED]["score"]) == 8.0
    assert float(grades[UNTOUCHED]["score"]) == 0.0
    assert float(grades[PARTLY]["score"]) == 6.0  # log_softmax (3) and nll_loss (3); cross_entropy untouched
    assert all(float(grades[s]["max_score"]) == 8.0 for s in (SOLVED, UNTOUCHED, PARTLY))


def test_nbgrader_and_the_sandbox_agree_on_every_ordinary_submission(cycle):
    rows = cycle["rows"]
    assert (rows[SOLVED]["nbgrader_score"], rows[SOLVED]["sandbox_score"]) == (8.0, 8.0)
    assert (rows[UNTOUCHED]["nbgrader_score"], rows[UNTOUCHED]["sandbox_score"]) == (0.0, 0.0)
    assert rows[PARTLY]["nbgrader_score"] == 6.0
    assert sorted(rows[PARTLY]["sandbox_passed"]) == ["losses.log_softmax", "losses.nll_loss"]
    ordinary = (SOLVED, UNTOUCHED, PARTLY, MARKDOWN_ANSWER)
    assert all(rows[s]["disagreements"] == [] for s in ordinary), [rows[s]["disagreements"] for s in ordinary]


def test_generate_feedback_prints_no_warning(cycle):
    """nbgrader's base preprocessor hides a setting the HTML exporter passes: without the
    configuration's fix, generate_feedback warns once per preprocessor."""
    out = cycle["feedback"].stdout + cycle["feedback"].stderr
    assert "[WARNING]" not in out and "not recognized" not in out, out[-2000:]


def test_feedback_html_exists_for_each_graded_learner(cycle):
    for student in (SOLVED, UNTOUCHED, PARTLY):
        html = cycle["course"] / "feedback" / student / ASSIGNMENT / "losses.html"
        assert html.is_file() and html.stat().st_size > 1000, student


def test_feedback_html_shows_no_hidden_test_code(cycle):
    for student in (SOLVED, UNTOUCHED, PARTLY):
        html = (cycle["course"] / "feedback" / student / ASSIGNMENT / "losses.html").read_text()
        assert "incheck" in html  # the public test lines are still there
        assert "HIDDEN TESTS" not in html and "&quot;hidden&quot;" not in html, student


def test_invalid_json_gets_a_clear_error_and_the_others_are_still_graded(cycle):
    row = cycle["rows"][INVALID_JSON]
    assert "invalid JSON" in row["sandbox_error"]
    assert "JSON" in row["nbgrader_error"]
    assert row["sandbox_score"] is None and row["disagreements"] == []
    assert "invalid JSON" in cycle["autograde"].stdout
    assert cycle["rows"][SOLVED]["nbgrader_score"] == 8.0


def test_a_deleted_test_cell_is_reported_as_the_reason_nbgrader_and_the_sandbox_disagree(cycle):
    row = cycle["rows"][DELETED_TEST]
    assert any("test-losses-nll_loss was deleted" in p for p in row["problems"]), row["problems"]
    assert (row["nbgrader_score"], row["sandbox_score"]) == (5.0, 8.0)  # nbgrader: the deleted cell is worth 0
    assert len(row["disagreements"]) == 1 and "losses.nll_loss" in row["disagreements"][0]
    assert "test cell was deleted" in row["disagreements"][0]
    assert "1 disagreement(s)" in cycle["autograde"].stdout


def test_an_answer_cell_turned_into_markdown_is_reported_and_graded_as_code(cycle):
    row = cycle["rows"][MARKDOWN_ANSWER]
    assert any("answer-losses-log_softmax was turned into a markdown cell" in p for p in row["problems"])
    assert (row["nbgrader_score"], row["sandbox_score"]) == (8.0, 8.0)
    assert "turned into a markdown cell" in cycle["autograde"].stdout


def test_collected_submissions_are_never_modified(cycle):
    assert cycle["before"] and cycle["before"] == cycle["after"]
    assert cycle["report"]["modified"] == []


def test_autograde_time_per_submission_is_reported(cycle):
    assert "time per submission" in cycle["autograde"].stdout
    for student in (SOLVED, UNTOUCHED, PARTLY):
        row = cycle["rows"][student]
        assert row["nbgrader_seconds"] > 0 and row["sandbox_seconds"] > 0
    print(f"\nautograde of {len(cycle['rows'])} submissions: {cycle['timings']['autograde']:.1f} s")
