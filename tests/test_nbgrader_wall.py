"""nbgrader's kernel inside the wall (autograder.nbcourse.wall): what is staged, what comes back; no wall, no run."""

from __future__ import annotations

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
        executed = wall.execute_walled(nb, mine, tmp_path / "course" / "submitted" / "ann", 120, ("losses",))
    uid, gid, groups = executed.cells[0].outputs[0].text.split(maxsplit=2)
    if os.geteuid() == 0:
        assert int(uid) >= 10_000_000 and int(gid) == int(uid) and groups.strip() == "[]"
    assert executed.cells[1].outputs[0].text.strip() == "['04_losses', '05_convolution']"
    assert executed.cells[2].outputs[0].ename == "FileNotFoundError"
    assert not (mine / "left-behind.txt").exists()
    assert executed.cells[3].outputs[0].text.strip() == "['__init__.py', 'losses.py']"  # no other module's
    assert executed.cells[4].outputs[0].ename == "ConnectionRefusedError"


@pytest.mark.pure
def test_the_hidden_checks_in_view_are_those_of_the_instructors_notebook(tmp_path):
    mine = _course(tmp_path / "course")
    (tmp_path / "course" / "source" / "04_losses").mkdir(parents=True)
    shutil.copy(ROOT / "source" / "04_losses" / "losses.ipynb", tmp_path / "course" / "source" / "04_losses")
    resources = {"metadata": {"path": str(mine)}, "nbgrader": {"assignment": "04_losses", "notebook": "losses"}}
    assert wall.graded_modules(resources) == ("losses",)
    assert wall.graded_modules({**resources, "nbgrader": {"assignment": "04_losses", "notebook": "gone"}}) == ()
