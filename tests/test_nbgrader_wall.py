"""nbgrader's kernel inside the wall (autograder.nbcourse.wall): what is staged, what comes back; no wall, no run."""

from __future__ import annotations

import json
import os
import shutil
import socket

import nbformat
import pytest

from autograder.nbcourse import wall
from conftest import ROOT


def _course(tmp_path):
    """A course with two learners' submissions and a secret of the instructor's beside them."""
    for student in ("ann", "bob"):
        for assignment, name in (("04_losses", "losses"), ("05_convolution", "convolution")):
            folder = tmp_path / "submitted" / student / assignment
            folder.mkdir(parents=True)
            (folder / f"{name}.ipynb").write_text(f"{student}'s {name}")
    (tmp_path / "gradebook.db").write_text("the instructor's grades")
    mine = tmp_path / "autograded" / "ann" / "04_losses"
    mine.mkdir(parents=True)
    (mine / "losses.ipynb").write_text("ann's losses")
    return mine


@pytest.mark.pure
def test_the_stage_holds_only_that_learners_notebooks(tmp_path):
    mine = _course(tmp_path / "course")
    staged = tmp_path / "stage"
    staged.mkdir()
    work = wall.stage(mine, tmp_path / "course" / "submitted" / "ann", staged, None)
    files = sorted(str(p.relative_to(staged / "learner")) for p in (staged / "learner").rglob("*") if p.is_file())
    assert files == ["04_losses/losses.ipynb", "05_convolution/convolution.ipynb"]
    assert (staged / "learner" / "05_convolution" / "convolution.ipynb").read_text() == "ann's convolution"
    assert work == staged / "learner" / "04_losses"


@pytest.mark.pure
def test_a_link_in_the_submission_is_staged_as_a_link_never_as_the_file_it_names(tmp_path):
    mine = _course(tmp_path / "course")
    (mine / "grades.txt").symlink_to(tmp_path / "course" / "gradebook.db")
    (mine / "others").symlink_to(tmp_path / "course" / "submitted" / "bob")
    staged = tmp_path / "stage"
    staged.mkdir()
    work = wall.stage(mine, None, staged, None)
    assert (work / "grades.txt").is_symlink() and (work / "others").is_symlink()  # dangling inside the wall
    assert not any("instructor" in p.read_text() for p in work.rglob("*") if p.is_file() and not p.is_symlink())


def _notebook(*sources):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    return nb


@pytest.mark.pure
def test_only_outputs_come_back_from_the_kernel_never_sources_or_metadata(tmp_path):
    nb = _notebook("check(f, 'losses.nll_loss')")
    nb.cells[0].metadata = {"nbgrader": {"grade_id": "test-losses-nll_loss", "grade": True, "points": 3}}
    returned = _notebook("pass  # the kernel rewrote the test cell")
    returned.cells[0].metadata = {"nbgrader": {"grade_id": "test-losses-nll_loss", "grade": True, "points": 99}}
    returned.cells[0].outputs = [nbformat.v4.new_output("stream", text="passed")]
    returned.cells[0].execution_count = 1
    wall.take_outputs(nb, returned)
    assert nb.cells[0].source == "check(f, 'losses.nll_loss')" and nb.cells[0].metadata.nbgrader.points == 3
    assert nb.cells[0].outputs[0].text == "passed" and nb.cells[0].execution_count == 1


@pytest.mark.pure
@pytest.mark.parametrize(
    "returned",
    [
        _notebook("a", "b"),  # another cell count
        {"cells": "no"},
        nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("a")]),
    ],
)
def test_a_notebook_with_other_cells_is_refused(returned):
    with pytest.raises(wall.WallError):
        wall.take_outputs(_notebook("a"), returned)


@pytest.mark.pure
def test_a_malformed_output_is_refused_and_no_output_kept():
    nb = _notebook("a")
    returned = _notebook("a")
    returned.cells[0].outputs = [{"output_type": "stream", "name": "stdout", "text": 3}]
    with pytest.raises(wall.WallError):
        wall.take_outputs(nb, returned)
    assert nb.cells[0].outputs == []


def test_without_bubblewrap_no_code_runs(tmp_path, monkeypatch):
    """The safe fallback: no wall, no kernel (nbgrader records the notebook as failed)."""
    monkeypatch.setattr(wall, "problem", lambda: "bwrap is not installed")
    monkeypatch.delenv(wall.UNWALLED, raising=False)
    marker = tmp_path / "ran"
    with pytest.raises(wall.WallError, match="bwrap is not installed"):
        wall.execute_walled(_notebook(f"open({str(marker)!r}, 'w')"), tmp_path, None, 30)
    assert not marker.exists()


