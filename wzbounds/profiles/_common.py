"""Helpers shared by the profile classes (window arrays, CI tuples, w0)."""

from __future__ import annotations

import math

import numpy as np

from .._inversion import MAX_WINDOW_DIGITS
from .._validation import positive_int, real_scalar


def log_windows(w) -> np.ndarray:
    """Natural log of window sizes as float64, exact for Python ints beyond float range.

    ``w``: scalar or array of positive window sizes (int64, float or object array of ints).
    """
    arr = np.asarray(w)
    if arr.dtype == object:
        return np.array([math.log(v) for v in arr.ravel()], dtype=np.float64).reshape(arr.shape)
    arr = arr.astype(np.float64)
    if arr.size and not (np.all(np.isfinite(arr)) and np.all(arr > 0)):
        raise ValueError(f"`w` must be positive finite window sizes, got {w!r}")
    return np.log(arr)


def interval(name: str, value, *, low=0.0, estimate=None):
    """Validate an optional ``(low, high)`` confidence interval with ``low <= high`` that
    contains ``estimate`` (an interval that misses its own point estimate is a bug upstream)."""
    if value is None:
        return None
    try:
        lo, hi = value
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` must be a (low, high) pair or None, got {value!r}") from None
    lo = real_scalar(f"{name}[0]", lo, low=low)
    hi = real_scalar(f"{name}[1]", hi, low=low)
    if lo > hi:
        raise ValueError(f"`{name}` must satisfy low <= high, got {value!r}")
    if estimate is not None and not lo <= estimate <= hi:
        raise ValueError(f"`{name}` = ({lo:g}, {hi:g}) must contain the estimate {estimate:g}")
    return (lo, hi)


def int_w0(value) -> int:
    """``w0`` as a Python int >= 1 (any size up to ``MAX_WINDOW_DIGITS`` digits)."""
    w0 = positive_int("w0", value, minimum=1)
    if w0.bit_length() > 3.33 * MAX_WINDOW_DIGITS:
        raise ValueError(f"`w0` must have at most {MAX_WINDOW_DIGITS} digits")
    return w0
