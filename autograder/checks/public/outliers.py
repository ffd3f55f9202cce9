"""Public checks of outliers.py against torch.nanquantile in float64 (linear interpolation, NaN ignored).
The references and case builders are shared with hidden/.
"""

import numpy as np
import torch

from autograder.checks.core import CPU_ONLY, Inputs, call_check

NAN = float("nan")
# Sorted: [-50, -6.5, 4, 8, 9, 10, 11, 12, 15, 19, 29.5, 80]. Q1 = 7 and Q3 = 16 (positions 2.75 and
# 8.25), IQR = 9, so with k = 1.5 the bounds are exactly -6.5 and 29.5: those two are NOT outliers.
ON_BOUNDS = [10.0, 29.5, 4.0, -50.0, 12.0, 8.0, 19.0, -6.5, 9.0, 80.0, 11.0, 15.0]
# The same quartiles; with k = 1 the bounds are exactly -2 and 25.
ON_BOUNDS_K1 = [25.0, 4.0, -30.0, 12.0, 8.0, 19.0, 9.0, -2.0, 40.0, 11.0, 15.0, 10.0]


# --- references (PyTorch, float64) ---------------------------------------------------------------


def _tensor(values):
    return torch.as_tensor(np.asarray(values, dtype=np.float64))


def _quartiles(values):
    t = _tensor(values)
    if t.numel() == 0:
        return NAN, NAN
    q = torch.nanquantile(t, torch.tensor([0.25, 0.75], dtype=torch.float64))
    return float(q[0]), float(q[1])


def ref_iqr(values):
    q1, q3 = _quartiles(values)
    return q3 - q1


def ref_bounds(values, k=1.5):
    q1, q3 = _quartiles(values)
    return q1 - k * (q3 - q1), q3 + k * (q3 - q1)


def ref_mask(values, k=1.5):
    low, high = ref_bounds(values, k)
    t = _tensor(values)
    return ((t < low) | (t > high)).numpy()


def ref_remove(values, k=1.5):
    t = _tensor(values)
    return t[~torch.as_tensor(ref_mask(values, k)) & ~torch.isnan(t)].numpy()


def ref_count_nan(values):
    return int(torch.isnan(_tensor(values)).sum())


def ref_to_int(values, fill=0):
    return torch.nan_to_num(_tensor(values), nan=fill).to(torch.int64).numpy()


# --- inputs --------------------------------------------------------------------------------------


def sample(g, n, *, nan_at=(), outliers=(), shape=None):
    """``n`` seeded floats around 1 (spread 2), ``outliers`` planted at the first positions, NaN at
    ``nan_at``; a float64 array of ``shape`` (default ``(n,)``)."""
    x = torch.randn(n, generator=g, dtype=torch.float64) * 2 + 1
    for i, v in enumerate(outliers):
        x[i] = v
    for i in nan_at:
        x[i] = NAN
    return x.numpy().reshape(shape or (n,))


def as_given(data, kind):
    """The same data as a float64 array, a float32 array or a Python list."""
    if kind == "list":
        return np.asarray(data).tolist()
    return np.asarray(data, dtype={"array": np.float64, "float32 array": np.float32}[kind])


def _case(exercise, reference, out_name, name, data, kind, options):
    def make(g):
        values = data(g) if callable(data) else data
        return Inputs((as_given(values, kind),), dict(options), names=("values",))

    shown = "".join(f", {k}={v}" for k, v in options.items())
    return call_check(exercise, reference, devices=CPU_ONLY, out_name=out_name)(f"{kind}: {name}{shown}", make)


def iqr_case(name, data, kind="array"):
    return _case("outliers.iqr", ref_iqr, "iqr", name, data, kind, {})


def bounds_case(name, data, kind="array", **k):
    return _case("outliers.outlier_bounds", ref_bounds, "(low, high)", name, data, kind, k)


def mask_case(name, data, kind="array", **k):
    return _case("outliers.outlier_mask", ref_mask, "mask", name, data, kind, k)


def remove_case(name, data, kind="array", **k):
    return _case("outliers.remove_outliers", ref_remove, "kept values", name, data, kind, k)


def count_case(name, data, kind="array"):
    return _case("outliers.count_nan", ref_count_nan, "NaN count", name, data, kind, {})


def to_int_case(name, data, kind="array", **fill):
    return _case("outliers.to_int", ref_to_int, "integers", name, data, kind, fill)


def with_nan(values, *positions):
    values = list(values)
    for i in positions:
        values.insert(i, NAN)
    return values


TRUNCATE = [1.7, -1.7, 2.5, -2.5, 0.4, -0.4, 3.0, -3.999, 12.25]

CHECKS = [
    iqr_case("8 values (Q1, Q3 at positions 1.75 and 5.25: linear interpolation)", lambda g: sample(g, 8)),
    iqr_case("10 values with 2 NaN (NaN ignored)", lambda g: sample(g, 10, nan_at=(2, 7))),
    iqr_case("all NaN gives nan, no exception", [NAN, NAN, NAN]),
    bounds_case("12 values with 2 outliers", lambda g: sample(g, 12, outliers=(14.0, -11.0))),
    bounds_case("10 values with NaN", lambda g: sample(g, 10, nan_at=(0, 5)), kind="list", k=3.0),
    mask_case("10 values with an outlier at each end", lambda g: sample(g, 10, outliers=(15.0, -12.0))),
    mask_case("NaN is never an outlier", lambda g: sample(g, 10, nan_at=(1, 4), outliers=(20.0,)), kind="list"),
    mask_case("values exactly on a bound are kept (strict < and >)", ON_BOUNDS),
    remove_case("outliers and NaN dropped, order kept", lambda g: sample(g, 10, nan_at=(3,), outliers=(18.0, -9.0))),
    remove_case("12 values with an outlier", lambda g: sample(g, 12, outliers=(-20.0,)), kind="list"),
    count_case("1-D with 3 NaN", lambda g: sample(g, 9, nan_at=(0, 4, 8))),
    count_case("2-D (3, 4) with 2 NaN", lambda g: sample(g, 12, nan_at=(5, 6), shape=(3, 4)), kind="list"),
    to_int_case("NaN becomes 0 (default fill), negatives truncate toward zero", with_nan(TRUNCATE, 2)),
    to_int_case("NaN becomes the fill value", with_nan(TRUNCATE, 0, 5), kind="list", fill=-1),
]
