"""Public checks of capstone.py: DigitNet against PyTorch's own layers with the same weights, train_epoch
against the same loop with F.cross_entropy and PyTorch's SGD step, a full training run on the digits
judged by its test accuracy, and accuracy. The references and case builders are shared with hidden/.
"""

from collections import OrderedDict
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from autograder.checks.core import dtype_name
from autograder.checks.models import optim_sgd
from autograder.checks.training import (
    TRAINING,
    TRAINING64,
    ModelOnData,
    ModuleForward,
    ModuleInit,
    TrainingRun,
    TrainingSteps,
    batches_of,
    digit_batch,
)

f32, f64 = torch.float32, torch.float64
CONV_BOUND = 1 / 3  # nn.Conv2d's default init: uniform within 1/sqrt(fan_in), fan_in = 1 * 3 * 3


# --- DigitNet ------------------------------------------------------------------------------------


class ReferenceDigitNet(nn.Module):
    """PyTorch's own layers, owning their parameters under DigitNet's names: ``conv_weight`` and
    ``conv_bias`` are the ``nn.Conv2d``'s own weight and bias, registered first under those names."""

    def __init__(self, channels=8, n_classes=10):
        super().__init__()
        conv = nn.Conv2d(1, channels, 3, padding=1)
        self.conv_weight, self.conv_bias = conv.weight, conv.bias
        self.fc = nn.Linear(channels * 16, n_classes)
        self.layers = nn.Sequential(conv, nn.Tanh(), nn.MaxPool2d(2), nn.Flatten(), self.fc)

    def forward(self, x):
        return self.layers(x)


def digitnet_shapes(channels=8, n_classes=10) -> dict[str, tuple[int, ...]]:
    return {
        "conv_weight": (channels, 1, 3, 3),
        "conv_bias": (channels,),
        "fc.weight": (n_classes, channels * 16),
        "fc.bias": (n_classes,),
    }


def _built(init_args: tuple) -> str:
    return f"DigitNet({', '.join(map(str, init_args))})"


def digits_count(n: int) -> str:
    return f"{n} digit" + ("" if n == 1 else "s")


def digitnet_case(init_args, dtype, batch, *, grad=False, images=False):
    """``images``: real digits (their blank background ties in the max-pool windows, so no gradients)."""
    assert not (grad and images), "gradients are checked on inputs without ties"
    shapes = digitnet_shapes(*init_args)
    data = digits_count(batch) if images else f"a batch of {batch} random images"
    name = f"{_built(init_args)}, {dtype_name(dtype)} {data}"
    name += ", gradients w.r.t. the input and every parameter" if grad else ""
    return ModuleForward(
        "capstone.DigitNet",
        name,
        init_args,
        shapes,
        ReferenceDigitNet,
        batch=batch,
        dtype=dtype,
        grad=grad,
        images=images,
    )


def init_case(init_args):
    shapes = digitnet_shapes(*init_args)
    owned = ", ".join(f"{n} {tuple(s)}" for n, s in shapes.items())
    name = (
        f"{_built(init_args)} owns exactly {owned}; conv_weight and conv_bias start uniform in "
        f"[-1/3, 1/3], as nn.Conv2d's do"
    )
    bounds = {"conv_weight": CONV_BOUND, "conv_bias": CONV_BOUND}
    return ModuleInit("capstone.DigitNet", name, init_args, shapes, bounds, ReferenceDigitNet)


# --- train_epoch ---------------------------------------------------------------------------------


def reference_train_epoch(model, images, labels, lr, l2=0.0, batch_size=32):
    """The loop with F.cross_entropy and PyTorch's own SGD step (weight decay 2·l2: the L2 penalty's gradient)."""
    losses = []
    for first in range(0, len(images), batch_size):
        model.zero_grad()
        loss = F.cross_entropy(model(images[first : first + batch_size]), labels[first : first + batch_size])
        loss.backward()
        optim_sgd(model.parameters(), lr, weight_decay=2 * l2)
        losses.append(loss.item())
    return sum(losses) / len(losses)


# The full run trains the learner's DigitNet, which it finds beside their train_epoch; PyTorch's side
# of the same plan finds this one beside reference_train_epoch.
DigitNet = ReferenceDigitNet


