"""Grading a class with ``grade-batch``: every kind of submission, one that crashes and hangs, a
broken zip; the CSV and one results.json each; submissions never modified; unchanged submissions
skipped on a re-run unless ``--force``; plain progress lines when the output is not a terminal."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile

import pytest

from autograder.course import catalogue
from autograder.submissions.cache import content_hash, grader_fingerprint
from autograder.submissions.discover import discover
from autograder.submissions.unpack import materialize
from conftest import EXERCISES, ROOT, SOLUTIONS

pytestmark = pytest.mark.slow

MODULES = ("pooling", "convolution")  # a part of the course keeps the test quick
GRADED = [e.id for e in catalogue.select(list(MODULES))]
POINTS = {e.id: e.points for e in catalogue.EXERCISES}
FULL = sum(POINTS[e] for e in GRADED)

CRASH_AND_HANG = {
    "pooling": "\n\nimport os\nos._exit(0)\n",  # the module kills its process when imported
    "convolution": "\n\ndef conv1d(x, weight, bias=None, stride=1, padding=0):\n    while True:\n        pass\n",
}


def _zip(folder, dest, prefix=""):
    with zipfile.ZipFile(dest, "w") as z:
        for path in sorted(folder.glob("*.py")):
            z.write(path, prefix + path.name)


def _notebook(dest):
    """The released pooling notebook with its answer cell solved, if the notebooks have landed."""
    released = ROOT / "release" / "06_pooling" / "pooling.ipynb"
    if not released.exists():
        dest.write_text('{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
        return
    from autograder.nbcourse import nbsource, notebooks

    nb = json.loads(released.read_text())
    for cell in nb["cells"]:
        gid = notebooks.grade_id(cell)
        if gid.startswith("answer-"):
            cell["source"] = nbsource.function_source(nbsource.exercise_of(gid), SOLUTIONS)
    dest.write_text(json.dumps(nb))


def _notebooks_supported() -> bool:
    try:
        from autograder.nbcourse.notebooks import extract_submission  # noqa: F401
    except ImportError:
        return False
    return True


def checksums(folder):
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def grade_batch(folder, out, *extra):
    cmd = [
        sys.executable,
        "-m",
        "autograder",
        "grade-batch",
        str(folder),
        "--jobs",
        "2",
        "--csv",
        str(out / "grades.csv"),
        "--json-dir",
        str(out / "results"),
        "--check-timeout",
        "3",
    ]
    cmd += [a for m in MODULES for a in ("--exercise", m)] + list(extra)
    return subprocess.run(
        cmd, cwd=ROOT, capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "100"}
    )


def read_csv(path):
    with open(path, newline="") as f:
        return {row["submission"]: row for row in csv.DictReader(f)}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    base = tmp_path_factory.mktemp("class")
    folder, out = base / "submissions", base / "out"
    folder.mkdir()
    shutil.copytree(SOLUTIONS, folder / "alice")
    _zip(EXERCISES, folder / "bob.zip", prefix="bob/")  # a zip of a folder of the stubs
    carol = shutil.copytree(SOLUTIONS, folder / "carol")
    for module, code in CRASH_AND_HANG.items():
        path = carol / f"{module}.py"
        path.write_text(path.read_text() + code)
    (folder / "dave.zip").write_bytes(b"PK\x03\x04 this is not a zip")
    _notebook(folder / "erin.ipynb")
    (folder / "notes.txt").write_text("not a submission")
    (folder / "hal.py").write_text((SOLUTIONS / "pooling.py").read_text())  # a loose file, not a module's name
    before = checksums(folder)
    first = grade_batch(folder, out)
    after = checksums(folder)
    return dict(folder=folder, out=out, first=first, before=before, after=after)


def test_every_entry_is_graded_or_a_row_that_says_why_and_the_run_ends(graded):
    proc = graded["first"]
    assert proc.returncode == 1, proc.stdout + proc.stderr  # one broken zip: reported, not fatal
    rows = read_csv(graded["out"] / "grades.csv")
    assert sorted(rows) == ["alice", "bob", "carol", "dave", "erin", "hal", "notes"]
    for loose in ("hal", "notes"):
        assert rows[loose]["status"] == "failed" and "is not a submission: give a folder" in rows[loose]["message"]
    assert "7 of 7 submissions: 4 graded, 0 unchanged, 3 failed" in proc.stdout
    assert rows["alice"]["status"] == "graded" and float(rows["alice"]["score"]) == FULL
    assert float(rows["alice"]["max_score"]) == FULL
    assert rows["bob"]["status"] == "graded" and float(rows["bob"]["score"]) == 0
    assert rows["dave"]["status"] == "failed" and "not a readable zip" in rows["dave"]["message"]
    assert rows["dave"]["score"] == ""


def test_a_crashing_and_hanging_submission_loses_only_those_exercises(graded):
    carol = read_csv(graded["out"] / "grades.csv")["carol"]
    assert float(carol["pooling.max_pool2d"]) == 0
    assert float(carol["convolution.conv1d"]) == 0
    for ex in GRADED:
        if ex not in ("pooling.max_pool2d", "convolution.conv1d"):
            assert float(carol[ex]) == POINTS[ex], ex
    assert "pooling.max_pool2d: crashed" in carol["message"] and "convolution.conv1d: timeout" in carol["message"]


def test_csv_has_per_exercise_points_per_learner(graded):
    with open(graded["out"] / "grades.csv", newline="") as f:
        header = next(csv.reader(f))
    assert header == ["submission", "score", "max_score", *GRADED, "status", "message"]
    alice = read_csv(graded["out"] / "grades.csv")["alice"]
    assert [float(alice[e]) for e in GRADED] == [POINTS[e] for e in GRADED]


def test_notebook_submission(graded):
    erin = read_csv(graded["out"] / "grades.csv")["erin"]
    if not _notebooks_supported():
        assert erin["status"] == "failed" and erin["message"] == "notebooks not supported yet"
    else:  # the pooling notebook: max_pool2d right, the convolution module missing
        assert erin["status"] == "graded", erin
        assert float(erin["pooling.max_pool2d"]) == POINTS["pooling.max_pool2d"]
        assert float(erin["convolution.conv2d"]) == 0


def test_one_results_json_each_in_gradescope_format(graded):
    import jsonschema

    schema = json.loads((ROOT / "gradescope" / "results.schema.json").read_text())
    results = graded["out"] / "results"
    assert sorted(p.name for p in results.iterdir()) == ["alice", "bob", "carol", "dave", "erin", "hal", "notes"]
    for folder in results.iterdir():
        assert [p.name for p in folder.iterdir()] == ["results.json"]
        data = json.loads((folder / "results.json").read_text())
        jsonschema.validate(data, schema)
        assert data["extra_data"]["submission"] == folder.name
        assert len(data["extra_data"]["content_hash"]) == 64
    alice = json.loads((results / "alice" / "results.json").read_text())
    assert {t["exercise"] for t in alice["tests"]} == set(GRADED)
    assert alice["score"] == alice["max_score"] == FULL
    assert "not a readable zip" in json.loads((results / "dave" / "results.json").read_text())["output"]


def test_submissions_are_never_modified(graded):
    assert graded["before"] == graded["after"]
    assert sorted(os.listdir(graded["folder"])) == sorted(
        ["alice", "bob.zip", "carol", "dave.zip", "erin.ipynb", "hal.py", "notes.txt"]
    )


def test_progress_is_plain_lines_when_not_a_terminal(graded):
    out = graded["first"].stdout
    assert "\x1b[" not in out and "\r" not in out
    lines = out.splitlines()
    progress = [line for line in lines if line.startswith("[")]
    assert len(progress) == 7
    assert [line.split("]")[0] for line in progress] == [f"[{i}/7" for i in range(1, 8)]
    for name in ("alice", "bob", "carol", "dave", "erin"):
        assert sum(f"] {name}: " in line for line in progress) == 1, name
    assert "failed" in progress[-1]
    assert any("ETA" in line for line in progress[:-1])
    assert any(line.startswith("7 of 7 submissions: ") for line in lines), out


def test_rerun_skips_unchanged_submissions_unless_forced(graded):
    folder, out = graded["folder"], graded["out"]
    results = out / "results"
    stamps = {p.name: (p / "results.json").stat().st_mtime_ns for p in results.iterdir()}
    again = grade_batch(folder, out)
    assert again.returncode == 1, again.stdout + again.stderr  # the broken zip is tried again
    rows = read_csv(out / "grades.csv")
    assert {n: r["status"] for n, r in rows.items()} == {
        "alice": "unchanged",
        "bob": "unchanged",
        "carol": "unchanged",
        "dave": "failed",
        "erin": "unchanged" if _notebooks_supported() else "failed",
        "hal": "failed",
        "notes": "failed",
    }, again.stdout
    assert float(rows["alice"]["score"]) == FULL and float(rows["carol"]["pooling.max_pool2d"]) == 0
    assert "pooling.max_pool2d: crashed" in rows["carol"]["message"]  # kept from the first grade
    for name in ("alice", "bob", "carol"):
        assert (results / name / "results.json").stat().st_mtime_ns == stamps[name]
    assert "unchanged, not re-graded" in again.stdout

    # a changed submission is graded again, alone
    scratch = out.parent / "changed"
    shutil.copytree(folder, scratch)
    (scratch / "alice" / "pooling.py").write_text((EXERCISES / "pooling.py").read_text())
    changed = read_csv_after(grade_batch(scratch, out), out)
    assert changed["alice"]["status"] == "graded" and float(changed["alice"]["pooling.max_pool2d"]) == 0
    assert changed["bob"]["status"] == "unchanged"

    forced = grade_batch(scratch, out, "--force")
    rows = read_csv(out / "grades.csv")
    assert all(r["status"] in ("graded", "failed") for r in rows.values()), forced.stdout
    assert rows["bob"]["status"] == "graded" and float(rows["bob"]["score"]) == 0


def read_csv_after(proc, out):
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    return read_csv(out / "grades.csv")


# ----------------------------------------------------------------------------- unpacking, no grading
def test_zip_members_cannot_escape_or_link(tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("pooling.py", "x = 1\n")
        z.writestr("../escaped.py", "x = 2\n")
        z.writestr("/abs/escaped.py", "x = 3\n")
        link = zipfile.ZipInfo("losses.py")
        link.external_attr = 0o120777 << 16
        z.writestr(link, "/etc/passwd")
    into = tmp_path / "into"
    into.mkdir()
    folder = materialize(archive, into)
    assert (folder / "pooling.py").read_text() == "x = 1\n"
    assert not (folder / "losses.py").exists()
    assert not (tmp_path / "escaped.py").exists() and not (into / "escaped.py").exists()
    assert all(p.resolve().is_relative_to(into.resolve()) for p in into.rglob("*"))


def test_wrapper_folders_and_zips_in_a_folder_are_found(tmp_path):
    outer = tmp_path / "upload" / "hw1"
    outer.mkdir(parents=True)
    _zip(SOLUTIONS, outer / "mine.zip", prefix="deep/inside/")
    into = tmp_path / "into"
    into.mkdir()
    folder = materialize(tmp_path / "upload", into)
    assert sorted(p.name for p in folder.glob("*.py")) == sorted(p.name for p in SOLUTIONS.glob("*.py"))


def test_content_hash_sees_every_change(tmp_path):
    sub = shutil.copytree(SOLUTIONS, tmp_path / "s", ignore=shutil.ignore_patterns("__pycache__"))
    first = content_hash(sub)
    assert content_hash(sub) == first
    (sub / "__pycache__").mkdir()
    (sub / "__pycache__" / "x.pyc").write_bytes(b"cache")
    assert content_hash(sub) == first  # caches are not content
    (sub / "losses.py").write_text((sub / "losses.py").read_text() + "\n")
    assert content_hash(sub) != first
    assert grader_fingerprint() == grader_fingerprint()


def test_same_stem_twice_keeps_both(tmp_path):
    (tmp_path / "alice").mkdir()
    _zip(SOLUTIONS, tmp_path / "alice.zip")
    names = sorted(s.name for s in discover(tmp_path))
    assert names == ["alice", "alice.zip"]
