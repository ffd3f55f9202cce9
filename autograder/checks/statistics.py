"""Check kinds for per-channel statistics: a ``(mean, std)`` tuple judged item by item, and an
output that, normalised by its own statistics, must have mean 0 and std 1 in every channel.
"""

from __future__ import annotations

import math

import torch

from autograder.checks.core import Call
from autograder.course.compare import compare
from autograder.protocol.encoding import describe


def per_channel(x: torch.Tensor) -> torch.Tensor:
    """``(N, C, ...)`` -> ``(C, N·...)``: one row of values per channel."""
    return x.transpose(0, 1).reshape(x.shape[1], -1)


def channel_mean_std(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    rows = per_channel(x)
    return rows.mean(1), rows.std(1)


class MeanStd(Call):
    """Compares the tuple ``(mean, std)`` item by item, naming each, and recognises the population std."""

    per_channel_count = 0  # M, the number of values per channel

    def judge(self, got, want):
        out = got["out"]
        if out["t"] not in ("tuple", "list") or len(out["items"]) != 2:
            return f"expected a tuple (mean, std), got {describe(out)}"
        for label, g, w in zip(("mean", "std"), out["items"], want["out"]["items"]):
            msg = compare(g, w, self.tol, label)
            if msg and label == "std" and g["t"] == "tensor" and g["data"] is not None and g["shape"] == w["shape"]:
                m = self.per_channel_count
                if torch.allclose(g["data"].double(), w["data"].double() * math.sqrt((m - 1) / m), rtol=1e-4):
                    return (
                        f"{msg} (this is the population std, dividing by M = {m}; "
                        f"use Bessel's correction, M − 1, as torch.std does)"
                    )
            if msg:
                return msg
        return None


class SelfNormalized(Call):
    """x normalised by its own channel stats must have per-channel mean 0 and std 1 (judged here, in the
    scorer, from the learner's output), and match the reference."""

    def judge(self, got, want):
        out, ref = got["out"], want["out"]
        if (
            out["t"] == "tensor"
            and out["data"] is not None
            and out["shape"] == ref["shape"]
            and out["data"].is_floating_point()
        ):
            mean, std = channel_mean_std(out["data"].double())
            atol = 1e-4 if ref["dtype"] == "float32" else 1e-9
            bad = ((mean.abs() > atol) | ((std - 1).abs() > atol)).nonzero()
            if len(bad):
                c = int(bad[0, 0])
                return (
                    f"normalising x by its own channel_stats must give every channel mean 0 and std 1; "
                    f"channel {c} has mean {float(mean[c]):.4g} and std {float(std[c]):.4g} "
                    f"(are mean[c] and std[c] broadcast over dim 1?)"
                )
        return super().judge(got, want)
