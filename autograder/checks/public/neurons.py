"""Public checks of neurons.py: tanh, neuron, TinyNet, count_parameters and sensitive_mask against PyTorch.
The references and case builders are shared with hidden/.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

from autograder.checks.core import Inputs, NoGradCall, call_check, dtype_name
from autograder.checks.models import LinearLayersForward, ModelCall, frozen_first_layer, linear, mlp
from autograder.course.compare import EXACT, PRECISE, STABILITY, SUMMATION
from autograder.protocol.plans import source

f32, f64 = torch.float32, torch.float64


def randn(g, shape, dtype, scale=1.0):
    return (torch.randn(shape, generator=g, dtype=f64) * scale).to(dtype)


def _grad_note(grad):
    return ", gradients" if grad else ""


# --- tanh ----------------------------------------------------------------------------------------


def tanh_case(name, dtype, make_x, *, grad=False, tol=EXACT):
    def make(g):
        return Inputs((make_x(g).to(dtype),), names=("x",))

    return call_check("neurons.tanh", torch.tanh, tol=tol)(
        f"{dtype_name(dtype)}, {name}{_grad_note(grad)}", make, grad=grad
    )


def spread(shape, scale):
    return lambda g: randn(g, shape, f64, scale)


def huge(g):
    """±1e4, ±1000, ±100, ±20, exactly 0 and a few ordinary values: exp overflows unless the formula is stable."""
    return torch.tensor([1e4, -1e4, 1e3, -1e3, 100.0, -100.0, 20.0, -20.0, 0.0, 0.5, -0.25], dtype=f64)


# --- neuron --------------------------------------------------------------------------------------


def neuron_reference(x, w, b):
    return torch.tanh(F.linear(x, w, b))


def _count(n, noun):
    return f"{n} {noun}" + ("" if n == 1 else "s")


def neuron_case(dtype, batch, n_in, n_out, *, grad=False, scale=1.0, note=""):
    """``batch`` None: a single sample ``x`` of shape ``(in,)``."""
    x_shape = (n_in,) if batch is None else (batch, n_in)

    def make(g):
        return Inputs(
            (randn(g, x_shape, dtype, scale), randn(g, (n_out, n_in), dtype, scale), randn(g, (n_out,), dtype, scale)),
            names=("x", "w", "b"),
        )

    sample = f"single sample x {x_shape}" if batch is None else f"batch of {batch}"
    name = f"{dtype_name(dtype)}, {sample}, {_count(n_in, 'input')} → {_count(n_out, 'neuron')}"
    name += note + _grad_note(grad)
    # the matmul may sum in another order than F.linear
    return call_check("neurons.neuron", neuron_reference, tol=SUMMATION)(name, make, grad=grad)


# --- TinyNet -------------------------------------------------------------------------------------


class ReferenceTinyNet(nn.Module):
    def __init__(self, n_in, n_hidden, n_out):
        super().__init__()
        self.hidden = nn.Linear(n_in, n_hidden)
        self.output = nn.Linear(n_hidden, n_out)

    def forward(self, x):
        return nn.Sequential(self.hidden, nn.Tanh(), self.output)(x)


def tinynet_case(dtype, n_in, n_hidden, n_out, batch, *, grad=False):
    name = (
        f"TinyNet({n_in}, {n_hidden}, {n_out}): hidden = nn.Linear({n_in}, {n_hidden}), output = "
        f"nn.Linear({n_hidden}, {n_out}), no other parameters; {dtype_name(dtype)} batch of {batch}"
    )
    name += ", gradients w.r.t. the input and every parameter" if grad else ""
    return LinearLayersForward(
        "neurons.TinyNet",
        name,
        (n_in, n_hidden, n_out),
        {"hidden": (n_in, n_hidden), "output": (n_hidden, n_out)},
        ReferenceTinyNet,
        batch=batch,
        dtype=dtype,
        grad=grad,
    )


# --- count_parameters ----------------------------------------------------------------------------


def count_reference(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def count_case(name, build):
    return ModelCall("neurons.count_parameters", name, build, count_reference, out_name="parameter count")


# --- sensitive_mask ------------------------------------------------------------------------------


def slopes(activation, x):
    """Elementwise derivative of an elementwise activation, by autograd (also under no_grad)."""
    leaf = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        (slope,) = torch.autograd.grad(activation(leaf).sum(), leaf)
    return slope


def autograd_mask(activation, x, min_slope=0.1):
    return slopes(activation, x).abs() >= min_slope


def away_from_threshold(g, activation, shape, dtype, min_slope, scale=3.0):
    """Seeded inputs whose |slope| is at least 0.01 away from ``min_slope`` (no ties at the threshold)."""
    n = math.prod(shape)
    candidates = randn(g, (4 * n + 16,), f64, scale)
    slope = slopes(activation, candidates).abs()
    return candidates[(slope - min_slope).abs() > 0.01][:n].reshape(shape).to(dtype)


def mask_case(label, activation, dtype, shape, min_slope=None, *, no_grad=False, at_threshold=False):
    """``at_threshold``: inputs drawn as they come, for an activation whose slopes are exactly
    ``min_slope`` (a ReLU's 1): ``|slope| >= min_slope`` must count them as sensitive."""
    options = {} if min_slope is None else {"min_slope": min_slope}

    def make(g):
        if at_threshold:
            x = randn(g, shape, dtype, 3.0)
        else:
            x = away_from_threshold(g, activation, shape, dtype, 0.1 if min_slope is None else min_slope)
        return Inputs((activation, x), options, names=("activation", "x"))

    name = f"{label}, {dtype_name(dtype)} x {shape}, " + (
        f"min_slope {min_slope}" if min_slope is not None else "default min_slope 0.1"
    )
    if at_threshold:
        name += " (slopes exactly at min_slope count: |slope| >= min_slope)"
    if no_grad:
        name += ", called inside torch.no_grad()"
        return NoGradCall("neurons.sensitive_mask", name, make, autograd_mask, out_name="mask")
    return call_check("neurons.sensitive_mask", autograd_mask, out_name="mask")(name, make)


CHECKS = [
    tanh_case("20 ordinary values (standard deviation 1.5)", f32, spread((20,), 1.5)),
    tanh_case("(2, 3, 4) values", f64, spread((2, 3, 4), 2.0), grad=True),
    tanh_case("|x| up to 1e4 stays finite and exact", f32, huge, tol=STABILITY),
    tanh_case("|x| up to 1e4 and x = 0 (slope 1)", f64, huge, grad=True),
    tanh_case("(30,) values, to float64's precision", f64, spread((30,), 1.5), tol=PRECISE),
    neuron_case(f32, 4, 3, 2),
    neuron_case(f64, 5, 4, 3, grad=True),
    neuron_case(f64, None, 4, 2, grad=True),
    tinynet_case(f32, 3, 8, 1, 5),
    tinynet_case(f64, 4, 6, 2, 3, grad=True),
    count_case("nn.Linear(3, 2): 6 weights + 2 biases", linear),
    count_case("nn.Sequential(Linear(4, 5), Tanh, Linear(5, 2))", mlp),
    count_case("first layer frozen (requires_grad=False): not counted", frozen_first_layer),
    mask_case("torch.tanh", torch.tanh, f32, (12,)),
    mask_case("torch.sigmoid", torch.sigmoid, f64, (3, 4), 0.2),
    mask_case("torch.relu", torch.relu, f32, (10,), 1.0, at_threshold=True),
    mask_case(
        "lambda t: -torch.tanh(t) (negative slopes: compare |slope|)",
        source("lambda t: -torch.tanh(t)"),
        f32,
        (12,),
        0.2,
    ),
    mask_case("torch.tanh", torch.tanh, f64, (6,), no_grad=True),
]
