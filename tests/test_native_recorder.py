"""The C++ op recorder reports what the Python one does, wherever the judge reads its reports.

For the reference solutions, every mutant of the zoo, every legal case, every forbidden route and a
set of placement mistakes, each check of the exercise runs on the CPU and on the meta device twice
in this process (no sandbox, no forbidden kernels: both recorders see the forbidden calls), once
under each recorder. The fields the judge reads must agree: the unit's status, the forbidden ops
among the recorded ones, the host-sync flag and the CPU tensors made on another device. The op
lists themselves may differ in names the judge never reads (PyTorch takes other paths when a
Python mode is on the stack: ``view`` for ``_reshape_alias``, ``scatter_add`` for ``scatter_add_``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from test_forbidden import CASES as FORBIDDEN

from autograder import checks as registry
from autograder.course import catalogue
from autograder.feedback.incheck import _describe
from autograder.protocol import wire
from autograder.sandbox import native
from autograder.sandbox.recorder import Instruments, NativeRecorder
from autograder.sandbox.worker import run_unit
from conftest import load_module, submission_with
from legal import LEGAL
from mutants import MUTANTS, SOLUTIONS, build_submission

MODULE = native.load()
if MODULE is None and shutil.which("c++") is not None and native.SWITCH not in os.environ:
    pytest.fail(
        "a C++ compiler is here but the native op recorder is not built (or is stale): "
        "run `.venv/bin/python -m autograder op-recorder build --verbose` to see why",
        pytrace=False,
    )
pytestmark = pytest.mark.skipif(MODULE is None, reason="the native op recorder is not built (no C++ compiler)")

# Placement and host-sync mistakes (module, appended source): what the recorders' other reports judge.
PLACEMENT = {
    "zeros without a device": (
        "neurons",
        """
        def neuron(x, w, b):
            out = _neuron(x, w, b)
            return out + torch.zeros(out.shape, dtype=x.dtype)
        """,
    ),
    "torch.tensor of a constant": (
        "neurons",
        """
        def neuron(x, w, b):
            return _neuron(x, w, b) * torch.tensor(1.0, dtype=x.dtype)
        """,
    ),
    "arange without a device": (
        "outliers",
        """
        def iqr(values):
            idx = torch.arange(values.numel()).to(values.dtype)
            return _iqr(values) + 0 * idx.sum()
        """,
    ),
    "a float of a new tensor": (
        "outliers",
        """
        def iqr(values):
            return _iqr(values) * float(torch.ones(1).sum())
        """,
    ),
    "item of a tensor": (
        "losses",
        """
        def log_softmax(logits, dim=-1):
            top = logits.max().item()
            return _log_softmax(logits - top, dim)
        """,
    ),
}
_KEEP = {"neurons": "_neuron = neuron\n", "outliers": "_iqr = iqr\n", "losses": "_log_softmax = log_softmax\n"}


def _judged(exercise, report: dict) -> tuple:
    return (
        report.get("status"),
        tuple(exercise.forbidden_ops_in(report.get("ops", []))),
        report.get("host_sync"),
        tuple(report.get("cpu_made", [])),
    )


@pytest.fixture(scope="module")
def recorders():
    """The Python recorder (a mode, pushed around each run) and the C++ one (a global callback)."""
    python, native_ = Instruments(None), Instruments(MODULE)
    assert isinstance(native_.recorder, NativeRecorder)
    native_.install()
    torch.set_num_threads(1)
    return python, native_


def _compare(recorders, folder: Path, exercise_ids) -> list[str]:
    """Each check's judged fields under both recorders that differ, as lines (none: alike)."""
    python, native_ = recorders
    differences = []
    for exercise_id in exercise_ids:
        exercise = catalogue.get(exercise_id)
        fn = getattr(load_module(folder, exercise.module), exercise.function)
        for suite in ("public", "hidden"):
            for index, check in enumerate(registry.for_exercise(exercise_id, (suite,))):
                for device in ("cpu", "meta"):
                    if device not in check.devices:
                        continue
                    torch.manual_seed(0)
                    got = wire.unpack(run_unit(check.run, index, fn, device, native_, _describe, catch=Exception)[0])
                    with python.recorder:
                        torch.manual_seed(0)
                        want = wire.unpack(
                            run_unit(check.run, index, fn, device, python, _describe, catch=Exception)[0]
                        )
                    if _judged(exercise, got) != _judged(exercise, want):
                        differences.append(
                            f"{exercise_id} {suite} check {index} on {device}: C++ {_judged(exercise, got)} "
                            f"!= Python {_judged(exercise, want)}"
                        )
    return differences


def _module_exercises(module: str) -> list[str]:
    return [e.id for e in catalogue.EXERCISES if e.module == module]


def test_the_reference_solutions_are_reported_alike(recorders):
    assert _compare(recorders, SOLUTIONS, [e.id for e in catalogue.EXERCISES]) == []


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.name for m in MUTANTS])
def test_a_mutant_is_reported_alike(recorders, tmp_path, mutant):
    folder = build_submission(tmp_path / "submission", mutant.target, mutant.source)
    assert _compare(recorders, folder, [mutant.target]) == []


