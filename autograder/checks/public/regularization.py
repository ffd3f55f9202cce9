"""Public checks of regularization.py: penalties over all parameters with their gradients, the regularised loss,
one SGD step against torch.optim.SGD, and weight decay = 2·λ. The case builders are shared with hidden/.
"""

import torch

from autograder.checks.core import dtype_name
from autograder.checks.models import DecayEquivalence, ModelCall, SGDStep, linear, mlp
from autograder.course.compare import SUMMATION

f32, f64 = torch.float32, torch.float64


def l1_reference(model):
    return sum(p.abs().sum() for p in model.parameters())


def l2_reference(model):
    return sum(p.pow(2).sum() for p in model.parameters())


def regularized_reference(loss, model, l1=0.0, l2=0.0):
    return loss + l1 * l1_reference(model) + l2 * l2_reference(model)


def _penalty_case(exercise, reference, label, build, dtype, grad):
    name = f"{label}, {dtype_name(dtype)}" + (", gradients w.r.t. every trainable parameter" if grad else "")
    # a sum over parameters, added in any order: SUMMATION tolerance
    return ModelCall(exercise, name, build, reference, dtype=dtype, grad=grad, tol=SUMMATION, out_name="penalty")


def l1_case(label, build, dtype, *, grad=False):
    return _penalty_case("regularization.l1_penalty", l1_reference, label, build, dtype, grad)


def l2_case(label, build, dtype, *, grad=False):
    return _penalty_case("regularization.l2_penalty", l2_reference, label, build, dtype, grad)


def loss_case(label, build, dtype, *, grad=True, **weights):
    """``weights``: l1 and/or l2 passed by keyword (neither: the defaults 0)."""
    shown = ", ".join(f"{k}={v}" for k, v in weights.items()) or "no l1 and l2 (defaults 0)"
    name = f"{shown}, {label}, {dtype_name(dtype)}" + (", gradients" if grad else "")
    return ModelCall(
        "regularization.regularized_loss",
        name,
        build,
        regularized_reference,
        loss_first=True,
        kwargs=weights,
        dtype=dtype,
        grad=grad,
        tol=SUMMATION,
        out_name="regularized loss",
    )


def sgd_case(label, build, dtype, *, lr, weight_decay=None, no_grad=(), as_generator=False):
    passed = "model.parameters() (a generator)" if as_generator else "a list of parameters"
    decay = "default weight_decay" if weight_decay is None else f"weight_decay {weight_decay}"
    name = f"{label}, {passed}, lr {lr}, {decay}, {dtype_name(dtype)}"
    if no_grad:
        name += f"; {', '.join(no_grad)} without .grad must stay untouched"
    return SGDStep(
        "regularization.sgd_step",
        name,
        build,
        lr=lr,
        weight_decay=weight_decay,
        no_grad=no_grad,
        as_generator=as_generator,
        dtype=dtype,
    )


def decay_case(l2):
    name = f"λ = {l2}: weight decay equivalent to adding λ·Σp² to the loss"
    return DecayEquivalence("regularization.weight_decay_for", name, l2)


LINEAR = "nn.Linear(3, 2) (weight and bias)"
MLP = "Linear(4, 5), Tanh, Linear(5, 2) (biases included)"

CHECKS = [
    l1_case(LINEAR, linear, f32),
    l1_case(MLP, mlp, f64, grad=True),
    l2_case(LINEAR, linear, f32),
    l2_case(MLP, mlp, f64, grad=True),
    loss_case(MLP, mlp, f64, l1=0.1),
    loss_case(MLP, mlp, f32, grad=False, l1=0.01, l2=0.1),
    sgd_case(MLP, mlp, f32, lr=0.1),
    sgd_case(MLP, mlp, f64, lr=0.05, weight_decay=0.1, as_generator=True),
    decay_case(0.005),
    decay_case(0.1),
]
