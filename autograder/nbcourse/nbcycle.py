"""``make autograde``: nbgrader's autograde, then the same notebooks again in the sandbox, compared.

nbgrader runs every submitted notebook in a Jupyter kernel, test cells included, with the
learner's code in the same process as the checks; here that kernel runs inside the wall
(``nbcourse.wall``: bubblewrap, an unprivileged uid, only that learner's files), never as the
instructor. That is how notebooks are graded, but learner code could interfere with the checks.
So each collected notebook is graded a second time by the sandboxed grader
(``notebooks.extract_submission`` then ``grader.Grader``, the code path of
``python -m autograder grade --notebook``) and the two are compared per exercise.

**Agreement**, precisely: a test cell is all-or-nothing in nbgrader, so for every exercise of
the notebook, nbgrader's test cell earns its full points exactly when the sandboxed grader's
outcome for that exercise is ``passed`` (full marks). Equivalently, nbgrader's autograded score
equals the sum of the points of the exercises the sandbox passes. (The sandbox also gives partial
credit for partly right work; that score is reported beside, not compared.) A disagreement is
reported, never fatal: nbgrader passing where the sandbox fails suggests tampering or code outside
the answer cells; the opposite suggests a crash or time-out in the notebook.

Collected submissions are only read: their checksums are compared before and after.

Usage, from the course root (where ``nbgrader_config.py`` is)::

    python -m autograder.nbcourse.nbcycle autograde [--assignment 04_losses] [--root DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry
from rich.table import Table

from autograder.course import catalogue
from autograder.feedback import report
from autograder.nbcourse import notebooks, siblings
from autograder.nbcourse.nbsource import exercise_of, test_id
from autograder.scoring.grader import Grader


def nbgrader_env() -> dict:
    """The environment for nbgrader: this interpreter's scripts (alembic, jupyter) come first."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    # matplotlib's inline backend, headless: a figure a cell draws is kept as a PNG output, so the
    # feedback HTML and the formgrader show it (Agg would draw nothing into the notebook)
    env["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    return env


def nbgrader(root: Path, *args: str, timeout: float = 3600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nbgrader", *args],
        cwd=root,
        env=nbgrader_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assignments(root: Path) -> list[str]:
    source = Path(root) / "source"
    return sorted(p.name for p in source.iterdir() if p.is_dir()) if source.is_dir() else []


def checksums(folder: Path) -> dict[str, str]:
    folder = Path(folder)
    if not folder.is_dir():
        return {}
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@dataclass
class Row:
    """One submitted notebook, graded twice."""

    student: str
    assignment: str
    notebook: str
    exercises: list[str]
    problems: list[str] = field(default_factory=list)
    nbgrader_error: str = ""
    nbgrader_score: float | None = None  # autograded points (test cells)
    nbgrader_passed: list[str] = field(default_factory=list)
    sandbox_error: str = ""
    sandbox_score: float | None = None  # partial credit included
    sandbox_passed: list[str] = field(default_factory=list)
    sandbox_messages: dict[str, str] = field(default_factory=dict)  # why an exercise did not pass
    max_score: float = 0.0
    nbgrader_seconds: float = 0.0
    sandbox_seconds: float = 0.0

    @property
    def disagreements(self) -> list[str]:
        if self.nbgrader_score is None or self.sandbox_score is None:
            return []
        found = []
        for ex in self.exercises:
            nb, sb = ex in self.nbgrader_passed, ex in self.sandbox_passed
            if nb and not sb:
                why = self.sandbox_messages.get(ex, "")
                found.append(
                    f"{ex}: nbgrader passed, the sandbox did not"
                    + (f" ({why})" if why else "")
                    + "; the sandbox grades the answer cells only: does the answer rely on another cell?"
                )
            elif sb and not nb:
                deleted = any(f"test cell {test_id(ex)} was deleted" in p for p in self.problems)
                found.append(
                    f"{ex}: the sandbox passed, nbgrader did not "
                    + (
                        "(its test cell was deleted: nbgrader scores a deleted test cell 0)"
                        if deleted
                        else "(a crash or time-out in the notebook?)"
                    )
                )
        return found


def _failures(log: str) -> dict[str, str]:
    """Student -> the last line of the traceback nbgrader logged for their submission."""
    failures: dict[str, str] = {}
    student, last = None, ""
    for line in log.splitlines():
        if "There was an error processing assignment: " in line:
            student, last = Path(line.split("assignment: ", 1)[1].strip()).parent.name, ""
        elif line.startswith("[") and "|" in line.split("]", 1)[0]:
            if student and last:
                failures[student] = last[:300]
            if "ERROR]" not in line:
                student = None
        elif student and line.strip():
            last = line.strip()
    if student and last:
        failures[student] = last[:300]
    return failures


ORDER_HINT = (
    "nbgrader does not know this assignment yet (no assignment with this ID in its database): "
    "run `make release` first, then `make autograde` again"
)


def _submitted(root: Path, chosen: list[str]) -> list[tuple[str, str, Path]]:
    """(student, assignment, notebook) for every collected notebook."""
    found = []
    for student_dir in sorted((root / "submitted").glob("*")):
        for assignment in chosen:
            for notebook in sorted((student_dir / assignment).glob("*.ipynb")):
                found.append((student_dir.name, assignment, notebook))
    return found


def _own_exercises(path: Path) -> list[str]:
    try:
        return notebooks.exercises_in(notebooks.read(path))
    except notebooks.NotebookError:
        return []


def _renamed(path: Path, released: Path) -> str:
    names = ", ".join(sorted(p.name for p in released.glob("*.ipynb"))) or "the released notebooks"
    return (
        f"{path.name} is not a notebook of this assignment: nbgrader grades {names} only, by name; "
        f"the sandbox graded {path.name} by its cells"
    )


def _nbgrader_grades(root: Path, row: Row) -> None:
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        try:
            submitted = gradebook.find_submission_notebook(row.notebook, row.assignment, row.student)
        except MissingEntry:
            row.nbgrader_error = row.nbgrader_error or "nbgrader has no grades for this notebook"
            return
        score = 0.0
        for grade in submitted.grades:
            exercise = exercise_of(grade.name) if grade.name.startswith("test-") else None
            if exercise is None:
                continue
            earned = float(grade.auto_score or 0.0)
            score += earned
            if grade.max_score and earned >= float(grade.max_score):
                row.nbgrader_passed.append(exercise)
        row.nbgrader_score = round(score, 4)


def autograde(
    root: Path, chosen: list[str] | None = None, sandbox: str = "auto", out=sys.stdout
) -> tuple[list[Row], list[str]]:
    """Runs both graders over every collected notebook; returns the rows and any modified files."""
    root = Path(root).resolve()
    chosen = chosen or assignments(root)
    before = checksums(root / "submitted")
    rows = []
    for student, assignment, path in _submitted(root, chosen):
        released = root / "release" / assignment / path.name
        if released.exists():
            exercises, found = notebooks.exercises_in(notebooks.read(released)), notebooks.problems(path, released)
        else:  # a renamed copy (losses-Copy1.ipynb): the sandbox grades it by its cells' nbgrader ids
            exercises, found = _own_exercises(path), [_renamed(path, root / "release" / assignment)]
        rows.append(
            Row(
                student,
                assignment,
                path.stem,
                exercises,
                found,
                max_score=sum(catalogue.get(e).points for e in exercises),
            )
        )
    print(f"autograding {len(rows)} notebook(s) with nbgrader…", file=out, flush=True)
    for assignment in chosen:
        mine = [row for row in rows if row.assignment == assignment]
        if not mine:
            continue
        start = time.monotonic()  # one nbgrader run per assignment: it starts up once, not per learner
        proc = nbgrader(root, "autograde", assignment, "--force")
        seconds = (time.monotonic() - start) / len({row.student for row in mine})
        failed = _failures(proc.stdout + proc.stderr)
        unknown = ORDER_HINT if "exists in the database" in proc.stdout + proc.stderr else ""
        for row in mine:
            row.nbgrader_seconds = round(seconds, 2)
            row.nbgrader_error = failed.get(row.student, "") or unknown
            _nbgrader_grades(root, row)
    print("grading the same notebooks in the sandbox…", file=out, flush=True)
    with Grader(sandbox) as grader:
        for row, (_, _, path) in zip(rows, _submitted(root, chosen)):
            start = time.monotonic()
            try:
                with tempfile.TemporaryDirectory(prefix="notebook-submission-") as folder:
                    notebooks.extract_submission(path, Path(folder))
                    siblings.extract_beside(path, Path(folder))  # the learner's modules it imports
                    modules = sorted({e.split(".")[0] for e in row.exercises})
                    result = grader.grade(Path(folder), modules or None)
                    notebooks.relocate(result, Path(folder))
            except notebooks.NotebookError as exc:
                row.sandbox_error = str(exc)
            else:
                graded = [e for e in result.exercises if e.exercise.id in row.exercises]
                row.sandbox_score = round(sum(e.score for e in graded), 4)
                row.sandbox_passed = [e.exercise.id for e in graded if e.outcome == "passed"]
                row.sandbox_messages = {e.exercise.id: e.message for e in graded if e.outcome != "passed"}
                report.write_json(result, root / "sandbox-grades" / row.assignment / f"{row.student}.json")
            row.sandbox_seconds = round(time.monotonic() - start, 2)
    after = checksums(root / "submitted")
    modified = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    return rows, modified


def _points(x) -> str:
    return "—" if x is None else (f"{x:.2f}".rstrip("0").rstrip(".") if x != int(x) else str(int(x)))


def print_report(rows: list[Row], modified: list[str], out=sys.stdout) -> None:
    table = Table("student", "assignment", "nbgrader", "sandbox (full credit)", "agree", "seconds")
    for row in rows:
        full = None if row.sandbox_score is None else sum(catalogue.get(e).points for e in row.sandbox_passed)
        agree = (
            "—"
            if row.nbgrader_score is None or row.sandbox_score is None
            else ("yes" if not row.disagreements else "NO")
        )
        if row.nbgrader_error or row.sandbox_error:
            agree = "error"
        table.add_row(
            row.student,
            row.assignment,
            f"{_points(row.nbgrader_score)}/{_points(row.max_score)}",
            f"{_points(row.sandbox_score)} ({_points(full)})/{_points(row.max_score)}",
            agree,
            f"{row.nbgrader_seconds:.1f} + {row.sandbox_seconds:.1f}",
        )
    report.console(out).print(table)
    lines = []
    for row in rows:
        for text in row.problems:
            lines.append(f"  {row.student} / {row.assignment}: {text}")
        if row.nbgrader_error:
            lines.append(f"  {row.student} / {row.assignment}: nbgrader could not grade it: {row.nbgrader_error}")
        if row.sandbox_error and row.sandbox_error not in row.problems:
            lines.append(f"  {row.student} / {row.assignment}: the sandbox could not grade it: {row.sandbox_error}")
    if lines:
        print("problems with submissions:", *lines, sep="\n", file=out)
    disagreeing = [f"  {row.student} / {row.assignment}: {d}" for row in rows for d in row.disagreements]
    if disagreeing:
        print(
            f"{len(disagreeing)} disagreement(s) between nbgrader and the sandbox — look at these submissions:",
            *disagreeing,
            sep="\n",
            file=out,
        )
    elif not any(r.nbgrader_score is not None and r.sandbox_score is not None and not r.nbgrader_error for r in rows):
        print("nothing was compared: nbgrader and the sandbox did not both grade any submission.", file=out)
    else:
        print("nbgrader and the sandbox agree on every exercise they both graded.", file=out)
    if modified:
        print(f"WARNING: {len(modified)} collected file(s) changed while grading: {', '.join(modified[:5])}", file=out)
    if rows:
        nb = sum(r.nbgrader_seconds for r in rows) / len(rows)
        sb = sum(r.sandbox_seconds for r in rows) / len(rows)
        print(f"time per submission: {nb + sb:.1f} s on average (nbgrader {nb:.1f} s, sandbox {sb:.1f} s)", file=out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.nbcourse.nbcycle", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    a = sub.add_parser("autograde", help="nbgrader autograde + the sandboxed grader, compared")
    a.add_argument("--root", type=Path, default=Path.cwd(), help="the course root (default: here)")
    a.add_argument("--assignment", action="append", help="only this assignment (repeatable; default: all)")
    a.add_argument("--sandbox", choices=("auto", "bwrap", "process"), default="auto")
    a.add_argument("--json", type=Path, help="also write the rows here (default: ROOT/autograde-report.json)")
    args = parser.parse_args(argv)
    rows, modified = autograde(args.root, args.assignment, args.sandbox)
    print_report(rows, modified)
    report_path = args.json or Path(args.root) / "autograde-report.json"
    report_path.write_text(
        json.dumps(
            {"rows": [dict(asdict(r), disagreements=r.disagreements) for r in rows], "modified": modified}, indent=2
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
