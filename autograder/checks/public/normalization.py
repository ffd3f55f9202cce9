"""Public checks of normalization.py: channel_stats against mean/std over every dim but 1, normalize against
the same broadcast in PyTorch and by its property (own stats give mean 0, std 1). Shared with hidden/.
"""
import math

import torch

from autograder.checks.core import Call, Inputs
from autograder.checks.models import dtype_name
from autograder.compare import EXACT, SUMMATION, compare
from autograder.encoding import describe


def per_channel(x):
    return x.transpose(0, 1).reshape(x.shape[1], -1)


def stats_reference(x):
    rows = per_channel(x)
    return rows.mean(1), rows.std(1)


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


class MeanStd(Call):
    """Compares the tuple ``(mean, std)`` item by item, naming each, and recognises the population std."""

    per_channel_count = 0  # M, the number of values per channel

    def judge(self, got, want):
        out = got["out"]
        if out["t"] not in ("tuple", "list") or len(out["items"]) != 2:
            return f"expected a tuple (mean, std), got {describe(out)}"
        for label, g, w in zip(("mean", "std"), out["items"], want["out"]["items"]):
            msg = compare(g, w, self.tol, label)
            if msg and label == "std" and g["t"] == "tensor" and g["data"] is not None \
                    and g["shape"] == w["shape"]:
                m = self.per_channel_count
                if torch.allclose(g["data"].double(), w["data"].double() * math.sqrt((m - 1) / m), rtol=1e-4):
                    return (f"{msg} (this is the population std, dividing by M = {m}; "
                            f"use Bessel's correction, M − 1, as torch.std does)")
            if msg:
                return msg
        return None


def far_from_zero(g, shape, dtype):
    """Channels with means near 1e8 and spreads of 0.1 to 0.2: E[x²] − E[x]² cancels to noise here."""
    return (data(g, shape, torch.float64) * 0.05 + 1e8).to(dtype)


def stats_case(seed, dtype, shape, *, far=False):
    """``far``: large means, small spreads (a variance formula that subtracts big numbers fails)."""
    def make(g):
        return Inputs(((far_from_zero if far else data)(g, shape, dtype),), names=("x",))
    name = f"{dtype_name(dtype)} x of shape {shape}: mean and std (Bessel's correction) per channel, C = {shape[1]}"
    if far:
        name += "; means near 1e8, spreads near 0.1"
    # the sums may run in another order than torch.mean/torch.std
    check = MeanStd("normalization.channel_stats", name, make, stats_reference, tol=SUMMATION, seed=seed)
    check.per_channel_count = math.prod(shape) // shape[1]
    return check


class SelfNormalized(Call):
    """x normalised by its own channel stats must have per-channel mean 0 and std 1 (judged here, in the
    scorer, from the learner's output), and match the reference."""

    def judge(self, got, want):
        out, ref = got["out"], want["out"]
        if out["t"] == "tensor" and out["data"] is not None and out["shape"] == ref["shape"] \
                and out["data"].is_floating_point():
            mean, std = stats_reference(out["data"].double())
            atol = 1e-4 if ref["dtype"] == "float32" else 1e-9
            bad = ((mean.abs() > atol) | ((std - 1).abs() > atol)).nonzero()
            if len(bad):
                c = int(bad[0, 0])
                return (f"normalising x by its own channel_stats must give every channel mean 0 and std 1; "
                        f"channel {c} has mean {float(mean[c]):.4g} and std {float(std[c]):.4g} "
                        f"(are mean[c] and std[c] broadcast over dim 1?)")
        return super().judge(got, want)


def normalize_case(seed, dtype, shape, *, own_stats=False):
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
        return SelfNormalized("normalization.normalize", name, make, normalize_reference, seed=seed)
    name = f"{dtype_name(dtype)} x of shape {shape}, given mean and std of shape ({shape[1]},)"
    return Call("normalization.normalize", name, make, normalize_reference, tol=EXACT, seed=seed)


f32, f64 = torch.float32, torch.float64

CHECKS = [
    stats_case(301, f32, (6, 3)),
    stats_case(302, f64, (4, 2, 5)),
    stats_case(303, f64, (2, 3, 4, 5)),
    stats_case(304, f64, (16, 2), far=True),

    normalize_case(311, f32, (4, 3)),
    normalize_case(312, f64, (2, 3, 4, 5)),
    normalize_case(313, f64, (5, 3, 4), own_stats=True),
]
