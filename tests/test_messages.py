"""Errors name the fix: an unknown name is answered before torch loads, with the closest that
exists; an out-of-range check index says the range; a module's error is said once; "all exercises
pass" only when all were graded; ``make list`` never cuts a name; printed commands exist."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import zipfile

import pytest

from autograder import cli
from autograder.course import catalogue
from autograder.feedback import report
from autograder.scoring.results import ExerciseResult, GradeResult
from conftest import ROOT


def run(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "autograder", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )


@pytest.mark.pure
@pytest.mark.parametrize(
    "name, closest",
    [("losses.nll", "losses.nll_loss"), ("outliers.iqrr", "outliers.iqr"), ("nll_loss", "losses.nll_loss")],
)
def test_an_unknown_name_says_the_closest(name, closest):
    assert f"did you mean {closest}?" in cli.unknown_name(name)
    assert cli.unknown_name(closest) is None


def test_an_unknown_name_is_answered_before_torch_loads():
    code = (
        "import sys; from autograder import cli; "
        "rc = [cli.main([verb, 'losses.nll', *extra]) for verb, extra in "
        "(('hint', []), ('repro', ['1']))] + [cli.main(['grade', '--exercise', 'losses.nll'])]; "
        "assert rc == [2, 2, 2], rc; assert 'torch' not in sys.modules, 'torch was loaded'"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 3 and all("did you mean losses.nll_loss?" in line for line in lines), lines
    assert not any(line.startswith("error: '") for line in lines)  # a message, not a KeyError's repr


def test_a_check_index_out_of_range_says_the_range():
    proc = run("repro", "losses.nll_loss", "99")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert re.search(r"losses.nll_loss has public checks 0 to \d+", proc.stderr), proc.stderr


@pytest.mark.pure
def test_make_list_never_cuts_a_name():
    proc = run("list", COLUMNS="80")
    assert proc.returncode == 0
    for e in catalogue.EXERCISES:
        assert re.search(rf"│ {re.escape(e.id)} +│", proc.stdout), e.id
    assert "…" not in proc.stdout


def _result(exercises: list[ExerciseResult]) -> GradeResult:
    return GradeResult("sub", "test", exercises, 0.1, ("public",))


def _graded(exercise_id: str, outcome: str, message: str = "") -> ExerciseResult:
    e = catalogue.get(exercise_id)
    return ExerciseResult(e, outcome, float(e.points) if outcome == "passed" else 0.0, float(e.points), message)


@pytest.mark.pure
def test_a_module_error_is_said_once():
    error = "losses.py could not be loaded: SyntaxError: invalid syntax (losses.py, line 3)"
    result = _result([_graded(e.id, "error", error) for e in catalogue.select(["losses"])])
    buf = io.StringIO()
    report.print_report(result, out=buf)
    text = buf.getvalue()
    assert text.count("could not be loaded") == 2, text  # once in the table, once in the details
    assert "hint: make hint" not in text and "make grade EX=losses" in text


@pytest.mark.pure
def test_all_exercises_pass_only_when_all_were_graded():
    one = _result([_graded("outliers.iqr", "passed")])
    assert "well done" not in report.next_up(one).plain
    assert f"1 of {len(catalogue.EXERCISES)}" in report.next_up(one).plain
    every = _result([_graded(e.id, "passed") for e in catalogue.EXERCISES])
    assert report.next_up(every).plain == "all exercises pass — well done!"


@pytest.mark.pure
def test_every_make_target_named_in_a_printed_message_exists():
    makefiles = [ROOT / "Makefile", *sorted((ROOT / "mk").glob("*.mk"))]
    targets = {t for path in makefiles for t in re.findall(r"^([a-zA-Z_-]+):", path.read_text(), flags=re.M)}
    sources = [ROOT / "autograder" / "feedback" / "report.py", ROOT / "autograder" / "cli.py"]
    named = {m for path in sources for m in re.findall(r"make ([a-z][a-z-]+)", path.read_text())}
    assert named and named <= targets, named - targets


def test_no_agreement_is_claimed_when_nbgrader_graded_nothing():
    from autograder.nbcourse import nbcycle  # loads the grader (torch): only for this test

    row = nbcycle.Row("ann", "01_outliers", "outliers", ["outliers.iqr"], max_score=1.0, sandbox_score=1.0)
    row.nbgrader_error = nbcycle.ORDER_HINT
    buf = io.StringIO()
    nbcycle.print_report([row], [], out=buf)
    text = buf.getvalue()
    assert "agree on every exercise" not in text and "nothing was compared" in text
    assert "run `make release` first" in text


def test_the_reproduce_command_printed_for_a_zip_works(tmp_path):
    source = (ROOT / "solutions" / "losses.py").read_text(encoding="utf-8")
    wrong = source.replace("def log_softmax(", "def _right_log_softmax(", 1)
    wrong += "\n\ndef log_softmax(logits, dim=-1):\n    return logits.softmax(dim)\n"
    archive = tmp_path / "mine.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("hw/losses.py", wrong)  # the modules in one sub-folder
    graded = run("grade", "--submission", str(archive), "--exercise", "losses.log_softmax", COLUMNS="200")
    line = next(row for row in graded.stdout.splitlines() if "reproduce:" in row)
    command = line.split("reproduce:", 1)[1].split()
    assert command[:2] == ["make", "repro"] and f"SUBMISSION={archive}" in command, line
    values = dict(word.split("=", 1) for word in command[2:])
    proc = run("repro", values["EX"], values["N"], "--submission", values["SUBMISSION"])
    assert proc.returncode == 0, proc.stderr
    assert "verdict:" in proc.stdout and "pytorch['out']" in proc.stdout, proc.stdout
