"""Exact smallest-integer inversion of a non-increasing envelope.

``smallest_window(eps, envelope, w_min)`` returns, for every target ``eps``, the smallest
integer ``w >= w_min`` with ``envelope(w) <= eps``. A float64 candidate is computed for all
targets at once; targets whose real-valued solution lies within the float error bound of an
integer (or beyond the exactly representable integers) are redone in double-double arithmetic
(``wzbounds._dd``: about 106 bits with a tracked error bound, vectorised; it decides windows up
to about 2**90 tokens), and those still ambiguous in mpmath at >= 50 significant digits, where
the boundary ``U(w) <= eps < U(w - 1)`` is verified directly. Every tier answers only where its
error bound leaves no integer in doubt, so every answer is the exact smallest integer.

Windows with more than ``MAX_WINDOW_DIGITS`` decimal digits are refused with a ``ValueError``
naming ``eps``: their exact evaluation costs seconds to hours (a window of 10**301030 tokens
needs 301030-digit arithmetic), and no cache of that size has a meaning.

An *envelope* is any object with

- ``inverse(eps, dtype) -> (x, abs_err)``: arrays computed in float type ``dtype``; ``x`` the
  real solution of ``U(x) = eps`` (``U(w) <= eps`` iff ``w >= x`` for real ``w``),
  ``abs_err`` a bound on its rounding error (in units of ``np.finfo(dtype).eps``);
- ``inverse_dd(eps) -> wzbounds._dd.DD`` (optional): the same solution in double-double, with
  ``err`` bounding its distance to the exact real solution;
- ``inverse_mp(eps: mpf) -> mpf``: the same solution in the current mpmath precision;
- ``value_mp(w: int) -> mpf``: ``U(w)`` in the current mpmath precision.
"""
from __future__ import annotations

import mpmath
import numpy as np

from . import _dd

#: Minimum significant decimal digits of the mpmath boundary check.
MIN_DIGITS = 50
#: Largest number of decimal digits of a window the calculator evaluates (exactly).
MAX_WINDOW_DIGITS = 1000
_INT64_MAX = np.iinfo(np.int64).max
#: Below this ``w_min`` the float tiers apply (their ints must be exact in float64).
_FLOAT_W_MIN = 2 ** 52
#: The double-double tier costs ~100 numpy calls whatever the batch size: below this many
#: undecided targets the per-target mpmath path is as fast.
_DD_MIN_BATCH = 8


def smallest_window(eps: np.ndarray, envelope, w_min: int):
    """Smallest integer ``w >= w_min`` with ``U(w) <= eps``, elementwise.

    Parameters
    ----------
    eps : float64 array, any shape, all entries finite and > 0 (validated by the caller).
    envelope : a non-increasing envelope (see the module docstring).
    w_min : int, the smallest admissible window (any size).

    Returns
    -------
    int64 array of ``eps.shape``, or an object array of Python ints when some window
    exceeds int64.
    """
    eps = np.asarray(eps, dtype=np.float64)
    flat = eps.ravel()
    w_min = int(w_min)
    if w_min < _FLOAT_W_MIN:
        w, unsafe = _float_tier(flat, envelope, w_min, np.float64)
    else:
        w, unsafe = np.zeros(flat.shape, dtype=np.int64), np.ones(flat.shape, dtype=bool)
    idx = np.flatnonzero(unsafe)
    big = {}  # index -> Python int, for windows beyond int64
    if idx.size >= _DD_MIN_BATCH and w_min < _FLOAT_W_MIN and hasattr(envelope, "inverse_dd"):
        with np.errstate(all="ignore"):  # overflow gives inf errors: undecided, not wrong
            n_hi, n_lo, decided = _dd.ceil_decided(envelope.inverse_dd(flat[idx]), w_min)
        fits = decided & (np.abs(n_hi) < 2.0 ** 62)
        w[idx[fits]] = n_hi[fits].astype(np.int64) + n_lo[fits].astype(np.int64)
        for k in np.flatnonzero(decided & ~fits):
            big[int(idx[k])] = int(n_hi[k]) + int(n_lo[k])
        idx = idx[~decided]
    for i in idx:
        v = _smallest_window_mp(float(flat[i]), envelope, w_min)
        if v > _INT64_MAX:
            big[int(i)] = v
        else:
            w[i] = v
    if big:
        w = w.astype(object)  # elements become Python ints
        for i, v in big.items():
            w[i] = v
    return w.reshape(eps.shape)


