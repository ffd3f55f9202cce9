"""Weight penalties (L1, L2) and weight decay.

Adding a penalty on large weights to the loss makes fitting any single sample
less rewarding and the loss surface smoother, which tends to help
generalisation. You compute the L1 and L2 penalties, add them to a loss, write
a plain SGD step with weight decay, and show that decay is L2 in disguise.
"""

import torch


def l1_penalty(model):
    """L1 penalty: sum of absolute values of every parameter.

        L1 = sum over parameters p, over entries j, of |p_j|

    Every entry of ``model.parameters()`` counts: weights and biases, frozen
    parameters too, a shared parameter once.

    Args:
        model: an ``nn.Module`` with at least one parameter.

    Returns:
        A 0-dim tensor that autograd can differentiate (so it can be added to
        a loss and back-propagated).

    Example:
        >>> layer = torch.nn.Linear(2, 1)
        >>> with torch.no_grad():
        ...     _ = layer.weight.copy_(torch.tensor([[1.0, -2.0]]))
        ...     _ = layer.bias.fill_(0.5)
        >>> l1_penalty(layer)
        tensor(3.5000, grad_fn=<AddBackward0>)

    Pitfall: ``float(...)``, ``.item()`` or a NumPy detour return a number
    without a gradient: the penalty would then not affect training at all.

    Tip: ``sum(p.abs().sum() for p in model.parameters())`` adds 0-dim tensors.
    """
    # TODO: your code here
    raise NotImplementedError


def l2_penalty(model):
    """L2 penalty: sum of squares of every parameter.

        L2 = sum over parameters p, over entries j, of p_j^2

    Same parameters and return type as ``l1_penalty``. (This is the squared
    Euclidean norm, with no square root and no factor 1/2.)

    Example:
        >>> layer = torch.nn.Linear(2, 1)
        >>> with torch.no_grad():
        ...     _ = layer.weight.copy_(torch.tensor([[1.0, -2.0]]))
        ...     _ = layer.bias.fill_(0.5)
        >>> l2_penalty(layer)
        tensor(5.2500, grad_fn=<AddBackward0>)

    Tip: ``p.pow(2).sum()`` per parameter, then add them up.
    """
    # TODO: your code here
    raise NotImplementedError


def regularized_loss(loss, model, l1=0.0, l2=0.0):
    """The loss plus weighted penalties.

        total = loss + l1 * L1(model) + l2 * L2(model)

    Args:
        loss: 0-dim tensor (the data loss).
        model: the ``nn.Module`` whose parameters are penalised.
        l1, l2: non-negative floats, the strengths of the two penalties.

    Returns:
        A 0-dim tensor; ``total.backward()`` puts the gradients of both the
        data loss and the penalties into ``p.grad``.

    Example:
        >>> layer = torch.nn.Linear(2, 1)
        >>> with torch.no_grad():
        ...     _ = layer.weight.copy_(torch.tensor([[1.0, -2.0]]))
        ...     _ = layer.bias.fill_(0.5)
        >>> regularized_loss(torch.tensor(1.0), layer, l1=0.1, l2=0.01)
        tensor(1.4025, grad_fn=<AddBackward0>)

    Tip: reuse ``l1_penalty`` and ``l2_penalty``.
    """
    # TODO: your code here
    raise NotImplementedError


def sgd_step(params, lr, weight_decay=0.0):
    """One step of plain stochastic gradient descent with weight decay, in place.

        p <- p - lr * (p.grad + weight_decay * p)     for each p with a gradient

    Parameters whose ``.grad`` is None (unused, or frozen) are left alone.

    Args:
        params: an iterable of parameters (a list, or a generator such as
            ``model.parameters()``; it can be iterated only once).
        lr: learning rate (float).
        weight_decay: decay factor (float, >= 0).

    Returns:
        None; the parameters are updated in place.

    Example:
        >>> p = torch.nn.Parameter(torch.tensor([1.0, -1.0]))
        >>> p.grad = torch.tensor([0.5, 0.5])
        >>> sgd_step([p], lr=0.1, weight_decay=1.0)
        >>> p.data
        tensor([ 0.8500, -0.9500])

    Forbidden: ``torch.optim``: the point is to see how little an optimiser
    step is.

    Tip: do the update inside ``with torch.no_grad():`` (an in-place change of
    a leaf that requires grad is otherwise an error, and the step must not
    become part of the graph), with in-place ops such as ``p.add_(d, alpha=-lr)``
    so that the same tensor object (the one the model holds) is updated.
    """
    # TODO: your code here
    raise NotImplementedError


def weight_decay_for(l2):
    """The SGD ``weight_decay`` equivalent to adding ``l2 * L2(model)`` to the loss.

    The gradient of ``l2 * sum p^2`` with respect to p is ``2 * l2 * p``, so an
    SGD step on the penalised loss is

        p <- p - lr * (grad + 2 * l2 * p)

    which is exactly ``sgd_step`` with ``weight_decay = 2 * l2``: the penalty
    never has to be added to the loss or differentiated.

    Args:
        l2: strength of the L2 penalty (float).

    Returns:
        A Python ``float``.

    Example:
        >>> weight_decay_for(0.005)
        0.01

    Tip: PyTorch's ``SGD(weight_decay=...)`` adds ``weight_decay * p`` to the
    gradient, without a factor 2; compare with the derivative of p^2.
    """
    # TODO: your code here
    raise NotImplementedError
