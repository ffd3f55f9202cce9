"""Hidden checks of normalization.py: every layout (N, C), (N, C, L), (N, C, H, W) and more, N = 1, one
channel, L equal to C (broadcasting over the last dim goes unnoticed otherwise), own-stats property."""

from autograder.checks.public.normalization import f32, f64, normalize_case, stats_case

CHECKS = [
    stats_case(f64, (7, 4)),
    stats_case(f32, (5, 2, 7)),
    stats_case(f64, (1, 3, 6)),  # N = 1: the stats run over the 6 positions
    stats_case(f32, (3, 1, 4, 4)),
    stats_case(f32, (1, 2, 3, 3)),
    stats_case(f64, (2, 3, 2, 2, 2)),
    stats_case(f64, (4, 3, 5), far=True),
    normalize_case(f64, (2, 3, 3)),  # L == C
    normalize_case(f32, (4, 2, 5)),
    normalize_case(f64, (6, 4), own_stats=True),
    normalize_case(f32, (1, 2, 3, 3), own_stats=True),
    normalize_case(f32, (2, 4, 4, 4), own_stats=True),  # H == W == C
]
