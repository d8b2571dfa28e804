"""Double-double arithmetic on float64 arrays, with a running error bound.

A value is a ``DD(hi, lo, err)``: arrays with ``hi + lo`` the computed number (``|lo| <=
ulp(hi)/2`` after each operation) and ``err`` a bound on ``|hi + lo - exact|``, where *exact*
is the real number the same formula gives in exact arithmetic. Every operation adds its own
rounding to ``err`` and propagates the inputs' errors (first-order terms plus their product), so
a result's ``err`` bounds the whole computation. ``wzbounds._inversion`` uses this tier between
float64 and mpmath: about 106 significant bits, which decides windows up to about 2**90 tokens.

Rounding constants (``u = 2**-53``): the sum, product and quotient of double-doubles below are
the accurate algorithms of Joldes, Muller and Popescu (ACM TOMS 2017), relative error <= 3u^2,
<= 5u^2 and <= 15u^2; we charge 8u^2, 16u^2 and 32u^2. ``exp`` and ``log`` are built from those
operations, so their rounding is tracked the same way; what is added by hand is the truncation
of their series (``_EXP_TRUNC``, and t^3/3 in ``log``, computed from t). ``tests/cover/test_fast_inversion.py``
checks the bounds against mpmath at 60 digits. Every ``err`` is inflated by ``_SLACK`` for the
float rounding of the error terms themselves.

The triple-double section at the end (``TD``, ``td_log``) carries logarithms to ~2**-140 for the
tiers past double-double's reach (windows and blocks to ~2**125).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import mpmath
import numpy as np

U = 2.0**-53
U2 = U * U
_SPLIT = 2.0**27 + 1.0
_SLACK = 1.0 + 2.0**-40
#: Argument reduction of ``exp``: Taylor on r / 2**_SQUARINGS, then that many doublings.
_SQUARINGS = 10
_TAYLOR_TERMS = 9
#: Relative truncation of the Taylor series of expm1 on |r'| <= 2**-11.4 after 9 terms
#: (|r'|^9 / 10! * 2 < 2**-124), grown by at most e^0.35 through the doublings: charged 2**-120.
_EXP_TRUNC = 2.0**-120


@dataclass(frozen=True)
class DD:
    hi: np.ndarray
    lo: np.ndarray
    err: np.ndarray

    @property
    def value(self) -> np.ndarray:
        return self.hi + self.lo


def exact(x) -> DD:
    """A float64 array as an exact double-double."""
    x = np.asarray(x, dtype=np.float64)
    return DD(x, np.zeros_like(x), np.zeros_like(x))


def point(x: DD) -> DD:
    """``x`` taken as an exact point (its error dropped): for a-posteriori bounds."""
    return DD(x.hi, x.lo, np.zeros_like(x.hi))


def _const(value) -> tuple[DD, float]:
    """A mathematical constant (mpmath) as a double-double, with its representation error."""
    with mpmath.workdps(60):
        v = mpmath.mpf(value) if not callable(value) else value()
        hi = float(v)
        lo = float(v - hi)
        return DD(np.float64(hi), np.float64(lo), np.float64(0.0)), float(abs(v - hi - lo)) * 2 + 1e-300


LN2, _LN2_ERR = _const(mpmath.ln2)


def two_sum(a, b):
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def _quick(a, b):
    s = a + b
    return s, b - (s - a)


def _split(a):
    t = _SPLIT * a
    hi = t - (t - a)
    return hi, a - hi


def two_prod(a, b):
    p = a * b
    ah, al = _split(a)
    bh, bl = _split(b)
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


def add(x: DD, y: DD) -> DD:
    s, e = two_sum(x.hi, y.hi)
    t, f = two_sum(x.lo, y.lo)
    e = e + t
    s, e = _quick(s, e)
    e = e + f
    s, e = _quick(s, e)
    return DD(s, e, (x.err + y.err + 8 * U2 * np.abs(s)) * _SLACK)


def neg(x: DD) -> DD:
    return DD(-x.hi, -x.lo, x.err)


def sub(x: DD, y: DD) -> DD:
    return add(x, neg(y))


def mul(x: DD, y: DD) -> DD:
    p, e = two_prod(x.hi, y.hi)
    e = e + (x.hi * y.lo + x.lo * y.hi)
    p, e = _quick(p, e)
    ax, ay = np.abs(x.hi) * (1 + 2 * U), np.abs(y.hi) * (1 + 2 * U)
    err = ax * y.err + ay * x.err + x.err * y.err + 16 * U2 * np.abs(p)
    return DD(p, e, err * _SLACK)


def scale2(x: DD, k) -> DD:
    """``x * 2**k`` (exact unless it underflows; callers stay far from that)."""
    return DD(np.ldexp(x.hi, k), np.ldexp(x.lo, k), np.ldexp(x.err, k))


def div(x: DD, y: DD) -> DD:
    """``x / y`` for ``|y| > y.err`` (else the error is infinite: the caller's mask catches it)."""
    q1 = x.hi / y.hi
    r = sub(DD(x.hi, x.lo, 0 * x.err), mul(y.__class__(y.hi, y.lo, 0 * y.err), exact(q1)))
    q2 = r.hi / y.hi
    r = sub(r, mul(DD(y.hi, y.lo, 0 * y.err), exact(q2)))
    q3 = r.hi / y.hi
    q1, q2 = _quick(q1, q2)
    s, e = two_sum(q1, q3)
    s, e = _quick(s, e + q2)
    ay = np.abs(y.hi) * (1 - 4 * U) - y.err
    with np.errstate(divide="ignore", invalid="ignore"):
        prop = np.where(ay > 0, (x.err + np.abs(s) * y.err) / ay, np.inf)
    return DD(s, e, (prop + 32 * U2 * np.abs(s)) * _SLACK)


#: 1/k! for k = 1.._TAYLOR_TERMS (their representation errors, < u^2/k!, are inside _EXP_TRUNC).
_INV_FACT = [_const(lambda k=k: 1 / mpmath.factorial(k))[0] for k in range(1, _TAYLOR_TERMS + 1)]


def exp(x: DD) -> DD:
    """``exp(x)`` for ``x < 709`` (larger gives inf with err inf: undecided downstream)."""
    k = np.rint(x.hi / float(LN2.hi))
    kd = exact(k)
    r = sub(DD(x.hi, x.lo, np.zeros_like(x.err)), mul(kd, LN2))
    r_err = np.abs(k) * (_LN2_ERR + 16 * U2 * float(LN2.hi)) + r.err  # reduction rounding
    r = scale2(DD(r.hi, r.lo, np.zeros_like(r.err)), -_SQUARINGS)
    t = _INV_FACT[-1]
    t = DD(np.broadcast_to(t.hi, r.hi.shape), np.broadcast_to(t.lo, r.hi.shape), np.zeros_like(r.hi))
    for j in range(_TAYLOR_TERMS - 2, -1, -1):  # t = 1/(j+1)! + r t: Horner for expm1(r)/r
        c = _INV_FACT[j]
        t = add(DD(c.hi + 0 * r.hi, c.lo + 0 * r.hi, 0 * r.hi), mul(r, t))
    s = mul(r, t)  # expm1(r')
    for _ in range(_SQUARINGS):  # expm1(2y) = 2 expm1(y) + expm1(y)^2
        s = add(scale2(s, 1), mul(s, s))
    one_plus = add(exact(np.ones_like(s.hi)), s)
    kk = np.clip(k, -1100, 1100).astype(np.int64)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        res = scale2(DD(one_plus.hi, one_plus.lo, np.zeros_like(s.hi)), kk)
        mag = np.abs(res.hi) * (1 + 2 * U)
        rel = one_plus.err / np.abs(one_plus.hi) + _EXP_TRUNC + np.expm1(x.err + r_err) * (1 + 4 * U)
        err = mag * rel * (1 + 4 * U) + 1e-300  # the absolute term covers underflow to 0
        bad = ~np.isfinite(res.hi) | ~np.isfinite(rel) | (x.hi > 709)
        err = np.where(bad, np.inf, err)
    return DD(res.hi, res.lo, err * _SLACK)


def log(x: DD) -> DD:
    """``log(x)`` for ``x > x.err`` (else err is inf)."""
    m, e = np.frexp(x.hi)  # x.hi = m 2**e, m in [0.5, 1)
    low = m < 0.7071067811865476
    m = np.where(low, 2 * m, m)
    e = np.where(low, e - 1, e)
    mx = DD(np.ldexp(x.hi, -e), np.ldexp(x.lo, -e), np.zeros_like(x.hi))  # mantissa in [0.707, 1.415)
    with np.errstate(divide="ignore", invalid="ignore"):
        y0 = np.log(mx.hi)
        t = sub(mul(mx, exp(exact(-y0))), exact(np.ones_like(y0)))
        # log(m) = y0 + log1p(t), |t| <~ 2**-51: log1p(t) = t - t^2/2 + O(t^3)
        corr = add(DD(t.hi, t.lo, np.zeros_like(y0)), exact(-0.5 * t.hi * t.hi))
        lm = add(exact(y0), corr)
        res = add(lm, mul(exact(e.astype(np.float64)), LN2))
        rel_in = x.err / np.abs(x.hi)
        prop = np.where(rel_in < 0.5, -np.log1p(-np.minimum(rel_in, 0.5)) * (1 + 4 * U), np.inf)
        trunc = np.abs(t.hi) ** 3 * 0.34 + np.abs(t.hi) * 4 * U2  # t^3/3 (|t| tiny) and the t^2 rounding
        err = trunc + np.abs(e) * _LN2_ERR + res.err + t.err + prop
        err = np.where((x.hi > 0) & np.isfinite(x.hi), err, np.inf)
    return DD(res.hi, res.lo, err * _SLACK)


def ceil_decided(x: DD, w_min: int):
    """``(n, decided)``: ``n = max(w_min, ceil(exact))`` as an exact double-double integer
    ``(n_hi, n_lo)`` where the error bound leaves no integer in doubt, and the mask of those.

    Undecided: an integer within ``err`` of ``x`` (unless all of ``x + err`` lies at or below
    ``w_min``), a non-finite value, or ``x`` beyond ``2**100`` (the integer parts must be exact).
    """
    with np.errstate(invalid="ignore", over="ignore"):
        finite = np.isfinite(x.hi) & np.isfinite(x.err) & (np.abs(x.hi) < 2.0**100)
        hi = np.where(finite, x.hi, 0.0)
        lo = np.where(finite, x.lo, 0.0)
        a = np.floor(hi)  # exact; hi - a is exact and in [0, 1)
        b = np.floor(lo)  # exact (|lo| < 2**47 here)
        frac = (hi - a) + (lo - b)  # each part exact, the sum within 2u of the true fraction in [0, 2)
        c = np.floor(frac)
        f = frac - c  # in [0, 1)
        margin = x.err + 4 * U * (1 + np.abs(frac))
        clear = (f > margin) & (f < 1 - margin)
        n_hi, n_lo = two_sum(a, b + c + 1)  # exact: ceil(x) = a + b + c + 1 when f in (0, 1)
        below = x.hi + x.err * _SLACK + 4 * U * np.abs(x.hi) <= w_min  # the answer is w_min regardless
        decided = finite & (clear | below)
        at_min = below | (n_hi + n_lo < w_min)
        n_hi = np.where(at_min, float(w_min), n_hi)
        n_lo = np.where(at_min, 0.0, n_lo)
    return n_hi, n_lo, decided


# --- triple-double: logarithms to ~2**-140 absolute --------------------------------------------
# A TD is three float64 arrays whose sum is the value, with ``err`` bounding its distance to the
# exact value (components need not be normalised: the bounds below use their actual sizes).
# Only what the block-average tier needs: sums, products, and logarithms of float64 and of exact
# double-double integers, built from error-free transformations (two_sum, two_prod) whose
# results are exact, so the only roundings are the float64 sums of terms already ~2**-100 of the
# value, each charged at 8u of its magnitude, and the table constants (2**-165 relative).
U3 = 2.0**-165  # the tables' and constants' representation error (rounded from 250-bit mpmath)


@dataclass(frozen=True)
class TD:
    a0: np.ndarray
    a1: np.ndarray
    a2: np.ndarray
    err: np.ndarray

    @property
    def dd(self) -> DD:
        """The value as a double-double (hi + lo), the third component moved into ``err``."""
        hi, lo = two_sum(self.a0, self.a1)
        return DD(hi, lo + self.a2, self.err + np.abs(self.a2) * 2 * U + np.abs(lo) * U)


def td_const(value) -> TD:
    """An mpmath number (or anything mpmath takes) as a scalar TD."""
    with mpmath.workprec(250):
        v = mpmath.mpf(value)
        a0 = float(v)
        a1 = float(v - a0)
        a2 = float(v - a0 - a1)
        return TD(np.float64(a0), np.float64(a1), np.float64(a2), np.float64(abs(a0) * U3))


def _sum_to_td(big, mid, rest, err):
    """``big + mid + rest`` (big, mid exact doubles, rest a rounded double) as a TD."""
    r0, e = two_sum(big, mid)
    r1, r2 = two_sum(e, rest)
    return TD(r0, r1, r2, err)


def td_add(x: TD, y: TD) -> TD:
    """``x + y``: the two leading pairs by two_sum (exact), the small terms summed in float64."""
    s0, t0 = two_sum(x.a0, y.a0)
    s1, t1 = two_sum(x.a1, y.a1)
    s2 = x.a2 + y.a2
    u1, v1 = two_sum(t0, s1)
    w = t1 + s2 + v1
    rnd = 8 * U * (np.abs(x.a2) + np.abs(y.a2) + np.abs(t1) + np.abs(v1))
    return _sum_to_td(s0, u1, w, x.err + y.err + rnd)


def td_neg(x: TD) -> TD:
    return TD(-x.a0, -x.a1, -x.a2, x.err)


def td_mul(x: TD, y: TD) -> TD:
    """``x y``: the products x0 y0, x0 y1, x1 y0 exactly (two_prod), the next order in float64, the
    rest (x1 y2, x2 y1, x2 y2) dropped and charged."""
    p, e = two_prod(x.a0, y.a0)
    p01, e01 = two_prod(x.a0, y.a1)
    p10, e10 = two_prod(x.a1, y.a0)
    a, b = two_sum(p01, p10)
    c, d = two_sum(e, a)
    small = x.a0 * y.a2 + x.a2 * y.a0 + x.a1 * y.a1 + e01 + e10 + b + d
    ax, ay = np.abs(x.a0) + np.abs(x.a1) + np.abs(x.a2), np.abs(y.a0) + np.abs(y.a1) + np.abs(y.a2)
    dropped = np.abs(x.a1 * y.a2) + np.abs(x.a2 * y.a1) + np.abs(x.a2 * y.a2)
    rnd = (
        8
        * U
        * (
            np.abs(x.a0 * y.a2)
            + np.abs(x.a2 * y.a0)
            + np.abs(x.a1 * y.a1)
            + np.abs(e01)
            + np.abs(e10)
            + np.abs(b)
            + np.abs(d)
        )
    )
    err = ax * y.err + ay * x.err + x.err * y.err + (dropped + rnd) * (1 + 4 * U)
    return _sum_to_td(p, c, small, err * _SLACK)


def _td_mul_exact(x: TD, c):
    """``x c`` for a float64 ``c`` (array): three exact products summed to a TD."""
    p0, e0 = two_prod(x.a0, c)
    p1, e1 = two_prod(x.a1, c)
    a, b = two_sum(e0, p1)
    small = b + e1 + x.a2 * c
    rnd = 8 * U * (np.abs(b) + np.abs(e1) + np.abs(x.a2 * c))
    return _sum_to_td(p0, a, small, x.err * np.abs(c) + rnd)


_LOG_TABLES: dict[int | str, Any] = {}  # level -> (c, -log c as a0, a1, a2, first k); "ln2" -> TD


def _log_tables():
    """Reduction constants ``c`` (float64) and ``-log c`` (TD arrays) for the three levels of
    ``td_log``: level 1 indexed by the leading 10 bits of the mantissa, levels 2 and 3 by the
    rounded remainder at 2**-20 and 2**-30 (c ~ 1/(1 + k 2**-10j), rounded to 12, 24, 36 bits so
    that the products are exact two_prods of short numbers)."""
    if not _LOG_TABLES:
        with mpmath.workprec(250):
            for level, (scale, bits, ks) in enumerate(
                [(2.0**-10, 12, range(0, 1025)), (2.0**-20, 24, range(-1100, 1101)), (2.0**-30, 36, range(-1100, 1101))]
            ):
                cs, logs = [], []
                for k in ks:
                    mid = 1 + (k + (0.5 if level == 0 else 0.0)) * scale
                    c = math.ldexp(round(math.ldexp(1 / mid, bits)), -bits)
                    cs.append(c)
                    logs.append(-mpmath.log(mpmath.mpf(c)))
                tab = [td_const(v) for v in logs]
                _LOG_TABLES[level] = (
                    np.array(cs),
                    np.array([t.a0 for t in tab]),
                    np.array([t.a1 for t in tab]),
                    np.array([t.a2 for t in tab]),
                    ks.start,
                )
            _LOG_TABLES["ln2"] = td_const(mpmath.ln2)
    return _LOG_TABLES


def td_ready() -> bool:
    """Whether ``td_log``'s tables are built (they cost ~0.1 s, once per process)."""
    return bool(_LOG_TABLES)


def _td_take(level, idx):
    cs, a0, a1, a2, start = _log_tables()[level]
    i = idx - start
    return cs[i], TD(a0[i], a1[i], a2[i], np.abs(a0[i]) * U3)


def td_log(f) -> TD:
    """``log f`` for positive normal float64 ``f`` as a TD, absolute error ~2**-140 or below.

    ``f = M 2**E`` with M in [1, 2); three multiplications by table constants ``c_i`` (exact:
    two_prod, and the short c_i keep each level's remainder a sum of exact doubles) bring M to
    ``1 + r`` with |r| < 2**-29: ``log M = sum_i (-log c_i) + log(1 + r)``, and ``log(1 + r) = r -
    r^2/2 + r^3/3 - r^4/4 + r^5/5`` (r^2 in double-double, the rest in float64; truncation below
    |r|^6 < 2**-170)."""
    f = np.asarray(f, dtype=np.float64)
    m, e = np.frexp(f)
    M, E = 2 * m, (e - 1).astype(np.float64)
    k1 = np.floor((M - 1) * 1024).astype(np.int64)
    c1, l1 = _td_take(0, k1)
    p, q = two_prod(M, c1)
    r1h = p - 1  # exact (Sterbenz: p within 2**-9 of 1)
    r = TD(r1h, q, np.zeros_like(q), np.zeros_like(q))  # M c1 - 1 exactly
    logs = l1
    for level, scale in ((1, 2.0**20), (2, 2.0**30)):
        k = np.rint((r.a0 + r.a1) * scale).astype(np.int64)
        c, lk = _td_take(level, k)
        # (1 + r) c - 1 = r c + (c - 1): exact products, c - 1 exact
        rc = _td_mul_exact(r, c)
        r = td_add(rc, TD(c - 1, np.zeros_like(c), np.zeros_like(c), np.zeros_like(c)))
        logs = td_add(logs, lk)
    r0, r1 = r.a0, r.a1 + r.a2
    sq, sq_e = two_prod(r0, r0)
    sq_lo = sq_e + 2 * r0 * r1  # r^2 = sq + sq_lo (+ r1^2, dropped)
    tail = r0**3 / 3 + r0 * r0 * r1 - r0**4 / 4 + r0**5 / 5
    series = td_add(r, TD(-sq / 2, -sq_lo / 2, np.zeros_like(sq), np.zeros_like(sq)))
    series = td_add(series, TD(tail, np.zeros_like(tail), np.zeros_like(tail), np.zeros_like(tail)))
    a0 = np.abs(r0)
    s_err = (
        np.abs(r1) ** 2
        + 8 * U * (np.abs(2 * r0 * r1) + np.abs(sq_e))
        + 8 * U * (a0**3 + a0**4)
        + 3 * a0 * np.abs(r1) ** 2
        + a0**6
        + np.abs(r0**3 * r1) * 2
        + np.abs(r.a2) * U
    )
    ln2 = _log_tables()["ln2"]
    scaled = _td_mul_exact(
        TD(np.full_like(E, ln2.a0), np.full_like(E, ln2.a1), np.full_like(E, ln2.a2), np.full_like(E, ln2.err)), E
    )
    out = td_add(td_add(logs, series), scaled)
    bad = ~(np.isfinite(f) & (f > 0))
    return TD(out.a0, out.a1, out.a2, np.where(bad, np.inf, (out.err + r.err + s_err) * _SLACK))


def td_log_int(hi, lo) -> TD:
    """``log(hi + lo)`` for exact double-double integers (|lo| <= ulp(hi)/2): ``log hi`` plus
    ``log1p(t)``, ``t = lo/hi`` to ~2**-159 by one exact remainder, ``log1p t = t - t^2/2``
    (t^3/3 < 2**-158 charged)."""
    q1 = lo / hi
    ph, pl = two_prod(q1, hi)
    q2 = ((lo - ph) - pl) / hi  # the remainder lo - q1 hi is exact
    t_tail = q2 - q1 * q1 / 2
    out = td_add(
        td_log(hi),
        TD(q1, t_tail, np.zeros_like(q1), 8 * U * np.abs(t_tail) + np.abs(q1) ** 3 + np.abs(q1 * q2) + np.abs(q2) * U),
    )
    return out
