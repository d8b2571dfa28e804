"""Exact smallest-integer inversion of a non-increasing envelope.

``smallest_window(eps, envelope, w_min)`` returns, for every target ``eps``, the smallest
integer ``w >= w_min`` with ``envelope(w) <= eps``. A float64 candidate is computed for all
targets at once; targets whose real-valued solution lies within the float error bound of an
integer (or beyond the exactly representable integers) are redone in double-double arithmetic
(``wzbounds._dd``: about 106 bits with a tracked error bound, vectorised; it decides windows up
to about 2**90 tokens); those still undecided, on a power-law piece (``td_line``), in
triple-double at an exact integer anchor (``_td_tier``: logs good to ~2**-140, windows to
~2**125, vectorised, where a batch pays for its log tables); the rest get the closed-form
solution once in mpmath at the window's bits plus ``HP_GUARD_BITS`` with its error bound
(``inverse_hp``), which decides all but the targets within that bound of an integer, and those
take one exact evaluation ``U(m) <= eps`` at that integer. Only where a tier fails altogether
is the boundary ``U(w) <= eps < U(w - 1)`` searched in mpmath at >= 50 significant digits.
Every tier answers only where its error bound leaves no integer in doubt, so every answer is
the exact smallest integer. ``anchor_steps`` (the anchor tiers' decision) serves the block
average too (``wzbounds._block_average``).

Windows with more than ``MAX_WINDOW_DIGITS`` decimal digits are refused with a ``ValueError``
naming ``eps``: their exact evaluation costs seconds to hours (a window of 10**301030 tokens
needs 301030-digit arithmetic), and no cache of that size has a meaning.

An *envelope* is any object with

- ``inverse(eps, dtype) -> (x, abs_err)``: arrays computed in float type ``dtype``; ``x`` the
  real solution of ``U(x) = eps`` (``U(w) <= eps`` iff ``w >= x`` for real ``w``),
  ``abs_err`` a bound on its distance to the exact solution;
- ``inverse_dd(eps) -> wzbounds._dd.DD`` (optional): the same solution in double-double, with
  ``err`` bounding its distance to the exact real solution;
- ``td_line(eps) -> (c, s, s_float)`` (optional): triple-doubles with ``log U(w) = c - s log w``
  on the power-law piece through each target's solution, U on the same side of eps off it;
- ``inverse_hp(eps: float, prec: int) -> (x, rel)`` (optional): the same solution as a libmp
  number computed at ``prec`` bits, ``rel`` bounding its relative error in units of 2**-prec;
- ``inverse_mp(eps: mpf) -> mpf``: the same solution in the current mpmath precision;
- ``value_mp(w: int) -> mpf``: ``U(w)`` in the current mpmath precision.

The error bounds of the mpmath tiers take each elementary mpmath operation (``log``, ``exp``,
``+ - * /``) as accurate to ``MP_ULPS`` units in the last place of the working precision (mpmath
rounds arithmetic correctly and computes ``exp``/``log`` with guard bits; the boundary check
``_at_most`` already relies on far less: 10**5 units).
"""

from __future__ import annotations

import math

import mpmath
import numpy as np

from . import _dd

