"""Checks inside a notebook: ``check(iqr, "outliers.iqr")`` grades one function defined in the notebook.

The notebook's test cells call this. It runs the same checks as ``make grade`` (public, or
hidden in the instructor's copy), on the same devices, records the ATen operations the function
calls with the grader's ``OpRecorder``, scans the function's source for forbidden names, and
judges everything with the grader's own ``judge_exercise``: the table printed here is the row
``make grade`` would print. A failing exercise raises ``AssertionError``, so nbgrader gives its
test cell zero points.

Unlike ``make grade`` this runs in the notebook's own process, without a sandbox or time limits:
learner code could interfere with it. That is why ``make autograde`` grades every collected
notebook a second time in the sandbox and reports any disagreement.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import io
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

import torch

from autograder import checks as registry
from autograder import warmup
from autograder.course import catalogue
from autograder.feedback import report
from autograder.protocol.messages import ChildTag, FrameHeader, FrameStatus, UnitReport, UnitStatus, message
from autograder.sandbox.recorder import OpRecorder
from autograder.sandbox.worker import run_unit
from autograder.scoring import static
from autograder.scoring.judge import judge_exercise, units_expected
from autograder.scoring.results import Limits

_GRADER_DIR = str(Path(__file__).resolve().parents[1])  # the whole autograder package
_TORCH_DIR = str(Path(torch.__file__).resolve().parent)


class Instruments:
    """An ``OpRecorder`` that records only while the learner's function runs (the ``call`` hook)."""

    def __init__(self):
        self.recorder = OpRecorder()

    def call(self, fn, *args, **kwargs):
        self.recorder.recording = True
        try:
            return fn(*args, **kwargs)
        finally:
            self.recorder.recording = False


def devices() -> tuple[str, ...]:
    return ("cpu", "cuda", "meta") if torch.cuda.is_available() else ("cpu", "meta")


def _learner_frame(tb) -> traceback.FrameSummary | None:
    """The innermost frame outside the grader and torch: the learner's code (a notebook cell)."""
    frames = [
        f for f in traceback.extract_tb(tb) if not os.path.realpath(f.filename).startswith((_GRADER_DIR, _TORCH_DIR))
    ]
    return frames[-1] if frames else None


def _describe(exc: BaseException) -> UnitReport:
    """The worker's description of an exception, for a function defined in a notebook."""
    frame = _learner_frame(exc.__traceback__)
    innermost = traceback.extract_tb(exc.__traceback__)[-1:]
    where = f"line {frame.lineno}, in {frame.name}: {(frame.line or '').strip()}" if frame else ""
    try:
        message = str(exc)[:600]
    except Exception:  # noqa: BLE001 - learner exception types may break __str__
        message = "<unprintable>"
    not_started = (
        isinstance(exc, NotImplementedError)
        and frame is not None
        and bool(innermost)
        and innermost[0] == frame
        and "NotImplementedError" in (frame.line or "")
    )
    return {
        "status": UnitStatus.RAISED,
        "type": type(exc).__name__,
        "message": message,
        "where": where,
        "not_started": not_started,
    }


@functools.cache
def _native_meta_kernels() -> int:
    return warmup.native_meta_kernels()


def run_units(fn, found: list, on: tuple[str, ...]) -> bytes:
    """Runs every check on every device, as the sandboxed worker does; returns the worker's stream."""
    _native_meta_kernels()  # the worker's meta kernels: the same placement results here as there
    instruments = Instruments()
    stream = [message(ChildTag.IMPORTED)]
    with instruments.recorder:
        for index, check in enumerate(found):
            for device in check.devices:
                if device not in on:
                    continue
                payload, _ = run_unit(check.run, index, fn, device, instruments, _describe, catch=Exception)
                stream.append(message(ChildTag.UNIT, payload))
    stream.append(message(ChildTag.DONE))
    return b"".join(stream)


def static_message(fn, exercise: catalogue.Exercise) -> str | None:
    """The grader's source scan, on the function's own source (a notebook has no module file)."""
    try:
        source = inspect.getsource(fn)
    except (OSError, TypeError):
        return None
    with tempfile.TemporaryDirectory(prefix="incheck-") as folder:
        (Path(folder) / f"{exercise.module}.py").write_text(source, encoding="utf-8")
        return static.scan(Path(folder), exercise)


