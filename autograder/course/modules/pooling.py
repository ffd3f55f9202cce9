"""pooling.py: max-pooling with −inf padding.

Each exercise's record, hints (a nudge first, the nearly-answer last) and named mistakes live
together here; each mistake's variants are PyTorch/NumPy code that reproduces it, run by the scorer.
"""

from __future__ import annotations

import math

from autograder.course.modules.convolution import _pair
from autograder.course.records import Exercise, LazyModule, Mistake

F = LazyModule("torch.nn.functional")


def _pool_zero_padding(x, kernel_size, stride=None, padding=0):
    ph, pw = _pair(padding)
    return F.max_pool2d(F.pad(x, (pw, pw, ph, ph)), kernel_size, stride)


def _pool_stride_one(x, kernel_size, stride=None, padding=0):
    return F.max_pool2d(x, kernel_size, 1 if stride is None else stride, padding)


def _pool_ceil(x, kernel_size, stride=None, padding=0):
    return F.max_pool2d(x, kernel_size, stride, padding, ceil_mode=True)


def _pool_ceil_naive(x, kernel_size, stride=None, padding=0):
    """ceil((H + 2p − k) / s) + 1 windows, the last ones running into −inf past the input."""
    (kh, kw), (ph, pw) = _pair(kernel_size), _pair(padding)
    sh, sw = _pair(kernel_size if stride is None else stride)
    h, w = x.shape[-2:]
    extra_h = (math.ceil((h + 2 * ph - kh) / sh)) * sh + kh - (h + 2 * ph)
    extra_w = (math.ceil((w + 2 * pw - kw) / sw)) * sw + kw - (w + 2 * pw)
    padded = F.pad(x, (pw, pw + extra_w, ph, ph + extra_h), value=-math.inf)
    return F.max_pool2d(padded, (kh, kw), (sh, sw))


EXERCISES = (
    Exercise(
        "pooling",
        "max_pool2d",
        4,
        "F.max_pool2d",
        forbidden=(
            "max_pool2d",
            "max_pool2d_with_indices",
            "adaptive_max_pool2d",
            "fractional_max_pool2d",
            "max_pool3d_with_indices",
        ),
        advice="pad with -inf yourself and take the max over the window offsets",
        hints=(
            "Accept ints or pairs; stride=None means stride = kernel_size.",
            "Pad with −inf (torch.full(..., float('-inf'), dtype=x.dtype, device=x.device)) so padding never wins.",
            "Take the max over the kH × kW strided slices of the padded input, e.g. torch.stack(slices).amax(0).",
        ),
        mistakes=(
            Mistake(
                "zero padding instead of −inf",
                "padded cells must never win the max: pad with -inf (a zero beats negative inputs)",
                (_pool_zero_padding,),
            ),
            Mistake(
                "stride defaulting to 1",
                "stride=None means stride = kernel_size (non-overlapping windows)",
                (_pool_stride_one,),
            ),
            Mistake(
                "ceil instead of floor for the output size",
                "windows that run past the padded input are dropped: floor",
                (_pool_ceil, _pool_ceil_naive),
            ),
        ),
    ),
)
