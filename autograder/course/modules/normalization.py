"""normalization.py: per-channel statistics and normalisation.

Each exercise's record, hints (a nudge first, the nearly-answer last) and named mistakes live
together here; each mistake's variants are PyTorch/NumPy code that reproduces it, run by the scorer.
"""

from __future__ import annotations

from autograder.course.records import Exercise, Mistake


def _stats_population_std(x):
    per_channel = x.transpose(0, 1).reshape(x.shape[1], -1)
    return per_channel.mean(1), per_channel.std(1, correction=0)


def _stats_no_transpose(x):
    per_channel = x.reshape(x.shape[1], -1)
    return per_channel.mean(1), per_channel.std(1)


EXERCISES = (
    Exercise(
        "normalization",
        "channel_stats",
        2,
        "x.transpose(0, 1).reshape(C, -1).mean(1) / .std(1)",
        hints=(
            "Put the channel dim first with x.transpose(0, 1), then flatten the rest: reshape(C, -1).",
            "torch.std uses Bessel's correction (divides by M − 1) by default: so should you.",
        ),
        mistakes=(
            Mistake(
                "the population std instead of Bessel's",
                "divide by M − 1, as torch.std does by default (not by M)",
                (_stats_population_std,),
            ),
            Mistake(
                "stats over the wrong dims",
                "move the channel dim first (x.transpose(0, 1)) before reshape(C, -1)",
                (_stats_no_transpose,),
            ),
        ),
    ),
    Exercise(
        "normalization",
        "normalize",
        1,
        "(x - mean[c]) / std[c] broadcast over dim 1",
        hints=(
            "mean and std have shape (C,): reshape them to (1, C, 1, 1, ...) so they broadcast over dim 1.",
            "mean.view(1, -1, *([1] * (x.dim() - 2))) works for any number of trailing dims.",
        ),
    ),
)
