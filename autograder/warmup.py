"""Pays PyTorch's lazy one-off costs up front, in the worker before it forks and in the scorer.

Python meta kernels and ``torch.optim`` are wrapped by ``torch._compile._disable_dynamo``, whose
first call imports ``torch._dynamo`` (about a second). Nothing in grading runs under
``torch.compile``, so every such wrapper is given its plain function as the cached "disabled"
version. Best effort: if torch's internals differ, the import simply happens as usual.
``native_meta_kernels`` gives the ops whose C++ meta kernel PyTorch overrides with a Python one
their C++ kernel back: the placement checks' ``meta`` runs cost a fraction of what they did.
"""

from __future__ import annotations

import gc
import types
from collections.abc import Callable

import torch


def skip_lazy_dynamo_import() -> int:
    """Returns how many wrappers were short-circuited."""
    try:
        inner_code = torch._compile._disable_dynamo(lambda: None).__code__
    except Exception:  # noqa: BLE001 - an optimisation only
        return 0
    done = 0
    # the functions running that code: the collector finds what refers to it (in C, a quarter of the
    # time of walking every object here; both see the same objects, those not frozen)
    for obj in gc.get_referrers(inner_code):
        if type(obj) is types.FunctionType and obj.__code__ is inner_code:
            try:  # the function the wrapper closes over (``__wrapped__`` may name an outer layer)
                wrapped = (obj.__closure__ or ())[inner_code.co_freevars.index("fn")].cell_contents
                wrapped.__dynamo_disable = wrapped
                done += 1
            except (AttributeError, TypeError, ValueError, IndexError):  # left as it is
                pass
    return done


def native_meta_kernels() -> int:
    """Gives back ATen's own (C++) meta kernels to the ops where PyTorch's Python ones override
    them; returns how many ops kept a Python one (those with no C++ meta kernel).

    On importing ``torch._meta_registrations`` PyTorch registers a Python meta kernel (a
    ``torch._refs`` function, written for symbolic shapes) over the C++ one of 636 ops, ``mul``,
    ``exp`` and ``cat`` among them: on a ``meta`` tensor such an op then costs 120–260 µs instead of
    3–6 µs, and the placement checks spent a third of a submission's check time there. The checks
    call with concrete shapes, and the C++ meta kernels are the shape, dtype and device checks that
    a CUDA kernel itself runs, which is what a placement check stands in for. Best effort: if
    torch's internals differ, the Python kernels stay."""
    try:
        import torch._meta_registrations as registrations  # here: a torch without it changes nothing
        from torch._decomp import global_decomposition_table  # idem (loaded with torch: costs nothing)
        from torch._ops import OpOverload  # idem

        python = registrations._meta_lib_dont_use_me_use_register_meta
        registered = {key.rsplit("/", 1)[0].replace("/", "::", 1) for key in python._op_impls}
    except (ImportError, AttributeError):
        return 0
    kernels: dict[OpOverload, Callable] = {}
    for kind in ("meta", "post_autograd", "pre_autograd"):  # activate_meta's order of precedence
        for op, function in global_decomposition_table[kind].items():
            if isinstance(op, OpOverload) and op.name() in registered:
                kernels.setdefault(op, function)
    if {op.name() for op in kernels} != registered:  # not the registrations we know: leave them
        return 0
    python._destroy()
    kept = torch.library.Library("aten", "IMPL", "Meta")  # noqa: TOR901 - aten's own meta library
    for op, function in kernels.items():
        if not torch._C._dispatch_has_kernel_for_dispatch_key(op.name(), "Meta"):  # no C++ one
            kept.impl(op, function)
    registrations._meta_lib_dont_use_me_use_register_meta = kept  # alive as long as torch
    return len(kept._op_impls)