#: Minimum significant decimal digits of the mpmath boundary check.
MIN_DIGITS = 50
#: Largest number of decimal digits of a window the calculator evaluates (exactly).
MAX_WINDOW_DIGITS = 1000
_INT64_MAX = np.iinfo(np.int64).max
#: Below this ``w_min`` the float tiers apply (their ints must be exact in float64).
_FLOAT_W_MIN = 2**52
#: The double-double tier costs ~100 numpy calls whatever the batch size: below this many
#: undecided targets the per-target mpmath path is as fast.
_DD_MIN_BATCH = 8
#: Units in the last place charged to each elementary mpmath operation (see the module docstring).
MP_ULPS = 2**8
#: Guard bits of the closed-form mpmath tier beyond the window's own bits: the closed forms
#: amplify the charged rounding by at most ~2**18 (2**8 charges times log magnitudes), so the
#: bound stays near 2**-30 of a unit and one target in ~10**9 needs its exact evaluation.
HP_GUARD_BITS = 48


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
        w, unsafe, estimate = _float_tier(flat, envelope, w_min, np.float64)
    else:
        w, unsafe = np.zeros(flat.shape, dtype=np.int64), np.ones(flat.shape, dtype=bool)
        estimate = np.full(flat.shape, np.nan)
    idx = np.flatnonzero(unsafe)
    big: dict[int, int] = {}  # index -> Python int, for windows beyond int64
    if idx.size >= _DD_MIN_BATCH and w_min < _FLOAT_W_MIN and hasattr(envelope, "inverse_dd"):
        with np.errstate(all="ignore"):  # overflow gives inf errors: undecided, not wrong
            x_dd = envelope.inverse_dd(flat[idx])
            n_hi, n_lo, decided = _dd.ceil_decided(x_dd, w_min)
        _store(w, big, idx[decided], n_hi[decided], n_lo[decided])
        idx, x_hi, x_lo = idx[~decided], x_dd.hi[~decided], x_dd.lo[~decided]
        if hasattr(envelope, "td_line") and (_dd.td_ready() or idx.size >= _TD_MIN_BATCH):
            decided = _td_tier(flat[idx], envelope, x_hi, x_lo, w_min, idx, w, big)
            idx = idx[~decided]
    for i in idx:
        v = None
        if hasattr(envelope, "inverse_hp"):
            v = _smallest_window_hp(float(flat[i]), envelope, w_min, float(estimate[i]))
        if v is None:
            v = _smallest_window_mp(float(flat[i]), envelope, w_min)
        if v > _INT64_MAX:
            big[int(i)] = v
        else:
            w[i] = v
    if big:
        w = w.astype(object)  # elements become Python ints
        for k, v in big.items():
            w[k] = v
    return w.reshape(eps.shape)


#: Largest window the triple-double tier takes (its logs are good to ~2**-140).
_TD_MAX = 2.0**125
#: The triple-double logs need tables (~5400 mpmath logs, ~0.1 s, once per process): below this
#: many targets for them, the per-target mpmath tiers are cheaper.
_TD_MIN_BATCH = 4096


def _td_tier(eps, envelope, x_hi, x_lo, w_min, idx, w, big):
    """Windows past double-double's reach, vectorised: on the envelope's power-law piece through
    the solution (``envelope.td_line(eps)``: ``log U(n) = c - s log n`` there, and beyond it
    ``U`` lies on the same side of eps), ``g0 = c - s log n0 - log eps`` in triple-double at the
    exact integer anchor ``n0`` nearest the double-double solution, then ``anchor_steps``.
    Writes the decided windows; returns their mask."""
    ok = np.isfinite(x_hi) & (x_hi >= 2.0**40) & (x_hi < _TD_MAX) & (x_hi > 2.0 * w_min)
    decided = np.zeros(eps.shape, dtype=bool)
    sel = np.flatnonzero(ok)
    if not sel.size:
        return decided
    a0 = np.rint(x_hi[sel])
    a_hi, a_lo = shift(a0, np.zeros(sel.size), np.rint(x_lo[sel] + (x_hi[sel] - a0)))  # an exact integer near x
    c, s_td, s = envelope.td_line(eps[sel])
    with np.errstate(all="ignore"):
        g0 = _dd.td_add(
            _dd.td_add(c, _dd.td_neg(_dd.td_mul(s_td, _dd.td_log_int(a_hi, a_lo)))), _dd.td_neg(_dd.td_log(eps[sel]))
        ).dd

    def difference(dn, n0f):  # -s log1p(dn/n0): u per operation, s's float rounding
        with np.errstate(all="ignore"):
            lam = np.log1p(dn / n0f)
            return -s * lam, 8 * _dd.U * np.abs(s * lam) + np.abs(lam) * (np.abs(s_td.a1) + np.abs(s_td.a2) + s_td.err)

    # anchors are > 2 w_min, so every Newton-sized step stays above w_min
    dn, won = anchor_steps(difference, lambda n0f: -s, g0, a_hi, lambda dn: np.ones(dn.shape))
    n_hi, n_lo = shift(a_hi, a_lo, np.where(np.isfinite(dn), dn, 0.0))
    exact_dd = a_hi < 2.0**100
    _store(w, big, idx[sel[won & exact_dd]], n_hi[won & exact_dd], n_lo[won & exact_dd])
    for k in np.flatnonzero(won & ~exact_dd):
        big[int(idx[sel[k]])] = int(a_hi[k]) + int(a_lo[k]) + int(dn[k])
    decided[sel[won]] = True
    return decided


