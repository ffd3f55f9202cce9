"""The one catalogue of exercises, in teaching order, gathered from ``modules/`` (one file per
course module holding its exercises' records, hints and named mistakes).

Everything else (the Makefile, the CLI, the checks, the reports, the docs) reads this.
"""

from __future__ import annotations

from autograder.course.modules import (
    capstone,
    convolution,
    losses,
    neurons,
    normalization,
    outliers,
    pooling,
    regularization,
)
from autograder.course.records import Exercise

_COURSE = (outliers, neurons, normalization, losses, convolution, pooling, regularization, capstone)  # teaching order

MODULES: tuple[str, ...] = tuple(m.__name__.rsplit(".", 1)[-1] for m in _COURSE)
EXERCISES: tuple[Exercise, ...] = tuple(e for m in _COURSE for e in m.EXERCISES)
BY_ID: dict[str, Exercise] = {e.id: e for e in EXERCISES}


def get(exercise_id: str) -> Exercise:
    try:
        return BY_ID[exercise_id]
    except KeyError:
        raise KeyError(f"unknown exercise {exercise_id!r}; known: {', '.join(BY_ID)}") from None


def select(patterns: list[str] | None) -> list[Exercise]:
    """Exercises matching any pattern: an id (``losses.nll_loss``) or a module (``losses``)."""
    if not patterns:
        return list(EXERCISES)
    chosen = [e for e in EXERCISES if any(p in (e.id, e.module) for p in patterns)]
    unknown = [p for p in patterns if not any(p in (e.id, e.module) for e in EXERCISES)]
    if unknown:
        raise KeyError(f"unknown exercise or module: {', '.join(unknown)}")
    return chosen


def total_points() -> float:
    return sum(e.points for e in EXERCISES)
