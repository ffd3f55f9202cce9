"""Public checks of normalization.py: channel_stats against mean/std over every dim but 1, normalize against
the same broadcast in PyTorch and by its property (own stats give mean 0, std 1). Shared with hidden/.
"""

import math

import torch

from autograder.checks.core import Call, Inputs, dtype_name
from autograder.checks.statistics import MeanStd, SelfNormalized, channel_mean_std
from autograder.course.compare import EXACT, SUMMATION


def stats_reference(x):
    return channel_mean_std(x)


def normalize_reference(x, mean, std):
    shape = (1, -1) + (1,) * (x.dim() - 2)
    return (x - mean.reshape(shape)) / std.reshape(shape)


def data(g, shape, dtype):
    """Seeded values whose channels have different means (1, 2, 3, ...) and spreads (1.5, 2, 2.5, ...)."""
    c = shape[1]
    view = (1, c) + (1,) * (len(shape) - 2)
    offset = torch.arange(1, c + 1, dtype=torch.float64).reshape(view)
    x = torch.randn(shape, generator=g, dtype=torch.float64) * (1 + offset / 2) + offset
    return x.to(dtype)


def far_from_zero(g, shape, dtype):
    """Channels with means near 1e8 and spreads of 0.1 to 0.2: E[x²] − E[x]² cancels to noise here."""
    return (data(g, shape, torch.float64) * 0.05 + 1e8).to(dtype)


def stats_case(dtype, shape, *, far=False):
    """``far``: large means, small spreads (a variance formula that subtracts big numbers fails)."""

    def make(g):
        return Inputs(((far_from_zero if far else data)(g, shape, dtype),), names=("x",))

    name = f"{dtype_name(dtype)} x of shape {shape}: mean and std (Bessel's correction) per channel, C = {shape[1]}"
    if far:
        name += "; means near 1e8, spreads near 0.1"
    # the sums may run in another order than torch.mean/torch.std
    check = MeanStd("normalization.channel_stats", name, make, stats_reference, tol=SUMMATION)
    check.per_channel_count = math.prod(shape) // shape[1]
    return check


def normalize_case(dtype, shape, *, own_stats=False):
    def make(g):
        x = data(g, shape, dtype)
        if own_stats:
            mean, std = stats_reference(x)
        else:
            c = shape[1]
            mean = torch.randn(c, generator=g, dtype=torch.float64).to(dtype)
            std = (torch.rand(c, generator=g, dtype=torch.float64) + 0.5).to(dtype)
        return Inputs((x, mean, std), names=("x", "mean", "std"))

    if own_stats:
        name = f"{dtype_name(dtype)} x of shape {shape} normalised by its own stats: each channel mean 0, std 1"
        return SelfNormalized("normalization.normalize", name, make, normalize_reference)
    name = f"{dtype_name(dtype)} x of shape {shape}, given mean and std of shape ({shape[1]},)"
    return Call("normalization.normalize", name, make, normalize_reference, tol=EXACT)


f32, f64 = torch.float32, torch.float64

CHECKS = [
    stats_case(f32, (6, 3)),
    stats_case(f64, (4, 2, 5)),
    stats_case(f64, (2, 3, 4, 5)),
    stats_case(f64, (16, 2), far=True),
    normalize_case(f32, (4, 3)),
    normalize_case(f64, (2, 3, 4, 5)),
    normalize_case(f64, (5, 3, 4), own_stats=True),
]
