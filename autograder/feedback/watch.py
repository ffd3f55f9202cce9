"""Watch mode: re-grades a module each time its file is saved, on a warm worker, until Ctrl-C."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

from autograder.course import catalogue
from autograder.feedback import report
from autograder.scoring.grader import Grader


def _mtimes(submission: Path) -> dict[str, float]:
    stamps = {}
    for module in catalogue.MODULES:
        try:
            stamps[module] = (submission / f"{module}.py").stat().st_mtime
        except OSError:
            stamps[module] = 0.0
    return stamps


def main(submission: Path, interval: float = 0.2, rounds: int | None = None) -> int:
    """``rounds``: stop after that many re-grades (for tests); None watches until interrupted."""
    con = report.console()
    submission = submission.resolve()
    if not submission.is_dir():
        raise FileNotFoundError(f"submission directory not found: {submission}")
    with Grader(cache=True) as grader:
        con.print("starting the grader (PyTorch and the references, once)…")
        grader.warm()
        seen = _mtimes(submission)
        con.print(f"watching {submission} — save a module to re-grade it (Ctrl-C stops)")
        done = 0
        try:
            while rounds is None or done < rounds:
                time.sleep(interval)
                now = _mtimes(submission)
                changed = [m for m in catalogue.MODULES if now[m] != seen[m]]
                seen = now
                for module in changed:
                    noticed = time.time() - now[module]
                    stamp = datetime.now().strftime("%H:%M:%S")
                    con.print(
                        f"\n[{stamp}] {module}.py saved — re-grading (change seen {noticed:.2f} s after the save)",
                        markup=False,
                    )
                    result = grader.grade(submission, [module])
                    report.print_report(result, submission_arg=str(submission))
                    done += 1
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM: the command line exits 130, the grader's copies gone
            con.print("stopped watching")
            raise
    return 0
