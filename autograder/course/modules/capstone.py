"""capstone.py: the learner's own building blocks as a network for handwritten digits, its training
epoch and its accuracy.

Each exercise's record, hints (a nudge first, the nearly-answer last) and named mistakes live
together here; each mistake's variants are PyTorch code that reproduces it, run by the scorer. The
forbidden operations are those of the building blocks the capstone reuses, taken from their records.
"""

from __future__ import annotations

from typing import Any

from autograder.course.modules import convolution, losses, neurons, pooling, regularization
from autograder.course.records import Exercise, LazyModule, Mistake

torch = LazyModule("torch")
F = LazyModule("torch.nn.functional")
nn: Any = LazyModule("torch.nn")  # Any: its classes are base classes here, which mypy reads only from a module


def _record(module, function: str) -> Exercise:
    return next(e for e in module.EXERCISES if e.function == function)


_CONV2D = _record(convolution, "conv2d")
_MAX_POOL2D = _record(pooling, "max_pool2d")
_TANH = _record(neurons, "tanh")
_CROSS_ENTROPY = _record(losses, "cross_entropy")
_SGD_STEP = _record(regularization, "sgd_step")


# --- DigitNet: wrong networks with DigitNet's parameters -------------------------------------------


def _wrong_digitnet(forward, as_parameters=True):
    """A maker of DigitNet-shaped models (the contract's parameters and initialisation) whose forward
    pass is ``forward(model, x)``; the class is made when first called, so torch loads lazily."""

    def make(channels=8, n_classes=10):
        class DigitNet(nn.Module):
            def __init__(self):
                super().__init__()
                wrap = nn.Parameter if as_parameters else (lambda t: t)
                self.conv_weight = wrap(torch.empty(channels, 1, 3, 3).uniform_(-1 / 3, 1 / 3))
                self.conv_bias = wrap(torch.empty(channels).uniform_(-1 / 3, 1 / 3))
                self.fc = nn.Linear(16 * channels, n_classes)

            def forward(self, x):
                return forward(self, x)

        return DigitNet()

    return make


def _conv(model, x):
    return F.conv2d(x, model.conv_weight, model.conv_bias, padding=1)


_pool_before_conv = _wrong_digitnet(lambda m, x: m.fc(torch.tanh(_conv(m, F.max_pool2d(x, 2))).flatten(1)))
_relu_instead_of_tanh = _wrong_digitnet(lambda m, x: m.fc(F.max_pool2d(torch.relu(_conv(m, x)), 2).flatten(1)))
# the convolution's weight and bias kept as plain tensors: not parameters, so never trained
_plain_tensors = _wrong_digitnet(
    lambda m, x: m.fc(F.max_pool2d(torch.tanh(_conv(m, x)), 2).flatten(1)), as_parameters=False
)


# --- train_epoch: wrong loops ----------------------------------------------------------------------


def _step(model, lr, weight_decay):
    with torch.no_grad():
        for p in model.parameters():
            if p.grad is not None:
                p.add_(p.grad.add(p, alpha=weight_decay), alpha=-lr)


def _epoch(
    model, images, labels, lr, l2, batch_size, *, decay=2.0, reduction="mean", clear=True, backwards=False, in_loss=True
):
    """The contract's loop but for the mistake named by the keyword, with the penalty's gradient
    ``decay·l2·p`` from the loss (``in_loss``: it then piles up in ``.grad`` like the data's) or from
    the step's weight decay; returns each batch's (cross-entropy, penalty before the step, size)."""
    starts = list(range(0, len(images), batch_size))
    batches = []
    for start in reversed(starts) if backwards else starts:
        batch = slice(start, start + batch_size)
        x, y = images[batch], labels[batch]
        if clear:
            model.zero_grad()
        loss = F.cross_entropy(model(x), y, reduction=reduction)
        penalty = sum(p.pow(2).sum() for p in model.parameters())
        (loss + decay / 2 * l2 * penalty if in_loss else loss).backward()
        _step(model, lr, 0.0 if in_loss else decay * l2)
        batches.append((loss.item(), float(penalty.detach()), len(x)))
    return batches


def _mean(batches) -> float:
    return sum(loss for loss, _, _ in batches) / len(batches)


def _decay_lambda(model, images, labels, lr, l2=0.0, batch_size=32):
    return _mean(_epoch(model, images, labels, lr, l2, batch_size, decay=1.0))


def _loss_summed(model, images, labels, lr, l2=0.0, batch_size=32):
    return _mean(_epoch(model, images, labels, lr, l2, batch_size, reduction="sum"))


def _grads_never_cleared(model, images, labels, lr, l2=0.0, batch_size=32):
    return _mean(_epoch(model, images, labels, lr, l2, batch_size, clear=False))


def _grads_never_cleared_decay_in_step(model, images, labels, lr, l2=0.0, batch_size=32):
    return _mean(_epoch(model, images, labels, lr, l2, batch_size, clear=False, in_loss=False))


def _batches_backwards(model, images, labels, lr, l2=0.0, batch_size=32):
    return _mean(_epoch(model, images, labels, lr, l2, batch_size, backwards=True))


def _penalty_in_returned_loss(model, images, labels, lr, l2=0.0, batch_size=32):
    batches = _epoch(model, images, labels, lr, l2, batch_size)
    return sum(loss + l2 * penalty for loss, penalty, _ in batches) / len(batches)


def _mean_over_images(model, images, labels, lr, l2=0.0, batch_size=32):
    batches = _epoch(model, images, labels, lr, l2, batch_size)
    return sum(loss * size for loss, _, size in batches) / sum(size for _, _, size in batches)


def _last_batch_loss(model, images, labels, lr, l2=0.0, batch_size=32):
    return _epoch(model, images, labels, lr, l2, batch_size)[-1][0]