def grade_function(fn, exercise_id: str, suite: str = "public"):
    """The grader's ``ExerciseResult`` for ``fn`` on the checks of one suite."""
    exercise = catalogue.get(exercise_id)
    found = registry.for_exercise(exercise_id, (suite,))
    if not found:
        raise RuntimeError(f"no {suite} checks are installed for {exercise_id}")
    on = devices()
    references: dict = {}
    for i, check, device in units_expected(found, on):
        references[(i, device)] = check.expected(device, references.get((i, "cpu")))
    scanned = static_message(fn, exercise)
    # what the learner's code prints while a hidden check runs is not shown under the cell (nbgrader's
    # feedback would carry it): it would show the hidden inputs
    quiet = contextlib.ExitStack()
    if suite != "public":
        held = io.StringIO()
        quiet.enter_context(contextlib.redirect_stdout(held))
        quiet.enter_context(contextlib.redirect_stderr(held))
    with quiet:
        stream = b"" if scanned else run_units(fn, found, on)
    header = FrameHeader(exercise=exercise_id, status=FrameStatus.FINISHED, output="")
    return judge_exercise(exercise, found, header, stream, references, on, scanned, Limits())


class CheckFailed(AssertionError):
    """A check cell's failure. IPython shows only its message (``_render_traceback_``), not a
    traceback through the grader; nbgrader still sees the cell fail."""

    def _render_traceback_(self) -> list[str]:
        return [f"{type(self).__name__}: {self}"]


def check(fn, exercise_id: str, suite: str = "public", *, quiet: bool = False) -> None:
    """Grades ``fn`` as exercise ``exercise_id`` and prints the ``make grade`` row for it.

    Raises ``CheckFailed`` (an ``AssertionError``, naming what differs) unless every check
    passed. Returns nothing, so a check cell shows no ``Out[]`` value.
    """
    start = time.monotonic()
    result = grade_function(fn, exercise_id, suite)
    if not quiet:
        print_result(result, suite, time.monotonic() - start)
    if result.outcome != "passed":
        label = report.LABELS.get(result.outcome, result.outcome)
        if suite == "hidden" and result.outcome == "failed":
            raise CheckFailed(f"{exercise_id}: some hidden checks failed (the edge cases: see the docstring)")
        said = "" if result.message in ("", label) else f": {result.message}"
        raise CheckFailed(f"{exercise_id} ({suite} checks): {label}{said}")


def _points(x: float) -> str:
    return str(int(x)) if x == int(x) else f"{x:.2f}".rstrip("0").rstrip(".")


def print_result(result, suite: str, seconds: float, out=None) -> None:
    """The ``make grade`` row of one exercise (points, status), its first failure, and its notes."""
    out = out or sys.stdout
    mark, _ = report.MARKS[result.outcome]
    status = f"{mark} {report.LABELS.get(result.outcome, result.outcome)}"
    points = f"{_points(result.score)}/{_points(result.max_score)}"
    name = result.exercise.id
    print(f"{'exercise':<{len(name)}}  points  status", file=out)
    print(f"{name}  {points:>6}  {status}", file=out)
    where = "in this notebook's kernel, no sandbox"
    if "cuda" not in devices():
        where += "; no CUDA here, so the meta-device placement checks ran instead"
    print(f"checks: {suite} · {where} · {seconds:.1f} s", file=out)
    if result.outcome not in ("passed", "not_started"):
        failed = [u for u in result.units if u.verdict in ("failed", "not_started")]
        if suite == "hidden":  # feedback goes back to learners: say how many checks, not which
            counted = {id(u.check) for u in result.units if u.weight}
            failing = {id(u.check) for u in failed}
            print(f"  ✘ {len(failing)} of {len(counted)} hidden checks failed", file=out)
        elif not failed:
            print(f"  {result.message}", file=out)
        else:  # the CPU failures first: another device's row only when the CPU result was right
            cpu = [u for u in failed if u.device == "cpu"]
            shown = cpu or failed
            for unit in shown[:3]:
                print(f"  ✘ [{unit.check.name}] ({unit.device}) {unit.message}", file=out)
            if len(shown) > 3:
                print(f"  … and {len(shown) - 3} more failing checks", file=out)
            if result.mistake is not None:
                print(f"  {result.mistake.describe()}", file=out)
        hints = result.exercise.hints  # in a notebook (and its feedback) no `make` runs: the hint itself
        if hints:
            print(f"  hint: {hints[0]}", file=out)
    notes = result.notes
    if suite == "hidden":  # a placement note quotes a check's error: it may show a hidden input
        notes = [n for n in notes if n not in {u.message for u in result.units}]
    for note in notes:
        print(f"  note: {note}", file=out)
