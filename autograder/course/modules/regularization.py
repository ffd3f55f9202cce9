"""regularization.py: L1/L2 penalties, the regularised loss, SGD with weight decay.

Each exercise's record, hints (a nudge first, the nearly-answer last) and named mistakes live
together here; each mistake's variants are PyTorch/NumPy code that reproduces it, run by the scorer.
"""

from __future__ import annotations

from autograder.course.records import Exercise, LazyModule, Mistake

torch = LazyModule("torch")


def _weights_only(model):
    return [p for n, p in model.named_parameters() if not n.endswith("bias")]


def _l1_without_biases(model):
    return sum(p.abs().sum() for p in _weights_only(model))


def _l2_without_biases(model):
    return sum(p.pow(2).sum() for p in _weights_only(model))


def _l2_norm(model):
    return torch.sqrt(sum(p.pow(2).sum() for p in model.parameters()))


def _sgd_no_decay(params, lr, weight_decay=0.0):
    with torch.no_grad():
        for p in params:
            if p.grad is not None:
                p -= lr * p.grad


def _decay_is_lambda(l2):
    return float(l2)


EXERCISES = (
    Exercise(
        "regularization",
        "l1_penalty",
        1,
        "sum(p.abs().sum() for p in model.parameters())",
        hints=(
            "Σ|p| over every parameter of model.parameters(), biases and frozen ones included.",
            "sum(p.abs().sum() for p in model.parameters()) keeps autograd working.",
        ),
        mistakes=(
            Mistake("biases skipped", "the penalty covers every parameter, biases included", (_l1_without_biases,)),
        ),
    ),
    Exercise(
        "regularization",
        "l2_penalty",
        1,
        "sum(p.pow(2).sum() for p in model.parameters())",
        hints=("Σp² over every parameter: no square root.",),
        mistakes=(
            Mistake("biases skipped", "the penalty covers every parameter, biases included", (_l2_without_biases,)),
            Mistake("the norm instead of the sum of squares", "L2 here is Σp², with no square root", (_l2_norm,)),
        ),
    ),
    Exercise(
        "regularization",
        "regularized_loss",
        1,
        "loss + l1 * L1 + l2 * L2",
        uses=("regularization.l1_penalty", "regularization.l2_penalty"),
        hints=("loss + l1 · l1_penalty(model) + l2 · l2_penalty(model).",),
        relations={
            "l1:ignored": ("the L1 penalty left out", "add l1 · l1_penalty(model) to the loss"),
            "l2:ignored": ("the L2 penalty left out", "add l2 · l2_penalty(model) to the loss"),
            "l1:doubled": ("the L1 penalty counted twice", "add l1 · l1_penalty(model) once"),
            "l2:doubled": ("the L2 penalty counted twice", "add l2 · l2_penalty(model) once"),
        },
    ),
    Exercise(
        "regularization",
        "sgd_step",
        2,
        "torch.optim.SGD(params, lr, weight_decay=...).step()",
        forbidden_names=("optim", "SGD"),
        advice="torch.optim does the exercise for you; update each parameter in place under torch.no_grad()",
        hints=(
            "Work under torch.no_grad() and change each parameter in place (p -= ... or p.add_(...)).",
            "Skip parameters whose .grad is None.",
            "p ← p − lr·(p.grad + weight_decay·p).",
        ),
        mistakes=(Mistake("weight decay ignored", "p ← p − lr·(p.grad + weight_decay·p)", (_sgd_no_decay,)),),
    ),
    Exercise(
        "regularization",
        "weight_decay_for",
        1,
        "2 * l2",
        hints=(
            "Differentiate l2 · p²: the gradient is 2·l2·p.",
            "So SGD's weight_decay is 2 · l2.",
        ),
        mistakes=(
            Mistake(
                "weight decay λ instead of 2λ", "d/dp (λ·p²) = 2λ·p, so SGD's weight_decay is 2·λ", (_decay_is_lambda,)
            ),
        ),
    ),
)
