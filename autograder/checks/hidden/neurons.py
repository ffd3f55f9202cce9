"""Hidden checks of neurons.py: tanh near 0 and at saturation, more neuron and TinyNet shapes, frozen,
tied and nested parameters, and sensitive_mask with other activations, thresholds and under no_grad."""

import torch

from autograder.checks.models import all_frozen, frozen_first_layer, nested, tied_weights
from autograder.checks.public.neurons import (
    count_case,
    f32,
    f64,
    huge,
    mask_case,
    neuron_case,
    spread,
    tanh_case,
    tinynet_case,
)
from autograder.course.compare import STABILITY
from autograder.protocol.plans import source


def near_zero(g):
    return torch.tensor([0.0, 1e-8, -1e-8, 1e-4, -1e-4, 0.0, 1e-300, -0.5], dtype=torch.float64)


def saturating(g):
    """Where float32 tanh rounds to ±1 and the slope is tiny: 8 to 40 in magnitude."""
    return torch.linspace(8.0, 40.0, 9, dtype=torch.float64) * torch.tensor([1.0, -1.0]).repeat(5)[:9]


CHECKS = [
    tanh_case("exactly 0 and tiny |x| (slope 1 at 0)", f64, near_zero, grad=True),
    tanh_case("8 ≤ |x| ≤ 40 (saturation)", f64, saturating, grad=True),
    tanh_case("8 ≤ |x| ≤ 40 (saturation)", f32, saturating),
    tanh_case("0-dim input", f32, lambda g: torch.tensor(0.75)),
    tanh_case("|x| up to 1e4, (11,) reshaped to (1, 11)", f32, lambda g: huge(g).reshape(1, 11), tol=STABILITY),
    tanh_case("(5, 6) values (standard deviation 3)", f64, spread((5, 6), 3.0), grad=True),
    neuron_case(f32, None, 5, 3),
    neuron_case(f64, 1, 1, 1, grad=True),
    neuron_case(f64, 6, 2, 5, grad=True),
    neuron_case(f64, 4, 3, 2, grad=True, scale=4.0, note=", large pre-activations (saturated neurons)"),
    tinynet_case(f64, 2, 3, 4, 1, grad=True),
    tinynet_case(f32, 5, 10, 3, 7),
    tinynet_case(f64, 1, 1, 1, 4, grad=True),
    tinynet_case(f64, 6, 2, 3, 8, grad=True),
    count_case("first layer frozen (requires_grad=False): not counted", frozen_first_layer),
    count_case("a weight shared by two layers counts once", tied_weights),
    count_case("nested submodules, a bare nn.Parameter, BatchNorm (buffers are not parameters)", nested),
    count_case("every parameter frozen gives 0", all_frozen),
    mask_case("torch.relu", torch.relu, f32, (4, 5), 0.5),
    mask_case("lambda t: 3 * torch.tanh(t / 3)", source("lambda t: 3 * torch.tanh(t / 3)"), f64, (16,), 0.5),
    mask_case(
        "lambda t: torch.exp(-t * t) (negative slopes: compare |slope|)",
        source("lambda t: torch.exp(-t * t)"),
        f64,
        (2, 8),
        0.3,
    ),
    mask_case("torch.tanh", torch.tanh, f32, (2, 3, 4), 0.01),
    mask_case("torch.sigmoid", torch.sigmoid, f32, (10,), no_grad=True),
    mask_case("lambda t: 2 * t", source("lambda t: 2 * t"), f64, (2, 5), 2.0, at_threshold=True),
]
