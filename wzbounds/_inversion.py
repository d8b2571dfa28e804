"""Exact smallest-integer inversion of a non-increasing envelope.

``smallest_window(eps, envelope, w_min)`` returns, for every target ``eps``, the smallest
integer ``w >= w_min`` with ``envelope(w) <= eps``. A float64 candidate is computed for all
targets at once; only targets whose real-valued solution lies within the float error bound
of an integer (or beyond 2**52) are redone in mpmath at >= 50 significant digits, where the
boundary ``U(w) <= eps < U(w - 1)`` is verified directly. This keeps 10**6 targets fast and
every answer exact.

An *envelope* is any object with

- ``inverse(eps) -> (x, abs_err)``: float64 arrays; ``x`` the real solution of ``U(x) = eps``
  (``U(w) <= eps`` iff ``w >= x`` for real ``w``), ``abs_err`` a bound on its float error;
- ``inverse_mp(eps: mpf) -> mpf``: the same solution in the current mpmath precision;
- ``value_mp(w: int) -> mpf``: ``U(w)`` in the current mpmath precision.
"""
from __future__ import annotations

import mpmath
import numpy as np

#: Minimum significant decimal digits of the mpmath boundary check.
MIN_DIGITS = 50
#: Above this a float64 cannot hold every integer exactly.
_FLOAT_EXACT = 2.0 ** 52
_INT64_MAX = np.iinfo(np.int64).max


def smallest_window(eps: np.ndarray, envelope, w_min: int):
    """Smallest integer ``w >= w_min`` with ``U(w) <= eps``, elementwise.

    Parameters
    ----------
    eps : float64 array, any shape, all entries finite and > 0 (validated by the caller).
    envelope : a non-increasing envelope (see the module docstring).
    w_min : int, the smallest admissible window.

    Returns
    -------
    int64 array of ``eps.shape``, or an object array of Python ints when some window
    exceeds int64.
    """
    eps = np.asarray(eps, dtype=np.float64)
    flat = eps.ravel()
    with np.errstate(over="ignore", invalid="ignore"):
        x, abs_err = envelope.inverse(flat)
        nearest = np.rint(x)
        unsafe = ~np.isfinite(x) | (x >= _FLOAT_EXACT) | (
            (np.abs(x - nearest) <= abs_err) & (x + abs_err > w_min - 1))
        w = np.ceil(np.where(unsafe, w_min, x))
    w = np.maximum(w, w_min).astype(np.int64)
    idx = np.flatnonzero(unsafe)
    if idx.size == 0:
        return w.reshape(eps.shape)
    exact = [_smallest_window_mp(float(flat[i]), envelope, w_min) for i in idx]
    if max(exact) > _INT64_MAX:
        w = w.astype(object)  # elements become Python ints
    for i, v in zip(idx, exact):
        w[i] = v
    return w.reshape(eps.shape)


def _smallest_window_mp(eps: float, envelope, w_min: int) -> int:
    """Exact boundary search for one target in mpmath (Python int result)."""
    with mpmath.workdps(30):
        x = envelope.inverse_mp(mpmath.mpf(eps))
        digits = int(mpmath.log10(abs(x))) + 1 if x > 1 else 1
    with mpmath.workdps(max(MIN_DIGITS, digits + 25)):
        target = mpmath.mpf(eps)
        x = envelope.inverse_mp(target)
        w = max(w_min, int(mpmath.ceil(x)))
        while w > w_min and _at_most(envelope.value_mp(w - 1), target):
            w -= 1
        while not _at_most(envelope.value_mp(w), target):
            w += 1
    return w


def _at_most(value, target) -> bool:
    """``value <= target``; values equal to ``target`` up to the working precision (a
    relative 10**-(dps - 5)) count as equal, so exact ties are not lost to rounding."""
    slack = mpmath.mpf(10) ** (5 - mpmath.mp.dps)
    return value <= target * (1 + slack)


def verify_boundary(w: int, eps: float, envelope, w_min: int) -> bool:
    """True when ``w`` is the smallest integer ``>= w_min`` with ``U(w) <= eps``,
    checked in mpmath at >= 50 digits (for tests and users who want to double-check)."""
    digits = len(str(int(w))) + 25
    with mpmath.workdps(max(MIN_DIGITS, digits)):
        target = mpmath.mpf(eps)
        if w < w_min or not _at_most(envelope.value_mp(w), target):
            return False
        return w == w_min or not _at_most(envelope.value_mp(w - 1), target)
