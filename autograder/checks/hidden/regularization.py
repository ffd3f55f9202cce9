"""Hidden checks of regularization.py: frozen, tied and nested parameters in the penalties, every mix of l1 and
l2, SGD steps with missing gradients and weight decay, and more values of λ."""
from autograder.checks.models import frozen_first_layer, linear, mlp, nested, tied_weights
from autograder.checks.public.regularization import (LINEAR, MLP, decay_case, f32, f64, l1_case, l2_case, loss_case,
                                                     sgd_case)

FROZEN = "first layer frozen (requires_grad=False) but still penalised"
TIED = "a weight shared by two layers, counted once"
NESTED = "nested submodules, a layer without bias, a bare nn.Parameter"
FROZEN_STEP = "first layer frozen (requires_grad=False, no .grad)"
TIED_STEP = "a weight shared by two layers (one parameter, one update)"

CHECKS = [
    l1_case(1701, FROZEN, frozen_first_layer, f64, grad=True),
    l1_case(1702, TIED, tied_weights, f64, grad=True),
    l1_case(1703, NESTED, nested, f32),
    l1_case(1704, NESTED, nested, f64, grad=True),

    l2_case(1711, FROZEN, frozen_first_layer, f64, grad=True),
    l2_case(1712, TIED, tied_weights, f64, grad=True),
    l2_case(1713, NESTED, nested, f32),
    l2_case(1714, NESTED, nested, f64, grad=True),

    loss_case(1721, TIED, tied_weights, f64, l2=0.25),
    loss_case(1722, MLP, mlp, f64),
    loss_case(1723, FROZEN, frozen_first_layer, f64, l1=0.05, l2=0.2),
    loss_case(1724, NESTED, nested, f32, grad=False, l1=0.5, l2=0.25),

    sgd_case(1731, MLP, mlp, f64, lr=0.1, weight_decay=0.5, no_grad=("2.weight",)),
    sgd_case(1732, FROZEN_STEP, frozen_first_layer, f32, lr=0.2, no_grad=("0.weight", "0.bias"), as_generator=True),
    sgd_case(1733, NESTED, nested, f64, lr=1.0, weight_decay=0.01, no_grad=("scale",), as_generator=True),
    sgd_case(1734, LINEAR, linear, f32, lr=0.3, weight_decay=0.2),
    sgd_case(1735, TIED_STEP, tied_weights, f64, lr=0.1, weight_decay=0.3),

    decay_case(1741, 0.0),
    decay_case(1742, 0.25),
    decay_case(1743, 1e-4),
    decay_case(1744, 3.0),
]
