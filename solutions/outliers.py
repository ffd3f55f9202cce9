"""Interquartile range, outliers and NaN, with NumPy only.

A common working definition calls a value an outlier when it lies more than
1.5 interquartile ranges outside the middle half of the data. Real data also
contains missing entries, stored as NaN, which every function here must skip.
"""

import warnings

import numpy as np


def iqr(values):
    """Interquartile range of the non-NaN values.

        IQR = Q3 - Q1,   Q1 = 25th percentile,   Q3 = 75th percentile

    Percentiles use linear interpolation between the sorted values (NumPy's
    default method, the same as pandas' ``Series.quantile``).

    Args:
        values: 1-D array or list of floats, possibly containing NaN.

    Returns:
        A float. ``nan`` when there is no non-NaN value (no exception and no
        warning).

    Example:
        >>> float(iqr([1.0, 2.0, 3.0, 4.0, 5.0]))
        2.0
        >>> float(iqr([1.0, np.nan, 3.0]))
        1.0
        >>> bool(np.isnan(iqr([np.nan, np.nan])))
        True

    Tip: ``np.nanquantile`` skips NaN for you. On an all-NaN input it warns
    ("All-NaN slice encountered"); silence that with ``warnings.catch_warnings``.
    """
    ### BEGIN SOLUTION
    data = np.asarray(values, dtype=np.float64)
    if data.size == 0:
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        q1, q3 = np.nanquantile(data, [0.25, 0.75])
    return float(q3 - q1)
    ### END SOLUTION


def outlier_bounds(values, k=1.5):
    """The fences beyond which a value counts as an outlier.

        low  = Q1 - k * IQR
        high = Q3 + k * IQR

    Args:
        values: 1-D array or list of floats, possibly containing NaN (ignored).
        k: how many interquartile ranges the fences sit outside the quartiles.

    Returns:
        ``(low, high)``, a tuple of two floats (both ``nan`` for all-NaN input).

    Example:
        >>> low, high = outlier_bounds([1.0, 2.0, 3.0, 4.0, 5.0])
        >>> float(low), float(high)
        (-1.0, 7.0)

    Tip: compute Q1 and Q3 once with the same method as ``iqr``; the IQR is
    just their difference.
    """
    ### BEGIN SOLUTION
    data = np.asarray(values, dtype=np.float64)
    if data.size == 0:
        return float("nan"), float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        q1, q3 = np.nanquantile(data, [0.25, 0.75])
    spread = q3 - q1
    return float(q1 - k * spread), float(q3 + k * spread)
    ### END SOLUTION


def outlier_mask(values, k=1.5):
    """Boolean mask of the outliers.

        mask[i] = values[i] < low  or  values[i] > high

    Both comparisons are strict: a value exactly on a fence is kept. NaN is
    never an outlier (it is missing, not extreme).

    Args:
        values: 1-D array or list of floats, possibly containing NaN.
        k: fence distance in interquartile ranges, as in ``outlier_bounds``.

    Returns:
        ``np.ndarray`` of dtype bool with the same shape as ``values``.

    Example:
        >>> outlier_mask([1.0, 2.0, 3.0, 4.0, 100.0, np.nan])
        array([False, False, False, False,  True, False])

    Tip: any comparison with NaN is False, so ``<`` and ``>`` already leave
    NaN out; no special case is needed.
    """
    ### BEGIN SOLUTION
    data = np.asarray(values, dtype=np.float64)
    low, high = outlier_bounds(data, k)
    return (data < low) | (data > high)
    ### END SOLUTION


def remove_outliers(values, k=1.5):
    """The values that are neither outliers nor NaN, in their original order.

    Args:
        values: 1-D array or list of floats, possibly containing NaN.
        k: fence distance in interquartile ranges, as in ``outlier_bounds``.

    Returns:
        A 1-D float64 ``np.ndarray`` (possibly empty).

    Example:
        >>> remove_outliers([5.0, np.nan, 1.0, 100.0, 3.0, 2.0])
        array([5., 1., 3., 2.])

    Tip: combine ``outlier_mask`` with ``np.isnan`` and index with the result;
    boolean indexing keeps the order of the kept elements.
    """
    ### BEGIN SOLUTION
    data = np.asarray(values, dtype=np.float64)
    keep = ~outlier_mask(data, k) & ~np.isnan(data)
    return data[keep]
    ### END SOLUTION


def count_nan(values):
    """Number of NaN entries in an array of any shape.

    Args:
        values: array-like of floats, any shape.

    Returns:
        A Python ``int``.

    Example:
        >>> count_nan([[1.0, np.nan], [np.nan, 4.0]])
        2

    Pitfall: ``values == np.nan`` is always False, because NaN is not
    equal to anything, itself included. Use ``np.isnan``.

    Tip: ``True`` counts as 1 when summed.
    """
    ### BEGIN SOLUTION
    data = np.asarray(values, dtype=np.float64)
    return int(np.count_nonzero(np.isnan(data)))
    ### END SOLUTION


def to_int(values, fill=0):
    """Convert floats to int64, truncating toward zero, with NaN set to ``fill``.

        out[i] = fill              if values[i] is NaN
        out[i] = trunc(values[i])  otherwise   (like ``astype(np.int64)``)

    NaN has no integer value, so ``np.array([np.nan]).astype(np.int64)`` gives
    garbage (and a warning); it must be replaced before converting.

    Args:
        values: array or list of floats, possibly containing NaN.
        fill: the integer that stands in for NaN.

    Returns:
        ``np.ndarray`` of dtype int64, same shape as ``values``.

    Example:
        >>> to_int([1.7, -1.7, np.nan], fill=-1)
        array([ 1, -1, -1])

    Tip: ``np.where(np.isnan(a), fill, a)`` first, then ``astype``.
    """
    ### BEGIN SOLUTION
    data = np.asarray(values, dtype=np.float64)
    return np.where(np.isnan(data), fill, data).astype(np.int64)
    ### END SOLUTION
