"""What people read: the terminal table after ``make grade`` and Gradescope's results.json."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from autograder.grader import GradeResult

MARKS = {"passed": ("✔", "green"), "failed": ("✘", "red"), "not_started": ("·", "dim"),
         "forbidden": ("⛔", "magenta"), "timeout": ("⏱", "yellow"), "crashed": ("✖", "red"), "error": ("!", "red")}
LABELS = {"not_started": "not started"}


def _points(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".") if x != int(x) else str(int(x))


def console(file=None) -> Console:
    stream = file or sys.stdout
    tty = stream.isatty()
    return Console(file=stream, width=None if tty else 100, no_color=not tty, highlight=False,
                   force_terminal=tty, emoji=False)


def table(result: GradeResult) -> Table:
    t = Table(title=None, show_lines=False, expand=False, pad_edge=False)
    t.add_column("exercise", no_wrap=True)
    t.add_column("points", justify="right", no_wrap=True)
    t.add_column("status", no_wrap=True)
    t.add_column("first failure", overflow="fold", ratio=1)
    for ex in result.exercises:
        mark, style = MARKS[ex.outcome]
        status = Text(f"{mark} {LABELS.get(ex.outcome, ex.outcome)}", style=style)
        reason = "" if ex.outcome in ("passed", "not_started") else ex.message
        t.add_row(ex.exercise.id, f"{_points(ex.score)}/{_points(ex.max_score)}", status, Text(reason))
    t.add_section()
    t.add_row(Text("total", style="bold"), Text(f"{_points(result.score)}/{_points(result.max_score)}",
              style="bold"), "", "")
    return t


def print_report(result: GradeResult, out=None) -> None:
    con = console(out)
    con.print(table(result))
    suites = " + ".join(result.suites)
    con.print(Text(f"checks: {suites} · sandbox: {result.sandbox} · {result.execution_time:.1f} s"))
    for ex in result.exercises:
        for note in ex.notes:
            con.print(Text(f"  note ({ex.exercise.id}): {note}", style="dim"), overflow="fold")


def results_json(result: GradeResult) -> dict:
    """Gradescope's format: one test per exercise and suite (public visible, hidden after the due date)."""
    tests = []
    for ex in result.exercises:
        for suite, (earned, possible) in ex.suite_scores().items():
            units = [u for u in ex.units if u.check.suite == suite]
            failed = [u for u in units if u.verdict in ("failed", "not_started")]
            lines = [f"{LABELS.get(ex.outcome, ex.outcome)}: {ex.message}" if ex.message else ex.outcome]
            lines += [f"- [{u.check.name}] ({u.device}) {u.message}" for u in failed[:10]]
            lines += [f"note: {n}" for n in ex.notes]
            if ex.output:
                lines.append(f"your code printed:\n{ex.output[:2000]}")
            ok = ex.outcome == "passed" or (ex.outcome == "failed" and not failed and units)
            tests.append({
                "name": f"{ex.exercise.id} ({suite})",
                "exercise": ex.exercise.id,
                "score": earned,
                "max_score": possible,
                "status": "passed" if ok else "failed",
                "outcome": ex.outcome,
                "output": "\n".join(lines),
                "visibility": "visible" if suite == "public" else "after_due_date",
            })
    return {
        "score": round(sum(t["score"] for t in tests), 4),
        "max_score": round(sum(t["max_score"] for t in tests), 4),
        "execution_time": round(result.execution_time, 3),
        "output": f"sandbox: {result.sandbox}",
        "tests": tests,
    }


def write_json(result: GradeResult, path: Path) -> None:
    """Written by the scoring process only, after every worker is gone."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(results_json(result), indent=2))
    tmp.replace(path)