def reference_layers(channels=4, n_classes=10) -> nn.Module:
    """DigitNet's network in PyTorch's own layers, with readable parameter names (conv.*, fc.*)."""
    return nn.Sequential(
        OrderedDict(
            conv=nn.Conv2d(1, channels, 3, padding=1),
            tanh=nn.Tanh(),
            pool=nn.MaxPool2d(2),
            flatten=nn.Flatten(),
            fc=nn.Linear(channels * 16, n_classes),
        )
    )


def _options(options: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in options.items())


def steps_case(label_and_calls: tuple[str, list], dtype: torch.dtype) -> TrainingSteps:
    """``label_and_calls``: a label and ``(number of digits, lr, options)`` per call, each on the next digits."""
    label, calls = label_and_calls
    planned, first = [], 0
    for n, lr, options in calls:
        planned.append((first, first + n, lr, options))
        first += n
    name = f"{label}, {dtype_name(dtype)}"
    tol = TRAINING64 if dtype == f64 else TRAINING
    return TrainingSteps(
        "capstone.train_epoch", name, reference_layers, reference_train_epoch, planned, dtype=dtype, tol=tol
    )


def one_batch_per_call(n: int, lr: float, options: dict, count: int = 3) -> tuple[str, list]:
    shown = _options({"lr": lr, **options})
    label = f"{count} calls of one batch each ({n} digits, {shown}): the parameters after every call"
    return label, [(n, lr, options)] * count


def one_epoch(n: int, lr: float, options: dict) -> tuple[str, list]:
    size = options.get("batch_size", 32)
    defaults = [f"{k}={v}" for k, v in (("l2", 0.0), ("batch_size", 32)) if k not in options]
    shown = _options({"lr": lr, **options}) + (f" (defaults {' and '.join(defaults)})" if defaults else "")
    label = (
        f"one epoch of {n} digits in batches of {batches_of(n, size)}, {shown}: the final parameters and the mean "
        f"batch loss returned"
    )
    return label, [(n, lr, options)]


FULL_RUN: dict[str, Any] = {"epochs": 3, "lr": 0.5, "options": {"l2": 1e-4, "batch_size": 32}}


def full_run_case(channels=8, threshold=0.9):
    epochs, lr, options = FULL_RUN["epochs"], FULL_RUN["lr"], FULL_RUN["options"]
    name = (
        f"your DigitNet({channels}) from seeded weights, trained by your train_epoch for {epochs} epochs of the 1071 "
        f"training digits (reshuffled between epochs) with lr={lr}, {_options(options)}: at least "
        f"{threshold:.0%} of the 364 test digits right"
    )
    return TrainingRun(
        "capstone.train_epoch",
        name,
        "DigitNet",
        (channels,),
        digitnet_shapes(channels),
        reference_train_epoch,
        epochs=epochs,
        lr=lr,
        options=options,
        threshold=threshold,
    )


# --- accuracy ------------------------------------------------------------------------------------


def reference_accuracy(model, images, labels):
    with torch.no_grad():
        return float((model(images).argmax(dim=1) == labels).double().mean())


def labelled(n: int, right: int):
    """``n`` training digits, labelled so that the model's prediction is right on exactly ``right``
    of them (at seeded positions); the others get another digit."""

    def make(g, model):
        images, _ = digit_batch(g, n)
        images = images.to(next(model.parameters()).dtype)
        with torch.no_grad():
            predicted = model(images).argmax(dim=1)
        wrong = torch.randperm(n, generator=g)[: n - right]
        shift = torch.randint(1, 10, (n,), generator=g)
        labels = predicted.clone()
        labels[wrong] = (predicted[wrong] + shift[wrong]) % 10
        return images, labels

    return make


def accuracy_case(n, right, dtype):
    name = f"{digits_count(n)}, {dtype_name(dtype)}, a seeded model right on {right}: {right}/{n} = {right / n:.4g}"
    return ModelOnData(
        "capstone.accuracy",
        name,
        reference_layers,
        labelled(n, right),
        reference_accuracy,
        names=("images", "labels"),
        dtype=dtype,
        out_name="accuracy",
    )


CHECKS = [
    init_case((8,)),
    digitnet_case((8,), f32, 5, images=True),
    digitnet_case((4, 3), f64, 6, grad=True),
    steps_case(one_batch_per_call(16, 0.5, {"batch_size": 16}), f64),
    steps_case(one_epoch(70, 0.3, {"l2": 0.01, "batch_size": 32}), f64),
    steps_case(one_epoch(40, 0.2, {}), f32),
    full_run_case(),
    accuracy_case(40, 23, f32),
    accuracy_case(12, 12, f64),
]
