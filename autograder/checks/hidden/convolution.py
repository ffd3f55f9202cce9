"""Hidden checks of convolution.py: pair and uneven strides/paddings, odd and non-square shapes,
1×1 and whole-input kernels, padding wider than the kernel, and the kernels' properties on other images.
"""

import torch

from autograder.checks.images import positive_on_vertical_edge, zero_on_constant, zero_on_horizontal_step
from autograder.checks.public.convolution import (
    blur_case,
    conv1d_case,
    conv2d_case,
    edge_case,
    pad2d_case,
    size_case,
    size_error,
)

f32, f64 = torch.float32, torch.float64

CHECKS = [
    pad2d_case(f32, (2, 3, 4, 5), 0),
    pad2d_case(f64, (2, 1, 5, 3), (0, 3), grad=True),
    pad2d_case(f64, (1, 2, 2, 3), (3, 1), grad=True),
    pad2d_case(f32, (2, 2, 3, 1), 2),
    size_case(10, 4, padding=1, stride=3, note="the size rounds down"),
    size_case(11, 2, 1, 4, positional=True),
    size_case(5, 5, note="kernel as long as the input"),
    size_case(4, 2, padding=3, note="padding wider than the kernel"),
    size_case(3, 7, padding=2, note="kernel as long as the padded input"),
    size_case(9, 1, stride=4),
    size_error(3, 8, padding=2),
    size_case(13, 4, padding=1, stride=5, note="(13 + 2 − 4) / 5 = 2.2 rounds down"),
    conv1d_case(f32, (1, 1, 7), (1, 1, 7), bias=True, note="kernel as long as the input"),
    conv1d_case(
        f64,
        (3, 2, 11),
        (5, 2, 4),
        bias=True,
        stride=3,
        padding=2,
        grad=True,
        note="the stride does not divide evenly: round down",
    ),
    conv1d_case(f64, (2, 4, 6), (3, 4, 1), bias=True, stride=2, grad=True),
    conv1d_case(f64, (2, 1, 5), (2, 1, 3), bias=None, padding=4, grad=True, note="padding wider than the kernel"),
    conv1d_case(f32, (2, 3, 9), (2, 3, 2), stride=4),
    conv2d_case(f64, (2, 3, 7, 5), (4, 3, 3, 2), bias=True, stride=(2, 1), padding=(0, 2), grad=True),
    conv2d_case(f64, (1, 2, 5, 8), (2, 2, 2, 3), bias=True, stride=(1, 3), padding=(2, 1), grad=True),
    conv2d_case(f64, (2, 3, 6, 5), (2, 3, 1, 1), bias=True, stride=2, grad=True, note="1×1 kernel"),
    conv2d_case(f32, (2, 2, 5, 4), (3, 2, 5, 4), bias=True, note="kernel as large as the input"),
    conv2d_case(f64, (1, 2, 4, 3), (2, 2, 2, 2), bias=True, padding=3, grad=True, note="padding wider than the kernel"),
    conv2d_case(
        f64,
        (2, 1, 8, 7),
        (2, 1, 3, 2),
        bias=None,
        stride=3,
        padding=1,
        grad=True,
        note="the stride does not divide evenly: round down",
    ),
    conv2d_case(f32, (1, 3, 9, 6), (2, 3, 4, 3), bias=True, stride=(3, 2), padding=(1, 0)),
    edge_case(
        "the same properties at other levels (dark −0.5, bright 2, constant −1.3) and edge "
        "positions (row 4; columns 2 and 5)",
        [
            zero_on_constant(-1.3, (4, 9)),
            zero_on_horizontal_step(-0.5, 2.0, 4),
            positive_on_vertical_edge(-0.5, 2.0, 2),
            positive_on_vertical_edge(-0.5, 2.0, 5),
        ],
    ),
    blur_case(1),
    blur_case(5),
    blur_case(None),
]
