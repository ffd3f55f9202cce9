"""convolution.py: zero padding, output sizes, conv1d/conv2d as cross-correlation, and hand-made kernels.

Each exercise's record, hints (a nudge first, the nearly-answer last) and named mistakes live
together here; each mistake's variants are PyTorch/NumPy code that reproduces it, run by the scorer.
"""

from __future__ import annotations

import math

from autograder.course.records import CONV_PATTERN, Exercise, LazyModule, Mistake

F = LazyModule("torch.nn.functional")


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _pad_one_side(x, padding):
    ph, pw = _pair(padding)
    return F.pad(x, (0, 2 * pw, 0, 2 * ph))


def _pad_start_only(x, padding):
    ph, pw = _pair(padding)
    return F.pad(x, (pw, 0, ph, 0))


def _pad_swapped(x, padding):
    ph, pw = _pair(padding)
    return F.pad(x, (ph, ph, pw, pw))


def _conv2d_flipped(x, weight, bias=None, stride=1, padding=0):
    return F.conv2d(x, weight.flip(-1, -2), bias, stride, padding)


def _conv2d_without_bias(x, weight, bias=None, stride=1, padding=0):
    return F.conv2d(x, weight, None, stride, padding)


def _conv2d_stride_on_rows(x, weight, bias=None, stride=1, padding=0):
    return F.conv2d(x, weight, bias, (_pair(stride)[0], 1), padding)


def _conv2d_stride_on_columns(x, weight, bias=None, stride=1, padding=0):
    return F.conv2d(x, weight, bias, (1, _pair(stride)[1]), padding)


def _conv2d_swapped_pairs(x, weight, bias=None, stride=1, padding=0):
    return F.conv2d(x, weight, bias, _pair(stride)[::-1], _pair(padding)[::-1])


def _conv2d_swapped_padding(x, weight, bias=None, stride=1, padding=0):
    return F.conv2d(x, weight, bias, stride, _pair(padding)[::-1])


def _conv2d_swapped_stride(x, weight, bias=None, stride=1, padding=0):
    return F.conv2d(x, weight, bias, _pair(stride)[::-1], padding)


def _conv1d_flipped(x, weight, bias=None, stride=1, padding=0):
    return F.conv1d(x, weight.flip(-1), bias, stride, padding)


def _conv_size_ceil(size, kernel_size, padding=0, stride=1):
    return math.ceil((size + 2 * padding - kernel_size) / stride) + 1


def _conv_size_round(size, kernel_size, padding=0, stride=1):
    if kernel_size > size + 2 * padding:
        raise ValueError("the kernel does not fit")
    return round((size + 2 * padding - kernel_size) / stride) + 1


def _conv_size_no_padding(size, kernel_size, padding=0, stride=1):
    if kernel_size > size:
        raise ValueError("the kernel does not fit")
    return (size - kernel_size) // stride + 1


EXERCISES = (
    Exercise(
        "convolution",
        "pad2d",
        2,
        "F.pad(x, (pw, pw, ph, ph))",
        forbidden=(
            "constant_pad_nd",
            "pad",
            "reflection_pad1d",
            "reflection_pad2d",
            "reflection_pad3d",
            "replication_pad1d",
            "replication_pad2d",
            "replication_pad3d",
            "_pad_circular",
            "_pad_enum",
        ),
        advice="allocate zeros of the padded shape and copy x into the centre",
        hints=(
            "Allocate zeros of the padded shape with x.new_zeros(...) (same dtype and device).",
            "Copy x into the centre: out[..., ph:ph + H, pw:pw + W] = x. Gradients flow through the copy.",
        ),
        mistakes=(
            Mistake(
                "padding on one side only",
                "add p ghost pixels on both sides of H and of W",
                (_pad_one_side, _pad_start_only),
            ),
            Mistake(
                "height and width padding swapped",
                "padding=(ph, pw): ph rows above and below, pw columns left and right",
                (_pad_swapped,),
            ),
        ),
    ),
    Exercise(
        "convolution",
        "conv_output_size",
        1,
        "output length of F.conv1d",
        hints=(
            "A kernel of size k slides over size + 2·padding cells.",
            "Count the positions: (size + 2·padding − k) // stride + 1; raise ValueError when k does not fit.",
        ),
        mistakes=(
            Mistake(
                "rounding up (or to the nearest) instead of down",
                "(size + 2·padding − kernel) // stride + 1 rounds down: a window that does not fit is dropped",
                (_conv_size_ceil, _conv_size_round),
            ),
            Mistake("padding ignored", "padding adds 2·padding to the size", (_conv_size_no_padding,)),
        ),
    ),
    Exercise(
        "convolution",
        "conv1d",
        3,
        "F.conv1d",
        forbidden_pattern=CONV_PATTERN,
        advice="implement the sliding window yourself (a loop over kernel offsets)",
        uses=("convolution.conv_output_size",),
        hints=(
            "Loop over the kernel offsets k, not over output positions: each offset is one strided slice of the "
            "padded input.",
            "For offset k: slice = xp[:, :, k : k + stride·(L_out − 1) + 1 : stride]; contract it with weight[:, :, k] "
            "(einsum 'ncl,oc->nol').",
            "Do not flip the kernel: PyTorch's convolution is cross-correlation.",
        ),
        mistakes=(
            Mistake(
                "a flipped kernel",
                "that is convolution; PyTorch computes cross-correlation: do not flip the kernel",
                (_conv1d_flipped,),
            ),
        ),
    ),
    Exercise(
        "convolution",
        "conv2d",
        4,
        "F.conv2d",
        forbidden_pattern=CONV_PATTERN,
        advice="implement the sliding window yourself (a loop over kernel offsets)",
        uses=("convolution.pad2d", "convolution.conv_output_size"),
        hints=(
            "Pad with your pad2d, then loop over the kH × kW kernel offsets.",
            "For offset (i, j) take xp[..., i : i + sh·(H_out − 1) + 1 : sh, j : j + sw·(W_out − 1) + 1 : sw] and "
            "contract it with weight[:, :, i, j] via einsum('nchw,oc->nohw').",
            "Add bias.view(1, -1, 1, 1) at the end, and do not flip the kernel.",
        ),
        mistakes=(
            Mistake(
                "a flipped kernel",
                "that is convolution; PyTorch computes cross-correlation: do not flip the kernel",
                (_conv2d_flipped,),
            ),
            Mistake("the bias ignored", "add bias[c_out] to every output position", (_conv2d_without_bias,)),
            Mistake(
                "stride applied to one axis only",
                "step by sh along H and by sw along W",
                (_conv2d_stride_on_rows, _conv2d_stride_on_columns),
            ),
            Mistake(
                "(h, w) pairs swapped",
                "stride=(sh, sw) and padding=(ph, pw): H comes first",
                (_conv2d_swapped_pairs, _conv2d_swapped_padding, _conv2d_swapped_stride),
            ),
        ),
    ),
    Exercise(
        "convolution",
        "edge_kernel",
        1,
        "property checks with F.conv2d",
        hints=(
            "A vertical edge is a change from left to right: weigh the right column positively, the left negatively.",
            "Rows of [-1, 0, 1] sum to zero, so constant and top-to-bottom images give 0.",
        ),
    ),
    Exercise(
        "convolution",
        "blur_kernel",
        1,
        "property checks with F.conv2d",
        hints=(
            "A box blur averages its window: every entry is 1 / size².",
            "torch.full((1, 1, size, size), 1.0 / size**2) — float32 is the default dtype.",
        ),
    ),
)
