"""Helpers shared by the profile classes (window arrays, CI tuples, provenance)."""
from __future__ import annotations

import math

import numpy as np

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


def interval(name: str, value, *, low=0.0):
    """Validate an optional ``(low, high)`` confidence interval with ``low <= high``."""
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
    return (lo, hi)


def provenance_dict(value) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"`provenance` must be a dict or None, got {type(value).__name__}")
    return dict(value)


def int_w0(value) -> int:
    return positive_int("w0", value, minimum=1)
