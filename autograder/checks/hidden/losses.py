"""Hidden checks of losses.py: every dim, ±1e4 logits, class weights, default and custom ignore_index,
all targets ignored, default arguments and invalid reductions.
"""

import torch

from autograder.checks.public.losses import bad_reduction, cross_entropy_case, log_softmax_case, nll_case

f32, f64 = torch.float32, torch.float64

CHECKS = [
    log_softmax_case(f32, (3, 4, 5), dim=0),
    log_softmax_case(f64, (5, 3), dim=0, grad=True),
    log_softmax_case(f64, (2, 3, 4), grad=True),
    log_softmax_case(f32, (3, 4, 2), dim=1, extreme=True),
    log_softmax_case(f32, (7,)),
    log_softmax_case(f32, (4, 6), extreme=True),
    nll_case(f64, "mean", weight=True, grad=True, note="the mean divides by the sum of the targets' weights"),
    nll_case(f64, "mean", ignored=(1, 4), grad=True),
    nll_case(f32, "none", weight=True, ignore_index=1, ignored=(0, 3)),
    nll_case(f64, "mean", weight=True, ignore_index=1, ignored=(2, 5), grad=True),
    nll_case(f32, "sum", ignored=(2,)),
    nll_case(f64, "mean", ignored=tuple(range(6)), note="the mean is nan, as in PyTorch"),
    nll_case(f64, weight=True, grad=True),
    bad_reduction("losses.nll_loss", "Mean"),
    cross_entropy_case(f64, "sum", weight=True, grad=True),
    cross_entropy_case(f64, "mean", weight=True, ignored=(0, 5), grad=True),
    cross_entropy_case(f32, "none", ignore_index=2, ignored=(1, 3)),
    cross_entropy_case(f64, "mean", extreme=True, grad=True),
    cross_entropy_case(f32, "sum", extreme=True),
    cross_entropy_case(f32, "mean", ignore_index=0, ignored=tuple(range(6)), note="the mean is nan, as in PyTorch"),
    cross_entropy_case(f64, weight=True, ignore_index=3, grad=True),
    bad_reduction("losses.cross_entropy", "batchmean"),
]
