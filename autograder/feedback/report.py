"""What people read: the terminal table after ``make grade`` and Gradescope's results.json.

Importing it loads no torch (``list`` and ``hint`` use its ``console``): the checks, which do, are
imported inside the function that names a failure's check to reproduce. It renders the verdicts the
judge stored (each suite's named mistake among them) and never judges.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from autograder.course import catalogue
from autograder.scoring.results import GradeResult

MARKS = {
    "passed": ("✔", "green"),
    "failed": ("✘", "red"),
    "not_started": ("·", "dim"),
    "forbidden": ("⛔", "magenta"),
    "timeout": ("⏱", "yellow"),
    "crashed": ("✖", "red"),
    "error": ("!", "red"),
}
LABELS = {"not_started": "not started"}
MAX_DETAILS = 5


def _points(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".") if x != int(x) else str(int(x))


def console(file=None) -> Console:
    """Colour on a terminal; plain text, 80 columns, no escape codes in a pipe or a CI log."""
    stream = file or sys.stdout
    tty = stream.isatty()
    return Console(
        file=stream, width=None if tty else 80, no_color=not tty, highlight=False, force_terminal=tty, emoji=False
    )


def short_reason(ex) -> str:
    if ex.outcome == "passed" or (ex.outcome == "not_started" and ex.message in ("", "not started")):
        return ""  # a not-started exercise has a reason only when it waits for another one
    if ex.mistake is not None:
        return ex.mistake.name
    message = ex.message.split("] ", 1)[-1] if ex.message.startswith("[") else ex.message
    return message


def module_error(exercises: list) -> str | None:
    """The one message every exercise of a module failed with (a syntax error, a module that cannot
    be loaded or crashes at import): said once for the module, not once per exercise."""
    if len(exercises) < 2 or any(e.outcome in ("passed", "not_started") for e in exercises):
        return None
    messages = {(e.outcome, e.message) for e in exercises}
    return exercises[0].message if len(messages) == 1 and exercises[0].message else None


def table(result: GradeResult) -> Table:
    """One row per exercise in teaching order, grouped under a row per module with its subtotal.
    Names, points and status keep their full width; the first failure wraps in its own column."""
    t = Table(title=None, show_lines=False, expand=False, pad_edge=False, box=None)
    names = [f"  {e.exercise.function}" for e in result.exercises]
    names += [f"{e.exercise.module}.py" for e in result.exercises]
    points = [f"{_points(e.score)}/{_points(e.max_score)}" for e in result.exercises]
    t.add_column("exercise", no_wrap=True, min_width=max(map(len, names + ["exercise"])))
    t.add_column(
        "points",
        justify="right",
        no_wrap=True,
        min_width=max(map(len, points + [f"{_points(result.score)}/{_points(result.max_score)}"])),
    )
    t.add_column("status", no_wrap=True, min_width=13)
    t.add_column("first failure", ratio=1, overflow="fold")
    modules: dict[str, list] = {}
    for ex in result.exercises:
        modules.setdefault(ex.exercise.module, []).append(ex)
    for module, exercises in modules.items():
        earned, possible = sum(e.score for e in exercises), sum(e.max_score for e in exercises)
        shared = module_error(exercises)
        t.add_row(
            Text(f"{module}.py", style="bold"),
            Text(f"{_points(earned)}/{_points(possible)}", style="bold"),
            Text(f"{MARKS[exercises[0].outcome][0]} every exercise", style=MARKS[exercises[0].outcome][1])
            if shared
            else "",
            Text(shared or "", overflow="fold"),
        )
        for ex in exercises:
            mark, style = MARKS[ex.outcome]
            status = Text(f"{mark} {LABELS.get(ex.outcome, ex.outcome)}", style=style)
            t.add_row(
                f"  {ex.exercise.function}",
                f"{_points(ex.score)}/{_points(ex.max_score)}",
                status,
                Text("" if shared else short_reason(ex), overflow="fold"),
            )
    t.add_section()
    t.add_row(
        Text("total", style="bold"), Text(f"{_points(result.score)}/{_points(result.max_score)}", style="bold"), "", ""
    )
    return t


def percent(score: float, max_score: float) -> int:
    """Rounded down, so that only a full grade reads 100 %."""
    return math.floor(100 * score / max_score + 1e-9) if max_score else 0


def progress(result: GradeResult) -> Text:
    width = 20
    share = percent(result.score, result.max_score)
    filled = width * share // 100
    passed = sum(e.outcome == "passed" for e in result.exercises)
    text = Text("progress ")
    text.append("█" * filled, style="green")
    text.append("░" * (width - filled), style="dim")
    text.append(
        f" {_points(result.score)}/{_points(result.max_score)} points ({share}%) · "
        f"{passed}/{len(result.exercises)} exercises passed"
    )
    return text


def next_up(result: GradeResult) -> Text | None:
    for ex in result.exercises:
        module = [e for e in result.exercises if e.exercise.module == ex.exercise.module]
        if ex.outcome != "passed" and module_error(module):  # the module's own error comes first
            return Text(f"next up: fix {ex.exercise.module}.py — make grade EX={ex.exercise.module}", style="bold")
        if ex.outcome != "passed":
            text = Text("next up: ", style="bold")
            text.append(f"{ex.exercise.id} — make grade EX={ex.exercise.id}")
            if ex.outcome != "not_started":
                text.append(f" · stuck? make hint EX={ex.exercise.id}")
            return text
    if len(result.exercises) < len(catalogue.EXERCISES):
        return Text(
            f"every exercise graded here passes ({len(result.exercises)} of {len(catalogue.EXERCISES)}; "
            f"make grade grades them all)",
            style="bold green",
        )
    return Text("all exercises pass — well done!", style="bold green")


def details(ex, submission_arg: str = "") -> list[Text]:
    """The full story of an exercise's first failure: what differs, the named mistake, how to rerun it."""
    mark, style = MARKS[ex.outcome]
    lines = [Text(f"{mark} {ex.exercise.id}", style=f"bold {style}")]
    lines.append(Text(f"  {ex.message}"))
    if ex.mistake is not None:
        lines.append(Text(f"  {ex.mistake.describe()}", style="yellow"))
    failed = [u for u in ex.units if u.verdict in ("failed",)]
    if failed and failed[0].check.suite == "public":
        from autograder import checks  # loads torch: not at import (see the module's docstring)

        index = checks.for_exercise(ex.exercise.id, ("public",)).index(failed[0].check)
        where = f" SUBMISSION={submission_arg}" if submission_arg else ""
        lines.append(Text(f"  reproduce: make repro EX={ex.exercise.id} N={index}{where}", style="dim"))
    lines.append(Text(f"  hint: make hint EX={ex.exercise.id}", style="dim"))
    for note in ex.notes:
        lines.append(Text(f"  note: {note}", style="dim"))
    return lines