def _store(w, big, idx, n_hi, n_lo):
    """Write exact double-double integers ``n_hi + n_lo`` at ``idx``: into the int64 array ``w``
    where they fit, into ``big`` (index -> Python int) beyond."""
    fits = np.abs(n_hi) < 2.0**62
    w[idx[fits]] = n_hi[fits].astype(np.int64) + n_lo[fits].astype(np.int64)
    for k in np.flatnonzero(~fits):
        big[int(idx[k])] = int(n_hi[k]) + int(n_lo[k])


def _hp_bits(eps: float, envelope, estimate: float) -> int:
    """Bits of the window for ``eps`` (from the float estimate, or mpmath at 30 digits where
    float64 overflowed); ``ValueError`` past ``MAX_WINDOW_DIGITS`` digits."""
    if np.isfinite(estimate) and estimate < 2.0**1000:
        return max(1, math.frexp(estimate)[1] + 1)
    with mpmath.workdps(30):
        x = envelope.inverse_mp(mpmath.mpf(eps))
        window_digits_iv(x, eps)
        return int(mpmath.ceil(mpmath.log(x, 2))) + 1 if x > 1 else 1


def _smallest_window_hp(eps: float, envelope, w_min: int, estimate: float):
    """The closed-form mpmath tier for one target: the solution ``x`` once at the window's bits
    plus ``HP_GUARD_BITS``, with its error bound (libmp numbers and integer arithmetic: this tier runs per target); an
    integer ``m`` within the bound of ``x`` (x is then in (m - 1, m + 1)) takes one exact
    evaluation ``U(m) <= eps``. None where the bound is too wide to decide (the caller then
    searches)."""
    prec = _hp_bits(eps, envelope, estimate) + HP_GUARD_BITS
    x, rel = envelope.inverse_hp(eps, prec)
    sign, man, exp, _ = x
    if not math.isfinite(rel) or (man == 0 and exp != 0) or sign:  # inf / nan, or a negative x
        return None
    if man == 0:  # x = 0: every admissible window works
        return w_min
    # x = man 2**exp; its error is below man * rel * 2**-prec units of 2**exp, rounded up
    err = (man * math.ceil(rel) >> prec) + 1
    shift = -exp
    if shift <= 2 or err >= 1 << (shift - 2):  # the bound spans a quarter unit or more
        return None
    floor = man >> shift
    frac = man - (floor << shift)  # x - floor(x), in units of 2**exp
    if err < frac < (1 << shift) - err:  # no integer within the bound
        return max(w_min, floor + 1)
    m = floor if frac <= err else floor + 1
    if m + 1 <= w_min:  # U(m + 1) <= eps already
        return w_min
    # x within the bound of m (>= w_min): U(m - 1) > eps and U(m + 1) <= eps; U(m) decides
    return m if _value_at_most(envelope, m, eps) else m + 1


def _value_at_most(envelope, w: int, eps: float) -> bool:
    """``U(w) <= eps`` in mpmath (the boundary convention of ``_at_most``)."""
    digits = int(int(w).bit_length() * 0.30103) + 26
    with mpmath.workdps(max(MIN_DIGITS, digits)):
        return _at_most(envelope.value_mp(w), mpmath.mpf(eps))


