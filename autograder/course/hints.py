"""Progressive hints (written in each exercise's record in ``modules/``), and which one a learner sees next.

``python -m autograder hint convolution.conv2d`` (``make hint EX=...``) prints the next hint
of the list and remembers it in ``.autograder-hints.json`` beside the submission; ``--all``
shows every hint so far again, ``--reset`` starts over.
"""

from __future__ import annotations

import json
from pathlib import Path

from autograder.course import catalogue

HINTS: dict[str, tuple[str, ...]] = {e.id: e.hints for e in catalogue.EXERCISES}

STATE_FILE = ".autograder-hints.json"


def _state_path(submission: Path) -> Path:
    return Path(submission) / STATE_FILE


def _load(submission: Path) -> dict[str, int]:
    try:
        data = json.loads(_state_path(submission).read_text())
        return {k: int(v) for k, v in data.items()} if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def shown(submission: Path, exercise_id: str) -> int:
    return _load(submission).get(exercise_id, 0)


def next_hint(submission: Path, exercise_id: str) -> tuple[int, str]:
    """The next hint (1-based number and text); the last one repeats once all are shown."""
    hints = HINTS[exercise_id]
    state = _load(submission)
    number = min(state.get(exercise_id, 0) + 1, len(hints))
    state[exercise_id] = number
    try:
        _state_path(submission).write_text(json.dumps(state, indent=1, sort_keys=True))
    except OSError:
        pass  # a read-only submission: hints still work, they just start over next time
    return number, hints[number - 1]


def reset(submission: Path, exercise_id: str | None = None) -> None:
    state = _load(submission)
    for key in [exercise_id] if exercise_id else list(state):
        state.pop(key, None)
    try:
        _state_path(submission).write_text(json.dumps(state, indent=1, sort_keys=True))
    except OSError:
        pass
