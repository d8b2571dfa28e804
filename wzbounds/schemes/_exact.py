"""Exact integer arithmetic on token counts: int64 while every value fits, Python ints (object
arrays) beyond, so ``2 b - 1`` or ``w + sinks`` never wraps around."""

from __future__ import annotations

from fractions import Fraction

import numpy as np

_INT64_MAX = np.iinfo(np.int64).max


def exact(values, f):
    """``f`` applied elementwise to ``values`` as Python ints; the result is an int64 array
    when every entry fits (else an object array); 0-d input gives 0-d output."""
    arr = np.asarray(values)
    if arr.dtype.kind in "iu" and (not arr.size or np.max(np.abs(arr)) < 2**40):
        # vectorised when no wrap-around is possible: the same f in float64 (which cannot wrap)
        # must agree and stay within exact float integers
        try:
            with np.errstate(all="ignore"):
                fast, check = f(arr.astype(np.int64)), f(arr.astype(np.float64))
        except (OverflowError, TypeError):  # e.g. a Python int beyond int64 inside f
            fast = check = None
        if (
            fast is not None
            and np.asarray(fast).dtype == np.int64
            and np.all(np.abs(check) < 2.0**52)
            and np.array_equal(fast, check)
        ):
            return np.asarray(fast)
    out = np.array([f(int(v)) for v in arr.ravel()], dtype=object).reshape(arr.shape)
    if all(isinstance(v, int) and abs(v) <= _INT64_MAX for v in out.ravel()):
        return out.astype(np.int64)
    return out


def half_integers(values):
    """``values / 2`` exactly: float64 while exact (< 2**52), else an object array of Python ints
    (even values) and Fractions (odd ones)."""
    arr = np.asarray(values)
    if arr.dtype != object and (not arr.size or np.max(np.abs(arr)) < 2**52):
        return arr / 2.0
    ints = [int(v) for v in arr.ravel()]
    halves = [v >> 1 if not v & 1 else Fraction(v, 2) for v in ints]  # Fraction normalises: only where needed
    return np.array(halves, dtype=object).reshape(arr.shape)
