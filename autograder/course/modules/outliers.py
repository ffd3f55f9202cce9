"""outliers.py: IQR, outlier fences and NaN handling (NumPy).

Each exercise's record, hints (a nudge first, the nearly-answer last) and named mistakes live
together here; each mistake's variants are PyTorch/NumPy code that reproduces it, run by the scorer.
"""

from __future__ import annotations

import math
import warnings

from autograder.course.records import Exercise, Mistake


def _values(values):
    import numpy as np  # numpy: only when a mistake is replayed (the catalogue is read by torch-free commands)

    return np.asarray(values, dtype=np.float64)


def _quartiles(method, nan_aware=True):
    def q(values):
        import numpy as np  # numpy: only when a mistake is replayed (the catalogue is read by torch-free commands)

        a = _values(values)
        fn = np.nanquantile if nan_aware else np.quantile
        with np.errstate(all="ignore"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if a.size == 0:
                    return math.nan, math.nan
                q1, q3 = fn(a, [0.25, 0.75], method=method)
        return float(q1), float(q3)

    return q


def _iqr_with(quartiles):
    def iqr(values):
        q1, q3 = quartiles(values)
        return q3 - q1

    return iqr


def _bounds_with(quartiles):
    def outlier_bounds(values, k=1.5):
        q1, q3 = quartiles(values)
        return q1 - k * (q3 - q1), q3 + k * (q3 - q1)

    return outlier_bounds


_OTHER_METHODS = ("nearest", "lower", "higher", "midpoint", "hazen", "weibull")


def _mask_inclusive(values, k=1.5):
    a = _values(values)
    lo, hi = _bounds_with(_quartiles("linear"))(a, k)
    return (a <= lo) | (a >= hi)


def _to_int_rounding(values, fill=0):
    import numpy as np  # numpy: only when a mistake is replayed (the catalogue is read by torch-free commands)

    a = _values(values)
    return np.where(np.isnan(a), fill, np.round(a)).astype(np.int64)


def _to_int_floor(values, fill=0):
    import numpy as np  # numpy: only when a mistake is replayed (the catalogue is read by torch-free commands)

    a = _values(values)
    return np.where(np.isnan(a), fill, np.floor(a)).astype(np.int64)


def _count_nan_equality(values):
    import numpy as np  # numpy: only when a mistake is replayed (the catalogue is read by torch-free commands)

    return int((_values(values) == np.nan).sum())


EXERCISES = (
    Exercise(
        "outliers",
        "iqr",
        1,
        "torch.nanquantile(q=0.75) - torch.nanquantile(q=0.25)",
        hints=(
            "Convert the input with np.asarray(values, dtype=np.float64) so lists work too.",
            "np.nanquantile(a, [0.25, 0.75]) gives Q1 and Q3 while skipping NaN; its default method is the "
            "'linear' interpolation pandas uses.",
            "An all-NaN (or empty) input has no quartiles: return nan, and silence NumPy's RuntimeWarning with "
            "warnings.catch_warnings().",
        ),
        mistakes=(
            Mistake(
                "a quantile method other than linear interpolation",
                "use np.nanquantile's default method ('linear'), as pandas' .quantile does",
                tuple(_iqr_with(_quartiles(m)) for m in _OTHER_METHODS),
            ),
            Mistake(
                "NaN not ignored",
                "NaN poisons np.quantile; use np.nanquantile (or drop NaN with ~np.isnan first)",
                (_iqr_with(_quartiles("linear", nan_aware=False)),),
            ),
        ),
    ),
    Exercise(
        "outliers",
        "outlier_bounds",
        1,
        "Q1 - k*IQR, Q3 + k*IQR via torch.nanquantile",
        hints=(
            "The fences are Q1 − k·IQR and Q3 + k·IQR.",
            "Return a tuple of two floats: (low, high).",
        ),
        mistakes=(
            Mistake(
                "a quantile method other than linear interpolation",
                "use np.nanquantile's default method ('linear')",
                tuple(_bounds_with(_quartiles(m)) for m in _OTHER_METHODS),
            ),
            Mistake(
                "NaN not ignored",
                "use np.nanquantile so NaN is skipped",
                (_bounds_with(_quartiles("linear", nan_aware=False)),),
            ),
        ),
    ),
    Exercise(
        "outliers",
        "outlier_mask",
        1,
        "strict comparison with the bounds",
        uses=("outliers.outlier_bounds",),
        hints=(
            "Compare every value with both fences: a < low or a > high.",
            "Strict comparisons: a value exactly on a fence is not an outlier.",
            "Any comparison with NaN is False, so NaN is never an outlier for free.",
        ),
        mistakes=(
            Mistake(
                "≤ instead of <", "a value exactly on a bound is not an outlier: use strict < and >", (_mask_inclusive,)
            ),
        ),
    ),
    Exercise(
        "outliers",
        "remove_outliers",
        1,
        "values neither outliers nor NaN",
        uses=("outliers.outlier_mask", "outliers.outlier_bounds"),
        hints=(
            "Keep the values that are neither outliers nor NaN: a boolean mask does it in one indexing step.",
            "~outlier_mask(a, k) & ~np.isnan(a) keeps the original order.",
        ),
    ),
    Exercise(
        "outliers",
        "count_nan",
        1,
        "torch.isnan(t).sum()",
        hints=(
            "NaN is not equal to itself, so `x == np.nan` is always False.",
            "np.isnan(a).sum() counts them; wrap it in int(...) to return a Python int.",
        ),
        mistakes=(
            Mistake(
                "comparing with == np.nan",
                "NaN is not equal to itself, so == np.nan is always False: use np.isnan",
                (_count_nan_equality,),
            ),
        ),
    ),
    Exercise(
        "outliers",
        "to_int",
        1,
        "torch.nan_to_num(t, nan=fill).to(torch.int64)",
        hints=(
            "NaN cannot be converted to an integer: replace it first.",
            "np.where(np.isnan(a), fill, a).astype(np.int64) truncates toward zero like astype does.",
        ),
        mistakes=(
            Mistake(
                "rounding instead of truncating toward zero",
                "astype(np.int64) truncates toward zero (-2.7 → -2); do not round or floor first",
                (_to_int_rounding, _to_int_floor),
            ),
        ),
    ),
)
