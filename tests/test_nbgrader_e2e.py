"""The instructor's whole nbgrader cycle, for real: nbgrader's own commands, a real Jupyter kernel.

One small assignment (04_losses: three exercises, 8 points) goes generate → release → fetch and
submit by six learners → collect → ``python -m autograder.nbcourse.nbcycle autograde`` (nbgrader autograde
and the sandbox, compared) → feedback → export. Three learners are ordinary (the solutions, the
untouched notebook, a partly right one); three hand in something malformed (invalid JSON, a
deleted test cell, an answer cell turned into Markdown); one is hostile: right answers, and a cell
that tries, while nbgrader's autograde runs it, to read and write the instructor's course.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser

import pytest

from autograder.nbcourse import nbcycle
from conftest import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]  # seven learners through nbgrader, twice graded

ASSIGNMENT, NOTEBOOK, COURSE = "04_losses", "losses.ipynb", "nn-by-hand"
SOLVED, UNTOUCHED, PARTLY = "alice", "bob", "carol"
INVALID_JSON, DELETED_TEST, MARKDOWN_ANSWER = "dave", "erin", "frank"
HOSTILE = "mallory"
HIDDEN_WRONG = "grace"  # an nll_loss that passes the public checks and not the hidden ones
WALL_REPORT = "WALL-REPORT "


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


# What the hostile cell tries, given the course folder (the learner read our source and knows the layout):
# each attempt's outcome is printed as JSON on one line, into the notebook's own output.
HOSTILE_CELL = r"""
import glob, json, os
COURSE = __COURSE__
tried = {}
def attempt(name, action):
    try:
        tried[name] = "DONE: " + repr(action())[:200]
    except Exception as exc:
        tried[name] = "refused: " + type(exc).__name__
for name, path in [
    ("gradebook", f"{COURSE}/gradebook.db"),
    ("source notebook (hidden tests)", f"{COURSE}/source/04_losses/losses.ipynb"),
    ("release notebook", f"{COURSE}/release/04_losses/losses.ipynb"),
    ("the course's configuration", f"{COURSE}/nbgrader_config.py"),
    ("a classmate's submission", f"{COURSE}/submitted/alice/04_losses/losses.ipynb"),
    ("a classmate's autograded copy", f"{COURSE}/autograded/alice/04_losses/losses.ipynb"),
    ("the machine's accounts", "/etc/shadow"),
    ("the machine's users", "/etc/passwd"),
    ("the repository's solutions", __SOLUTION__),
]:
    attempt("read " + name, lambda path=path: open(path, "rb").read(64))
attempt("list the course", lambda: os.listdir(COURSE))
attempt("list /learner", lambda: sorted(glob.glob("/learner/*") + glob.glob("../*")))
for name, path in [
    ("a classmate's feedback", f"{COURSE}/feedback/alice/04_losses/losses.html"),
    ("a classmate's submission", f"{COURSE}/submitted/alice/04_losses/losses.ipynb"),
    ("the course folder", f"{COURSE}/pwned-by-mallory.txt"),
    ("the gradebook", f"{COURSE}/gradebook.db"),
    ("the machine's /tmp", "/var/tmp/pwned-by-mallory.txt"),
]:
    attempt("write " + name, lambda path=path: open(path, "a").write("pwned"))
attempt("processes in view", lambda: sorted(
    open(f"/proc/{p}/cmdline", "rb").read()[:60] for p in os.listdir("/proc") if p.isdigit()))
attempt("uid", lambda: os.getuid())
HIDDEN = "/grader/autograder/checks/hidden"
attempt("hidden: read the checks", lambda: open(f"{HIDDEN}/losses.py", "rb").read(64))
attempt("hidden: read the course secret", lambda: open(f"{HIDDEN}/course.secret", "rb").read(8))
attempt("hidden: list the checks", lambda: os.listdir(HIDDEN) or 1 / 0)
attempt("hidden: import the checks", lambda: __import__("importlib").import_module("autograder.checks.hidden.losses"))
attempt("hidden: its own hidden test lines", lambda: [p for p in glob.glob("/learner/**", recursive=True)
    if os.path.isfile(p) and b"BEGIN HIDDEN" + b" TESTS" in open(p, "rb").read()] or 1 / 0)
