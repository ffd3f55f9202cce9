"""Hidden checks of regularization.py: frozen, tied and nested parameters in the penalties, every mix of l1 and
l2, SGD steps with missing gradients and weight decay, and more values of λ."""

from autograder.checks.models import frozen_first_layer, linear, mlp, nested, tied_weights
from autograder.checks.public.regularization import (
    LINEAR,
    MLP,
    decay_case,
    f32,
    f64,
    l1_case,
    l2_case,
    loss_case,
    sgd_case,
)

FROZEN = "first layer frozen (requires_grad=False) but still penalised"
TIED = "a weight shared by two layers, counted once"
NESTED = "nested submodules, a layer without bias, a bare nn.Parameter"
FROZEN_STEP = "first layer frozen (requires_grad=False, no .grad)"
TIED_STEP = "a weight shared by two layers (one parameter, one update)"

CHECKS = [
    l1_case(FROZEN, frozen_first_layer, f64, grad=True),
    l1_case(TIED, tied_weights, f64, grad=True),
    l1_case(NESTED, nested, f32),
    l1_case(NESTED, nested, f64, grad=True),
    l2_case(FROZEN, frozen_first_layer, f64, grad=True),
    l2_case(TIED, tied_weights, f64, grad=True),
    l2_case(NESTED, nested, f32),
    l2_case(NESTED, nested, f64, grad=True),
    loss_case(TIED, tied_weights, f64, l2=0.25),
    loss_case(MLP, mlp, f64),
    loss_case(FROZEN, frozen_first_layer, f64, l1=0.05, l2=0.2),
    loss_case(NESTED, nested, f32, grad=False, l1=0.5, l2=0.25),
    sgd_case(MLP, mlp, f64, lr=0.1, weight_decay=0.5, no_grad=("2.weight",)),
    sgd_case(FROZEN_STEP, frozen_first_layer, f32, lr=0.2, no_grad=("0.weight", "0.bias"), as_generator=True),
    sgd_case(NESTED, nested, f64, lr=1.0, weight_decay=0.01, no_grad=("scale",), as_generator=True),
    sgd_case(LINEAR, linear, f32, lr=0.3, weight_decay=0.2),
    sgd_case(TIED_STEP, tied_weights, f64, lr=0.1, weight_decay=0.3),
    decay_case(0.0),
    decay_case(0.25),
    decay_case(1e-4),
    decay_case(3.0),
]
