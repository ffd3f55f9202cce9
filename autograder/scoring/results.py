"""What a grade is made of: the limits it ran under, each check's verdict on one device (``Unit``),
each exercise's outcome and points (``ExerciseResult``) and the whole submission's (``GradeResult``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from autograder.course.catalogue import Exercise
from autograder.protocol.policy import WORKER

DEVICE_WEIGHT = {"cpu": 1.0, "cuda": 1.0, "meta": 0.25}
# Literal aliases, not enums: the values are the very strings results.json and the reports write
Outcome = Literal["passed", "failed", "not_started", "forbidden", "timeout", "crashed", "error"]  # an exercise's
Verdict = Literal["passed", "failed", "not_checked", "skipped", "not_started"]  # one check on one device


@dataclass
class Limits:
    jobs: int = 2
    check_timeout: float = 10.0  # seconds without progress before a check counts as hung
    exercise_timeout: float = 60.0
    total_timeout: float = 600.0  # the whole grade of one submission
    memory_mb: int = WORKER.address_space_mb or 0  # address space a child may add after forking (the policy's)
    max_output: int = 16 * 1024  # bytes of learner output kept per exercise


@dataclass
class Unit:
    """One check on one device."""

    check: Any  # a checks.core.Check
    device: str
    verdict: Verdict
    message: str = ""
    got: dict | None = field(default=None, repr=False)  # the learner's encoded result, for diagnosis
    raised: str | None = None  # the exception type the learner's code raised, for diagnosis
    facts: tuple[str, ...] = ()  # what the evidence shows beyond values (mistakes.FACTS), for diagnosis

    @property
    def weight(self) -> float:
        return 0.0 if self.verdict in ("not_checked", "skipped") else DEVICE_WEIGHT[self.device]


@dataclass
class ExerciseResult:
    exercise: Exercise
    outcome: Outcome
    score: float
    max_score: float
    message: str = ""
    units: list[Unit] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # advice, skipped CUDA, not-checked placement
    output: str = ""
    mistake: object = None  # the named mistake the evidence fits (see mistakes.py)
    # each suite's named mistake, from its own failing checks alone (judge._diagnose_suites): what its test shows
    suite_mistakes: dict[str, object] = field(default_factory=dict)
    suite_weights: dict[str, float] = field(default_factory=dict)  # planned weight of each suite
    grader_fault: bool = False  # the grader could not run it: no grade to record (not the learner's doing)
    # each suite judged from its own frame (``judge.judge_parts``): what a learner may see of a
    # suite comes from its part only
    parts: dict[str, ExerciseResult] = field(default_factory=dict, repr=False)

    def part(self, suite: str) -> ExerciseResult:
        """The exercise as judged on one suite's checks alone (itself when it was judged on one)."""
        return self.parts.get(suite, self)

    def suite_scores(self) -> dict[str, tuple[float, float]]:
        """Points earned and possible per suite (public/hidden), splitting the exercise's points."""
        if self.parts:
            return {suite: (p.score, p.max_score) for suite, p in self.parts.items()}
        counted = [u for u in self.units if u.weight]
        total = sum(u.weight for u in counted) if counted else sum(self.suite_weights.values())
        result = {}
        for suite, planned in self.suite_weights.items():
            mine = [u for u in counted if u.check.suite == suite]
            weight = sum(u.weight for u in mine) if counted else planned
            possible = self.max_score * weight / total if total else 0.0
            earned = self.max_score * sum(u.weight for u in mine if u.verdict == "passed") / total if total else 0.0
            if self.outcome in ("forbidden", "not_started", "error"):
                earned = 0.0
            result[suite] = (round(earned, 4), round(possible, 4))
        return result


@dataclass
class GradeResult:
    submission: str
    sandbox: str
    exercises: list[ExerciseResult]
    execution_time: float
    suites: tuple[str, ...]

    @property
    def score(self) -> float:
        return sum(e.score for e in self.exercises)

    @property
    def max_score(self) -> float:
        return sum(e.max_score for e in self.exercises)


class MissingChecks(RuntimeError):
    """A suite of checks was asked for by name and is not installed (the student release has no
    hidden checks)."""