def _float_tier(eps, envelope, w_min, dtype):
    """Candidate windows in float type ``dtype``, the mask of those it cannot decide, and the
    float solutions where their bound puts them within a factor 2 (NaN elsewhere): the later
    tiers' estimate of each window's size.

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
        estimate = np.where(abs_err <= 0.5 * x, x, np.nan)  # x within a factor 2; else unknown
    return w.astype(np.int64), unsafe, estimate


def window_digits_iv(x, eps) -> int:
    """Decimal digits of the real window ``x`` (mpf); ``ValueError`` naming ``eps`` past
    ``MAX_WINDOW_DIGITS``."""
    log10 = mpmath.log10(x) if x > 1 else mpmath.mpf(0)
    if log10 >= MAX_WINDOW_DIGITS:
        size = f"{int(log10)}" if log10 < 10**15 else f"({mpmath.nstr(log10, 3)})"
        raise ValueError(
            f"`eps` = {eps!r} needs a window of about 10^{size} tokens under this "
            f"profile; the calculator evaluates windows of up to {MAX_WINDOW_DIGITS} digits"
        )
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


def decide(g_n, e_n, g_m, e_m, at_min):
    """Masks from the bounds at ``n`` and ``n - 1``: decided (``A(n) <= eps < A(n - 1)`` or
    ``n = w_min``), go down (``A(n - 1) <= eps``), go up (``A(n) > eps``)."""
    ok_n, bad_n = g_n + e_n <= 0, g_n - e_n > 0
    ok_m, bad_m = g_m + e_m <= 0, g_m - e_m > 0
    decided = ok_n & (at_min | bad_m)
    down = ok_n & ~at_min & ok_m
    return decided, down, bad_n


def anchor_steps(difference, slope, g0, n0f, above_min):
    """The decision near exact integer anchors ``n0`` (float64 ``n0f``) of a non-increasing
    ``F`` (``log U`` or ``log A``), given ``g0 = F(n0) - log eps`` (a double-double with its bound):
    a Newton step (``slope(n0f)`` = dF/dlog n) to the candidate ``n0 + dn``, then up to three
    one-step moves, each deciding with ``F(n) - log eps = g0 + (F(n) - F(n0))`` at ``n`` and
    ``n - 1``, the float64 difference and its bound from ``difference(dn, n0f)``: near an anchor
    that difference is ~|dn|/n0 and its error u of that, far below the gap ~1/n0 between
    neighbours. ``above_min(dn)`` gives the sign of ``n0 + dn - w_min`` (exactly). Returns
    ``(dn, decided)`` (``dn`` exact floats; NaN where no step was possible)."""
    with np.errstate(all="ignore"):
        dn = np.rint(n0f * np.expm1(-(g0.hi + g0.lo) / slope(n0f))) + 1  # the root, rounded up
    # a Newton step, not a jump (a far anchor's step lands off; the next round re-anchors)
    dn = np.where(np.isfinite(dn) & np.isfinite(g0.err) & (np.abs(dn) <= np.maximum(2.0**-20 * n0f, 64.0)), dn, np.nan)
    decided = np.zeros(dn.shape, dtype=bool)
    for _ in range(3):
        d_n, e_n = difference(dn, n0f)
        d_m, e_m = difference(dn - 1, n0f)
        g_n = _dd.add(g0, _dd.DD(d_n, np.zeros_like(d_n), e_n))
        g_m = _dd.add(g0, _dd.DD(d_m, np.zeros_like(d_m), e_m))
        rel = above_min(dn)
        # hi + lo rounds to within 2**-53 of the value: inside the 1% on the bound
        ok, down, up = decide(g_n.hi + g_n.lo, g_n.err * 1.01, g_m.hi + g_m.lo, g_m.err * 1.01, rel <= 0)
        ok &= np.isfinite(dn) & (rel >= 0) & ~decided
        decided |= ok
        dn = np.where(decided, dn, np.where(down, dn - 1, np.where(up | (rel < 0), dn + 1, dn)))
    return dn, decided


def shift(h, lo, dn) -> tuple[np.ndarray, np.ndarray]:
    """The exact integer ``h + lo + dn`` as a re-normalised double-double (``dn`` an integer
    float with ``|dn| << h``)."""
    s, e = _dd.two_sum(h, dn)
    return _dd._quick(s, e + lo)


def compare(n_hi, n_lo, w: int):
    """Sign of ``n - w`` for exact double-double integers ``n``, exact (Python ints where the
    float64 comparison is too close to call)."""
    with np.errstate(all="ignore"):
        diff = (n_hi - float(w)) + n_lo
    sign = np.sign(diff)
    close = np.abs(diff) <= 2.0**-40 * (np.abs(n_hi) + abs(float(w))) + 2
    for k in np.flatnonzero(close):
        if np.isfinite(n_hi[k]):
            v = int(n_hi[k]) + int(n_lo[k]) - w
            sign[k] = (v > 0) - (v < 0)
    return sign
