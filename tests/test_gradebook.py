"""The instructor's gradebook, through the real nbgrader cycle: ``make export`` (per-learner totals,
per-exercise and per-written-answer columns, answers still to grade flagged, Canvas's import CSV),
hand grades that survive a second ``make autograde``, pictures in the feedback HTML, and
``grade-batch`` scoring a (renamed) notebook out of its own exercises' points.

One course (06_pooling: max_pool2d, 4 points autograded, and a written answer worth 3) is shared by
every test here; building it runs nbgrader's generate, release, fetch, submit, collect, autograde
twice and feedback for real.
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT
from test_nbgrader_e2e import COURSE, _run, _solve, learner_env, submitted_course

pytestmark = pytest.mark.slow

ASSIGNMENT, NOTEBOOK, WRITTEN = "06_pooling", "pooling.ipynb", "explain-maxpool"
CODE = ("answer-pooling-max_pool2d",)
GRADED, WAITING, RESUBMITTED, ABSENT, RENAMED = "alice", "carol", "erin", "dave", "frank"
COPY = "pooling-Copy1.ipynb"
HAND_GRADE = 2.0
CANVAS_ID = 4711


def _written(notebook: dict, text: str) -> dict:
    for cell in notebook["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == WRITTEN:
            cell["source"] = text
    return notebook


def _solved_with_answer(text: str):
    return lambda nb: _written(_solve(nb, CODE, ASSIGNMENT, NOTEBOOK), text)


LEARNERS = {
    GRADED: _solved_with_answer("It keeps the largest value of each 2x2 window: half the height and width."),
    WAITING: lambda nb: _written(nb, "Pooling shrinks the image so that later layers see more of it."),  # no code
    RESUBMITTED: _solved_with_answer("It takes a maximum."),
}


def _hand_grade(course, student: str, score: float) -> None:
    """What the formgrader does when a grader types a score (its GradeHandler.put), on the real gradebook."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        grade = gradebook.find_grade(WRITTEN, NOTEBOOK[: -len(".ipynb")], ASSIGNMENT, student)
        grade.manual_score = score
        grade.needs_manual_grade = grade.manual_score is None and grade.auto_score is None
        gradebook.db.commit()


