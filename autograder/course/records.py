"""The records the course is made of: an exercise (what is graded, for how many points, what is
forbidden) and a named mistake (a common wrong answer, how to fix it, code that reproduces it)."""

from __future__ import annotations

import functools
import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any


class LazyModule:
    """A module imported when first used. The catalogue is read by light commands (``--help``,
    ``list``, ``hint``) and by a Dask client's event loop, which must not wait seconds for torch;
    the mistakes' variants written beside the records import it when one first runs."""

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        return getattr(importlib.import_module(self._name), attr)


@dataclass(frozen=True)
class Mistake:
    name: str
    fix: str
    variants: tuple[Callable, ...] = field(default=())
    exercise: str = "*"  # set by the exercise that holds it; "*" for evidence-based mistakes any exercise can make

    def describe(self) -> str:
        return f"looks like {self.name}: {self.fix}"


CONV_PATTERN = r"(^|_)conv(\d|_|olution)|im2col|col2im"
# Backend variants compute the same thing as the op they prefix (``mkldnn_max_pool2d``,
# ``_sparse_log_softmax``): a forbidden op is forbidden in all of them, and in its in-place form.
BACKEND_PREFIXES = ("mkldnn_", "quantized_", "sparse_", "cudnn_", "miopen_", "mps_", "nested_", "fbgemm_")


@functools.cache  # asked for every op of PyTorch, per exercise, when a worker starts
def op_base(name: str) -> str:
    """The computation an ATen op name stands for: ``_sparse_log_softmax`` → ``log_softmax``,
    ``tanh_`` → ``tanh``, ``aten::tanh.out`` → ``tanh``."""
    name = name.split("::", 1)[-1].split(".", 1)[0].lstrip("_")
    for prefix in BACKEND_PREFIXES:
        if name.startswith(prefix):
            name = name[len(prefix) :].lstrip("_")
    return name.rstrip("_")


LOSS_OPS = ("nll_loss_forward", "nll_loss2d_forward", "nll_loss_nd", "cross_entropy_loss")
LOG_SOFTMAX_OPS = ("_log_softmax", "_softmax", "logsumexp", "logcumsumexp")


@dataclass(frozen=True)
class Exercise:
    """One gradable function (or class) of the contract."""

    module: str
    function: str
    points: float
    reference: str
    forbidden: tuple[str, ...] = ()  # exact ATen op names (overload packet names)
    forbidden_pattern: str | None = None  # regex over ATen op names
    forbidden_names: tuple[str, ...] = ()  # Python names the function's source may not use
    advice: str = ""  # what to do instead when a forbidden op or name is used
    uses: tuple[str, ...] = field(default=())  # other exercises the reference solution calls
    hints: tuple[str, ...] = ()  # progressive: a nudge first, the nearly-answer last
    mistakes: tuple[Mistake, ...] = ()  # named wrong answers, each with variants that reproduce it
    # what a generic relation (course/relations.py, by its key) means for this function: key -> (name, fix)
    relations: dict[str, tuple[str, str]] = field(default_factory=dict, hash=False, compare=False)

    def __post_init__(self):
        # a mistake is written inside its exercise's record; it learns the exercise's id here
        object.__setattr__(self, "mistakes", tuple(replace(m, exercise=self.id) for m in self.mistakes))

    @property
    def id(self) -> str:
        return f"{self.module}.{self.function}"

    def forbids(self, op: str) -> bool:
        """True when the ATen op ``op`` (``tanh``, ``tanh_``, ``aten::tanh.out``,
        ``mkldnn_max_pool2d``) is forbidden here, in any overload or backend variant."""
        if self.forbidden_pattern and re.search(self.forbidden_pattern, op.split("::", 1)[-1].split(".", 1)[0]):
            return True
        return bool(self.forbidden) and op_base(op) in _bases(self.forbidden)

    def forbidden_ops_in(self, ops) -> list[str]:
        """The forbidden ATen ops among ``ops`` (names like ``convolution``), in order."""
        hits = []
        for op in ops:
            if isinstance(op, str) and self.forbids(op) and op not in hits:
                hits.append(op)
        return hits


@functools.cache
def _bases(ops: tuple[str, ...]) -> frozenset[str]:
    return frozenset(op_base(op) for op in ops)
