"""Per-channel normalisation of a batch.

Activations such as tanh are steep only near 0, so inputs are usually shifted
and scaled so that every channel has mean 0 and standard deviation 1. You
compute the statistics of each channel over a batch and apply them with
broadcasting.
"""

import torch


def channel_stats(x):
    """Mean and standard deviation of each channel.

    For x of shape ``(N, C, *)`` (e.g. images ``(N, C, H, W)``), channel c
    gathers every value ``x[n, c, ...]``, that is M = N * prod(*) numbers:

        mean[c] = (1 / M) * sum of x[n, c, ...]
        std[c]  = sqrt( (1 / (M - 1)) * sum of (x[n, c, ...] - mean[c])^2 )

    The ``M - 1`` (Bessel's correction) matches ``torch.std``'s default.

    Returns:
        ``(mean, std)``, two tensors of shape ``(C,)``, dtype and device of x.

    Example:
        >>> x = torch.tensor([[[1.0, 3.0], [10.0, 10.0]]])  # N=1, C=2, L=2
        >>> mean, std = channel_stats(x)
        >>> mean, std
        (tensor([ 2., 10.]), tensor([1.4142, 0.0000]))

    Tip: move the channel dimension first (``x.transpose(0, 1)``) and flatten
    the rest (``.reshape(C, -1)``); then it is one ``.mean(1)`` and one
    ``.std(1)``. ``reshape`` (not ``view``) copies when the transpose is not
    contiguous.
    """
    # TODO: your code here
    raise NotImplementedError


def normalize(x, mean, std):
    """Normalise each channel: ``(x - mean[c]) / std[c]``.

        out[n, c, ...] = (x[n, c, ...] - mean[c]) / std[c]

    Shapes: x ``(N, C, *)``, mean and std ``(C,)``; returns a tensor shaped
    like x. Normalising x with its own ``channel_stats`` gives every channel
    mean 0 and std 1.

    Example:
        >>> x = torch.tensor([[[1.0, 3.0], [10.0, 20.0]]])
        >>> normalize(x, torch.tensor([2.0, 10.0]), torch.tensor([1.0, 5.0]))
        tensor([[[-1.,  1.],
                 [ 0.,  2.]]])

    Pitfall: ``x - mean`` with mean of shape ``(C,)`` broadcasts against the
    *last* dimension of x, not dimension 1. Reshape the statistics to
    ``(1, C, 1, ..., 1)`` first.

    Tip: ``mean.reshape(1, -1, *[1] * (x.dim() - 2))``.
    """
    # TODO: your code here
    raise NotImplementedError
