"""Progressive hints (written in each exercise's record in ``modules/``), and which one a learner sees next.

``python -m autograder hint convolution.conv2d`` (``make hint EX=...``) prints the next hint
of the list and remembers it in ``.autograder-hints.json`` beside the submission; ``--all``
shows every hint so far again, ``--reset`` starts over. A grade that names a mistake (a catalogued one or
a relation, ``remember``) puts it first: the next hint for that exercise is the one for the diagnosis,
then the exercise's own hints from the start.
"""

from __future__ import annotations

import json
from pathlib import Path

from autograder.course import catalogue

HINTS: dict[str, tuple[str, ...]] = {e.id: e.hints for e in catalogue.EXERCISES}

STATE_FILE = ".autograder-hints.json"


def _state_path(submission: Path) -> Path:
    return Path(submission) / STATE_FILE


DIAGNOSED = "diagnosed"  # the state's key for each exercise's last named diagnosis


def _load(submission: Path) -> dict:
    try:
        data = json.loads(_state_path(submission).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    state: dict = {k: int(v) for k, v in data.items() if k != DIAGNOSED and isinstance(v, int)}
    diagnosed = data.get(DIAGNOSED)
    if isinstance(diagnosed, dict):
        state[DIAGNOSED] = {k: str(v) for k, v in diagnosed.items() if k in HINTS}
    return state


def _save(submission: Path, state: dict) -> None:
    try:
        _state_path(submission).write_text(json.dumps(state, indent=1, sort_keys=True))
    except OSError:
        pass  # a read-only submission: hints still work, they just start over next time


def listed(submission: Path, exercise_id: str) -> tuple[str, ...]:
    """The exercise's hints in the order they are shown: the last grade's diagnosis first, if it named one."""
    diagnosis = _load(submission).get(DIAGNOSED, {}).get(exercise_id)
    return ((diagnosis,) if diagnosis else ()) + HINTS[exercise_id]


def remember(submission: Path, result) -> None:
    """After a grade: each failing exercise's named mistake becomes its next hint (a new diagnosis starts
    the exercise's hints over, with it first); an exercise that passes, has none, or fails a hidden check
    (whose findings are not shown) forgets its old one."""
    state = _load(submission)
    before = json.dumps(state, sort_keys=True)
    diagnosed = dict(state.get(DIAGNOSED, {}))
    for ex in result.exercises:
        # only a diagnosis from public evidence: a hint file must not tell what a hidden check found
        hidden = any(u.check.suite != "public" and u.verdict != "passed" for u in getattr(ex, "units", ()))
        named = ex.mistake.describe() if ex.mistake is not None and ex.outcome != "passed" and not hidden else None
        if named != diagnosed.get(ex.exercise.id):
            state.pop(ex.exercise.id, None)
        if named:
            diagnosed[ex.exercise.id] = named
        else:
            diagnosed.pop(ex.exercise.id, None)
    if diagnosed:
        state[DIAGNOSED] = diagnosed
    else:
        state.pop(DIAGNOSED, None)
    if json.dumps(state, sort_keys=True) != before:  # a passing grade writes nothing (not even an empty file)
        _save(submission, state)


def shown(submission: Path, exercise_id: str) -> int:
    return _load(submission).get(exercise_id, 0)


def next_hint(submission: Path, exercise_id: str) -> tuple[int, str]:
    """The next hint (1-based number and text, in ``listed``'s order); the last one repeats once all are shown."""
    hints = listed(submission, exercise_id)
    state = _load(submission)
    number = min(state.get(exercise_id, 0) + 1, len(hints))
    state[exercise_id] = number
    _save(submission, state)
    return number, hints[number - 1]


def reset(submission: Path, exercise_id: str | None = None) -> None:
    state = _load(submission)
    for key in [exercise_id] if exercise_id else [k for k in state if k != DIAGNOSED]:
        state.pop(key, None)
    _save(submission, state)
