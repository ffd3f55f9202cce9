"""Re-runs one public check in your own Python session, so a failure can be debugged.

This imports *your* code into *this* process: it is a learner's tool, never used to score.
From a shell: ``python -m autograder repro losses.log_softmax 3``; from a notebook or REPL::

    from autograder.repro import case
    args, kwargs = case("losses.log_softmax", 3)   # the exact seeded inputs of check 3
    log_softmax(*args, **kwargs)
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import torch

from autograder import catalogue, checks
from autograder.encoding import encode


def _check(exercise_id: str, index: int):
    public = checks.for_exercise(exercise_id, ("public",))
    if not 0 <= index < len(public):
        raise IndexError(f"{exercise_id} has public checks 0 to {len(public) - 1}; hidden checks are not "
                         f"reproducible by design")
    return public[index]


def case(exercise_id: str, index: int, device: str = "cpu"):
    """(args, kwargs) of a public check, exactly as the grader builds them."""
    check = _check(exercise_id, index)
    if not hasattr(check, "inputs"):
        raise TypeError(f"check {index} of {exercise_id} builds its own inputs (a model or an image); "
                        f"use rerun() instead")
    made = check.inputs(device)
    return made.args, made.kwargs


def load(submission: Path, exercise_id: str):
    """Your function (or class) for the exercise, imported from ``submission``."""
    exercise = catalogue.get(exercise_id)
    sys.path.insert(0, str(submission))
    spec = importlib.util.spec_from_file_location(exercise.module, Path(submission) / f"{exercise.module}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[exercise.module] = module
    spec.loader.exec_module(module)
    return getattr(module, exercise.function)


def rerun(exercise_id: str, index: int, fn=None, submission: str | Path = "exercises") -> str | None:
    """Runs check ``index`` on your function and PyTorch's; prints both and the verdict."""
    check = _check(exercise_id, index)
    fn = fn if fn is not None else load(Path(submission), exercise_id)
    want = {k: encode(v) for k, v in check.run(check.reference(), "cpu").items()}
    got_raw = check.run(fn, "cpu")
    got = {k: encode(v) for k, v in got_raw.items()}
    verdict = check.judge(got, want)
    print(f"{exercise_id}, check {index}: {check.name}")
    if hasattr(check, "inputs"):
        made = check.inputs("cpu")
        for name, value in zip(made.names or [f"arg{i}" for i in range(len(made.args))], made.args):
            print(f"  {name} = {_show(value)}")
        for key, value in made.kwargs.items():
            print(f"  {key} = {_show(value)}")
    expected_raw = check.run(check.reference(), "cpu")
    for key in got_raw:
        print(f"  yours[{key!r}]    = {_show(got_raw[key])}")
        print(f"  pytorch[{key!r}]  = {_show(expected_raw.get(key))}")
    print(f"  verdict: {verdict or 'passed'}")
    return verdict


def _show(value) -> str:
    if isinstance(value, torch.Tensor):
        with torch.no_grad():
            text = repr(value.detach())
        return text if len(text) < 600 else f"tensor of shape {tuple(value.shape)}, dtype {value.dtype}"
    text = repr(value)
    return text if len(text) < 600 else text[:600] + "…"
