"""The class's table: one ``Outcome`` per submission, its points per exercise, the exercises worth a
look, and the CSV of them all (one row per learner).
"""

from __future__ import annotations

import csv
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from autograder.submissions.discover import Submission


@dataclass
class Outcome:
    submission: Submission
    status: str  # "graded", "unchanged", "failed" or "kept" (an interrupted run's stored result)
    data: dict | None = None  # results.json
    error: str = ""
    seconds: float = 0.0


def per_exercise(data: dict) -> dict[str, float]:
    points: dict[str, float] = {}
    for test in data.get("tests", []):
        points[test["exercise"]] = points.get(test["exercise"], 0.0) + float(test["score"])
    return points


def problems_of(data: dict) -> list[str]:
    """Exercises that crashed or timed out (worth a look: a loaded machine can cause a time-out)."""
    found = []
    for test in data.get("tests", []):
        note = f"{test.get('exercise')}: {test.get('outcome')}"
        if test.get("outcome") in ("crashed", "timeout") and note not in found:
            found.append(note)
    return found


def fmt_points(x: float) -> str:
    return f"{x:.4f}".rstrip("0").rstrip(".")


def write_csv(outcomes: list[Outcome], exercises: list[str], path: Path) -> None:
    """Replaces ``path`` with the whole table at once (a private file, then a rename): whatever
    stops the run, the CSV there is the previous one or a complete new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as f:
            _write_rows(csv.writer(f), outcomes, exercises)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_rows(out, outcomes: list[Outcome], exercises: list[str]) -> None:
    out.writerow(["submission", "score", "max_score", *exercises, "status", "message"])
    for o in sorted(outcomes, key=lambda o: o.submission.name):
        if o.status == "failed" or o.data is None:
            out.writerow([o.submission.name, "", "", *[""] * len(exercises), "failed", o.error])
            continue
        points = per_exercise(o.data)  # a notebook's: its own exercises only, the others left empty
        out.writerow(
            [
                o.submission.name,
                fmt_points(o.data["score"]),
                fmt_points(o.data["max_score"]),
                *[fmt_points(points[e]) if e in points else "" for e in exercises],
                o.status,
                "; ".join(([o.error] if o.error else []) + problems_of(o.data)),
            ]
        )