@pytest.mark.parametrize("case", LEGAL, ids=[c.name for c in LEGAL])
def test_a_legal_case_is_reported_alike(recorders, tmp_path, case):
    folder = submission_with(tmp_path, case.module, case.source)
    assert _compare(recorders, folder, _module_exercises(case.module)) == []


@pytest.mark.parametrize("name", list(FORBIDDEN))
def test_a_forbidden_route_is_reported_alike(recorders, tmp_path, name):
    target, source, _ = FORBIDDEN[name]
    folder = build_submission(tmp_path / "submission", target, source)
    assert _compare(recorders, folder, [target]) == []


@pytest.mark.parametrize("name", list(PLACEMENT))
def test_a_placement_mistake_is_reported_alike(recorders, tmp_path, name):
    module, source = PLACEMENT[name]
    folder = submission_with(tmp_path, module, _KEEP[module] + textwrap.dedent(source))
    assert _compare(recorders, folder, _module_exercises(module)) == []


def test_the_placement_cases_reach_the_reports_they_exercise(recorders, tmp_path):
    """The comparison above can fail: the mistakes do make CPU tensors on meta and sync with the host."""
    python, native_ = recorders
    module, source = PLACEMENT["zeros without a device"]
    fn = load_module(submission_with(tmp_path / "a", module, _KEEP[module] + textwrap.dedent(source)), module).neuron
    check = registry.for_exercise("neurons.neuron", ("public",))[0]
    report = wire.unpack(run_unit(check.run, 0, fn, "meta", native_, _describe, catch=Exception)[0])
    assert "zeros" in report["cpu_made"], report
    module, source = PLACEMENT["item of a tensor"]
    fn = load_module(
        submission_with(tmp_path / "b", module, _KEEP[module] + textwrap.dedent(source)), module
    ).log_softmax
    check = registry.for_exercise("losses.log_softmax", ("public",))[0]
    report = wire.unpack(run_unit(check.run, 0, fn, "cpu", native_, _describe, catch=Exception)[0])
    assert report["host_sync"], report


def test_a_stale_library_is_not_loaded(monkeypatch, tmp_path):
    """The stamp names the source, torch and Python: another source never runs the old library."""
    monkeypatch.setattr(native, "SOURCE", tmp_path / "oprec.cpp")
    (tmp_path / "oprec.cpp").write_text("// another recorder\n")
    assert native.load() is None


def test_the_switch_asks_for_the_python_recorder(monkeypatch):
    monkeypatch.setenv(native.SWITCH, "0")
    assert native.load() is None


_CLEARED = """
import torch
from autograder.sandbox import native
from autograder.sandbox.recorder import Instruments, Tampering
instruments = Instruments(native.load())
instruments.install()
instruments.verify()
try:
    instruments.call({route})
except Tampering:
    print("caught")
"""


@pytest.mark.parametrize(
    "route",
    ["torch._C._autograd._clear_callbacks", "lambda: torch.autograd._enable_record_function(False)"],
    ids=["clears the callbacks", "switches record functions off"],
)
def test_switching_the_native_recorder_off_is_caught(route):
    """Code that removes the C++ recorder for good is caught when its call returns, as the Python one is."""
    code = _CLEARED.format(route=route)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip() == "caught", proc.stdout + proc.stderr


_WHICH = """
import sys as _sys
_placed = log_softmax
def log_softmax(logits, dim=-1):
    print("recorder:", type(_sys.modules["__main__"].INSTRUMENTS.recorder).__name__)
    top = logits.max().item()  # a host sync: the advice note
    return _placed(logits - top, dim)
"""


def test_the_sandboxed_worker_grades_alike_with_either_recorder(tmp_path, monkeypatch):
    """Through the real sandbox: the worker uses the recorder asked for, and the verdicts, scores,
    messages and notes are the same with both (the Python one is what a machine without a C++
    compiler runs)."""
    from autograder.scoring.grader import Grader

    folder = submission_with(tmp_path, "losses", _WHICH)
    seen = {}
    for setting, expected in (("1", "NativeRecorder"), ("0", "OpRecorder")):
        monkeypatch.setenv(native.SWITCH, setting)
        with Grader() as grader:
            result = grader.grade(folder, ["losses"])
        by_id = {e.exercise.id: e for e in result.exercises}
        assert f"recorder: {expected}" in by_id["losses.log_softmax"].output
        seen[setting] = [(e.exercise.id, e.outcome, e.score, e.message, tuple(e.notes)) for e in result.exercises]
    assert seen["1"] == seen["0"]
    assert any("moves data to the host" in note for _, _, _, _, notes in seen["1"] for note in notes)


def test_the_check_verb_says_whether_the_recorder_loads(monkeypatch):
    """`python -m autograder op-recorder check`: 0 when the worker would load it, 1 when not."""
    assert native.main(["check"]) == 0
    monkeypatch.setenv(native.SWITCH, "0")
    assert native.main(["check"]) == 1
