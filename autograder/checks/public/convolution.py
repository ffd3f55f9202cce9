"""Public checks of convolution.py: pad2d, conv_output_size, conv1d and conv2d against F.pad, F.conv1d
and F.conv2d; edge_kernel and blur_kernel by their properties. The case builders are shared with hidden/.
"""

import torch
import torch.nn.functional as F

from autograder.checks.core import CPU_ONLY, Inputs, call_check, dims, dtype_name, raises_check
from autograder.checks.images import (
    KernelProperties,
    equal_entries,
    keeps_constant,
    positive_on_vertical_edge,
    randn,
    sums_to_one,
    zero_on_constant,
    zero_on_horizontal_step,
)
from autograder.course.compare import EXACT, PRECISE, SUMMATION


def _pair(value):
    return (value, value) if isinstance(value, int) else tuple(value)


def _pad_reference(x, padding):
    ph, pw = _pair(padding)
    return F.pad(x, (pw, pw, ph, ph))


def _conv1d_length(size, kernel_size, padding=0, stride=1):
    x, w = torch.zeros(1, 1, size), torch.zeros(1, 1, kernel_size)
    return F.conv1d(x, w, stride=stride, padding=padding).shape[-1]


def _edge_reference():
    return torch.tensor([[-1.0, 0.0, 1.0]] * 3).reshape(1, 1, 3, 3)


def _blur_reference(size=3):
    return torch.full((1, 1, size, size), 1.0 / size**2, dtype=torch.float32)


def pad2d_case(dtype, x, padding, *, grad=False, tol=EXACT, note=""):
    def make(g):
        return Inputs((randn(g, x, dtype), padding), names=("x", "padding"))

    name = f"{dtype_name(dtype)}, {dims(x)} input, padding {padding}" + (", gradients" if grad else "")
    name += f"; {note}" if note else ""
    return call_check("convolution.pad2d", _pad_reference)(name, make, grad=grad, tol=tol)


def size_case(size, kernel, padding=None, stride=None, *, positional=False, note=""):
    """``positional``: pass padding and stride by position (their order is part of the contract)."""
    options = {k: v for k, v in (("padding", padding), ("stride", stride)) if v is not None}

    def make(g):
        if positional:
            return Inputs((size, kernel, *options.values()))
        return Inputs((size, kernel), options)

    name = f"size {size}, kernel {kernel}" + "".join(f", {k} {v}" for k, v in options.items())
    name += " (passed by position)" if positional else ""
    return call_check("convolution.conv_output_size", _conv1d_length, devices=CPU_ONLY)(
        name + (f"; {note}" if note else ""), make
    )


def size_error(size, kernel, padding=0):
    def make(g):
        return Inputs((size, kernel), {"padding": padding})

    name = f"size {size} padded by {padding} on each side, kernel {kernel} (does not fit)"
    return raises_check("convolution.conv_output_size")(name, make)


def _conv_case(exercise, reference, dtype, x, w, bias, stride, padding, grad, note):
    options = {k: v for k, v in (("stride", stride), ("padding", padding)) if v is not None}

    def make(g):
        args: tuple[torch.Tensor | None, ...] = (randn(g, x, dtype), randn(g, w, dtype))
        if bias is not False:
            args += (None if bias is None else randn(g, w[:1], dtype),)
        return Inputs(args, options, names=("x", "weight", "bias"))

    name = f"{dtype_name(dtype)}, {dims(x)} input, {dims(w)} kernel"
    name += "".join(f", {k} {v}" for k, v in options.items())
    name += {False: "", None: ", bias=None", True: ", with bias"}[bias] + (", gradients" if grad else "")
    name += f"; {note}" if note else ""
    # our sums run in another order than PyTorch's convolution kernels: SUMMATION tolerance
    return call_check(exercise, reference, tol=SUMMATION)(name, make, grad=grad)


def conv1d_case(dtype, x, w, *, bias=False, stride=None, padding=None, grad=False, note=""):
    """``bias``: False leaves it out, None passes None, True passes a random ``(C_out,)`` bias."""
    return _conv_case("convolution.conv1d", F.conv1d, dtype, x, w, bias, stride, padding, grad, note)


def conv2d_case(dtype, x, w, *, bias=False, stride=None, padding=None, grad=False, note=""):
    return _conv_case("convolution.conv2d", F.conv2d, dtype, x, w, bias, stride, padding, grad, note)


def edge_case(name, properties):
    return KernelProperties("convolution.edge_kernel", name, (1, 1, 3, 3), properties, _edge_reference)


def blur_case(size=None):
    shown = 3 if size is None else size
    name = "no argument (default size 3)" if size is None else f"size {size}"
    name += f": float32 (1, 1, {shown}, {shown}) kernel, equal entries summing to 1, a constant image unchanged"
    return KernelProperties(
        "convolution.blur_kernel",
        name,
        (1, 1, shown, shown),
        [equal_entries, sums_to_one, keeps_constant()],
        _blur_reference,
        () if size is None else (size,),
    )


f32, f64 = torch.float32, torch.float64

CHECKS = [
    pad2d_case(f32, (2, 3, 4, 5), 1),
    pad2d_case(f64, (1, 2, 3, 4), (2, 1), grad=True),
    pad2d_case(f64, (2, 2, 3, 3), 1, tol=PRECISE, note="exact: a copy keeps every float64 digit"),
    size_case(32, 3),
    size_case(32, 3, padding=1),
    size_case(7, 3, stride=2),
    size_error(4, 5),
    size_case(11, 3, stride=3, note="(11 − 3) / 3 = 2.67 rounds down"),
    conv1d_case(f32, (2, 3, 10), (4, 3, 3)),
    conv1d_case(f64, (2, 3, 9), (2, 3, 3), bias=True, grad=True),
    conv1d_case(f64, (2, 2, 8), (3, 2, 3), bias=True, stride=2, padding=1, grad=True),
    conv2d_case(f32, (2, 3, 7, 6), (4, 3, 3, 3)),
    conv2d_case(f64, (2, 3, 7, 6), (4, 3, 3, 2), bias=True, grad=True),
    conv2d_case(f64, (2, 2, 7, 6), (3, 2, 3, 3), bias=True, stride=2, padding=1, grad=True),
    conv2d_case(f32, (1, 2, 6, 7), (3, 2, 2, 3), bias=True, stride=(2, 1), padding=(0, 2)),
    edge_case("float32 (1, 1, 3, 3) kernel; 0 everywhere on a constant image", [zero_on_constant()]),
    edge_case(
        "0 everywhere on a dark-top/bright-bottom image; on a dark-left/bright-right image, > 0 on "
        "the windows straddling the edge and 0 on the others",
        [zero_on_horizontal_step(0.0, 1.0, 3), positive_on_vertical_edge(0.0, 1.0, 3)],
    ),
    blur_case(3),
]