def _float_tier(eps, envelope, w_min, dtype):
    """Candidate windows in float type ``dtype`` and the mask of those it cannot decide.

    Decided: no integer within the error bound of the real solution, or the whole bound at or
    below ``w_min - 1``; a NaN or infinite solution or bound is never decided (comparisons
    with NaN are false, so each test is written to fail on NaN)."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        x, abs_err = envelope.inverse(eps, dtype)
        clear = np.abs(x - np.rint(x)) > abs_err
        at_min = x + abs_err <= w_min - 1
        exact_range = x < dtype(2.0) ** (np.finfo(dtype).nmant - 1)  # ints exact below; False on nan/inf
        unsafe = ~((clear | at_min) & exact_range & np.isfinite(abs_err))
        w = np.ceil(x)
        w[unsafe] = w_min
        np.maximum(w, w_min, out=w)
    return w.astype(np.int64), unsafe


def window_digits_iv(x, eps) -> int:
    """Decimal digits of the real window ``x`` (mpf); ``ValueError`` naming ``eps`` past
    ``MAX_WINDOW_DIGITS``."""
    log10 = mpmath.log10(x) if x > 1 else mpmath.mpf(0)
    if log10 >= MAX_WINDOW_DIGITS:
        size = f"{int(log10)}" if log10 < 10 ** 15 else f"({mpmath.nstr(log10, 3)})"
        raise ValueError(f"`eps` = {eps!r} needs a window of about 10^{size} tokens under this "
                         f"profile; the calculator evaluates windows of up to {MAX_WINDOW_DIGITS} digits")
    return int(log10) + 1


def _smallest_window_mp(eps: float, envelope, w_min: int) -> int:
    """Exact boundary search for one target in mpmath (Python int result)."""
    with mpmath.workdps(30):
        x = envelope.inverse_mp(mpmath.mpf(eps))
        digits = max(window_digits_iv(x, eps), int(w_min.bit_length() * 0.30103) + 1)
    with mpmath.workdps(max(MIN_DIGITS, digits + 25)):
        target = mpmath.mpf(eps)
        x = envelope.inverse_mp(target)
        guess = w_min if x <= w_min else int(mpmath.ceil(x))
        return smallest_true(lambda w: _at_most(envelope.value_mp(w), target), guess, w_min)


def smallest_true(pred, guess: int, w_min: int, *, max_steps: int | None = None, w_max: int | None = None) -> int:
    """Smallest integer ``w >= w_min`` with ``pred(w)``, for ``pred`` monotone (false ... false
    true ... true), starting from ``guess``.

    Gallops away from ``guess`` in doubling steps, then bisects: a guess off by ``d`` costs
    about ``2 log2 d`` evaluations. ``w_max`` (where ``pred`` is known to hold) caps the upward
    gallop, so ``pred`` is never evaluated beyond it. Every loop is bounded: the upward gallop
    stops after ``max_steps`` doublings (default: enough to pass ``10**MAX_WINDOW_DIGITS``) with
    a ``ValueError`` (``pred`` never became true there).
    """
    guess = max(int(guess), w_min)
    if w_max is not None:
        guess = min(guess, w_max)
    limit = max_steps if max_steps is not None else 4 * MAX_WINDOW_DIGITS
    if pred(guess):
        hi, step = guess, 1
        lo = hi - step
        while lo >= w_min and pred(lo):  # at most bit_length(guess - w_min) + 1 doublings
            hi, step = lo, 2 * step
            lo = hi - step
        if lo < w_min:
            if pred(w_min):
                return w_min
            lo = w_min
    else:
        lo, step = guess, 1
        hi = lo + step if w_max is None else min(lo + step, w_max)
        for _ in range(limit):
            if hi == w_max or pred(hi):
                break
            lo, step = hi, 2 * step
            hi = lo + step if w_max is None else min(lo + step, w_max)
        else:
            raise ValueError(f"no window up to {hi} reaches the target (the envelope does not fall below it)")
    # invariant: pred(lo) false, pred(hi) true; bisection takes bit_length(hi - lo) steps
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if pred(mid):
            hi = mid
        else:
            lo = mid
    return hi


def _at_most(value, target) -> bool:
    """``value <= target``; values equal to ``target`` up to the working precision (a
    relative 10**-(dps - 5)) count as equal, so exact ties are not lost to rounding."""
    slack = mpmath.mpf(10) ** (5 - mpmath.mp.dps)
    return value <= target * (1 + slack)


def verify_boundary(w: int, eps: float, envelope, w_min: int) -> bool:
    """True when ``w`` is the smallest integer ``>= w_min`` with ``U(w) <= eps``,
    checked in mpmath at >= 50 digits (for tests and users who want to double-check)."""
    digits = int(int(w).bit_length() * 0.30103) + 26  # decimal digits of w, without str()
    with mpmath.workdps(max(MIN_DIGITS, digits)):
        target = mpmath.mpf(eps)
        if w < w_min or not _at_most(envelope.value_mp(w), target):
            return False
        return w == w_min or not _at_most(envelope.value_mp(w - 1), target)
