"""Hidden checks of outliers.py: lengths that separate the quantile methods, values exactly on a bound,
k other than 1.5, all-NaN and empty inputs, float32 arrays, any-shape count_nan and truncation."""

from autograder.checks.public.outliers import (
    NAN,
    ON_BOUNDS,
    ON_BOUNDS_K1,
    TRUNCATE,
    bounds_case,
    count_case,
    iqr_case,
    mask_case,
    remove_case,
    sample,
    to_int_case,
    with_nan,
)

CHECKS = [
    iqr_case("6 values (positions 1.25 and 3.75)", lambda g: sample(g, 6), kind="list"),
    iqr_case("odd length 7", lambda g: sample(g, 7)),
    iqr_case("12 values on a grid with NaN in between", with_nan(ON_BOUNDS, 0, 6)),
    iqr_case("float32 values", [0.5, 2.25, -1.0, 3.75, 8.0, 1.5, 0.0, -2.5, 4.0, 6.25], kind="float32 array"),
    iqr_case("a single value gives 0", [3.5], kind="list"),
    iqr_case("empty input gives nan, no exception", [], kind="list"),
    bounds_case("low and high bounds fall exactly on data values", ON_BOUNDS),
    bounds_case("14 values with NaN", lambda g: sample(g, 14, nan_at=(3, 9)), kind="list", k=1.0),
    bounds_case("odd length 9", lambda g: sample(g, 9), k=2.0),
    bounds_case("all NaN gives (nan, nan)", [NAN, NAN], kind="list"),
    mask_case("values exactly on a bound are kept, NaN in between", with_nan(ON_BOUNDS, 3, 9), kind="list"),
    mask_case("values exactly on the k = 1 bounds are kept", with_nan(ON_BOUNDS_K1, 4), kind="list", k=1.0),
    mask_case("16 values", lambda g: sample(g, 16, outliers=(9.0, -7.0, 6.0)), k=0.5),
    mask_case("all NaN: no outlier", [NAN, NAN, NAN, NAN]),
    remove_case("values exactly on a bound are kept", with_nan(ON_BOUNDS, 5), kind="list"),
    remove_case("a float32 array still gives float64", lambda g: sample(g, 10, outliers=(30.0,)), kind="float32 array"),
    remove_case("14 values with NaN", lambda g: sample(g, 14, nan_at=(2,), outliers=(6.0, -4.0)), k=0.75),
    remove_case("all NaN gives an empty float64 array", [NAN, NAN, NAN], kind="list"),
    count_case("3-D (2, 3, 4) with 5 NaN", lambda g: sample(g, 24, nan_at=(0, 3, 11, 12, 23), shape=(2, 3, 4))),
    count_case("no NaN gives 0", lambda g: sample(g, 6, shape=(2, 3))),
    count_case("all NaN (4, 2)", [[NAN, NAN]] * 4, kind="list"),
    count_case(
        "nested list (2, 2, 3) with 4 NaN", lambda g: sample(g, 12, nan_at=(1, 2, 6, 11), shape=(2, 2, 3)), kind="list"
    ),
    to_int_case("NaN becomes the fill value", with_nan(TRUNCATE, 9, 1), kind="float32 array", fill=99),
    to_int_case("no NaN: plain truncation toward zero", [-0.999, -7.5, 7.5, 0.999, -100.25, 42.0], fill=5),
    to_int_case("all NaN", [NAN, NAN, NAN], kind="list", fill=-7),
    to_int_case("12 values with NaN", lambda g: sample(g, 12, nan_at=(0, 7)) * 10),
]
