"""Nothing lost, whatever stops the run: Ctrl-C, SIGTERM or SIGKILL at random moments of ``grade``,
``watch`` and ``grade-batch`` leave the previous CSV and results or complete new ones, and no copy of
learner code outlives the grader; Ctrl-C ends ``grade`` within a second, with one line."""

from __future__ import annotations

import csv
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import EXERCISES, ROOT, SOLUTIONS

pytestmark = pytest.mark.slow

LEARNERS = ("amy", "ben", "cy")


def start(tmp: Path, *args: str) -> subprocess.Popen:
    """``python -m autograder ARGS`` in its own process group, its temporary files in ``tmp``."""
    return subprocess.Popen(
        [sys.executable, "-m", "autograder", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        # a course secret, so that the one-off "no course secret" note is not among the lines checked here
        env={**os.environ, "TMPDIR": str(tmp), "AUTOGRADER_SECRET": "interrupt-tests"},
    )


def leftovers(tmp: Path) -> list[str]:
    """What the grader left in its temporary folder (copies of learner code, scratch folders)."""
    return sorted(p.name for p in tmp.iterdir())


def test_ctrl_c_ends_grade_within_a_second_with_one_line(tmp_path):
    rng = random.Random(22)
    for delay in sorted(rng.uniform(0.5, 9.0) for _ in range(3)):
        tmp = tmp_path / f"tmp-{delay:.1f}"
        tmp.mkdir()
        proc = start(tmp, "grade", "--submission", str(SOLUTIONS))
        time.sleep(delay)
        sent = time.monotonic()
        os.killpg(proc.pid, signal.SIGINT)  # as a terminal does: to the whole foreground group
        out, err = proc.communicate(timeout=60)
        took = time.monotonic() - sent
        if proc.returncode == 0:  # it finished first: nothing to interrupt
            continue
        assert proc.returncode == 130, (delay, err)
        assert err.strip() == "interrupted", (delay, err)
        assert took < 1.0, (delay, took)
        assert leftovers(tmp) == [], delay


def test_sigterm_to_watch_leaves_no_copy_of_the_learners_code(tmp_path):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    submission = shutil.copytree(EXERCISES, tmp_path / "mine")
    proc = start(tmp, "watch", "--submission", str(submission))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any(tmp.iterdir()):
        time.sleep(0.1)
    assert any(p.name.startswith("grade-inbox-") for p in tmp.iterdir())  # the copy exists while it runs
    time.sleep(2)
    proc.send_signal(signal.SIGTERM)  # `kill PID`, to the command alone
    proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert leftovers(tmp) == []


def _rows(path: Path) -> dict[str, dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return {row["submission"]: row for row in csv.DictReader(f)}


def test_an_interrupted_grade_batch_leaves_the_previous_table_or_a_complete_new_one(tmp_path):
    folder, out = tmp_path / "class", tmp_path / "out"
    folder.mkdir()
    for name in LEARNERS:
        (folder / name).mkdir()
        shutil.copy(SOLUTIONS / "losses.py", folder / name)
    args = ["grade-batch", str(folder), "--csv", str(out / "grades.csv"), "--json-dir", str(out / "results")]
    args += ["--exercise", "losses", "--jobs", "1"]
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    first = start(tmp, *args)
    assert first.wait(timeout=300) == 0, first.communicate()
    previous = _rows(out / "grades.csv")
    assert sorted(previous) == list(LEARNERS)
    rng = random.Random(2222)
    for i, sig in enumerate((signal.SIGINT, signal.SIGTERM, signal.SIGKILL, signal.SIGINT, signal.SIGKILL)):
        delay = rng.uniform(0.5, 12.0)
        tmp = tmp_path / f"tmp-{i}"
        tmp.mkdir()
        proc = start(tmp, *args, "--force")
        time.sleep(delay)
        os.killpg(proc.pid, sig)
        proc.communicate(timeout=60)
        rows = _rows(out / "grades.csv")  # parses: never half written
        assert sorted(rows) == list(LEARNERS), (sig, delay, rows)
        for name, row in rows.items():
            assert row["score"] == previous[name]["score"] == "8", (sig, delay, row)
            assert row["status"] in ("graded", "unchanged", "kept"), (sig, delay, row)
        for name in LEARNERS:
            data = json.loads((out / "results" / name / "results.json").read_text(encoding="utf-8"))
            assert data["score"] == 8.0, (sig, delay, name)
        if sig != signal.SIGKILL:  # SIGKILL runs no cleanup: the next run's start is what matters
            assert leftovers(tmp) == [], (sig, delay)


@pytest.mark.pure
def test_the_table_is_rebuilt_from_every_stored_result(tmp_path):
    from autograder.submissions.batch import table_rows  # no torch: the table alone
    from autograder.submissions.cache import write_atomically
    from autograder.submissions.discover import discover
    from autograder.submissions.table import Outcome, write_csv

    for name in LEARNERS:
        (tmp_path / "class" / name).mkdir(parents=True)
    subs = discover(tmp_path / "class")
    stored = {"score": 8.0, "max_score": 8.0, "tests": [], "extra_data": {"submission": "ben"}}
    write_atomically(stored, tmp_path / "results" / "ben" / "results.json")
    this_run = [Outcome(subs[0], "graded", {"score": 1.0, "max_score": 8.0, "tests": []})]
    rows = table_rows(subs, this_run, tmp_path / "results")  # interrupted after amy: ben stored, cy never graded
    assert [(o.submission.name, o.status) for o in rows] == [("amy", "graded"), ("ben", "kept"), ("cy", "failed")]
    write_csv(rows, [], tmp_path / "grades.csv")
    table = _rows(tmp_path / "grades.csv")
    assert table["ben"]["score"] == "8" and "interrupted" in table["ben"]["message"]
    assert table["cy"]["message"] == "not graded: the run was interrupted before it"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary file left


def test_ctrl_c_at_any_moment_of_the_scorers_start_ends_grade_with_one_line(tmp_path):
    """Each moment of the scorer's imports: torch's C start-up swallows a KeyboardInterrupt raised
    while it imports NumPy (NumPy then fails half-loaded) and aborts when one crosses its C++, so
    the scorer imports torch in a thread of its own and the interrupt lands in the waiting one.
    Always the one line and status 130, and no copy of the code left behind."""
    for delay in [0.2 + 0.1 * i for i in range(12)]:
        tmp = tmp_path / f"tmp-{delay:.1f}"
        tmp.mkdir()
        proc = start(tmp, "grade", "--submission", str(SOLUTIONS))
        time.sleep(delay)
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        assert (proc.returncode, err.strip()) == (130, "interrupted"), (delay, err)
        assert leftovers(tmp) == [], delay
