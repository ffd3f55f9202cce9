"""neurons.py: a tanh written by hand, a layer of neurons, TinyNet, parameter counts and sensitive inputs.

Each exercise's record, hints (a nudge first, the nearly-answer last) and named mistakes live
together here; each mistake's variants are PyTorch/NumPy code that reproduces it, run by the scorer.
"""

from __future__ import annotations

from typing import Any

from autograder.course.records import Exercise, LazyModule, Mistake

torch = LazyModule("torch")
F = LazyModule("torch.nn.functional")
nn: Any = LazyModule("torch.nn")  # Any: its classes are base classes here, which mypy reads only from a module


def _tanh_overflow(x):
    return (torch.exp(x) - torch.exp(-x)) / (torch.exp(x) + torch.exp(-x))


def _tanh_abs_slope_zero(x):
    e = torch.exp(-2 * x.abs())
    return torch.where(x >= 0, 1.0, -1.0).to(x.dtype) * (1 - e) / (1 + e)


def _tanh_via_sign(x):
    e = torch.exp(-2 * x.abs())
    return torch.sign(x) * (1 - e) / (1 + e)


def _neuron_without_bias(x, w, b):
    return torch.tanh(F.linear(x, w))


def _relu_tinynet(n_in, n_hidden, n_out):
    """TinyNet with ReLU as its hidden activation (the class is made when first called: torch loads lazily)."""

    class TinyNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.hidden, self.output = nn.Linear(n_in, n_hidden), nn.Linear(n_hidden, n_out)

        def forward(self, x):
            return self.output(torch.relu(self.hidden(x)))

    return TinyNet()


def _count_frozen_too(model):
    return sum(p.numel() for p in model.parameters())


def _mask_no_abs(activation, x, min_slope=0.1):
    x = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        (slope,) = torch.autograd.grad(activation(x).sum(), x)
    return slope >= min_slope


def _mask_relies_on_grad_mode(activation, x, min_slope=0.1):
    leaf = x.detach().requires_grad_(True)
    (slope,) = torch.autograd.grad(activation(leaf).sum(), leaf)  # raises inside no_grad
    return torch.abs(slope).ge(min_slope)


EXERCISES = (
    Exercise(
        "neurons",
        "tanh",
        2,
        "torch.tanh",
        forbidden=("tanh",),
        advice="build tanh from torch.exp",
        hints=(
            "tanh(x) = (1 − e^(−2x)) / (1 + e^(−2x)) for x ≥ 0, and tanh(−x) = −tanh(x).",
            "Only exponentiate non-positive numbers: with m = torch.where(x >= 0, -x, x) (that is −|x|, with slope "
            "−1 at 0, where the absolute value has slope 0), e = torch.exp(2 * m) never overflows.",
            "Pick the sign with torch.where(x >= 0, t, -t), not by multiplying with the sign function: its gradient "
            "is 0 everywhere, and tanh's slope at 0 must come out as 1.",
        ),
        mistakes=(
            Mistake(
                "a tanh that overflows",
                "(e^x − e^−x)/(e^x + e^−x) gives inf/inf = nan for large |x|: only ever exponentiate −2|x|",
                (_tanh_overflow,),
            ),
            Mistake(
                "a slope of 0 at x = 0",
                "autograd gives |x| (and sign(x)) slope 0 at 0, but tanh′(0) = 1: build −|x| with "
                "torch.where(x >= 0, -x, x) and the sign with torch.where",
                (_tanh_abs_slope_zero, _tanh_via_sign),
            ),
        ),
    ),
    Exercise(
        "neurons",
        "neuron",
        2,
        "torch.tanh(F.linear(x, w, b))",
        hints=(
            "A layer of neurons is o = tanh(x·wᵀ + b): w has shape (out, in).",
            "x @ w.T + b works for x of shape (N, in) and (in,) alike.",
        ),
        mistakes=(Mistake("the bias ignored", "o = tanh(x·wᵀ + b): add b before the tanh", (_neuron_without_bias,)),),
    ),
    Exercise(
        "neurons",
        "TinyNet",
        2,
        "nn.Sequential(Linear, Tanh, Linear)",
        hints=(
            "Create the two layers in __init__ as attributes: self.hidden and self.output, both nn.Linear.",
            "forward(x) = self.output(torch.tanh(self.hidden(x))).",
        ),
        mistakes=(Mistake("ReLU instead of tanh", "the hidden activation of TinyNet is tanh", (_relu_tinynet,)),),
    ),
    Exercise(
        "neurons",
        "count_parameters",
        1,
        "sum(p.numel() for p in model.parameters() if p.requires_grad)",
        hints=(
            "model.parameters() already lists a shared parameter once.",
            "Sum p.numel() over parameters with p.requires_grad.",
        ),
        mistakes=(
            Mistake("frozen parameters counted", "count only parameters with requires_grad=True", (_count_frozen_too,)),
        ),
    ),
    Exercise(
        "neurons",
        "sensitive_mask",
        2,
        "autograd of the same activation",
        hints=(
            "Let autograd find the slope: x = x.detach().clone().requires_grad_(True), then differentiate "
            "activation(x).sum().",
            "Wrap it in torch.enable_grad(): the caller may be inside torch.no_grad().",
            "Return slope.abs() >= min_slope.",
        ),
        mistakes=(
            Mistake(
                "the slope's sign not ignored",
                "compare the absolute value of the derivative, |f′(x)| ≥ min_slope",
                (_mask_no_abs,),
            ),
            Mistake(
                "autograd left to the caller's grad mode",
                "inside torch.no_grad() nothing builds a graph: wrap your autograd call in torch.enable_grad()",
                (_mask_relies_on_grad_mode,),
            ),
        ),
    ),
)
