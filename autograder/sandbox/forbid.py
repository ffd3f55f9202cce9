"""Makes an exercise's forbidden ATen operations unavailable at PyTorch's dispatcher.

Runs in a sandboxed child, once, before the learner's module is imported. Every overload and
backend variant of a forbidden op (``tanh``, ``tanh_``, ``tanh.out``; ``mkldnn_max_pool2d``…)
gets a kernel that raises, on every dispatch key that has one (CPU, CUDA, Meta, sparse,
quantized, MKL-DNN, composite). The dispatcher is global, so this holds in every thread, at
import time, under ``no_grad``/``inference_mode`` and inside a custom backward. Switching off
the op recorder therefore gains nothing: the operation itself is gone from this process.
"""

from __future__ import annotations

import functools
import warnings

import torch

from autograder.course.catalogue import Exercise

# Every runtime key that may carry a kernel computing the op, and the composite alias keys.
DISPATCH_KEYS = (
    "CPU",
    "CUDA",
    "Meta",
    "MPS",
    "XPU",
    "HIP",
    "SparseCPU",
    "SparseCUDA",
    "SparseMeta",
    "SparseCsrCPU",
    "SparseCsrCUDA",
    "SparseCsrMeta",
    "QuantizedCPU",
    "QuantizedCUDA",
    "MkldnnCPU",
    "NestedTensorCPU",
    "NestedTensorCUDA",
    "NestedTensorMeta",
    "CompositeImplicitAutograd",
    "CompositeImplicitAutogradNestedTensor",
    "CompositeExplicitAutograd",
    "CompositeExplicitAutogradNonFunctional",
)


class ForbiddenOperation(RuntimeError):
    """Raised by the kernel that replaces a forbidden operation."""


def forbidden_overloads(exercise: Exercise) -> list[str]:
    """``aten::name.overload`` of every operator this exercise may not call."""
    return [name for name, _ in plan(exercise)]


@functools.cache
def plan(exercise: Exercise) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Each forbidden overload with the dispatch keys that carry a kernel for it. Computed once
    per worker, before forking (``warm``), so that a child only registers."""
    if not exercise.forbidden and not exercise.forbidden_pattern:
        return ()
    return tuple((name, _kernel_keys(name)) for name in _aten_ops() if exercise.forbids(name))


@functools.cache
def _aten_ops() -> tuple[str, ...]:
    return tuple(sorted(n for n in torch._C._dispatch_get_all_op_names() if n.startswith("aten::")))


@functools.cache
def _kernel_keys(name: str) -> tuple[str, ...]:
    return tuple(key for key in DISPATCH_KEYS if torch._C._dispatch_has_kernel_for_dispatch_key(name, key))


def warm(exercises) -> None:
    for exercise in exercises:
        plan(exercise)


def block(exercise: Exercise, hits: list[str]) -> object | None:
    """Replaces the exercise's forbidden kernels with ones that append the op's name to ``hits``
    and raise. Returns the registration: it lasts while the returned object is referenced."""
    overloads = plan(exercise)
    if not overloads:
        return None
    library = torch.library.Library("aten", "IMPL")  # noqa: TOR901 - overriding aten kernels is the point
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "overriding a previously registered kernel": intended
        for qualified, keys in overloads:
            name = qualified.split("::", 1)[1]
            kernel = _raising(exercise, name.split(".", 1)[0], hits)
            for key in keys:
                library.impl(name, kernel, key)
    return library


def _raising(exercise: Exercise, op: str, hits: list[str]):
    message = (
        f"{exercise.function} may not call aten.{op} (forbidden in this exercise): {exercise.advice}"
        if exercise.advice
        else f"{exercise.function} may not call aten.{op} (forbidden in this exercise)"
    )

    def forbidden_kernel(*args, **kwargs):
        hits.append(op)
        raise ForbiddenOperation(message)

    return forbidden_kernel
