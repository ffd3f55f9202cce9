"""Public checks of pooling.py: max_pool2d against F.max_pool2d (tie-free inputs, so gradients are unique).
The case builders are shared with hidden/.
"""

import torch
import torch.nn.functional as F

from autograder.checks.core import Inputs, call_check, dims, dtype_name, raises_check
from autograder.checks.images import distinct
from autograder.course.compare import EXACT, PRECISE

_LEFT_OUT = object()  # stride not passed at all: it must default to kernel_size


def pool_case(dtype, x, kernel, *, stride=_LEFT_OUT, padding=None, negative=False, grad=False, note="", tol=EXACT):
    """``negative``: every input below 0, so padding with zeros instead of −inf shows."""
    options = {} if stride is _LEFT_OUT else {"stride": stride}
    if padding is not None:
        options["padding"] = padding

    def make(g):
        low, high = (-3.0, -0.5) if negative else (-2.0, 2.0)
        return Inputs((distinct(g, x, dtype, low, high), kernel), options, names=("x", "kernel_size"))

    name = f"{dtype_name(dtype)}, {dims(x)} input" + (" (all negative)" if negative else "")
    name += f", kernel {kernel}, " + (
        "stride left out (so equal to the kernel)"
        if stride is _LEFT_OUT
        else "stride=None (so equal to the kernel)"
        if stride is None
        else f"stride {stride}"
    )
    name += f", padding {padding}" if padding is not None else ""
    name += (", gradients" if grad else "") + (f"; {note}" if note else "")
    return call_check("pooling.max_pool2d", F.max_pool2d)(name, make, grad=grad, tol=tol)


def padding_error(kernel, padding):
    def make(g):
        return Inputs((distinct(g, (1, 2, 6, 7), torch.float32), kernel), {"padding": padding})

    name = f"kernel {kernel} with padding {padding} (more than half the kernel)"
    return raises_check("pooling.max_pool2d")(name, make)


f32, f64 = torch.float32, torch.float64

CHECKS = [
    pool_case(f32, (2, 3, 6, 8), 2),
    pool_case(f64, (2, 2, 7, 6), 3, stride=2, padding=1, grad=True),
    pool_case(f64, (1, 3, 5, 8), (2, 3), stride=(1, 2), padding=(1, 1), grad=True),
    pool_case(f64, (2, 2, 6, 6), 2, tol=PRECISE, note="exact: a maximum keeps every float64 digit"),
    padding_error(3, 2),
]
