"""The tanh neuron and the smallest useful network.

A neuron is an affine map followed by a fixed nonlinearity, ``o = f(w x + b)``.
Here you build ``f = tanh`` from exponentials (stably), a layer of tanh
neurons, a linear-tanh-linear network as an ``nn.Module``, and two tools for
inspecting models: a parameter counter and a map of where an activation is
sensitive (has a large slope).
"""

import torch
from torch import nn


def tanh(x):
    """Hyperbolic tangent, elementwise, built from exponentials.

        tanh(x) = (e^x - e^-x) / (e^x + e^-x)
                = (1 - e^(-2x)) / (1 + e^(-2x))       (divide by e^x)

    Shapes: any tensor ``x`` in, a tensor of the same shape, dtype and device
    out. Gradients must flow through it (autograd does the derivative).

    Example:
        >>> tanh(torch.tensor([0.0, 0.5, 1e4]))
        tensor([0.0000, 0.4621, 1.0000])

    Forbidden: ``torch.tanh`` / ``Tensor.tanh`` / ``nn.Tanh`` / ``F.tanh``
    (ATen ``aten.tanh``): the exercise is to write it yourself.

    Numerics: ``torch.exp(x)`` overflows to ``inf`` for x above about 89 in
    float32 (710 in float64), and ``inf / inf`` is ``nan``. The result must be
    finite and exact for |x| up to 1e4.

    Tip: only ever exponentiate a non-positive number. tanh is odd
    (tanh(-x) = -tanh(x)), so compute tanh(|x|) with the second form, where
    the exponent -2|x| is <= 0, then give it back the sign of x with
    ``torch.where``. Build -|x| with ``torch.where(x >= 0, -x, x)`` rather than
    ``-x.abs()``: autograd gives ``abs`` slope 0 at x = 0, and the slope of
    tanh at 0 must come out as 1. ``torch.expm1(z) = e^z - 1`` is more
    accurate than ``exp(z) - 1`` near 0.
    """
    # TODO: your code here
    raise NotImplementedError


def neuron(x, w, b):
    """A layer of tanh neurons: ``o = tanh(w . x + b)``.

        o[n, j] = tanh( sum_i w[j, i] * x[n, i] + b[j] )

    Shapes:
        x: ``(N, in)`` (a batch) or ``(in,)`` (one sample)
        w: ``(out, in)``, one row of weights per neuron
        b: ``(out,)``
        returns ``(N, out)`` or ``(out,)`` respectively.

    Example:
        >>> w = torch.tensor([[1.0, -1.0]])
        >>> neuron(torch.tensor([2.0, 2.0]), w, torch.tensor([0.0]))
        tensor([0.])

    Reference: ``torch.tanh(F.linear(x, w, b))``. You may use ``torch.tanh``
    here (or your own ``tanh`` above).

    Tip: ``x @ w.T`` works for both the batched and the single-sample shape;
    ``b`` broadcasts over the batch dimension.
    """
    # TODO: your code here
    raise NotImplementedError


class TinyNet(nn.Module):
    """The simplest neural network: linear, tanh, linear.

        forward(x) = output(tanh(hidden(x)))

    ``TinyNet(n_in, n_hidden, n_out)`` owns exactly two submodules, and they
    must have exactly these names (the grader copies weights into them):

        hidden:  a linear layer from n_in to n_hidden features (``nn.Linear``)
        output:  a linear layer from n_hidden to n_out features (``nn.Linear``)

    Shapes: ``(N, n_in)`` in, ``(N, n_out)`` out. No other parameters.

    Example:
        >>> net = TinyNet(3, 8, 1)
        >>> net(torch.zeros(5, 3)).shape
        torch.Size([5, 1])
        >>> [name for name, _ in net.named_children()]
        ['hidden', 'output']

    Reference: ``nn.Sequential(nn.Linear, nn.Tanh, nn.Linear)`` with the same
    weights. ``torch.tanh`` is allowed here.

    Tip: create the layers in ``__init__`` (after ``super().__init__()``) and
    only *use* them in ``forward``; assigning an ``nn.Module`` to an attribute
    registers its parameters automatically.
    """

    def __init__(self, n_in, n_hidden, n_out):
        super().__init__()
        # TODO: your code here
        raise NotImplementedError

    def forward(self, x):
        # TODO: your code here
        raise NotImplementedError


def count_parameters(model):
    """Number of trainable scalar parameters of ``model``.

        count = sum of p.numel() over the parameters p with p.requires_grad

    A parameter shared by two submodules is counted once; frozen parameters
    (``requires_grad=False``) are not counted.

    Args:
        model: any ``nn.Module``.

    Returns:
        A Python ``int``.

    Example:
        >>> count_parameters(nn.Linear(3, 2))  # 3*2 weights + 2 biases
        8

    Tip: ``model.parameters()`` already yields a shared parameter only once.
    """
    # TODO: your code here
    raise NotImplementedError


def sensitive_mask(activation, x, min_slope=0.1):
    """Where is an activation sensitive? ``|activation'(x)| >= min_slope``.

    In its sensitive range a change of the input gives a clear change of the
    output; in a saturated range the slope is nearly 0 and little gradient
    flows back, so learning stalls there.

    Args:
        activation: an elementwise torch callable (``torch.tanh``,
            ``torch.relu``, ``torch.sigmoid``, ...).
        x: float tensor of inputs, any shape.
        min_slope: threshold on the absolute derivative.

    Returns:
        A bool tensor shaped like ``x``.

    Example:
        >>> sensitive_mask(torch.tanh, torch.tensor([-5.0, 0.0, 0.5, 5.0]))
        tensor([False,  True,  True, False])

    The derivative must come from autograd, not from a formula: the activation
    can be anything.

    Tip: work on ``x.detach().clone().requires_grad_()`` so the caller's tensor
    is untouched, enable grad explicitly (``torch.enable_grad()``: the caller
    may be inside ``torch.no_grad()``) and take ``torch.autograd.grad`` of
    ``activation(x).sum()``. Because the activation is elementwise, output i
    depends only on input i, so the gradient of the sum is exactly the
    elementwise derivative.
    """
    # TODO: your code here
    raise NotImplementedError
