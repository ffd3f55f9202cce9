"""A suite of checks frozen into data, as the learner's bundle carries its public checks: each
check's plan, PyTorch's CPU results and the facts its judge reads, without reference code.

``python -m autograder.packaging.bundle`` writes ``checks/public/frozen.pickle`` in place of the public check
modules; ``checks.for_module`` reads it where a module is absent. Loading it admits only the check
kinds' own classes, PyTorch, NumPy and plain data: a reference function cannot ride along.
"""

from __future__ import annotations

import functools
import importlib
import io
import pickle
import types
from pathlib import Path

from autograder.checks.core import Check

FILE_NAME = "frozen.pickle"
VERSION = 1
# where the check kinds live (a kind defined in a suite's own module could not be frozen)
KIND_MODULES = {
    "autograder.checks.core",
    "autograder.checks.models",
    "autograder.checks.images",
    "autograder.checks.statistics",
    "autograder.checks.training",
    "autograder.course.compare",
}
_PACKAGES = ("torch", "numpy")
_OTHERS = {
    ("functools", "partial"),
    ("collections", "OrderedDict"),
    ("builtins", "ValueError"),
    ("builtins", "TypeError"),
    ("builtins", "IndexError"),
    ("builtins", "getattr"),
    ("builtins", "slice"),
    ("builtins", "complex"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "range"),
}


class FrozenError(pickle.UnpicklingError):
    """The frozen suite holds something it may not (code, or a class from outside the check kinds)."""


class _Unpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if module in KIND_MODULES or module.split(".")[0] in _PACKAGES or (module, name) in _OTHERS:
            return super().find_class(module, name)
        raise FrozenError(f"a frozen check may not hold {module}.{name}")


def _is_code(value) -> bool:
    """Functions, methods and classes other than exceptions: what makes inputs or gives answers."""
    if isinstance(value, (types.FunctionType, types.BuiltinFunctionType, types.MethodType)):
        return True
    return isinstance(value, type) and not issubclass(value, BaseException)


def state_of(check: Check) -> dict:
    """What a frozen copy of ``check`` keeps: its data, facts and plan, and PyTorch's CPU results."""
    check.wire_plan()
    for fact in check.judge_facts:
        getattr(check, fact)
    state = {k: v for k, v in vars(check).items() if not _is_code(v)}
    state["recorded"] = check.expected("cpu")
    return state


def freeze(checks: list[Check]) -> bytes:
    """The checks as bytes; refused (``FrozenError``) when a check's state would need code."""
    data = pickle.dumps(
        {"version": VERSION, "checks": [(type(c), state_of(c)) for c in checks]}, protocol=pickle.HIGHEST_PROTOCOL
    )
    thaw(data)  # fails here, at build time, rather than on a learner's machine
    return data


def thaw(data: bytes) -> list[Check]:
    loaded = _Unpickler(io.BytesIO(data)).load()
    if not isinstance(loaded, dict) or loaded.get("version") != VERSION:
        raise FrozenError("not a frozen suite of this version")
    thawed = []
    for kind, state in loaded["checks"]:
        if not (isinstance(kind, type) and issubclass(kind, Check)) or not isinstance(state, dict):
            raise FrozenError(f"not a check: {kind!r}")
        check = kind.__new__(kind)
        check.__dict__.update(state)
        thawed.append(check)
    return thawed


@functools.cache
def _suite(suite: str) -> tuple[Check, ...]:
    try:
        package = importlib.import_module(f"autograder.checks.{suite}")
    except ModuleNotFoundError:
        return ()
    path = Path(str(package.__file__)).parent / FILE_NAME
    return tuple(thaw(path.read_bytes())) if path.is_file() else ()


def for_module(suite: str, module: str) -> list[Check]:
    """The frozen checks of ``module`` in ``suite`` (none where the suite is not frozen)."""
    return [c for c in _suite(suite) if c.exercise.split(".")[0] == module]