# --- accuracy: wrong counts ------------------------------------------------------------------------


def _right(model, images, labels):
    with torch.no_grad():
        return (model(images).argmax(dim=1) == labels).double()


def _count_right(model, images, labels):
    return int(_right(model, images, labels).sum())


def _percentage(model, images, labels):
    return float(_right(model, images, labels).mean()) * 100


def _error_rate(model, images, labels):
    return 1.0 - float(_right(model, images, labels).mean())


EXERCISES = (
    Exercise(
        "capstone",
        "DigitNet",
        4,
        "nn.Sequential(Conv2d(1, C, 3, padding=1), Tanh, MaxPool2d(2), Flatten, Linear(16·C, n)) with the same weights",
        forbidden=_MAX_POOL2D.forbidden + _TANH.forbidden,
        forbidden_pattern=_CONV2D.forbidden_pattern,
        advice="use your own conv2d, tanh and max_pool2d (from your convolution, neurons and pooling modules)",
        hints=(
            "In __init__: self.conv_weight = nn.Parameter(...) of shape (channels, 1, 3, 3) and self.conv_bias "
            "(channels,), both drawn uniformly in [-1/3, 1/3] (.uniform_(-1 / 3, 1 / 3)), and self.fc, an "
            "nn.Linear from channels · 16 features to n_classes.",
            "forward: conv2d(x, self.conv_weight, self.conv_bias, padding=1) keeps 8×8; then tanh; then "
            "max_pool2d(·, 2) halves it to 4×4.",
            "Flatten with features.flatten(1): (N, channels, 4, 4) → (N, channels * 16), then return self.fc(...).",
        ),
        mistakes=(
            Mistake(
                "pooling before the convolution",
                "the order is conv2d → tanh → max_pool2d: pool the feature maps, not the input image",
                (_pool_before_conv,),
            ),
            Mistake(
                "ReLU instead of tanh",
                "the activation between the convolution and the pooling is your own tanh",
                (_relu_instead_of_tanh,),
            ),
            Mistake(
                "the convolution's weight and bias as plain tensors",
                "a tensor assigned to self is not a parameter: wrap it in nn.Parameter, or SGD never trains it",
                (_plain_tensors,),
            ),
        ),
    ),
    Exercise(
        "capstone",
        "train_epoch",
        4,
        "the same loop with F.cross_entropy and torch.optim.SGD(lr, weight_decay=2·l2)",
        relations={
            "l2:ignored": ("training without the L2 penalty", "back-propagate cross_entropy + l2 · l2_penalty(model)"),
            "l2:doubled": (
                "the L2 penalty counted twice",
                "penalise once: either l2 · l2_penalty(model) in the loss, or weight_decay = 2 · l2 in the step",
            ),
            "lr:doubled": ("steps twice as long as PyTorch's", "each step is p ← p − lr · grad, once per batch"),
            "lr:halved": ("steps half as long as PyTorch's", "each step is p ← p − lr · grad, with lr as given"),
        },
        forbidden=_CROSS_ENTROPY.forbidden,
        forbidden_names=_SGD_STEP.forbidden_names,
        advice="use your own cross_entropy and sgd_step (from your losses and regularization modules)",
        hints=(
            "Loop over the batches in order: for start in range(0, len(images), batch_size), taking "
            "images[start:start + batch_size] (the last batch may be smaller).",
            "Per batch: model.zero_grad(); loss = cross_entropy(model(x), y); back-propagate loss + l2 · "
            "l2_penalty(model); then one sgd_step over model.parameters() with the learning rate.",
            "Keep each batch's loss.item() (the cross-entropy, without the penalty) and return their mean, "
            "sum(losses) / len(losses).",
        ),
        mistakes=(
            Mistake(
                "weight decay λ instead of 2λ",
                "adding l2·Σp² to the loss is SGD's weight_decay = 2·l2 (your weight_decay_for), not l2",
                (_decay_lambda,),
            ),
            Mistake(
                "the loss summed over the batch, not averaged",
                "cross_entropy's default reduction is the mean over the batch: a sum scales every step by the "
                "batch size",
                (_loss_summed,),
            ),
            Mistake(
                "gradients never cleared between batches",
                "backward() adds to .grad: call model.zero_grad() before each batch's backward",
                (_grads_never_cleared, _grads_never_cleared_decay_in_step),
            ),
            Mistake(
                "the batches taken in another order",
                "take images[0:B], images[B:2B], … in this order; shuffling is the caller's job, between epochs",
                (_batches_backwards,),
            ),
            Mistake(
                "the penalty counted in the returned loss",
                "return the mean of the batches' cross-entropy alone; the penalty only shapes the gradient",
                (_penalty_in_returned_loss,),
            ),
            Mistake(
                "a mean over the images, not over the batches",
                "return the plain mean of the batch losses: each batch counts once, the smaller last one too",
                (_mean_over_images,),
            ),
            Mistake(
                "the last batch's loss returned",
                "collect every batch's loss and return their mean",
                (_last_batch_loss,),
            ),
        ),
    ),
    Exercise(
        "capstone",
        "accuracy",
        2,
        "(model(images).argmax(1) == labels).mean() under torch.no_grad()",
        hints=(
            "Under torch.no_grad(), each image's predicted class is the argmax of its logits over dim 1.",
            "(predicted == labels) holds booleans; .double().mean().item() is the fraction right.",
        ),
        mistakes=(
            Mistake(
                "the number of right answers", "divide by the number of images: a fraction in [0, 1]", (_count_right,)
            ),
            Mistake("a percentage", "return the fraction in [0, 1], not 100 times it", (_percentage,)),
            Mistake("the error rate", "count the images whose predicted class equals the label", (_error_rate,)),
        ),
    ),
)