print("WALL-REPORT " + json.dumps(tried))
"""
# And HTML that would run in the instructor's or the learner's browser, with a figure that must still show.
HOSTILE_MARKDOWN = '<img src=x onerror="window.pwned=1"> <script>window.pwned=2</script> [x](javascript:pwned=3)'
HOSTILE_DISPLAY = """
from IPython.display import HTML, Javascript, SVG, display
import matplotlib.pyplot as plt
display(HTML('<b onmouseover="window.pwned=4">bold</b><script>window.pwned=5</script>'))
display(Javascript('window.pwned=6'))
display(SVG('<svg xmlns="http://www.w3.org/2000/svg" onload="window.pwned=7"></svg>'))
plt.plot([0, 1], [1, 0]); plt.show()
"""
_COURSE_OF_THIS_RUN: list[str] = []  # set by the fixture: the hostile cell names the real course folder


def _hostile(notebook: dict) -> dict:
    """Right answers, and after the imports cell a cell that attacks the course while it is autograded."""
    solved = _solve(notebook, ALL_ANSWERS)
    code = HOSTILE_CELL.replace("__COURSE__", repr(_COURSE_OF_THIS_RUN[0]))
    code = code.replace("__SOLUTION__", repr(str(ROOT / "solutions" / "losses.py")))
    cells = [
        {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": code},
        {"cell_type": "markdown", "metadata": {}, "source": HOSTILE_MARKDOWN},
        {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": HOSTILE_DISPLAY},
    ]
    at = next(i for i, c in enumerate(solved["cells"]) if c["cell_type"] == "code") + 1
    solved["cells"][at:at] = cells
    return solved


def _hidden_wrong(notebook: dict) -> dict:
    solved = _solve(notebook, ALL_ANSWERS)
    for cell in solved["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == "answer-losses-nll_loss":
            guard = '    if reduction not in ("none", "sum", "mean"):'
            assert guard in cell["source"]
            cell["source"] = cell["source"].replace(guard, "    reduction = reduction.lower()\n" + guard)
    return solved


LEARNERS = {
    SOLVED: lambda nb: _solve(nb, ALL_ANSWERS),
    UNTOUCHED: lambda nb: nb,
    PARTLY: lambda nb: _solve(nb, ALL_ANSWERS[:2]),
    INVALID_JSON: None,
    DELETED_TEST: _delete_test_cell,
    MARKDOWN_ANSWER: _answer_to_markdown,
    HOSTILE: _hostile,
    HIDDEN_WRONG: _hidden_wrong,
}


def _run(args, cwd, env, check=True):
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def learner_env(env: dict, home) -> dict:
    """A learner's environment: their own home, where nbgrader keeps its copy of each submission."""
    return {**env, "HOME": str(home), "JUPYTER_DATA_DIR": str(home / ".local" / "share" / "jupyter")}


def submitted_course(
    base, learners: dict, assignment: str = ASSIGNMENT, notebook: str = NOTEBOOK, saved_as: dict | None = None
):
    """A course in ``base/course`` with its own exchange: ``assignment`` generated and released, each
    learner's fetched notebook changed by ``learners[student]`` (None: not JSON) and submitted, then
    collected. A learner in ``saved_as`` saves it under that name instead (File > Save As), the
    fetched one deleted. The learners work at the same time, each in their own home (``HOME`` too:
    nbgrader keeps its submission cache there). Returns the course folder and the environment for nbgrader."""
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

    def learner_works(student, change):
        home = base / f"home-{student}"
        home.mkdir()
        mine = learner_env(env, home)
        _run(nbgrader + ["fetch_assignment", assignment] + learner_options, home, mine)
        path = home / assignment / notebook
        if change is None:
            path.write_text('{"cells": [ this is not JSON')
        else:
            changed = json.dumps(change(json.loads(path.read_text())), indent=1)
            if student in (saved_as or {}):
                path.unlink()
                path = path.with_name(saved_as[student])
            path.write_text(changed)
        _run(nbgrader + ["submit", assignment, f"--student={student}"] + learner_options, home, mine)

    with ThreadPoolExecutor(2) as pool:  # two at a time: each command is a Python start-up, one core each
        list(pool.map(learner_works, learners, learners.values()))
    _run(nbgrader + ["collect", assignment], course, env)
    return course, env


def build_cycle(base) -> dict:
    """The whole cycle for ``LEARNERS`` in ``base``: autograde (nbgrader and the sandbox), feedback, export."""
    _COURSE_OF_THIS_RUN[:] = [str(base / "course")]
    course, env = submitted_course(base, LEARNERS)
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
        env=env,
        autograde=autograde,
        rows=rows,
        report=report,
        before=before,
        after=after,
        feedback=feedback,
        grades=grades,
        timings=timings,
    )


@pytest.fixture
def cycle(losses_cycle):
    """The cycle is built once for the session (conftest): test_browser opens its hostile learner's pages."""
    return losses_cycle


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
    ordinary = (SOLVED, UNTOUCHED, PARTLY, MARKDOWN_ANSWER, HOSTILE, HIDDEN_WRONG)
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


class _LiveHTML(HTMLParser):
    """Elements that would run something: an on* attribute, a javascript: URL, a script that mentions pwned."""

    def __init__(self):
        super().__init__()
        self.live: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self._in_script = tag == "script"
        for name, value in attrs:
            if name.startswith("on") or "javascript:" in (value or "").replace(" ", "").lower():
                self.live.append(f"<{tag} {name}={value!r}>")
        if tag in ("iframe", "object", "embed", "svg"):
            self.live.append(f"<{tag}>")

    def handle_data(self, data):
        if self._in_script and "pwned" in data:
            self.live.append(f"<script>{data[:80]}")

    def handle_endtag(self, tag):
        self._in_script = False


