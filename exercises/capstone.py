"""Capstone: your own building blocks learn to read handwritten digits.

Everything a small convolutional network needs is already yours: ``conv2d``,
``tanh``, ``max_pool2d``, ``cross_entropy``, ``l2_penalty`` and ``sgd_step``.
Here you assemble them into a network for 8x8 images of digits, write the
loop that trains it one epoch at a time, and measure how often it is right.
Your other modules are imported by name, so keep them beside this file.
"""

import torch
from torch import nn

from convolution import conv2d
from losses import cross_entropy
from neurons import tanh
from pooling import max_pool2d
from regularization import l2_penalty, sgd_step


class DigitNet(nn.Module):
    """A small convolutional network for 8x8 digits, built from your own functions.

        features = max_pool2d(tanh(conv2d(x, conv_weight, conv_bias, padding=1)), 2)
        logits   = fc(features flattened)

    ``DigitNet(channels=8, n_classes=10)`` owns exactly these parameters, with
    exactly these names (the grader copies weights into them):

        conv_weight: ``nn.Parameter`` of shape ``(channels, 1, 3, 3)``
        conv_bias:   ``nn.Parameter`` of shape ``(channels,)``
        fc:          ``nn.Linear(channels * 16, n_classes)``

    Initialise ``conv_weight`` and ``conv_bias`` as ``nn.Conv2d`` does by
    default: uniformly in ``[-1/3, 1/3]`` (1/sqrt(fan_in), and fan_in = 1 * 3 * 3).

    Shapes: x ``(N, 1, 8, 8)`` float32 or float64 -> conv ``(N, channels, 8, 8)``
    (padding 1 keeps 8x8) -> tanh -> max-pool 2 ``(N, channels, 4, 4)`` ->
    flatten ``(N, channels * 16)`` -> logits ``(N, n_classes)``.

    Example:
        >>> net = DigitNet(4)
        >>> net(torch.zeros(2, 1, 8, 8)).shape
        torch.Size([2, 10])
        >>> [name for name, _ in net.named_parameters()]
        ['conv_weight', 'conv_bias', 'fc.weight', 'fc.bias']

    Reference: ``nn.Sequential(nn.Conv2d(1, channels, 3, padding=1), nn.Tanh(),
    nn.MaxPool2d(2), nn.Flatten(), nn.Linear(channels * 16, n_classes))`` with
    the same weights.

    Forbidden: ``F.conv2d`` / ``nn.Conv2d`` (every ATen convolution op, as in
    ``conv2d``), ``F.max_pool2d`` / ``nn.MaxPool2d`` (``aten.max_pool2d``,
    ``aten.max_pool2d_with_indices``, ...) and ``torch.tanh`` (``aten.tanh``):
    use your own ``conv2d``, ``max_pool2d`` and ``tanh``.

    Tip: ``nn.Parameter(torch.empty(shape).uniform_(-bound, bound))`` registers
    a parameter when assigned to ``self``; ``features.flatten(1)`` keeps the
    batch dimension and flattens channel by channel, as ``nn.Flatten`` does.
    """

    def __init__(self, channels=8, n_classes=10):
        super().__init__()
        # TODO: your code here
        raise NotImplementedError

    def forward(self, x):
        # TODO: your code here
        raise NotImplementedError


def train_epoch(model, images, labels, lr, l2=0.0, batch_size=32):
    """One epoch of mini-batch SGD with an L2 penalty; returns the mean batch loss.

    The batches are taken in order, ``images[0:B]``, ``images[B:2B]``, ...
    (B = ``batch_size``; the last one may be smaller). For each batch:

        1. clear the gradients left by the previous batch (``model.zero_grad()``),
        2. loss = cross_entropy(model(x), y)            (the mean over the batch)
        3. back-propagate  loss + l2 * l2_penalty(model),
        4. sgd_step(model.parameters(), lr)
           (or, equivalently, back-propagate the loss alone and step with
           ``weight_decay = 2 * l2``).

    Args:
        model: an ``nn.Module`` returning logits ``(N, C)`` (a ``DigitNet``).
        images: ``(N, 1, 8, 8)`` float tensor; labels: ``(N,)`` int64 in [0, C).
        lr: learning rate; l2: penalty strength (>= 0); batch_size: B >= 1.

    Returns:
        The mean over the batches of the batch losses (cross-entropy, without
        the penalty), as a Python ``float``. The model's parameters are updated
        in place; ``images`` and ``labels`` are left alone. Shuffling is the
        caller's business: shuffle the data between epochs, not in here.

    Example:
        >>> _ = torch.manual_seed(0)
        >>> images, labels = torch.rand(64, 1, 8, 8), torch.randint(0, 10, (64,))
        >>> net = DigitNet(4)
        >>> first = train_epoch(net, images, labels, lr=0.5)
        >>> later = [train_epoch(net, images, labels, lr=0.5) for _ in range(20)]
        >>> type(first), later[-1] < first
        (<class 'float'>, True)

    Reference: the same loop with ``F.cross_entropy`` and
    ``torch.optim.SGD(model.parameters(), lr, weight_decay=2 * l2)``.

    Forbidden: ``torch.optim`` (use your ``sgd_step``) and what is forbidden in
    ``cross_entropy`` (``F.cross_entropy``, ``aten._log_softmax``,
    ``aten.nll_loss_forward``, ...): use your own ``cross_entropy``.

    Tip: ``range(0, len(images), batch_size)`` gives each batch's start, and
    slicing past the end simply stops there. Keep each batch's loss as a
    number (``loss.item()``) so that no graph is kept alive.
    """
    # TODO: your code here
    raise NotImplementedError


def accuracy(model, images, labels):
    """Fraction of the images whose largest logit is at the right label.

        accuracy = (1 / N) * #{ i : argmax_c model(images)[i, c] == labels[i] }

    Computed without building a graph (``torch.no_grad()``); the model and its
    parameters (and their ``.grad``) are left alone.

    Args:
        model: an ``nn.Module`` returning logits ``(N, C)``.
        images: ``(N, 1, 8, 8)``; labels: ``(N,)`` int64.

    Returns:
        A Python ``float`` in [0, 1] (not a percentage, not a count).

    Example:
        >>> net = DigitNet(4)
        >>> with torch.no_grad():
        ...     _ = net.fc.weight.zero_()
        ...     _ = net.fc.bias.copy_(torch.arange(10.0))  # always predicts 9
        >>> accuracy(net, torch.zeros(4, 1, 8, 8), torch.tensor([9, 9, 9, 0]))
        0.75

    Tip: ``argmax(dim=1)`` picks each row's class; comparing with the labels
    gives booleans, and their mean (as a float) is the fraction.
    """
    # TODO: your code here
    raise NotImplementedError
