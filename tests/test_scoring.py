"""The trusted side's judgement, unit by unit: ``compare`` says what differs, a unit's verdict
follows from the worker's message, an exercise's score from its units, and results.json splits
the points by suite without showing what a hidden check found. Table-driven, no sandbox.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import numpy as np
import pytest
import torch

from autograder.checks.core import Call, Inputs
from autograder.course import catalogue
from autograder.course.compare import EXACT, STABILITY, SUMMATION, compare
from autograder.feedback import report
from autograder.protocol import wire
from autograder.protocol.encoding import encode
from autograder.protocol.messages import ChildTag, FrameHeader, FrameStatus, message
from autograder.scoring.judge import judge_exercise
from autograder.scoring.results import GradeResult, Limits

pytestmark = pytest.mark.pure  # no sandbox, no subprocess: `make test-fast` runs these

T = torch.tensor
ROOT = Path(__file__).resolve().parent.parent


# ----------------------------------------------------------------------------- compare
@pytest.mark.parametrize(
    "got,want,tol,expected",
    [
        (T([1.0, 2.0]), T([1.0, 2.0]), EXACT, None),
        (T([1.0, 2.0]), T([1.0, 2.0, 3.0]), EXACT, "output: shape (2,), expected (3,)"),
        (T([1.0, 2.0]), T([1.0, 2.0], dtype=torch.float64), EXACT, "dtype float32, expected float64 (a float64 input"),
        (
            T([1.0, 2.5, 3.0, 9.0]),
            T([1.0, 2.0, 3.0, 4.0]),
            EXACT,
            "2 of 4 values differ; first at index [1]: got 2.5, expected 2; max abs error 5",
        ),
        (
            T([[0.0, 1.0], [1.0, float("inf")]]),
            T([[0.0, 1.0], [1.0, 2.0]]),
            EXACT,
            "has inf/nan where PyTorch's is finite",
        ),
        (T([float("nan"), 1.0]), T([float("nan"), 1.0]), EXACT, None),
        (T([1.0 + 5e-5]), T([1.0]), EXACT, "1 of 1 values differ"),
        (T([1.0 + 5e-5]), T([1.0]), SUMMATION, None),
        (T([1e4 * (1 + 2e-7)]), T([1e4]), STABILITY, None),
        (T([True, False]), T([True, True]), EXACT, "first at index [1]: got False, expected True"),
        ((T([1.0]), T([2.0])), (T([1.0]), T([3.0])), EXACT, "output[1]: 1 of 1 values differ"),
        ((T([1.0]),), (T([1.0]), T([3.0])), EXACT, "expected 2 items, got 1"),
        (3, 3, EXACT, None),
        (3.0, 3, EXACT, "expected an int"),
        (0.1 + 0.2, 0.3, EXACT, None),
        (T(2.0), 2.0, EXACT, "expected a Python number, got a 0-dim torch tensor"),
        (T([1.0]), np.array([1.0]), EXACT, "expected a NumPy array, got a torch tensor"),
        (np.array([1, 2]), np.array([1, 3]), EXACT, "got 2, expected 3"),
        (float("nan"), 1.5, EXACT, "got nan, expected 1.5"),
    ],
    ids=lambda v: None,
)
def test_compare_names_what_differs(got, want, tol, expected):
    message = compare(encode(got), encode(want), tol)
    if expected is None:
        assert message is None
    else:
        assert message is not None and expected in message, message


def test_compare_names_the_device():
    want = dict(encode(T([1.0])), device="cuda")
    assert "on device cpu, expected cuda (create tensors with device=x.device)" in compare(encode(T([1.0])), want)


# ----------------------------------------------------------------------------- one exercise judged
def _check(name="doubles x", grad=False, devices=("cpu", "meta")) -> Call:
    check = Call(
        "neurons.tanh",
        name,
        lambda g: Inputs((torch.arange(3.0),), names=("x",)),
        lambda x: 2 * x,
        grad=grad,
        devices=devices,
    )
    check.suite = "public"
    return check


def _frame(tag: ChildTag, payload=None) -> bytes:
    return message(tag, wire.pack(payload) if payload is not None else b"")


def _header(status: FrameStatus = FrameStatus.FINISHED, devices: list[str] | None = None) -> FrameHeader:
    header = FrameHeader(exercise="neurons.tanh", suite="public", status=status, output="")
    if devices is not None:
        header["devices"] = devices
    return header


def _judge(units: dict, checks: list, done: bool = True, header=None):
    """``units``: {(check index, device): worker payload}; the exercise judged as the grader does."""
    exercise = catalogue.get("neurons.tanh")
    stream = b"".join(_frame(ChildTag.UNIT, dict(p, check=i, device=d)) for (i, d), p in units.items())
    stream += _frame(ChildTag.DONE) if done else b""
    devices = ("cpu", "meta")
    references = {}
    for i, check in enumerate(checks):
        references[(i, "cpu")] = check.expected("cpu")
        references[(i, "meta")] = check.expected("meta", references[(i, "cpu")])
    return judge_exercise(exercise, checks, header or _header(), stream, references, devices, None, Limits())


def _ok(value) -> dict:
    return {"status": "ok", "value": {"out": encode(value)}}


def _meta_ok(value) -> dict:
    return {"status": "ok", "value": {"out": encode(value.to("meta"))}}


RIGHT, WRONG = torch.arange(3.0) * 2, torch.arange(3.0) * 3


@pytest.mark.parametrize(
    "cpu,meta,outcome,score",
    [
        (_ok(RIGHT), _meta_ok(RIGHT), "passed", 2.0),
        (_ok(WRONG), _meta_ok(WRONG), "failed", 0.0),  # meta passes but earns nothing when the CPU is wrong
        (_ok(RIGHT), _meta_ok(RIGHT.double()), "failed", 2.0 * 1 / 1.25),  # dtype wrong on meta only
        (
            {"status": "raised", "type": "NotImplementedError", "message": "", "not_started": True},
            {"status": "raised", "type": "NotImplementedError", "message": "", "not_started": True},
            "not_started",
            0.0,
        ),
        # raising on meta is the learner's choice: it weighs as much as a wrong placement, never less
        (_ok(RIGHT), {"status": "raised", "type": "RuntimeError", "message": "data-dependent"}, "failed", 1.6),
        (_ok(RIGHT), {"status": "raised", "type": "NotImplementedError", "not_started": True}, "failed", 1.6),
    ],
    ids=["right", "wrong", "meta-dtype", "not-started", "meta-raises", "meta-stub"],
)
def test_an_exercise_scores_its_units_by_device_weight(cpu, meta, outcome, score):
    result = _judge({(0, "cpu"): cpu, (0, "meta"): meta}, [_check()])
    assert (result.outcome, result.score) == (outcome, pytest.approx(score))


SHAPE_BUG = {"status": "raised", "type": "RuntimeError", "message": "mat1 and mat2 shapes cannot be multiplied"}


@pytest.mark.parametrize(
    "cpu,meta,advice",
    [
        (SHAPE_BUG, SHAPE_BUG, False),  # the code is wrong on every device: placement has nothing to do with it
        (SHAPE_BUG, dict(SHAPE_BUG, type="ValueError"), True),  # another error here: meta may be the cause
        (_ok(RIGHT), dict(SHAPE_BUG, message="Tensor.item() cannot be called on meta tensors"), True),
    ],
    ids=["raised on the cpu too", "another error on the cpu", "raised on meta only"],
)
def test_meta_advice_is_given_only_where_the_cpu_did_not_raise_the_same(cpu, meta, advice):
    """The advice that code reading values cannot follow on meta names a cause: wrong where the CPU raised too."""
    [unit] = [u for u in _judge({(0, "cpu"): cpu, (0, "meta"): meta}, [_check()]).units if u.device == "meta"]
    assert unit.verdict == "failed"
    assert ("cannot follow" in unit.message) is advice, unit.message
    assert unit.message.endswith("as on the CPU") is not advice, unit.message


def test_a_missing_unit_stops_the_exercise_as_crashed_and_keeps_earned_points():
    checks = [_check("one"), _check("two")]
    result = _judge({(0, "cpu"): _ok(RIGHT), (0, "meta"): _meta_ok(RIGHT)}, checks, done=False)
    assert result.outcome == "crashed"
    assert result.score == pytest.approx(2.0 * 1.25 / 2.5)
    assert [u.verdict for u in result.units] == ["passed", "passed", "failed", "failed"]


def test_a_raised_error_is_reported_with_its_place():
    result = _judge(
        {
            (0, "cpu"): {"status": "raised", "type": "ValueError", "message": "bad", "where": "tanh.py:3"},
            (0, "meta"): _meta_ok(RIGHT),
        },
        [_check()],
    )
    assert result.outcome == "failed" and result.message == "[doubles x] raised ValueError: bad (at tanh.py:3)"


def test_a_malformed_stream_is_a_crash_not_a_score():
    exercise = catalogue.get("neurons.tanh")
    result = judge_exercise(exercise, [_check()], _header(), b"U\xff\xff\xff\x7fjunk", {}, ("cpu",), None, Limits())
    assert (result.outcome, result.score) == ("crashed", 0.0)


# ----------------------------------------------------------------------------- suites and results.json
def _two_suites(public_ok: bool, hidden_ok: bool):
    public, hidden = _check("public case"), _check("hidden case with secret shape (7, 7)")
    hidden.suite = "hidden"
    units = {
        (0, "cpu"): _ok(RIGHT if public_ok else WRONG),
        (0, "meta"): _meta_ok(RIGHT),
        (1, "cpu"): _ok(RIGHT if hidden_ok else WRONG),
        (1, "meta"): _meta_ok(RIGHT),
    }
    result = _judge(units, [public, hidden])
    result.suite_weights = {"public": 1.25, "hidden": 1.25}
    return result


@pytest.mark.parametrize(
    "public_ok,hidden_ok,public_pts,hidden_pts",
    [(True, True, 1.0, 1.0), (True, False, 1.0, 0.0), (False, True, 0.0, 1.0), (False, False, 0.0, 0.0)],
)
def test_suite_scores_split_the_exercise_points(public_ok, hidden_ok, public_pts, hidden_pts):
    scores = _two_suites(public_ok, hidden_ok).suite_scores()
    assert scores == {"public": (public_pts, 1.0), "hidden": (hidden_pts, 1.0)}


def test_results_json_is_gradescopes_format_and_keeps_hidden_inputs_hidden():
    result = GradeResult("sub", "test", [_two_suites(True, False)], 0.5, ("public", "hidden"))
    data = report.results_json(result)
    schema = json.loads((ROOT / "gradescope" / "results.schema.json").read_text())
    jsonschema.validate(data, schema)
    assert (data["score"], data["max_score"]) == (1.0, 2.0)
    public, hidden = data["tests"]
    assert (public["status"], public["visibility"]) == ("passed", "visible")
    assert (hidden["status"], hidden["visibility"]) == ("failed", "after_due_date")
    assert "secret shape" not in json.dumps(data)
    assert hidden["output"].startswith("failed") and "0 of 2 passed" in hidden["output"]
    shown = report.results_json(result, full_details=True)
    assert "secret shape" in shown["tests"][1]["output"]
    with pytest.raises(ValueError):
        report.results_json(result, hidden_visibility="sometimes")


def _f64_check() -> Call:
    check = Call(
        "neurons.tanh",
        "float64 x",
        lambda g: Inputs((torch.arange(3.0, dtype=torch.float64),)),
        lambda x: 2 * x,
        devices=("cpu", "meta"),
    )
    check.suite = "public"
    return check


@pytest.mark.parametrize(
    "cpu,meta,named",
    [
        (_ok(RIGHT), _meta_ok(RIGHT), "a float64 input returned as float32"),
        (
            _ok(RIGHT.double()),
            {"status": "raised", "type": "RuntimeError", "message": "x", "cpu_made": ["zeros"]},
            "tensors created on the default device",
        ),
        (_ok(RIGHT.double() + 1), _meta_ok(RIGHT.double()), None),
    ],
    ids=["float32", "cpu-tensor", "values-only"],
)
def test_mistakes_shown_by_the_evidences_shape_are_named_from_facts_not_wording(cpu, meta, named):
    result = _judge({(0, "cpu"): cpu, (0, "meta"): meta}, [_f64_check()])
    assert result.outcome == "failed"
    assert (result.mistake.name if result.mistake else None) == named


def test_a_worker_that_never_started_is_the_graders_fault_not_a_zero():
    result = _judge({}, [_check()], done=False, header=_header(FrameStatus.GRADER_ERROR))
    assert (result.outcome, result.grader_fault) == ("error", True)
    ordinary = _judge({(0, "cpu"): _ok(WRONG), (0, "meta"): _meta_ok(WRONG)}, [_check()])
    assert not ordinary.grader_fault


def test_results_out_of_the_childs_order_are_tampering():
    """The child runs its units in one order, one result each: a forged or repeated result is caught."""
    checks = [_check("a"), _check("b")]
    swapped = {(1, "cpu"): _ok(RIGHT), (0, "cpu"): _ok(RIGHT)}
    result = _judge(swapped, checks)
    assert (result.outcome, result.score) == ("forbidden", 0.0) and "tampering" in result.message


def test_a_child_that_reported_cuda_absent_skips_only_cuda():
    """CUDA units are skipped only when the child said, before learner code ran, that it had none."""
    exercise = catalogue.get("neurons.tanh")
    check = _check(devices=("cpu", "cuda"))
    refs = {(0, "cpu"): check.expected("cpu"), (0, "cuda"): {"t": "tensor"}}
    stream = _frame(ChildTag.UNIT, dict(_ok(RIGHT), check=0, device="cpu")) + _frame(ChildTag.DONE)
    for devices, verdict in ((["cpu", "meta"], "skipped"), (["cpu", "cuda", "meta"], "failed")):
        header = _header(devices=devices)
        result = judge_exercise(exercise, [check], header, stream, refs, ("cpu", "cuda"), None, Limits())
        assert [u.verdict for u in result.units if u.device == "cuda"] == [verdict]
