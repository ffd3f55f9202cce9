"""Hidden checks of pooling.py: −inf padding on negative inputs, the largest legal padding, pair
arguments on non-square images, floor output sizes, stride=None, 1×1 and whole-image windows.
"""

import torch

from autograder.checks.public.pooling import padding_error, pool_case

f32, f64 = torch.float32, torch.float64

CHECKS = [
    pool_case(f64, (2, 2, 5, 6), 3, stride=1, padding=1, negative=True, grad=True),
    pool_case(f32, (1, 3, 6, 9), (2, 4), padding=(1, 2), negative=True, note="the largest legal padding"),
    pool_case(f64, (1, 2, 7, 5), 3, grad=True, note="leftover rows and columns are dropped"),
    pool_case(f64, (2, 1, 6, 9), (3, 2), stride=(1, 2), padding=(1, 0), grad=True),
    pool_case(f32, (2, 2, 5, 4), (5, 4), note="kernel as large as the input"),
    pool_case(f64, (1, 2, 5, 7), 1, stride=2, grad=True, note="1×1 kernel"),
    pool_case(f64, (2, 2, 8, 7), 2, stride=(2, 3), grad=True, note="the stride does not divide evenly: round down"),
    pool_case(f32, (1, 2, 7, 9), (3, 2), stride=None, padding=(1, 1), negative=True),
    padding_error((3, 3), (0, 2)),
    padding_error((4, 2), (3, 1)),
]