def live_learner_html(html: str) -> list[str]:
    """What in a page would run learner code in a browser (empty: nothing)."""
    parser = _LiveHTML()
    parser.feed(html)
    return parser.live


def _wall_report(course) -> dict:
    notebook = json.loads((course / "autograded" / HOSTILE / ASSIGNMENT / NOTEBOOK).read_text())
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            text = "".join(output.get("text", ""))
            if WALL_REPORT in text:
                return json.loads(text.split(WALL_REPORT, 1)[1].splitlines()[0])
    raise AssertionError("the hostile cell printed no report: did it run?")


def test_a_hostile_notebook_with_right_answers_reads_nothing_of_the_course_while_autograded(cycle):
    tried = _wall_report(cycle["course"])
    reads = {k: v for k, v in tried.items() if k.startswith("read ") or k == "list the course"}
    assert len(reads) == 10 and all(v.startswith("refused") for v in reads.values()), reads


def test_a_hostile_notebook_writes_nothing_outside_its_own_result(cycle):
    tried = _wall_report(cycle["course"])
    writes = {k: v for k, v in tried.items() if k.startswith("write ")}
    assert len(writes) == 5 and all(v.startswith("refused") for v in writes.values()), writes
    course = cycle["course"]
    assert not (course / "pwned-by-mallory.txt").exists()
    assert "pwned" not in (course / "feedback" / SOLVED / ASSIGNMENT / "losses.html").read_text()


def test_the_hostile_kernel_sees_only_its_own_folder_and_processes_as_an_unprivileged_uid(cycle):
    tried = _wall_report(cycle["course"])
    assert tried["list /learner"] == "DONE: ['../04_losses', '/learner/04_losses']", tried["list /learner"]
    seen = tried["processes in view"]  # bwrap, the wall's runner, the kernel: none of the instructor's
    assert seen.count("b'") <= 4 and "nbgrader\\x00autograde" not in seen and "pytest" not in seen, seen
    uid = int(tried["uid"].split(": ")[1])
    assert uid not in (0, os.getuid()) or os.getuid() != 0


def test_the_hostile_notebooks_right_answers_keep_their_points(cycle):
    assert float(cycle["grades"][HOSTILE]["score"]) == 8.0
    assert cycle["rows"][HOSTILE]["disagreements"] == []


def test_the_hostile_notebooks_feedback_holds_no_live_html_and_still_shows_its_figure(cycle):
    html = (cycle["course"] / "feedback" / HOSTILE / ASSIGNMENT / "losses.html").read_text()
    assert "bold" in html and re.search(r'<img [^>]*src="data:image/png;base64,', html)  # the figure and text stay
    assert live_learner_html(html) == []
    assert 'http-equiv="Content-Security-Policy"' in html


def test_the_hostile_kernel_finds_no_hidden_check_nor_its_own_hidden_test_lines(cycle):
    tried = _wall_report(cycle["course"])
    hidden = {k: v for k, v in tried.items() if k.startswith("hidden: ")}
    assert len(hidden) == 5 and all(v.startswith("refused") for v in hidden.values()), hidden


def _test_cells(course, student) -> dict:
    path = course / "autograded" / student / ASSIGNMENT / NOTEBOOK
    cells = json.loads(path.read_text())["cells"]
    return {c["metadata"]["nbgrader"]["grade_id"]: c for c in cells if c["metadata"].get("nbgrader", {}).get("grade")}


def test_hidden_checks_judged_in_the_sandbox_keep_a_right_answers_points_and_take_a_wrong_ones(cycle):
    """The kernel never runs the hidden tests: their verdicts come from the sandboxed grader."""
    assert float(cycle["grades"][HIDDEN_WRONG]["score"]) == 5.0  # nll_loss (3) lost to its hidden checks alone
    failed = _test_cells(cycle["course"], HIDDEN_WRONG)["test-losses-nll_loss"]["outputs"]
    assert "hidden checks failed (run in the sandbox)" in "".join(failed[-2]["text"])
    assert failed[-1]["ename"] == "CheckFailed" and "some hidden checks failed" in failed[-1]["evalue"]
    for cell in _test_cells(cycle["course"], SOLVED).values():
        if cell["cell_type"] == "code":
            assert "hidden checks: all" in "".join(cell["outputs"][-1]["text"])
            assert "BEGIN HIDDEN TESTS" in "".join(cell["source"])  # the autograded notebook keeps nbgrader's cell
    row = cycle["rows"][HIDDEN_WRONG]
    assert "losses.nll_loss" not in row["nbgrader_passed"] and "losses.nll_loss" not in row["sandbox_passed"]