@pytest.mark.skipif(wall.problem() is not None, reason="needs bubblewrap")
def test_the_kernel_runs_as_an_unprivileged_uid_and_its_writes_stay_inside(tmp_path):
    """Also: the instructor's servers on this machine (a Jupyter server with its token, say) are out of
    reach: the kernel has a network of its own."""
    mine = _course(tmp_path / "course")
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    nb = _notebook(
        "import os; print(os.getuid(), os.getgid(), os.getgroups())",
        "open('left-behind.txt', 'w').write('x'); print(sorted(os.listdir('..')))",
        f"print(open({str(tmp_path / 'course' / 'gradebook.db')!r}).read())",
        "print(sorted(os.listdir('/grader/autograder/checks/hidden')))",
        f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=5)",
    )
    with server:
        executed = wall.execute_walled(nb, mine, tmp_path / "course" / "submitted" / "ann", 120)
    uid, gid, groups = executed.cells[0].outputs[0].text.split(maxsplit=2)
    if os.geteuid() == 0:
        assert int(uid) >= 10_000_000 and int(gid) == int(uid) and groups.strip() == "[]"
    assert executed.cells[1].outputs[0].text.strip() == "['04_losses', '05_convolution']"
    assert executed.cells[2].outputs[0].ename == "FileNotFoundError"
    assert not (mine / "left-behind.txt").exists()
    assert executed.cells[3].outputs[0].text.strip() == "[]"  # no hidden check, no course secret
    assert executed.cells[4].outputs[0].ename == "ConnectionRefusedError"


@pytest.mark.pure
def test_the_notebook_goes_into_the_wall_without_its_hidden_tests():
    source = (
        'check(f, "losses.nll_loss")\n'
        '### BEGIN HIDDEN TESTS\ncheck(f, "losses.nll_loss", suite="hidden")\n### END HIDDEN TESTS'
    )
    nb = _notebook(source, "### BEGIN HIDDEN TESTS\nsecret = 1")  # an unclosed region runs to the cell's end
    nb.cells[0].metadata = {"nbgrader": {"grade_id": "test-losses-nll_loss", "grade": True, "points": 3}}
    walled = wall.without_hidden_tests(nb)
    assert [c.source for c in walled.cells] == ['check(f, "losses.nll_loss")\n', ""]
    assert nb.cells[0].source == source  # nbgrader's own copy keeps the instructor's cell
    assert wall.hidden_cells(nb) == {0: "losses.nll_loss", 1: None}


class _Unit:
    def __init__(self, check, verdict, weight=1.0):
        self.check, self.verdict, self.weight = check, verdict, weight


class _Result:
    def __init__(self, outcome, verdicts):
        self.outcome = outcome
        self.units = [_Unit(f"check {i}", v) for i, v in enumerate(verdicts)]


@pytest.mark.pure
def test_a_hidden_test_cell_is_scored_from_the_sandboxes_verdict():
    from nbgrader.utils import determine_grade

    nb = _notebook("passing", "failing", "failed in the kernel", "crashed", "unknown")
    for cell in nb.cells:
        cell.metadata = {"nbgrader": {"grade_id": "x", "grade": True, "points": 2, "solution": False}}
    nb.cells[2].outputs = [nbformat.v4.new_output("error", ename="CheckFailed", evalue="public", traceback=[])]
    results = {
        "a.passing": _Result("passed", ["passed", "passed"]),
        "a.failing": _Result("failed", ["passed", "failed", "failed"]),
        "a.kernel": _Result("passed", ["passed"]),
        "a.crash": _Result("crashed", []),
    }
    wall.add_hidden_verdicts(nb, {0: "a.passing", 1: "a.failing", 2: "a.kernel", 3: "a.crash", 4: None}, results)
    assert [determine_grade(c)[0] for c in nb.cells] == [2, 0, 0, 0, 0]
    assert nb.cells[0].outputs[0].text == "hidden checks: all 2 passed (run in the sandbox)\n"
    assert nb.cells[1].outputs[0].text.strip() == "✘ 2 of 3 hidden checks failed (run in the sandbox)"
    assert nb.cells[1].outputs[1].evalue == "a.failing: some hidden checks failed (the edge cases: see the docstring)"
    assert [o.evalue for o in nb.cells[2].outputs] == ["public"]  # nothing added to a cell the kernel failed
    assert nb.cells[3].outputs[0].evalue == "a.crash (hidden checks): crashed"


