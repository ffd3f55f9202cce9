"""Re-runs one public check on your code and shows it, so a failure can be debugged.

``python -m autograder repro losses.log_softmax 3`` grades the exercise exactly as ``make grade``
does (the sandbox, the same instruments, every device including meta) and prints that check's
verdict on each device; then it runs the check on your function in this process, on the CPU, and
prints the inputs, your result, PyTorch's, and the upstream gradient the check used. From a
notebook or REPL, ``rerun(exercise, index, fn=your_function)`` does the same in your own session
(no sandbox: the same checks and recorder, as the in-notebook check cells run them)::

    from autograder.feedback.repro import case
    args, kwargs = case("losses.log_softmax", 3)   # the exact seeded inputs of check 3
    log_softmax(*args, **kwargs)
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import torch

from autograder import checks
from autograder.course import catalogue
from autograder.feedback import incheck
from autograder.protocol import plans
from autograder.protocol.encoding import encode
from autograder.scoring.grader import Grader


def _check(exercise_id: str, index: int, suite: str = "public"):
    """Check ``index`` of a suite. Hidden checks are the instructor's: installed only beside the
    course secret their inputs come from, they reproduce exactly as graded there."""
    found = checks.for_exercise(exercise_id, (suite,))
    if not 0 <= index < len(found):
        raise IndexError(
            f"{exercise_id} has {suite} checks 0 to {len(found) - 1}"
            + ("; hidden checks are not reproducible by design" if suite == "public" else "")
        )
    return found[index]


def case(exercise_id: str, index: int, device: str = "cpu"):
    """(args, kwargs) of a public check, exactly as the grader builds them."""
    check = _check(exercise_id, index)
    spec = _call_spec(check)
    if spec is None:
        raise TypeError(
            f"check {index} of {exercise_id} builds its own inputs (a model or an image); use rerun() instead"
        )
    return plans.to_device(spec["args"], device), plans.to_device(spec.get("kwargs", {}), device)


def _call_spec(check) -> dict | None:
    """The plan's arguments when the check calls the function directly (the "call" protocol)."""
    plan = plans.loads(check.wire_plan())
    return plan.spec if plan.kind == "call" else None


def load(submission: Path, exercise_id: str):
    """Your function (or class) for the exercise, imported from ``submission``."""
    exercise = catalogue.get(exercise_id)
    sys.path.insert(0, str(submission))
    spec = importlib.util.spec_from_file_location(exercise.module, Path(submission) / f"{exercise.module}.py")
    assert spec is not None and spec.loader is not None  # a .py path always has a source loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[exercise.module] = module
    spec.loader.exec_module(module)
    return getattr(module, exercise.function)


def graded(exercise_id: str, fn=None, submission: str | Path = "exercises", suite: str = "public"):
    """The exercise's result on the public checks, as ``make grade`` computes it: in the sandbox
    for a submission folder, in this session for a function ``fn``."""
    if fn is not None:
        return incheck.grade_function(fn, exercise_id, suite), "in this session, no sandbox"
    with Grader(suites=(suite,)) as grader:
        result = grader.grade(Path(submission), [exercise_id])
    return result.exercises[0], f"as make grade runs it ({grader.box.kind} sandbox)"


def rerun(
    exercise_id: str, index: int, fn=None, submission: str | Path = "exercises", suite: str = "public"
) -> str | None:
    """Check ``index`` on your code: its verdict on every device as graded, then your values and
    PyTorch's on the CPU. Returns the CPU verdict's message (None when it passed)."""
    check = _check(exercise_id, index, suite)
    result, where = graded(exercise_id, fn, submission, suite)
    print(f"{exercise_id}, check {index}: {check.name}")
    print(f"graded {where}: {result.outcome}" + (f" ({result.message})" if result.outcome != "failed" else ""))
    units = [u for u in result.units if u.check is check]
    for unit in units:
        print(f"  {unit.device:<5} {unit.verdict}" + (f": {unit.message}" if unit.message else ""))
    cpu = next((u for u in units if u.device == "cpu"), None)
    verdict = cpu.message if cpu is not None and cpu.verdict != "passed" else None
    if fn is None:
        try:
            fn = load(Path(submission), exercise_id)
        except Exception as exc:  # noqa: BLE001 - the module does not even import here
            print(f"  (your module cannot be imported here: {type(exc).__name__}: {exc})")
            return verdict or str(exc)
    _show_values(check, fn)
    print(f"  verdict: {verdict or ('passed' if cpu is not None else result.message)}")
    return verdict


def _show_values(check, fn) -> None:
    """The check's inputs, your values and PyTorch's on the CPU (run here, in your process)."""
    spec = _call_spec(check)
    if spec is not None:
        args, names = spec["args"], tuple(spec.get("names") or ())
        for i, value in enumerate(args):
            print(f"  {names[i] if i < len(names) else f'arg{i}'} = {_show(value)}")
        for key, value in spec.get("kwargs", {}).items():
            print(f"  {key} = {_show(value)}")
    want = check.expected("cpu")
    expected = {k: _decoded(v) for k, v in want.items()}
    try:
        yours = check.run(fn, "cpu")
    except Exception as exc:  # noqa: BLE001 - your code raised: show it, not a traceback of ours
        print(f"  yours raised {type(exc).__name__}: {exc}")
        yours = {}
    for key in yours:
        print(f"  yours[{key!r}]    = {_show(yours[key])}")
        print(f"  pytorch[{key!r}]  = {_show(expected.get(key))}")
    out = expected.get("out")
    if "grads" in expected and isinstance(out, torch.Tensor):
        print(f"  upstream gradient (d loss / d output, seeded) = {_show(plans.upstream_grad(out, check.seed))}")
    encoded = {k: encode(v) for k, v in yours.items()}
    if encoded and check.verdict(encoded, want) is None:
        print("  (your CPU values match PyTorch's here; a failure above comes from another device or the sandbox)")


def _decoded(tree):
    """An encoded result back as values to print (tensors, numbers, tuples)."""
    if not isinstance(tree, dict):
        return tree
    if tree.get("t") in ("tensor", "ndarray"):
        if tree.get("data") is None:
            return f"{tree['t']} of shape {tuple(tree['shape'])}"
        return tree["data"].numpy() if tree["t"] == "ndarray" else tree["data"]
    if tree.get("t") in ("tuple", "list"):
        items = [_decoded(i) for i in tree["items"]]
        return items if tree["t"] == "list" else tuple(items)
    return tree.get("value", tree)


def _show(value) -> str:
    if isinstance(value, torch.Tensor):
        with torch.no_grad():
            text = repr(value.detach())
        return text if len(text) < 600 else f"tensor of shape {tuple(value.shape)}, dtype {value.dtype}"
    text = repr(value)
    return text if len(text) < 600 else text[:600] + "…"
