"""Pays PyTorch's lazy one-off costs up front, in the worker before it forks and in the scorer.

Python meta kernels and ``torch.optim`` are wrapped by ``torch._compile._disable_dynamo``, whose
first call imports ``torch._dynamo`` (about a second). Nothing in grading runs under
``torch.compile``, so every such wrapper is given its plain function as the cached "disabled"
version. Best effort: if torch's internals differ, the import simply happens as usual.
"""

from __future__ import annotations

import gc
import types

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