# Runs last in the notebook, after every test cell: what of the hidden tests can the kernel find?
SEARCHING_CELL = r"""
import gc, glob, importlib, json, os, sys
found = {}
def attempt(name, action):
    try:
        found[name] = "FOUND: " + repr(action())[:200]
    except Exception as exc:
        found[name] = "refused: " + type(exc).__name__
attempt("read the hidden checks", lambda: open("/grader/autograder/checks/hidden/losses.py").read(64))
attempt("list the hidden checks", lambda: os.listdir("/grader/autograder/checks/hidden") or 1 / 0)
attempt("read the course secret", lambda: open("/grader/autograder/checks/hidden/course.secret").read(8))
attempt("import the hidden checks", lambda: importlib.import_module("autograder.checks.hidden.losses"))
attempt("hidden modules loaded", lambda: [m for m in sys.modules if "checks.hidden." in m] or 1 / 0)
def hidden_object(o):
    code = getattr(o, "__code__", None)
    return "hidden" in str(getattr(o, "__module__", "")) + str(getattr(code, "co_filename", ""))
attempt("hidden objects in memory", lambda: [o for o in gc.get_objects() if callable(o) and hidden_object(o)] or 1 / 0)
attempt("hidden test lines in the kernel's history", lambda: [s for s in In[:-1] if 'suite="hidden"' in s] or 1 / 0)
def files_with(text):
    every = glob.glob("/learner/**", recursive=True) + glob.glob("/tmp/**", recursive=True)
    return [p for p in every if os.path.isfile(p) and text in open(p, "rb").read()] or 1 / 0
attempt("hidden test lines in the kernel's files", lambda: files_with(b"BEGIN HIDDEN" + b" TESTS"))
print("SEARCH " + json.dumps(found))
"""


@pytest.mark.skipif(wall.problem() is not None, reason="needs bubblewrap")
@pytest.mark.timeout(600)
def test_the_kernel_never_holds_the_hidden_tests_and_their_verdicts_come_from_the_sandbox(tmp_path):
    """nbgrader's notebook as autograde's Execute gets it (the instructor's test cells, hidden lines
    included), with a learner's nll_loss that passes the public checks and not the hidden ones."""
    from nbgrader.utils import determine_grade

    mine = _course(tmp_path / "course")
    nb = nbformat.read(ROOT / "source" / "04_losses" / "losses.ipynb", as_version=4)
    answer = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "answer-losses-nll_loss")
    guard = '    if reduction not in ("none", "sum", "mean"):'
    assert guard in answer.source
    answer.source = answer.source.replace(guard, "    reduction = reduction.lower()  # accepts 'Mean'\n" + guard)
    nb.cells.append(nbformat.v4.new_code_cell(SEARCHING_CELL))
    (mine / "losses.ipynb").write_text(nbformat.writes(nb))  # as nbgrader writes it before executing it
    tests = {c.metadata["nbgrader"]["grade_id"]: c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")}
    resources = {
        "metadata": {"path": str(mine)},
        "nbgrader": {"assignment": "04_losses", "notebook": "losses", "student": "ann"},
    }
    nb, _ = wall.WalledExecute(timeout=300).preprocess(nb, resources)

    found = json.loads(nb.cells[-1].outputs[0].text.split("SEARCH ", 1)[1])
    assert len(found) == 8 and all(v.startswith("refused") for v in found.values()), json.dumps(found, indent=1)
    scores = {gid: determine_grade(cell) for gid, cell in tests.items() if gid.startswith("test-")}
    assert scores["test-losses-nll_loss"][0] == 0, scores
    assert scores["test-losses-log_softmax"][0] == scores["test-losses-log_softmax"][1] > 0, scores
    failed = tests["test-losses-nll_loss"].outputs[-1]
    assert failed.ename == "CheckFailed" and "some hidden checks failed" in failed.evalue
    assert "hidden checks: all" in tests["test-losses-log_softmax"].outputs[-1].text
    assert 'suite="hidden"' in tests["test-losses-nll_loss"].source  # nbgrader's copy keeps the instructor's cell


@pytest.mark.pure
def test_no_staged_file_holds_hidden_test_lines(tmp_path):
    """nbgrader's autograde writes the notebook it is about to execute, hidden test cells restored, into
    the folder that is staged; an earlier notebook of the assignment, autograded, lies beside it."""
    mine = _course(tmp_path / "course")
    source = ROOT / "source" / "04_losses" / "losses.ipynb"
    shutil.copy(source, mine / "losses.ipynb")
    shutil.copy(source, mine / "earlier.ipynb")
    (mine / "notes.txt").write_text("### BEGIN HIDDEN TESTS\nsecret\n### END HIDDEN TESTS")
    staged = tmp_path / "stage"
    staged.mkdir()
    work = wall.stage(mine, None, staged, None)
    assert sorted(p.name for p in work.iterdir()) == ["earlier.ipynb", "losses.ipynb"]
    for name in ("losses.ipynb", "earlier.ipynb"):
        text = (work / name).read_text()
        assert "HIDDEN TESTS" not in text and 'suite=\\"hidden\\"' not in text
        assert len(nbformat.reads(text, as_version=4).cells) == len(nbformat.read(source, as_version=4).cells)
    assert "BEGIN HIDDEN TESTS" in (mine / "losses.ipynb").read_text()  # nbgrader's own copy is untouched