def _grades(course) -> dict:
    """(manual score, needs manual grade) of every learner's written answer, read back from nbgrader."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        return {
            s: (g.manual_score, g.needs_manual_grade)
            for s in LEARNERS
            for g in [gradebook.find_grade(WRITTEN, NOTEBOOK[: -len(".ipynb")], ASSIGNMENT, s)]
        }


def _autograde(course, env):
    return _run([sys.executable, "-m", "autograder.nbcourse.nbcycle", "autograde", "--root", str(course)], ROOT, env)


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    base = tmp_path_factory.mktemp("gradebook")
    # frank solves the notebook, then saves it under another name (File > Save As in JupyterLab)
    renamed = {RENAMED: lambda nb: _solve(nb, CODE, ASSIGNMENT, NOTEBOOK)}
    course, env = submitted_course(base, {**LEARNERS, **renamed}, ASSIGNMENT, NOTEBOOK, saved_as={RENAMED: COPY})
    nbgrader = [sys.executable, "-m", "nbgrader"]
    learner = [f"--course={COURSE}", f"--Exchange.root={base / 'exchange'}"]
    _autograde(course, env)
    first = _grades(course)
    _hand_grade(course, GRADED, HAND_GRADE)
    _hand_grade(course, RESUBMITTED, 3.0)
    # erin changes her written answer after it was graded and submits again
    home = base / f"home-{RESUBMITTED}"
    path = home / ASSIGNMENT / NOTEBOOK
    path.write_text(
        json.dumps(
            _written(
                json.loads(path.read_text()),
                "It takes the maximum of each window, so the network can tolerate small shifts.",
            ),
            indent=1,
        )
    )
    _run(nbgrader + ["submit", ASSIGNMENT, f"--student={RESUBMITTED}"] + learner, home, learner_env(env, home))
    _run(nbgrader + ["collect", "--update", ASSIGNMENT], course, env)
    rerun = _autograde(course, env)
    second = _grades(course)
    _run(nbgrader + ["db", "student", "add", GRADED, "--last-name=Liddell", "--first-name=Alice"], course, env)
    _run(nbgrader + ["db", "student", "add", ABSENT], course, env)  # enrolled, never submitted
    _run(nbgrader + ["generate_feedback", ASSIGNMENT, "--force"], course, env)
    grades, canvas = base / "export" / "grades.csv", base / "export" / "grades-canvas.csv"
    # -o: the running .venv is used as it is (never re-installed by a test)
    export = _run(
        [
            "make",
            "--no-print-directory",
            "-o",
            ".venv/.installed",
            "export",
            f"COURSE_ROOT={course}",
            f"GRADES={grades}",
            f"EXPORT_ARGS=--CourseExport.canvas_ids={ASSIGNMENT}={CANVAS_ID}",
        ],
        ROOT,
        env,
    )
    with open(grades, newline="", encoding="utf-8") as f:
        book = list(csv.DictReader(f))
    with open(canvas, newline="", encoding="utf-8") as f:
        canvas_rows = list(csv.reader(f))
    report = json.loads((course / "autograde-report.json").read_text())
    return dict(
        base=base,
        course=course,
        first=first,
        second=second,
        rerun=rerun,
        export=export,
        report=report,
        book={row["student_id"]: row for row in book},
        canvas=canvas_rows,
    )


# ----------------------------------------------------------------------------- hand grades
def test_autograde_leaves_a_written_answer_for_the_instructor(course):
    assert course["first"][WAITING] == (None, True)
    assert course["first"][GRADED] == (None, True)


def test_a_second_autograde_keeps_the_hand_grade_and_does_not_ask_for_it_again(course):
    assert course["second"][GRADED] == (HAND_GRADE, False)
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course['course'] / 'gradebook.db'}") as gradebook:
        submission = gradebook.find_submission(ASSIGNMENT, GRADED)
        assert not submission.needs_manual_grade
        assert submission.score == 4 + HAND_GRADE


def test_an_answer_changed_after_its_hand_grade_is_sent_back_for_review(course):
    assert course["second"][RESUBMITTED] == (3.0, True)  # the grade stays; the new answer needs a look
    assert course["second"][WAITING] == (None, True)


# ----------------------------------------------------------------------------- the gradebook
def test_gradebook_has_totals_and_a_column_per_exercise_and_written_answer(course):
    alice = course["book"][GRADED]
    assert (alice["total"], alice["max_total"]) == ("6", "7")
    assert (alice[ASSIGNMENT], alice[f"{ASSIGNMENT} max"]) == ("6", "7")
    assert alice[f"{ASSIGNMENT}/pooling.max_pool2d"] == "4"
    assert alice[f"{ASSIGNMENT}/{WRITTEN} (written)"] == "2"
    assert (alice["last_name"], alice["first_name"], alice["to_grade"]) == ("Liddell", "Alice", "")


def test_gradebook_flags_written_answers_still_to_grade_and_leaves_them_empty(course):
    carol = course["book"][WAITING]
    assert carol["to_grade"] == f"{ASSIGNMENT}/pooling/{WRITTEN}"
    assert carol[f"{ASSIGNMENT}/{WRITTEN} (written)"] == ""  # not 0: nobody has graded it
    assert (carol[f"{ASSIGNMENT}/pooling.max_pool2d"], carol["total"]) == ("0", "0")
    assert course["book"][RESUBMITTED]["to_grade"] == f"{ASSIGNMENT}/pooling/{WRITTEN}"
    log = course["export"].stderr
    assert "still to grade by hand" in log
    assert f"{WAITING}: {ASSIGNMENT}/pooling/{WRITTEN}" in log and f"{GRADED}: " not in log


def test_gradebook_lists_a_learner_who_did_not_submit(course):
    dave = course["book"][ABSENT]
    assert (dave["not_submitted"], dave[ASSIGNMENT], dave["total"], dave["max_total"]) == (ASSIGNMENT, "", "0", "7")


def test_canvas_csv_has_canvas_columns_points_possible_and_only_finished_grades(course):
    header, points, *rows = course["canvas"]
    assert header == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", f"{ASSIGNMENT} ({CANVAS_ID})"]
    assert points[0].strip() == "Points Possible" and points[-1] == "7"
    by_login = {row[3]: row for row in rows}
    assert by_login[GRADED][0] == "Liddell, Alice" and by_login[GRADED][-1] == "6"
    assert by_login[WAITING][-1] == "" and by_login[RESUBMITTED][-1] == ""  # answers still to grade
    assert by_login[ABSENT][-1] == ""


# ----------------------------------------------------------------------------- pictures
def _pictures(html: str) -> int:
    return html.count('src="data:image/png;base64,')


def test_feedback_html_shows_the_pictures_the_learners_plotting_cells_draw(course):
    feedback = course["course"] / "feedback"
    # alice's max_pool2d works, so the second picture (her own pooling) is drawn too; carol's raises
    assert _pictures((feedback / GRADED / ASSIGNMENT / "pooling.html").read_text()) == 2
    assert _pictures((feedback / WAITING / ASSIGNMENT / "pooling.html").read_text()) == 1
    autograded = json.loads((course["course"] / "autograded" / GRADED / ASSIGNMENT / NOTEBOOK).read_text())
    assert sum("image/png" in o.get("data", {}) for c in autograded["cells"] for o in c.get("outputs", [])) == 2


# ----------------------------------------------------------------------------- grade-batch
def test_grade_batch_scores_a_renamed_notebook_out_of_its_own_exercises(course, tmp_path):
    folder = tmp_path / "class"
    folder.mkdir()
    shutil.copy(course["course"] / "submitted" / GRADED / ASSIGNMENT / NOTEBOOK, folder / "alice-Copy1.ipynb")
    shutil.copy(ROOT / "release" / "05_convolution" / "convolution.ipynb", folder / "bob.ipynb")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "autograder",
            "grade-batch",
            str(folder),
            "--jobs",
            "1",
            "--csv",
            str(tmp_path / "grades.csv"),
            "--json-dir",
            str(tmp_path / "results"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = {
        name: json.loads((tmp_path / "results" / name / "results.json").read_text()) for name in ("alice-Copy1", "bob")
    }
    assert (results["alice-Copy1"]["score"], results["alice-Copy1"]["max_score"]) == (4, 4)
    assert (results["bob"]["score"], results["bob"]["max_score"]) == (0, 12)
    with open(tmp_path / "grades.csv", newline="") as f:
        rows = {row["submission"]: row for row in csv.DictReader(f)}
    assert (rows["alice-Copy1"]["score"], rows["alice-Copy1"]["max_score"]) == ("4", "4")
    assert (rows["bob"]["score"], rows["bob"]["max_score"]) == ("0", "12")
    assert rows["alice-Copy1"]["pooling.max_pool2d"] == "4" and rows["alice-Copy1"]["convolution.conv2d"] == ""


def test_autograde_grades_a_renamed_notebook_by_its_cells_and_says_why_nbgrader_did_not(course):
    row = next(r for r in course["report"]["rows"] if r["student"] == RENAMED)
    assert (row["notebook"], row["sandbox_score"], row["max_score"]) == ("pooling-Copy1", 4, 4)
    assert row["sandbox_passed"] == ["pooling.max_pool2d"]
    assert any("pooling-Copy1.ipynb is not a notebook of this assignment" in p for p in row["problems"])
    assert "graded pooling-Copy1.ipynb by its cells" in course["rerun"].stdout