def print_report(result: GradeResult, out=None, submission_arg: str = "") -> None:
    con = console(out)
    con.print(progress(result))
    con.print(table(result))
    suites = " + ".join(result.suites)
    con.print(Text(f"checks: {suites} · sandbox: {result.sandbox} · {result.execution_time:.1f} s", style="dim"))
    failing = [ex for ex in result.exercises if ex.outcome not in ("passed", "not_started")]
    modules: dict[str, list] = {}
    for ex in result.exercises:
        modules.setdefault(ex.exercise.module, []).append(ex)
    shared = {m: module_error(exercises) for m, exercises in modules.items()}
    said: set[str] = set()
    if failing:
        con.print(Text("\nfailures in detail", style="bold"))
        for ex in failing[:MAX_DETAILS]:
            module = ex.exercise.module
            if shared.get(module):  # one story for the module, told once
                if module not in said:
                    said.add(module)
                    mark, style = MARKS[ex.outcome]
                    con.print(Text(f"{mark} {module}.py (every exercise of it)", style=f"bold {style}"))
                    con.print(Padding(Text(str(shared[module])), (0, 0, 0, 2)), overflow="fold")
                    con.print(Text(f"  fix it, then: make grade EX={module}", style="dim"), soft_wrap=True)
                continue
            for line in details(ex, submission_arg):
                # commands stay on one line (soft wrap) so they can be copied and pasted
                if line.plain.lstrip().startswith(("reproduce:", "hint:")):
                    con.print(line, soft_wrap=True)
                elif line.plain.startswith("  "):  # wrapped lines keep the indent: learner text never
                    con.print(Padding(line[2:], (0, 0, 0, 2)), overflow="fold")  # reaches column 0
                else:
                    con.print(line, overflow="fold")
        if len(failing) > MAX_DETAILS:
            con.print(Text(f"… and {len(failing) - MAX_DETAILS} more: grade one with make grade EX=module.function"))
    up = next_up(result)
    if up is not None:
        con.print(up)


VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")


EXERCISE_WIDE = ("forbidden", "timeout", "crashed", "error", "not_started")  # not about one check


def suite_notes(ex, suite: str) -> list[str]:
    """The exercise's notes, less those that came from another suite's checks (a placement note
    quotes a check's error, which may show a hidden input's shape)."""
    foreign = {u.message for u in ex.units if u.check.suite != suite}
    return [n for n in ex.notes if n not in foreign]


def suite_view(ex, suite: str, full_details: bool = False) -> tuple[bool, str]:
    """Whether the suite's test passed, and its text, made from that suite's own part only (judged
    from its own frame: its outcome, messages, notes and printed output): a visible public
    test never shows what a hidden check found, printed or caused. The text's first word agrees
    with the verdict."""
    part = ex.part(suite)
    units = [u for u in part.units if u.check.suite == suite]
    failed = [u for u in units if u.verdict in ("failed", "not_started")]
    if part.outcome in EXERCISE_WIDE:
        ok, lines = False, [LABELS.get(part.outcome, part.outcome) + (f": {part.message}" if part.message else "")]
    else:
        ok = part.outcome == "passed" or (not failed and bool(units))
        lines = ["passed" if ok else "failed"]
    if suite == "hidden" and not full_details:
        counted = [u for u in units if u.weight]
        if units:
            lines.append(
                f"hidden checks: {len(counted) - len(failed)} of {len(counted)} passed (their inputs are not shown)"
            )
    elif part.outcome not in EXERCISE_WIDE:
        lines += [f"- [{u.check.name}] ({u.device}) {u.message}" for u in failed[:10]]
        mistake = part.suite_mistakes.get(suite)  # judged once, by the judge: rendered here, never re-judged
        if mistake is not None:
            lines.append(mistake.describe())
    lines += [f"note: {n}" for n in suite_notes(part, suite)]
    if part.output and suite == "public":
        lines.append(f"your code printed:\n{part.output[:2000]}")
    return ok, "\n".join(lines)


def results_json(result: GradeResult, hidden_visibility: str = "after_due_date", full_details: bool = False) -> dict:
    """Gradescope's format: one test per exercise and suite. Public tests are visible; hidden ones
    show pass/fail and points with ``hidden_visibility``, and their inputs only with ``full_details``."""
    if hidden_visibility not in VISIBILITIES:
        raise ValueError(f"visibility must be one of {', '.join(VISIBILITIES)}")
    tests: list[dict[str, Any]] = []
    for ex in result.exercises:
        for suite, (earned, possible) in ex.suite_scores().items():
            ok, output = suite_view(ex, suite, full_details)
            outcome = ex.part(suite).outcome
            tests.append(
                {
                    "name": f"{ex.exercise.id} ({suite})",
                    "exercise": ex.exercise.id,
                    "score": earned,
                    "max_score": possible,
                    "status": "passed" if ok else "failed",
                    "outcome": outcome if outcome in EXERCISE_WIDE else ("passed" if ok else "failed"),
                    "output": output,
                    "visibility": "visible" if suite == "public" else hidden_visibility,
                }
            )
    return {
        "score": round(sum(t["score"] for t in tests), 4),
        "max_score": round(sum(t["max_score"] for t in tests), 4),
        "execution_time": round(result.execution_time, 3),
        "output": f"sandbox: {result.sandbox}",
        "stdout_visibility": "hidden",  # the run's log prints the instructor's table: hidden checks included
        "tests": tests,
    }


def write_json(result: GradeResult, path: Path, **options) -> None:
    """Written by the scoring process only, after every worker is gone."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(results_json(result, **options), indent=2))
    tmp.replace(path)
