"""One way in: the same code as a folder, a zip (modules at the top or in one sub-folder), a
notebook, a single module file and Gradescope's upload folder is graded alike, through
``unpack.materialize``; a deleted answer cell, a missing function or module scores 0 out of the
assignment's full points, with a line saying what is missing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from autograder.course import catalogue
from autograder.nbcourse import nbsource, notebooks
from autograder.submissions import batch
from autograder.submissions.unpack import SubmissionError, materialize
from conftest import ROOT, SOLUTIONS

MODULE = "losses"
POINTS = sum(e.points for e in catalogue.select([MODULE]))
RELEASED = ROOT / "release" / "04_losses" / "losses.ipynb"


def solved_notebook(dest: Path, drop: str = "") -> Path:
    """The released losses notebook with every answer cell solved, except ``drop`` (deleted)."""
    nb = json.loads(RELEASED.read_text(encoding="utf-8"))
    cells = []
    for cell in nb["cells"]:
        gid = notebooks.grade_id(cell)
        if gid == drop:
            continue
        if gid.startswith("answer-"):
            cell["source"] = nbsource.function_source(nbsource.exercise_of(gid), SOLUTIONS)
        cells.append(cell)
    nb["cells"] = cells
    dest.write_text(json.dumps(nb), encoding="utf-8")
    return dest


def zipped(dest: Path, source: Path, prefix: str = "") -> Path:
    with zipfile.ZipFile(dest, "w") as z:
        z.write(source, prefix + source.name)
    return dest


def forms(tmp_path: Path) -> dict[str, Path]:
    """The reference losses.py in every form a learner hands it in."""
    module = SOLUTIONS / f"{MODULE}.py"
    folder = tmp_path / "folder"
    folder.mkdir()
    shutil.copy(module, folder)
    nested = tmp_path / "nested" / "hw1"
    nested.mkdir(parents=True)
    shutil.copy(module, nested)
    gradescope = tmp_path / "gradescope"  # Gradescope's upload folder holding one zip
    gradescope.mkdir()
    zipped(gradescope / "upload.zip", module, "losses-hw/")
    single = tmp_path / "single"
    single.mkdir()
    shutil.copy(module, single)
    return {
        "folder": folder,
        "folder in a folder": nested.parent,
        "zip": zipped(tmp_path / "top.zip", module),
        "zip with a sub-folder": zipped(tmp_path / "sub.zip", module, "alice/"),
        "notebook": solved_notebook(tmp_path / "losses.ipynb"),
        "single module file": single / f"{MODULE}.py",
        "gradescope upload": gradescope,
    }


@pytest.mark.pure
def test_every_form_unpacks_to_the_same_modules(tmp_path):
    seen = {}
    for name, path in forms(tmp_path).items():
        own: list[str] = []
        folder = materialize(path, tmp_path / "out" / name.replace(" ", "-"), own)
        assert (folder / f"{MODULE}.py").is_file(), name
        seen[name] = own
    whole = [e.id for e in catalogue.select([MODULE])]
    assert seen["notebook"] == whole and seen["single module file"] == whole
    assert not seen["folder"] and not seen["zip"]  # a folder or zip: graded on what was asked


@pytest.mark.pure
def test_a_notebook_is_graded_out_of_its_whole_assignment_even_with_a_cell_deleted(tmp_path):
    nb = notebooks.read(solved_notebook(tmp_path / "zoe.ipynb", drop="answer-losses-cross_entropy"))
    assert notebooks.assignment_of(nb) == [e.id for e in catalogue.select([MODULE])]
    folder = notebooks.extract_submission(tmp_path / "zoe.ipynb", tmp_path / "x")
    assert notebooks.missing_answers(folder) == {"losses.cross_entropy": "answer-losses-cross_entropy"}
    empty = {"cells": [], "metadata": {}}  # no cell names its module: the file name does
    assert notebooks.assignment_of(empty, "04_losses.ipynb") == notebooks.assignment_of(nb)


@pytest.mark.pure
def test_a_file_that_is_no_submission_says_what_would_be(tmp_path):
    (tmp_path / "hal.py").write_text("x = 1\n")
    with pytest.raises(SubmissionError, match=r"hal.py is not a submission: give a folder, a .zip or a notebook"):
        materialize(tmp_path / "hal.py", tmp_path / "out")
    with pytest.raises(SubmissionError, match="submission not found"):
        materialize(tmp_path / "nope", tmp_path / "out2")


@pytest.fixture(scope="module")
def grader():
    from autograder.scoring.grader import Grader  # loads torch: only for the tests that grade

    with Grader("auto") as g:
        yield g


def test_each_form_of_the_same_code_gets_the_same_grade(tmp_path, grader):
    points, totals = {}, {}
    for name, path in forms(tmp_path).items():
        graded = batch.grade_submission(grader, path, None)  # the path of grade-batch, Dask and Gradescope
        assert graded.status == "graded", (name, graded.error)
        mine = [t for t in graded.data["tests"] if t["exercise"].startswith(f"{MODULE}.")]
        points[name] = sorted((t["name"], t["score"]) for t in mine)
        totals[name] = graded.data["max_score"]
    assert all(p == points["folder"] for p in points.values()), points
    assert sum(score for _, score in points["folder"]) == POINTS
    # a notebook or a module file is an assignment: out of its points; a folder or zip, out of the course's
    assert totals["notebook"] == totals["single module file"] == POINTS
    assert {totals[n] for n in totals if n not in ("notebook", "single module file")} == {catalogue.total_points()}


def test_a_deleted_answer_cell_costs_its_points_not_the_total(tmp_path, grader):
    zoe = solved_notebook(tmp_path / "zoe-losses.ipynb", drop="answer-losses-cross_entropy")
    graded = batch.grade_submission(grader, zoe, None)
    points = catalogue.get("losses.cross_entropy").points
    assert (graded.data["score"], graded.data["max_score"]) == (POINTS - points, POINTS)
    assert "the notebook has no answer cell answer-losses-cross_entropy (deleted?)" in json.dumps(graded.data)


def test_a_missing_function_or_module_scores_zero_out_of_the_full_points(tmp_path, grader):
    sub = tmp_path / "sub"
    sub.mkdir()
    source = (SOLUTIONS / "losses.py").read_text(encoding="utf-8")
    (sub / "losses.py").write_text(source.replace("def cross_entropy(", "def cross_entropy_renamed("))
    result = grader.grade(sub, ["losses", "pooling"])
    by_id = {e.exercise.id: e for e in result.exercises}
    assert result.max_score == POINTS + sum(e.points for e in catalogue.select(["pooling"]))
    assert by_id["losses.cross_entropy"].score == 0
    assert "defines no cross_entropy" in by_id["losses.cross_entropy"].message
    assert all(by_id[e.id].score == 0 and "no pooling.py" in by_id[e.id].message for e in catalogue.select(["pooling"]))


def test_grade_takes_a_zip_with_a_sub_folder_and_a_single_module_file(tmp_path):
    nested = zipped(tmp_path / "nested.zip", SOLUTIONS / "losses.py", "inner/")
    shutil.copy(SOLUTIONS / "losses.py", tmp_path / "losses.py")
    for given in (nested, tmp_path / "losses.py"):
        out = tmp_path / f"{given.stem}.json"
        proc = subprocess.run(
            [sys.executable, "-m", "autograder", "grade", "--submission", str(given), "--quiet", "--json", str(out)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr
        data = json.loads(out.read_text())
        assert data["score"] == POINTS, given.name
    assert data["max_score"] == POINTS  # the single module file: out of its module's points


@pytest.mark.pure
def test_a_fifo_in_a_class_folder_is_a_row_that_says_why(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(SubmissionError, match="pipe is not a submission: not a regular file, nor a folder"):
        materialize(tmp_path / "pipe", tmp_path / "out")
