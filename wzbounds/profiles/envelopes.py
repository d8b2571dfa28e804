"""Envelopes: the non-increasing curves U(w) a profile asserts, as objects.

Every envelope evaluates itself (``values`` in float64, ``value_mp`` in mpmath), inverts itself
exactly (``smallest_window``, via ``wzbounds._inversion``) and sums itself over a block of
windows (``range_sum_mp``, ``block_average``: the block-Markov time average). Profiles hold
their upper and lower envelopes as these objects (``Profile.upper_envelope`` /
``lower_envelope``); the calculator only talks to the objects.

Block sums ``sum_{k=m}^{n-1} U(k)`` are exact in mpmath: closed forms (Hurwitz zeta, the
geometric sum) for moderate ``m``, and for ``m >= EM_START`` the Euler-Maclaurin formula with
its remainder bounded explicitly (``_euler_maclaurin``), which stays fast at any size of ``m``.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

import mpmath
import numpy as np
from mpmath import libmp

from .. import _dd
from .._block_average import FAMILY_MIN, Family
from .._inversion import MP_ULPS, smallest_window
from ._common import log_windows

#: Smallest block start at which sums use Euler-Maclaurin (each correction term gains a factor
#: of about (2 pi m)^-2, so a handful of terms reach any precision the calculator needs).
EM_START = 10**4
_EM_MAX_TERMS = 16
#: Significant digits of block averages returned as float64 (before cancellation guards).
_FLOAT_DIGITS = 30
#: Largest relative error bound of a vectorised block average returned as float64 (the bound
#: is generous: the values are typically within a few ulps); larger ones come from mpmath.
_VALUE_REL_ERR = 2.0**-40
U = 2.0**-53


def _digits_of(n: int) -> int:
    return int(int(n).bit_length() * 0.30103) + 1


def _hp_log(v, prec: int):
    """``log v`` of a float or int as a libmp number at ``prec`` bits."""
    return libmp.mpf_log(libmp.from_float(v) if isinstance(v, float) else libmp.from_int(int(v)), prec)


def _hp_rel(d_log: float) -> float:
    """The relative error of ``exp(y)`` computed at ``prec`` bits, in units of 2**-prec, when
    ``y`` is off by ``d_log`` such units: ``MP_ULPS`` for exp itself, expm1(t) <= 1.001 t for the
    tiny t = d_log 2**-prec here."""
    return (d_log + MP_ULPS) * 1.001


def _td_full(t, shape):
    """A scalar triple-double broadcast to ``shape``."""
    return _dd.TD(*(np.full(shape, v) for v in (t.a0, t.a1, t.a2, t.err)))


#: Constants of value-compared envelopes (a profile builds a new PowerEnvelope on each access),
#: shared between equal envelopes; bounded, least recently used dropped.
_SHARED: OrderedDict[tuple[type, Envelope, Hashable], Any] = OrderedDict()
_SHARED_MAX = 256


def _cached_mp(obj, key, make):
    """``make()`` computed once per ``key`` and envelope: on the (frozen) envelope itself, or,
    for envelopes compared by value (the parametric ones, rebuilt on every profile access), in a
    small shared cache keyed by the envelope's value."""
    if type(obj).__eq__ is object.__eq__:
        cache = obj.__dict__.get("_mp_cache")
        if cache is None:
            cache = {}
            object.__setattr__(obj, "_mp_cache", cache)
        if key not in cache:
            cache[key] = make()
        return cache[key]
    full = (type(obj), obj, key)
    if full in _SHARED:
        _SHARED.move_to_end(full)
        return _SHARED[full]
    value = _SHARED[full] = make()
    if len(_SHARED) > _SHARED_MAX:
        _SHARED.popitem(last=False)
    return value


class Envelope:
    """A non-increasing curve of the window ``w`` (integers ``>= 1``).

    Subclasses implement ``values``, ``value_mp``, ``inverse``, ``inverse_mp`` (the interface
    of ``wzbounds._inversion``) and ``range_sum_mp``.
    """

    @property
    def guard_digits(self) -> int:
        """Extra decimal digits the closed-form block sums need against cancellation."""
        return 0

    def values(self, w) -> np.ndarray:
        """``U(w)`` for window sizes ``w`` (any shape), float64."""
        raise NotImplementedError

    def value_mp(self, w):
        """``U(w)`` in the current mpmath precision."""
        raise NotImplementedError

    def smallest_window(self, eps, w_min: int):
        """Smallest integer ``w >= w_min`` with ``U(w) <= eps`` (exact; see ``_inversion``)."""
        return smallest_window(eps, self, w_min)

    def converse_window(self, eps, w0: int):
        """Smallest integer ``w >= 1`` with ``U(max(w, w0)) <= eps``: the envelope read as a
        lower bound that extends below ``w0`` at its value there (the risk is non-increasing)."""
        w = self.smallest_window(eps, w0)
        # smallest_window returns w0 exactly when U(w0) <= eps; then every w >= 1 qualifies
        if w.dtype == object:
            return np.array([1 if v == w0 else v for v in w.ravel()], dtype=object).reshape(w.shape)
        return np.where(w == w0, 1, w)

    def range_sum_mp(self, m: int, n: int):
        """``sum_{k=m}^{n-1} U(k)`` in the current mpmath precision (``1 <= m <= n``)."""
        raise NotImplementedError

    def block_average_mp(self, b: int):
        """Block-Markov time average ``(1/b) sum_{j<b} U(b + j)`` in the current precision."""
        return self.range_sum_mp(b, 2 * b) / b

    def block_average(self, b) -> np.ndarray:
        """The time average for block sizes ``b`` (int or array of ints >= 1), float64 of
        ``b``'s shape: vectorised (``_block_float``; double-double on the family part) where the
        bound on its relative error is <= ``_VALUE_REL_ERR``, else in mpmath with the guard
        digits its closed form needs."""
        arr = np.asarray(b)
        flat = arr.ravel()
        out = np.full(flat.shape, np.nan)
        if flat.size and self._block_fast():
            hi = (
                np.array([float(min(int(v), 2**1000)) for v in flat])
                if flat.dtype == object
                else flat.astype(np.float64)
            )
            lo = np.zeros(hi.shape)
            hi[hi >= 2.0**1000] = np.nan  # past double-double range: mpmath
            far = np.flatnonzero(np.isfinite(hi) & (hi >= 2.0**53))  # exact double-doubles beyond float64
            if far.size:
                lo[far] = [float(int(v) - int(h)) for v, h in zip(flat[far], hi[far], strict=True)]
            out = self._block_values(hi, lo)
        for i in np.flatnonzero(np.isnan(out)):
            with mpmath.workdps(_FLOAT_DIGITS + self.guard_digits):
                out[i] = float(self.block_average_mp(int(flat[i])))
        return out.reshape(arr.shape)

    # --- the vectorised block average (wzbounds._block_average) ------------------------------
    def _block_fast(self) -> bool:
        """Whether the vectorised block average applies (``_block_float`` implemented)."""
        return False

    def _block_family(self) -> Family | None:
        """The part ``exp(log K) (1 + d log w) w^-s`` of the envelope (None without one)."""
        return None

    def _block_guess(self, eps, x_u):
        """A starting block for ``eps`` from the sliding window's solution ``x_u`` (the block
        lies in [(x_u + 1)/2, x_u], block_markov part 3)."""
        return 0.75 * x_u

    def _block_slope(self, b):
        """``d log A / d log b`` at blocks ``b`` (float64 estimate for Newton steps): the
        envelope's own log-log slope over the block."""
        with np.errstate(all="ignore"):
            b = np.where(np.isfinite(b) & (b >= 1), b, 1.0)
            return (np.log(self.values(2 * b)) - np.log(self.values(b))) / math.log(2.0)

    def _small_sums(self):
        """Prefix sums ``C[k] = sum_{i=1}^{k-1} U(i)`` for ``k <= 2 FAMILY_MIN``, summed in mpmath
        and rounded once (error <= u C[k]; computed once per envelope)."""

        def make():
            with mpmath.workdps(30):
                acc, sums = mpmath.mpf(0), [0.0, 0.0]
                for k in range(1, 2 * FAMILY_MIN):
                    acc += self.value_mp(k)
                    sums.append(float(acc))
            return np.array(sums)

        return _cached_mp(self, "small_sums", make)

    def _small_block_float(self, b):
        """``(log A(b), err)`` for blocks with ``2b <= 2 FAMILY_MIN``: the difference of two
        prefix sums (each rounded once, the difference once more)."""
        C = self._small_sums()
        i = b.astype(np.int64)
        hi, lo = C[2 * i], C[i]
        total = hi - lo
        with np.errstate(all="ignore"):
            val = np.log(total / b)
            err = (U * (hi + lo) + U * total) / total * 1.01 + 4 * U * np.abs(val)
        return val, np.where(total > 0, err, np.inf)

    def _block_float(self, b):
        """``(log A(b), err)`` in float64 at integer blocks ``b`` (float64 array)."""
        raise NotImplementedError

    def _family_or_small(self, b, family):
        """``_block_float`` of an envelope that is one family: small blocks summed, others by
        the family's closed form."""
        small = b <= FAMILY_MIN
        val, err = family.log_average_float(np.maximum(b, FAMILY_MIN + 1.0))
        if np.any(small):
            val[small], err[small] = self._small_block_float(b[small])
        return val, err

    def _block_values(self, b, b_lo):
        """Block averages at the exact integers ``b + b_lo`` as float64 where their bound allows
        (NaN elsewhere): ``_block_float`` below 2**52, the family's float64 form at any size
        (double-double where its bound is too wide)."""
        out, rel = np.full(b.shape, np.nan), np.full(b.shape, np.inf)
        with np.errstate(all="ignore"):
            small = np.flatnonzero(b < 2.0**52)
            if small.size:
                val, err = self._block_float(b[small])
                out[small], rel[small] = np.exp(val), err + 2 * U * np.abs(val)
            family = self._block_family()
            if family is not None:  # the family in float64 at any size (b's rounding is in the bound)
                on = np.flatnonzero((b >= family.start) & np.isfinite(b))
                val, err = family.log_average_float(b[on])
                out[on], rel[on] = np.exp(val), err + 2 * U * np.abs(val)
                on = on[~(rel[on] <= _VALUE_REL_ERR)]  # double-double where float64's bound is wide
                if on.size:
                    dd = _dd.exp(family.log_average_dd(b[on], b_lo[on]))
                    out[on], rel[on] = dd.hi + dd.lo, dd.err / np.abs(dd.hi) + U
        return np.where((rel <= _VALUE_REL_ERR) & (out > 0) & np.isfinite(out), out, np.nan)


def _euler_maclaurin(m: int, n: int, integral, derivative):
    """``sum_{k=m}^{n-1} f(k)`` by Euler-Maclaurin, or None when the remainder bound does not
    reach the working precision within ``_EM_MAX_TERMS`` terms.

    ``integral`` is ``int_m^n f``; ``derivative(j, x)`` is ``f^(j)(x)``. The remainder after the
    ``M``-th term is bounded by ``|B_2M|/(2M)! * |f^(2M-1)(n) - f^(2M-1)(m)|``, valid when
    ``f^(2M)`` has one sign on ``[m, n]``; the caller's ``f`` (a power times a polynomial in
    ``log x``, on its monotone range) has derivatives of fixed sign there, which is checked at
    both ends.
    """
    total = integral + (derivative(0, m) - derivative(0, n)) / 2
    tol = mpmath.mpf(10) ** (-mpmath.mp.dps) * abs(total)
    for j in range(1, _EM_MAX_TERMS + 1):
        coeff = mpmath.bernoulli(2 * j) / mpmath.factorial(2 * j)
        diff = derivative(2 * j - 1, n) - derivative(2 * j - 1, m)
        total += coeff * diff
        d_next = derivative(2 * j, m), derivative(2 * j, n)
        same_sign = mpmath.sign(d_next[0]) == mpmath.sign(d_next[1])
        bound = abs(coeff) * abs(diff)  # |B_2j|/(2j)! int |f^(2j)|, f^(2j) of one sign
        if same_sign and bound <= tol:
            return total
    return None


class _OneFamily(Envelope):
    """Block-average methods of an envelope that is one family ``exp(log K) (1 + d log w)
    w^-s`` on all windows (``wzbounds._block_average``): ``_family_exact(prec)`` gives its
    constants."""

    def _family_exact(self, prec: int):
        """``(log K, s, d)`` as mpf numbers accurate to ``prec`` bits."""
        raise NotImplementedError

    def _block_fast(self) -> bool:
        return True

    def _block_family(self) -> Family:
        return _cached_mp(self, "family", lambda: Family(self._family_exact, FAMILY_MIN + 1))

    def _block_float(self, b):
        return self._family_or_small(b, self._block_family())

    def _block_guess(self, eps, x_u):
        # A(b) ~ K I0 b^-s: the sliding solution scaled by I0^(1/s)
        _, s, _, i0, _ = self._block_family().floats
        return x_u * i0 ** (1 / s)

    def _block_slope(self, b):
        big = b > FAMILY_MIN
        out = self._block_family().log_slope(np.where(big, b, FAMILY_MIN + 1.0))
        return np.where(big, out, Envelope._block_slope(self, b))


@dataclass(frozen=True)
class PowerEnvelope(_OneFamily, Envelope):
    """The curve ``K w^-alpha`` (``alpha >= 0``; 0 only inside tabulated segments)."""

    K: float
    alpha: float

    @property
    def guard_digits(self) -> int:
        # the Hurwitz form subtracts two values of size 1/|alpha - 1| near alpha = 1
        return 0 if self.alpha == 1 else max(0, int(-math.log10(abs(self.alpha - 1))))

    def values(self, w) -> np.ndarray:
        """``K w^-alpha`` for window sizes ``w`` (any shape), float64."""
        return np.exp(np.log(self.K) - self.alpha * log_windows(w))

    def value_mp(self, w):
        return mpmath.mpf(self.K) * mpmath.power(mpmath.mpf(w), -mpmath.mpf(self.alpha))

    def inverse(self, eps, dtype=np.float64):
        alpha = dtype(self.alpha)
        log_k, log_eps = np.log(dtype(self.K)), np.log(np.asarray(eps, dtype=dtype))
        log_x = (log_k - log_eps) / alpha
        x = np.exp(log_x)
        # rounding of exp((ln K - ln eps)/alpha): each log, the subtraction and the division
        # add about one ulp of their magnitude (amplified by 1/alpha), exp one more; 8 ulp of
        # each term is a comfortable bound.
        rel = 8 * np.finfo(dtype).eps * (1 + (abs(log_k) + np.abs(log_eps)) / alpha + np.abs(log_x))
        return x, rel * x

    def inverse_mp(self, eps):
        return mpmath.power(mpmath.mpf(self.K) / eps, 1 / mpmath.mpf(self.alpha))

    def inverse_dd(self, eps) -> _dd.DD:
        """``(K / eps)^(1/alpha)`` in double-double with its error bound."""
        log_k = _dd.log(_dd.exact(np.full(np.shape(eps), self.K)))
        return _dd.exp(_dd.div(_dd.sub(log_k, _dd.log(_dd.exact(eps))), _dd.exact(np.full(np.shape(eps), self.alpha))))

    def inverse_hp(self, eps: float, prec: int):
        """``exp((log K - log eps) / alpha)`` as a libmp number at ``prec`` bits, and its relative
        error bound in units of 2**-prec: each log is off by one charge (``MP_ULPS``) of itself,
        the difference and the quotient by one of theirs (alpha is exact), so log x is off by
        ``MP_ULPS (2 (|log K| + |log eps|)/alpha + |log x|)``; exp adds one charge."""
        log_k, inv_a = _cached_mp(
            self,
            prec,
            lambda: (
                _hp_log(float(self.K), prec),
                libmp.mpf_div(libmp.fone, libmp.from_float(float(self.alpha)), prec),
            ),
        )
        log_eps = _hp_log(eps, prec)
        log_x = libmp.mpf_mul(libmp.mpf_sub(log_k, log_eps, prec), inv_a, prec)
        lk, le = abs(math.log(self.K)), abs(math.log(eps))
        # the reciprocal adds one charge of log x, the product another
        d_log = MP_ULPS * (2 * (lk + le) / self.alpha + 3 * abs(libmp.to_float(log_x)) + 1)
        return libmp.mpf_exp(log_x, prec), _hp_rel(d_log)

    def td_line(self, eps):
        """``(c, s, s_float)``: ``log U(w) = c - s log w`` as triple-doubles broadcast to ``eps``'s
        shape (the triple-double tier of ``wzbounds._inversion``)."""

        def make():
            with mpmath.workprec(250):
                return _dd.td_const(mpmath.log(mpmath.mpf(self.K))), _dd.td_const(mpmath.mpf(self.alpha))

        c, s = _cached_mp(self, "td_line", make)
        return _td_full(c, np.shape(eps)), _td_full(s, np.shape(eps)), np.full(np.shape(eps), float(self.alpha))

    def _family_exact(self, prec: int):
        """``(log K, alpha, 0)`` in the current mpmath precision."""
        return mpmath.log(mpmath.mpf(self.K)), mpmath.mpf(self.alpha), mpmath.mpf(0)

    def range_sum_mp(self, m: int, n: int):
        """``K sum_{k=m}^{n-1} k^-alpha``: Hurwitz-zeta difference (digamma at alpha = 1) for
        ``m < EM_START``, Euler-Maclaurin beyond (``block_markov.md`` part 5)."""
        K, a = mpmath.mpf(self.K), mpmath.mpf(self.alpha)
        if m >= n:
            return mpmath.mpf(0)
        # a huge exponent (the zeta functions then take seconds): the terms after the first add at
        # most (n - m - 1) ((m + 1)/m)^-a of it; below working precision, return that upper bound
        lead = mpmath.power(m, -a)
        rest = (n - m - 1) * mpmath.power(mpmath.mpf(m + 1) / m, -a)
        if rest < mpmath.mpf(10) ** -(mpmath.mp.dps + 5):
            return K * lead * (1 + rest)
        if m >= EM_START:
            mm, nn = mpmath.mpf(m), mpmath.mpf(n)
            s = 1 - a
            # int_m^n x^-a dx = m^s (r^s - 1)/s, r = n/m, with expm1 (no cancellation near s = 0)
            integral = mpmath.power(mm, s) * (
                mpmath.log(nn / mm) if s == 0 else mpmath.expm1(s * mpmath.log(nn / mm)) / s
            )
            em = _euler_maclaurin(mm, nn, integral, lambda j, x: _power_derivative(j, x, a))
            if em is not None:
                return K * em
        if a == 1:
            return K * (mpmath.digamma(n) - mpmath.digamma(m))
        steep = _steep_sum(m, n, a, lead)
        if steep is not None:
            return K * steep
        with mpmath.workdps(mpmath.mp.dps + _zeta_guard(a, m)):
            return K * (mpmath.zeta(a, m) - mpmath.zeta(a, n))


@dataclass(frozen=True)
class LogPowerEnvelope(_OneFamily, Envelope):
    """The curve ``(C + D log w) w^-alpha`` with ``D >= 0``: non-increasing wherever
    ``C + D log w >= D/alpha`` (its derivative is ``w^(-alpha-1) (D - alpha (C + D log w))``;
    the profile checks this at its ``w0``)."""

    C: float
    D: float
    alpha: float

    @property
    def guard_digits(self) -> int:
        return PowerEnvelope(1.0, self.alpha).guard_digits

    def values(self, w) -> np.ndarray:
        lw = log_windows(w)
        return (self.C + self.D * lw) * np.exp(-self.alpha * lw)

    def value_mp(self, w):
        w = mpmath.mpf(w)
        return (mpmath.mpf(self.C) + mpmath.mpf(self.D) * mpmath.log(w)) * mpmath.power(w, -mpmath.mpf(self.alpha))

    def _branch_arg(self, eps, lib):
        """``r = -(alpha eps / D) exp(-alpha C / D)``; the solution is on the W_{-1} branch."""
        return -(self.alpha * eps / self.D) * lib.exp(-self.alpha * self.C / self.D)

    def inverse(self, eps, dtype=np.float64):
        eps = np.asarray(eps, dtype=np.float64)
        if self.D == 0:
            x, err = PowerEnvelope(self.C, self.alpha).inverse(eps, np.float64)
            return x.astype(dtype), err.astype(dtype)
        from scipy.special import lambertw

        with np.errstate(all="ignore"):
            r = self._branch_arg(eps, np)
            ok = r >= -1 / math.e
            wv = np.real(lambertw(np.where(ok, r, -0.1), k=-1))
            log_x = -wv / self.alpha - self.C / self.D
            # beyond the peak (r < -1/e) U <= eps everywhere on the monotone range
            x = np.where(ok, np.exp(log_x), 0.0)
            # lambertw is accurate to a few ulp; the exp amplifies by |log x|; the float64
            # computation bounds the error whatever ``dtype``
            rel = 64 * np.finfo(np.float64).eps * (1 + np.abs(log_x) + np.abs(wv) / self.alpha)
        return x.astype(dtype), (rel * x).astype(dtype)

    def inverse_dd(self, eps) -> _dd.DD:
        """The solution ``x = e^y`` of ``log(C + D y) - alpha y = log eps`` on the decreasing branch,
        in double-double: two Newton steps from the float64 solution, then an a-posteriori bound.
        With g(y) the left side minus log eps, g' = D/(C + D y) - alpha is negative and
        decreasing there (g'' < 0), so on [y - r, y + r] |g'| >= |g'(y - r)| and the root lies
        within |g(y)| / |g'(y - r)| of y once that is <= r."""
        if self.D == 0:
            return PowerEnvelope(self.C, self.alpha).inverse_dd(eps)
        x0, _ = self.inverse(eps)
        shape = np.shape(eps)
        C, D, a = (np.full(shape, v) for v in (self.C, self.D, self.alpha))
        log_eps = _dd.log(_dd.exact(eps))
        with np.errstate(all="ignore"):
            y = _dd.exact(np.where(x0 > 0, np.log(x0), np.nan))

            def g(y):
                inner = _dd.add(_dd.exact(C), _dd.mul(_dd.exact(D), y))
                return _dd.sub(_dd.sub(_dd.log(inner), _dd.mul(_dd.exact(a), y)), log_eps)

            def slope(yv):
                return D / (C + D * yv) - a

            for _ in range(2):
                gy = g(_dd.point(y))
                step = gy.value / slope(y.hi)
                y = _dd.sub(_dd.point(y), _dd.exact(step))
            gy = g(_dd.point(y))
            r0 = 2 * (np.abs(gy.hi) + gy.err) / np.abs(slope(y.hi))
            s_lo = np.abs(slope(y.hi - r0))
            ok = (s_lo >= np.abs(slope(y.hi)) / 2) & (slope(y.hi) < 0) & (C + D * (y.hi - r0) > 0)
            r = (np.abs(gy.hi) + gy.err) / s_lo * (1 + 1e-12)  # the float slope's rounding
            r = np.where(ok, r, np.inf)
        return _dd.exp(_dd.DD(y.hi, y.lo, r + y.err))

    def inverse_hp(self, eps: float, prec: int):
        """The solution ``x = e^y`` of ``g(y) = log(C + D y) - alpha y - log eps = 0`` as a libmp
        number at ``prec`` bits and its relative error bound in units of 2**-prec: Newton steps
        from the float64 solution (each doubles the correct bits), then the
        a-posteriori bound of ``inverse_dd`` (g' = D/(C + D y) - alpha is negative and decreasing
        there, so the root lies within |g(y)| / |g'(y - r)| of y once that is <= r), with g's
        evaluation error (u per operation, the log's argument error amplified by D/(C + D y))."""
        if self.D == 0:
            return PowerEnvelope(self.C, self.alpha).inverse_hp(eps, prec)
        x0 = float(self.inverse(np.array([eps]))[0][0])
        with mpmath.workprec(prec):
            u = mpmath.ldexp(MP_ULPS, -prec)
            C, D, a = mpmath.mpf(self.C), mpmath.mpf(self.D), mpmath.mpf(self.alpha)
            log_eps = mpmath.log(mpmath.mpf(eps))
            if math.isfinite(x0) and x0 > 0:
                y = mpmath.log(mpmath.mpf(x0))
            else:
                with mpmath.workdps(30):
                    y = mpmath.log(self.inverse_mp(mpmath.mpf(eps)))

            def g(y):
                inner = C + D * y
                return mpmath.log(inner) - a * y - log_eps, inner

            def slope(y):
                return D / (C + D * y) - a

            for _ in range(max(1, int(math.log2(prec / 40.0)) + 2)):  # 2**-40 -> 2**-prec
                y = y - g(y)[0] / slope(y)
            gy, inner = g(y)
            g_err = 4 * u * (1 + abs(mpmath.log(inner)) + abs(a * y) + abs(log_eps) + (C + 2 * D * abs(y)) / inner)
            s0 = slope(y)
            r0 = 2 * (abs(gy) + g_err) / abs(s0)
            if not (s0 < 0 and C + D * (y - r0) > 0 and abs(slope(y - r0)) >= abs(s0) / 2):
                return libmp.fzero, math.inf
            r = (abs(gy) + g_err) / abs(slope(y - r0))
            # expm1(r) <= r (1 + r) for r <= 1, exp's own rounding one charge
            rel = mpmath.ldexp(r * (1 + r), prec) + MP_ULPS if r < 1e-3 else mpmath.inf
            return mpmath.exp(y)._mpf_, float(rel) * 1.001

    def inverse_mp(self, eps):
        if self.D == 0:
            return PowerEnvelope(self.C, self.alpha).inverse_mp(eps)
        a, C, D = (mpmath.mpf(v) for v in (self.alpha, self.C, self.D))  # alpha C / D in mpmath, not float64
        r = -(a * mpmath.mpf(eps) / D) * mpmath.exp(-a * C / D)
        if r < -1 / mpmath.e:
            return mpmath.mpf(0)
        wv = mpmath.lambertw(r, -1).real
        return mpmath.exp(-wv / self.alpha - mpmath.mpf(self.C) / self.D)

    def _family_exact(self, prec: int):
        """``(log C, alpha, D/C)``: ``(C + D log w) = C (1 + (D/C) log w)``."""
        C = mpmath.mpf(self.C)
        return mpmath.log(C), mpmath.mpf(self.alpha), mpmath.mpf(self.D) / C

    def range_sum_mp(self, m: int, n: int):
        """``sum_{k=m}^{n-1} (C + D log k) k^-alpha``: Hurwitz zeta and its s-derivative
        (Stieltjes constants at alpha = 1) for ``m < EM_START``, Euler-Maclaurin beyond."""
        if m >= n:
            return mpmath.mpf(0)
        C, D, a = mpmath.mpf(self.C), mpmath.mpf(self.D), mpmath.mpf(self.alpha)
        power = PowerEnvelope(1.0, self.alpha).range_sum_mp(m, n)
        if D == 0:
            return C * power
        if m >= EM_START:
            em = _euler_maclaurin(
                mpmath.mpf(m), mpmath.mpf(n), _log_power_integral(m, n, a), lambda j, x: _log_power_derivative(j, x, a)
            )
            if em is not None:
                return C * power + D * em
        if a == 1:
            logs = mpmath.stieltjes(1, m) - mpmath.stieltjes(1, n)
        else:  # sum k^-s log k = -(d/ds) zeta(s, .)
            with mpmath.workdps(mpmath.mp.dps + _zeta_guard(a, m)):
                logs = mpmath.zeta(a, n, 1) - mpmath.zeta(a, m, 1)
        return C * power + D * logs


#: Most terms ``_steep_sum`` adds one by one (a few ms in mpmath) before the zeta route is cheaper.
STEEP_MAX_TERMS = 4096


def _steep_sum(m: int, n: int, a, lead):
    """``sum_{k=m}^{n-1} k^-a`` for a steep power (a > 1) term by term, or None when more than
    ``STEEP_MAX_TERMS`` terms would be needed. The Hurwitz route needs ~(a - 1) log10(m) guard
    digits (``_zeta_guard``: thousands at a ~ 1000, minutes per value), while the terms reach
    working precision of the first (``lead`` = m^-a) within ~m (10^(dps/a) - 1) of them: the sum
    stops at the first k whose tail bound ``k^-a (1 + k/(a - 1))`` (the term plus the integral
    beyond it) is below that and returns the partial sum plus the bound, an upper bound within
    working precision, like the single-term case of ``range_sum_mp``."""
    if a <= 1:
        return None
    digits = mpmath.mp.dps + 5
    # the count the stop condition needs, (1 + J/m)^a ~ 10^digits (plus slack for the 1 + k/(a-1))
    if float(m) * (10 ** min((digits + 2 + math.log10(1 + n / float(a - 1))) / float(a), 300.0) - 1) > STEEP_MAX_TERMS:
        return None
    with mpmath.workdps(digits + 2):  # the roundings of up to 4096 terms stay below 10^-dps
        tol, total = mpmath.mpf(10) ** -digits * lead, mpmath.mpf(0)
        for k in range(m, min(n, m + STEEP_MAX_TERMS)):
            term = mpmath.power(k, -a)
            bound = term * (1 + k / (a - 1))
            if bound < tol:
                return +(total + bound)
            total += term
    return +total if n <= m + STEEP_MAX_TERMS else None


def _zeta_guard(a, m: int) -> int:
    """Extra digits for ``mpmath.zeta(a, m)`` (and its s-derivative): mpmath keeps its absolute
    error near 10**-dps, so a value as small as ``m^(1-a)/(a-1)`` (a > 1) loses that many digits
    of relative precision (zeta(25, 120) at 30 digits is off by 1e-9 relative)."""
    if a <= 1 or m <= 1:
        return 5
    return int((a - 1) * mpmath.log10(m) + mpmath.log10(a - 1 + 1 / mpmath.mpf(m))) + 10


def _power_derivative(j: int, x, a):
    """``d^j/dx^j x^-a = (-1)^j a (a + 1) ... (a + j - 1) x^(-a-j)``: one sign on x > 0 for
    each j (the rising factorial by a product: mpmath's ``rf`` goes through gamma, slow at
    high precision)."""
    coeff = mpmath.mpf(1)
    for i in range(j):
        coeff *= -(a + i)
    return coeff * mpmath.power(x, -a - j)


def _log_power_derivative(j: int, x, a):
    """``d^j/dx^j [x^-a log x] = x^(-a-j) (P_j log x + Q_j)`` with ``P_0 = 1, Q_0 = 0``,
    ``P_{i+1} = (-a-i) P_i``, ``Q_{i+1} = (-a-i) Q_i + P_i``."""
    P, Q = mpmath.mpf(1), mpmath.mpf(0)
    for i in range(j):
        P, Q = (-a - i) * P, (-a - i) * Q + P
    return mpmath.power(x, -a - j) * (P * mpmath.log(x) + Q)


def _log_power_series(t):
    """``sum_j t^j / (j! (j + 2))`` for ``|t| <= 1`` in the working precision. A bounded loop:
    term j is at most 1/j!, so after j terms the rest is below twice the last term, and
    ``j! > 10^dps`` well before ``j = 2 dps + 20`` (mpmath.nsum, used before, could stall)."""
    total, power = mpmath.mpf(0), mpmath.mpf(1)  # power = t^j / j!
    tol = mpmath.mpf(10) ** -(mpmath.mp.dps + 2)
    for j in range(2 * mpmath.mp.dps + 20):
        term = power / (j + 2)
        total += term
        if abs(power) <= tol:
            break
        power = power * t / (j + 1)
    return total


def _log_power_integral(m: int, n: int, a):
    """``int_m^n x^-a log x dx = m^s [log m * k(s) + k'(s)]`` with ``s = 1 - a``,
    ``k(s) = int_1^r y^(s-1) dy``, ``k'(s) = int_1^r y^(s-1) log y dy``, ``r = n/m``; ``k'`` by
    its power series in ``s`` when ``|s log r| <= 1`` (the closed form cancels there)."""
    mm, nn = mpmath.mpf(m), mpmath.mpf(n)
    s, L = 1 - a, mpmath.log(nn / mm)
    k = L if s == 0 else mpmath.expm1(s * L) / s
    if abs(s * L) <= 1:  # k'(s) = sum_j s^j L^(j+2) / (j! (j+2)), terms fall like 1/j!
        k1 = _log_power_series(s * L) * L**2
    else:
        k1 = (L * mpmath.exp(s * L) * s - mpmath.expm1(s * L)) / s**2
    return mpmath.power(mm, s) * (mpmath.log(mm) * k + k1)


@dataclass(frozen=True)
class GeometricEnvelope(Envelope):
    """The curve ``K rho^w`` as an invertible envelope (see ``wzbounds._inversion``)."""

    K: float
    rho: float

    def values(self, w) -> np.ndarray:
        w = np.asarray(w)
        w = (
            w.astype(np.float64)
            if w.dtype != object
            else np.array([float(min(v, 2**1000)) for v in w.ravel()]).reshape(w.shape)
        )
        return self.K * np.power(self.rho, w)

    def value_mp(self, w):
        return mpmath.mpf(self.K) * mpmath.power(mpmath.mpf(self.rho), w)

    def inverse(self, eps, dtype=np.float64):
        log_k, log_rho = np.log(dtype(self.K)), np.log(dtype(self.rho))
        log_eps = np.log(np.asarray(eps, dtype=dtype))
        x = (log_k - log_eps) / -log_rho
        # about one ulp in each log, the subtraction and the division; 8 ulp bounds it
        err = 8 * np.finfo(dtype).eps * (1 + (abs(log_k) + np.abs(log_eps)) / -log_rho + np.abs(x))
        return x, err

    def inverse_mp(self, eps):
        return mpmath.log(mpmath.mpf(self.K) / eps) / -mpmath.log(mpmath.mpf(self.rho))

    def inverse_dd(self, eps) -> _dd.DD:
        """``log(K / eps) / log(1 / rho)`` in double-double with its error bound."""
        full = lambda v: _dd.exact(np.full(np.shape(eps), v))  # noqa: E731
        return _dd.div(_dd.sub(_dd.log(full(self.K)), _dd.log(_dd.exact(eps))), _dd.neg(_dd.log(full(self.rho))))

    def inverse_hp(self, eps: float, prec: int):
        """``(log K - log eps) / -log rho`` as a libmp number at ``prec`` bits, and its relative
        error bound in units of 2**-prec (one charge per log, per difference and per quotient)."""
        log_k, log_rho = _cached_mp(
            self, ("logs", prec), lambda: (_hp_log(float(self.K), prec), _hp_log(float(self.rho), prec))
        )
        log_eps = _hp_log(eps, prec)
        x = libmp.mpf_div(libmp.mpf_sub(log_k, log_eps, prec), libmp.mpf_neg(log_rho), prec)
        num = abs(math.log(self.K) - math.log(eps))
        return x, MP_ULPS * (2 * (abs(math.log(self.K)) + abs(math.log(eps))) / max(num, 1e-300) + 3) * 1.001

    def _block_fast(self) -> bool:
        return True

    def _log_rho(self) -> float:
        # 1 - rho is exact for rho >= 1/2 (Sterbenz), so log1p keeps log rho to an ulp near 1
        return math.log1p(-(1 - self.rho)) if self.rho >= 0.5 else math.log(self.rho)

    def _block_float(self, b):
        """``log A(b) = log K + b log rho + log(-expm1(b log rho)) - log b - log(1 - rho)`` (the
        geometric sum in closed form), u per operation propagated: ``b log rho`` is off by
        2u of itself, which moves the expm1 term by at most 2u (1 + |b log rho|)."""
        lk, lr, l1 = math.log(self.K), self._log_rho(), math.log1p(-self.rho)
        with np.errstate(all="ignore"):
            y = b * lr
            tail = np.log(-np.expm1(y))
            lb = np.log(b)
            val = lk + y + tail - lb - l1
            err = 8 * U * (4 + abs(lk) + 2 * np.abs(y) + np.abs(tail) + np.abs(lb) + abs(l1)) + 4 * U * np.abs(val)
        return val, np.where(np.isfinite(val), err, np.inf)

    def _block_slope(self, b):
        # d/db [b log rho + log(1 - rho^b) - log b] = log rho (1 - 2 rho^b)/(1 - rho^b) - 1/b
        lr = self._log_rho()
        with np.errstate(all="ignore"):
            y = b * lr
            return y * (1 - 2 * np.exp(y)) / -np.expm1(y) - 1

    def range_sum_mp(self, m: int, n: int):
        """``K sum_{k=m}^{n-1} rho^k = K rho^m (1 - rho^(n-m)) / (1 - rho)``."""
        K, rho = mpmath.mpf(self.K), mpmath.mpf(self.rho)
        return K * mpmath.power(rho, m) * -mpmath.expm1((n - m) * mpmath.log(rho)) / (1 - rho)


@dataclass(frozen=True, eq=False)
class LogLogEnvelope(Envelope):
    """Piecewise power-law curve through ``(windows, values)``: log-log interpolation between
    the points; beyond the last one (``extrapolate="power_law"``) the power law through the last
    two points, or, given ``tail_alpha`` = a, the power law ``V_last (w / W_last)^-a`` through
    the last point; with ``"none"`` nothing. Each segment is a ``PowerEnvelope``, which is how
    its block sums are taken."""

    windows: np.ndarray
    values_: np.ndarray
    extrapolate: str
    tail_alpha: float | None = None
    # log windows and log values, set once by __post_init__
    _lw: np.ndarray = field(init=False, repr=False)
    _lv: np.ndarray = field(init=False, repr=False)

    def __post_init__(self):
        object.__setattr__(self, "_lw", np.log(self.windows.astype(np.float64)))
        object.__setattr__(self, "_lv", np.log(self.values_))

    @property
    def _tail_slope(self) -> float:
        """Log-log slope beyond the last window."""
        lw, lv = self._lw, self._lv
        return -self.tail_alpha if self.tail_alpha is not None else (lv[-1] - lv[-2]) / (lw[-1] - lw[-2])

    def values(self, w) -> np.ndarray:
        lw, lv = self._lw, self._lv
        x = log_windows(w)
        out = np.interp(x, lw, lv)
        beyond = x > lw[-1]
        if np.any(beyond):
            if self.extrapolate == "none":
                raise ValueError(
                    f"`w` must be <= the last tabulated window {int(self.windows[-1])} (extrapolate='none')"
                )
            out = np.where(beyond, lv[-1] + self._tail_slope * (x - lw[-1]), out)
        # at a tabulated window, the tabulated value itself (exp(log v) can be an ulp above it)
        k = np.clip(np.searchsorted(lw, x), 0, lw.size - 1)
        return np.where(lw[k] == x, self.values_[k], np.exp(out))

    def _segment_mp(self, j: int) -> PowerEnvelope:
        """Segment ``j`` (between windows j and j+1) as the power law ``K_j w^-s_j``; segment
        ``n - 1`` is the ``tail_alpha`` tail beyond the last window (without it the last table
        segment continues beyond the table: that is the two-point extrapolation)."""
        W, V = self.windows, self.values_
        if j == len(W) - 1:
            a = mpmath.mpf(self.tail_alpha)
            return PowerEnvelope(mpmath.mpf(V[-1]) * mpmath.power(int(W[-1]), a), a)
        s = mpmath.log(mpmath.mpf(V[j]) / mpmath.mpf(V[j + 1])) / mpmath.log(mpmath.mpf(int(W[j + 1])) / int(W[j]))
        return PowerEnvelope(mpmath.mpf(V[j]) * mpmath.power(int(W[j]), s), s)

    @property
    def _unit_run_end(self) -> np.ndarray:
        """For each segment j, the first k >= j whose segment is not a unit step (W_{k+1} - W_k
        > 1, or k = n - 1): segments j..k-1 are unit steps."""
        cached = getattr(self, "_unit_cache", None)
        if cached is None:
            n = len(self.windows)
            not_unit = np.append(np.flatnonzero(np.diff(self.windows) != 1), n - 1)
            cached = not_unit[np.searchsorted(not_unit, np.arange(n))]
            object.__setattr__(self, "_unit_cache", cached)
        return cached

    @property
    def _last_segment(self) -> int:
        """Index of the segment that holds windows beyond the table."""
        return len(self.windows) - (1 if self.tail_alpha is not None else 2)

    def value_mp(self, w):
        W = self.windows
        if w <= int(W[0]):
            return mpmath.mpf(self.values_[0])
        if w > int(W[-1]):
            return self._segment_mp(self._last_segment).value_mp(w)
        j = int(np.searchsorted(W, float(w), side="right")) - 1
        return self._segment_mp(min(j, len(W) - 2)).value_mp(w)

    # --- vectorised block averages ---------------------------------------------------------
    def _block_fast(self) -> bool:
        # 'none' claims nothing beyond the table: its blocks keep the exact path (which refuses
        # a block that leaves the table)
        return self.extrapolate == "power_law"

    def _block_family(self) -> Family:
        """The power-law tail (``log V_t + s log W_t``, s, 0) from the tail's first window on: the
        last point and ``tail_alpha``, or the last segment continued (its slope from the last two
        points, computed with guard bits for the cancellation of nearby logs)."""
        cached = self.__dict__.get("_family")
        if cached is None:
            W, V = self.windows, self.values_
            if self.tail_alpha is not None:
                start = int(W[-1])

                def exact(prec):
                    a = mpmath.mpf(self.tail_alpha)
                    return mpmath.log(mpmath.mpf(V[-1])) + a * mpmath.log(int(W[-1])), a, mpmath.mpf(0)
            else:
                start = int(W[-2])
                dw, dv = self._lw[-1] - self._lw[-2], self._lv[-2] - self._lv[-1]
                guard = 16 + int(
                    math.log2(1 + (abs(self._lw[-1]) / max(dw, 1e-300)) + abs(self._lv[-1]) / max(abs(dv), 1e-300))
                )

                def exact(prec):
                    with mpmath.workprec(prec + min(guard, 4 * prec)):
                        lw1, lw2 = mpmath.log(int(W[-2])), mpmath.log(int(W[-1]))
                        lv2 = mpmath.log(mpmath.mpf(V[-1]))
                        sl = (mpmath.log(mpmath.mpf(V[-2])) - lv2) / (lw2 - lw1)
                        return lv2 + sl * lw2, sl, mpmath.mpf(0)

            cached = Family(exact, max(start, FAMILY_MIN + 1))
            object.__setattr__(self, "_family", cached)
        return cached

    def _segments_float(self):
        """Float64 segment data ``(start, end, lw, lv, s, rel_s, prefix, prefix_err)``: segment j
        runs over windows ``[start_j, end_j)`` (the last one to infinity) as ``exp(lv_j - s_j
        (log w - lw_j))``; ``rel_s`` bounds the relative error of the float slope (the logs'
        rounding over their differences); ``prefix[j]`` sums the totals of the segments before j
        that start at or beyond ``FAMILY_MIN`` (the only ones a block b > FAMILY_MIN covers
        whole), with its error bound."""
        cached = self.__dict__.get("_seg_cache")
        if cached is not None:
            return cached
        W, last = self.windows.astype(np.float64), self._last_segment
        lw, lv = self._lw, self._lv
        dw, dv = lw[1:] - lw[:-1], lv[1:] - lv[:-1]
        with np.errstate(all="ignore"):
            slope = np.where(dv == 0, 0.0, -dv / dw)  # equal values: exactly flat
            rel = np.where(
                dv == 0,
                0.0,
                4
                * U
                * (
                    (np.abs(lw[:-1]) + np.abs(lw[1:]) + dw) / dw
                    + (np.abs(lv[:-1]) + np.abs(lv[1:]) + np.abs(dv)) / np.abs(dv)
                    + 1
                ),
            )
        if self.tail_alpha is not None:
            slope, rel = np.append(slope, self.tail_alpha), np.append(rel, 2 * U)
        start, end = W[: last + 1], np.append(W[1 : last + 1], np.inf)
        seg = (start, end, lw[: last + 1], lv[: last + 1], slope[: last + 1], rel[: last + 1])
        inner = np.flatnonzero((start >= FAMILY_MIN) & (np.arange(last + 1) < last))
        totals, errs = np.zeros(last + 1), np.zeros(last + 1)
        if inner.size:
            totals[inner], errs[inner] = self._segment_sums(seg, inner, start[inner], end[inner])
        prefix = np.concatenate([[0.0], np.cumsum(totals)])
        # cumsum rounds each partial sum once: at most (j u) prefix[j] in all
        prefix_err = np.concatenate([[0.0], np.cumsum(errs)]) + np.arange(last + 2) * U * prefix
        cached = (*seg, prefix, prefix_err)
        object.__setattr__(self, "_seg_cache", cached)
        return cached

    @staticmethod
    def _segment_sums(seg, j, m, n):
        """``(sum_{k=m}^{n-1} U(k), err)`` within segments ``j`` (arrays; ``m >= FAMILY_MIN``,
        ``n > m``), by Euler-Maclaurin on the power law ``f(x) = exp(lv - s (log x - lw))``
        normalised by ``f(m) m``: ``int = J0(n/m)``, ``(f(m) - f(n))/2``, the Bernoulli terms
        ``B_2i/(2i)! (f^(k)(n) - f^(k)(m))`` with ``f^(k)(x) = (-1)^k s(s+1)..(s+k-1) f(x)/x^k``,
        remainder below the last term (``f^(2M) > 0``); one-window ranges are the value itself.
        The slope's error moves every term by ``rel_s s max|log(k/W_j)|`` relative."""
        _, _, lw, lv, slope, rel_s = seg
        lw, lv, s, rs = lw[j], lv[j], slope[j], rel_s[j]
        with np.errstate(all="ignore"):
            lm = np.log(m)
            dlm = lm - lw
            lf = lv - s * dlm
            fm = np.exp(lf)
            lr = np.log1p((n - m) / m)
            z = (1 - s) * lr
            j0 = lr * np.where(z == 0, 1.0, np.expm1(z) / z)
            half = -np.expm1(-s * lr) / (2 * m)
            em, term, rising = 0.0, 0.0, np.ones_like(s)
            scale = 1.0 / (m * m)
            for i, c in enumerate((1 / 12, -1 / 720, 1 / 30240, -1 / 1209600), start=1):
                k = 2 * i - 1
                rising = rising * (s + k - 1) * (s + k - 2) if k > 1 else s.copy()
                term = -c * rising * scale * np.expm1(-(s + k) * lr)
                em = em + term
                scale = scale / (m * m)
            norm = j0 + half + em
            one = (n - m) == 1
            total = np.where(one, fm, fm * m * norm)
            rel_f = (
                8 * U * (1 + np.abs(lv) + 2 * np.abs(s * dlm) + np.abs(lf))
                + 4 * U * s * (np.abs(lm) + np.abs(lw))
                + rs * s * np.maximum(np.abs(dlm), np.abs(dlm + lr)) * 1.01
            )
            rel_n = 16 * U * (2 + np.abs(z)) + (8 * U * (np.abs(em) + np.abs(half)) + np.abs(term)) / norm
            err = total * (rel_f + np.where(one, 0.0, rel_n)) * 1.01
        return total, np.where(np.isfinite(err) & (total > 1e-290), err, np.inf)

    def _block_float(self, b):
        """``(log A(b), err)``: blocks ``b <= FAMILY_MIN`` from the prefix sums, blocks on the
        tail by the family formula, the rest segment by segment: the two partial segments at the
        block's ends plus the whole ones between (prefix sums)."""
        family = self._block_family()
        val, err = family.log_average_float(np.maximum(b, float(family.start)))
        small = b <= FAMILY_MIN
        if np.any(small):
            val[small], err[small] = self._small_block_float(b[small])
        mid = np.flatnonzero(~small & (b < family.start))
        if mid.size:
            if self.windows[-1] >= 2**52:  # windows inexact in float64: no segment look-up here
                err[mid] = np.inf
            else:
                val[mid], err[mid] = self._table_block_float(b[mid])
        return val, err

    def _table_block_float(self, b):
        seg = self._segments_float()
        start, end, prefix, prefix_err = seg[0], seg[1], seg[6], seg[7]
        last = start.size - 1
        j1 = np.clip(np.searchsorted(start, b, side="right") - 1, 0, last)
        j2 = np.clip(np.searchsorted(start, 2 * b - 1, side="right") - 1, 0, last)
        same = j1 == j2
        top1 = np.where(same, 2 * b, end[j1])
        s1, e1 = self._segment_sums(seg[:6], j1, b, top1)
        m2 = start[j2]
        s2, e2 = self._segment_sums(seg[:6], j2, np.where(same, b, m2), np.where(same, b + 1, 2 * b))
        inner = np.where(same, 0.0, prefix[j2] - prefix[np.minimum(j1 + 1, last)])
        e_in = np.where(same, 0.0, prefix_err[j2] + prefix_err[np.minimum(j1 + 1, last)] + U * np.abs(inner))
        total = s1 + np.where(same, 0.0, s2 + inner)
        e_tot = e1 + np.where(same, 0.0, e2 + e_in) + 2 * U * total
        with np.errstate(all="ignore"):
            val = np.log(total / b)
            err = e_tot / total * 1.01 + 4 * U * np.abs(val)
        return val, np.where(total > 0, err, np.inf)

    def _block_slope(self, b):
        family = self._block_family()
        on = b >= family.start
        out = family.log_slope(np.where(on, b, float(family.start)))
        return np.where(on, out, Envelope._block_slope(self, b))

    def range_sum_mp(self, m: int, n: int):
        """Sum over ``[m, n)`` segment by segment (closed forms per power-law piece); only the
        segments that meet ``[m, n)`` are visited (found by bisection), so a long table costs
        nothing for a short block."""
        W = self.windows
        w_first, w_last = int(W[0]), int(W[-1])
        total = mpmath.mpf(0)
        if m < w_first:  # below the table U is its first value (Tabulated never asks for this)
            total += (min(n, w_first) - m) * mpmath.mpf(self.values_[0])
            m = w_first
        if self.extrapolate == "none" and n - 1 > w_last:
            raise ValueError(f"`b` must keep the block inside the last tabulated window {w_last} (extrapolate='none')")
        last = self._last_segment
        j = max(int(np.searchsorted(W, min(m, w_last), side="right")) - 1, 0) if m < n else len(W) - 1
        while j < len(W) - 1 and m < n:
            if j != last and m == int(W[j]):
                # a run of unit segments [W_j, W_j + 1) inside the block: each adds U(W_j) = V_j
                # exactly; summed at once (mpmath.fsum adds the floats exactly), not one by one
                k = j
                stop = min(last, int(np.searchsorted(W, n, side="right")) - 1)
                unit = self._unit_run_end[j] if j < stop else j
                k = min(unit, stop)
                if k > j:
                    total += mpmath.fsum(self.values_[j:k])
                    m, j = int(W[k]), k
                    continue
            top = n if j == last else min(n, int(W[j + 1]))
            if m < top:
                total += self._segment_mp(j).range_sum_mp(m, top)
                m = top
            j += 1
        if m < n:  # windows beyond the table, on the tail_alpha tail
            total += self._segment_mp(last).range_sum_mp(m, n)
        return total

    def _segment(self, eps):
        """Index ``i`` of the first tabulated value ``<= eps`` (``n`` if none)."""
        return np.searchsorted(-self.values_, -np.asarray(eps), side="left")

    def _check_reachable(self, eps):
        last = self.values_[-1]
        if np.any(np.asarray(eps) < last):
            if self.extrapolate == "none":
                raise ValueError(
                    f"`eps` must be >= the last tabulated value {last:g} "
                    "(extrapolate='none' makes no claim beyond the last window)"
                )
            if self.tail_alpha is None and self.values_[-2] == last:
                raise ValueError(
                    f"`eps` must be >= {last:g}: the last two tabulated values are equal, "
                    "so the power-law extrapolation never decreases"
                )

    def inverse(self, eps, dtype=np.float64):
        self._check_reachable(eps)
        lw, lv, n = self._lw.astype(dtype), self._lv.astype(dtype), len(self._lw)
        i = self._segment(eps)
        j = np.clip(i - 1, 0, n - 2)  # segment (j, j+1) holds the crossing
        log_eps = np.log(np.asarray(eps, dtype=dtype))
        ratio = (lw[j + 1] - lw[j]) / (lv[j + 1] - lv[j])
        if self.tail_alpha is not None:  # crossings beyond the table lie on the tail from the last point
            tail = i == n
            j = np.where(tail, n - 1, j)
            ratio = np.where(tail, dtype(-1.0) / dtype(self.tail_alpha), ratio)
        lx = lw[j] + (log_eps - lv[j]) * ratio
        lx = np.where(i == 0, -np.inf, lx)  # U(W0) <= eps: any admissible window works
        x = np.exp(lx)
        # the table logs were rounded in float64, so float64's ulp bounds the error whatever
        # ``dtype``; 64 ulp of each term is generous
        ulp = np.finfo(np.float64).eps
        big = np.max(np.abs(lv))
        with np.errstate(all="ignore"):
            # ratio's own error: numerator and denominator are differences of rounded logs,
            # relatively uncertain by ~ulp * max|lv| / |lv[j+1] - lv[j]| (unbounded on a
            # nearly flat segment: such targets go to the exact tiers) and ~ulp * 2 max|lw| /
            # (lw[j+1] - lw[j]) (large for neighbouring big windows: 2047, 2048)
            k = np.minimum(j + 1, n - 1)
            cond = np.where(
                j == n - 1,
                0.0,
                big / np.abs(self._lv[k] - self._lv[j]) + 2 * np.abs(self._lw[k]) / np.abs(self._lw[k] - self._lw[j]),
            )
            rel = 64 * ulp * (1.0 + np.abs(lx) + (np.abs(log_eps) + big) * np.abs(ratio) * (1.0 + cond))
        return x, rel * x

    def _table_dd(self):
        """Double-double logs of the table and the segments' log-log ratios (computed once)."""
        cached = getattr(self, "_dd_cache", None)
        if cached is None:
            lw, lv = _dd.log(_dd.exact(self.windows.astype(np.float64))), _dd.log(_dd.exact(self.values_))
            dlw = _dd.sub(_dd.DD(lw.hi[1:], lw.lo[1:], lw.err[1:]), _dd.DD(lw.hi[:-1], lw.lo[:-1], lw.err[:-1]))
            dlv = _dd.sub(_dd.DD(lv.hi[1:], lv.lo[1:], lv.err[1:]), _dd.DD(lv.hi[:-1], lv.lo[:-1], lv.err[:-1]))
            with np.errstate(all="ignore"):
                ratio = _dd.div(dlw, dlv)  # inf error on flat segments: never decided in this tier
            cached = (lw, lv, ratio)
            object.__setattr__(self, "_dd_cache", cached)
        return cached

    def inverse_dd(self, eps) -> _dd.DD:
        """The crossing ``log x = lw_j + (log eps - lv_j) (lw_{j+1} - lw_j) / (lv_{j+1} - lv_j)`` (or
        the ``tail_alpha`` tail) in double-double with its error bound; the segment as in
        ``inverse``."""
        self._check_reachable(eps)
        lw, lv, ratio = self._table_dd()
        n = len(self.windows)
        i = self._segment(eps)
        j = np.clip(i - 1, 0, n - 2)
        take = lambda d, k: _dd.DD(d.hi[k], d.lo[k], d.err[k])  # noqa: E731
        rj = take(ratio, j)
        if self.tail_alpha is not None:
            tail = i == n
            j = np.where(tail, n - 1, j)
            inv_a = _dd.div(_dd.exact(np.full(np.shape(eps), -1.0)), _dd.exact(np.full(np.shape(eps), self.tail_alpha)))
            rj = _dd.DD(
                np.where(tail, inv_a.hi, rj.hi), np.where(tail, inv_a.lo, rj.lo), np.where(tail, inv_a.err, rj.err)
            )
        with np.errstate(all="ignore"):
            lx = _dd.add(take(lw, j), _dd.mul(_dd.sub(_dd.log(_dd.exact(eps)), take(lv, j)), rj))
            x = _dd.exp(lx)
        zero = i == 0  # U(W0) <= eps: any admissible window works
        return _dd.DD(np.where(zero, 0.0, x.hi), np.where(zero, 0.0, x.lo), np.where(zero, 0.0, x.err))

    def _segment_hp(self, j: int, prec: int):
        """``(lw_j, lv_j, ratio_j)`` as libmp numbers at ``prec`` bits and floats ``(|lw_j|, |lv_j|,
        |ratio_j|, d_ratio)``: the logs at point j, the log-log ratio ``(lw_{j+1} - lw_j) /
        (lv_{j+1} - lv_j)`` of segment j (``-1/tail_alpha`` for the tail from the last point,
        j = n - 1) and that ratio's relative error bound in charges (each log off by one charge
        of itself, each difference and the quotient by one of theirs)."""

        def make():
            W, V = self.windows, self.values_
            lw, lv = _hp_log(int(W[j]), prec), _hp_log(float(V[j]), prec)
            fw, fv = math.log(int(W[j])), math.log(float(V[j]))
            if j == len(W) - 1 and self.tail_alpha is not None:  # j = n - 1 only with a tail_alpha
                a = float(self.tail_alpha)
                ratio = libmp.mpf_neg(libmp.mpf_div(libmp.fone, libmp.from_float(a), prec))
                return lw, lv, ratio, (abs(fw), abs(fv), 1 / a, 2.0)
            lw1, lv1 = _hp_log(int(W[j + 1]), prec), _hp_log(float(V[j + 1]), prec)
            fw1, fv1 = math.log(int(W[j + 1])), math.log(float(V[j + 1]))
            dw, dv = libmp.mpf_sub(lw1, lw, prec), libmp.mpf_sub(lv1, lv, prec)
            adw, adv = abs(libmp.to_float(dw)), abs(libmp.to_float(dv))
            if adv == 0:  # values equal at this precision: the bound is void, the caller searches
                return lw, lv, libmp.fzero, (abs(fw), abs(fv), 0.0, math.inf)
            rel = (abs(fw) + abs(fw1) + adw) / adw + (abs(fv) + abs(fv1) + adv) / adv + 1
            return lw, lv, libmp.mpf_div(dw, dv, prec), (abs(fw), abs(fv), adw / adv, rel * 1.001)

        return _cached_mp(self, ("segment", j, prec), make)

    def inverse_hp(self, eps: float, prec: int):
        """The crossing ``log x = lw_j + (log eps - lv_j) ratio_j`` of ``inverse`` as a libmp
        number at ``prec`` bits, and its relative error bound in units of 2**-prec (the ratio's
        error from ``_segment_hp``, one charge per log and per operation, propagated)."""
        self._check_reachable(eps)
        n = len(self.windows)
        i = int(self._segment(eps))
        if i == 0:  # U(W0) <= eps: any admissible window works
            return libmp.fzero, 0.0
        j = n - 1 if (i == n and self.tail_alpha is not None) else min(i - 1, n - 2)
        lw, lv, ratio, (flw, flv, fratio, rel) = self._segment_hp(j, prec)
        log_eps = _hp_log(eps, prec)
        t = libmp.mpf_sub(log_eps, lv, prec)
        log_x = libmp.mpf_add(lw, libmp.mpf_mul(t, ratio, prec), prec)
        fle = abs(math.log(eps))
        ft = fle + flv  # >= |t|
        d_log = MP_ULPS * (ft * fratio * (rel + 1) + fratio * (fle + flv + ft) + flw + abs(libmp.to_float(log_x)))
        return libmp.mpf_exp(log_x, prec), _hp_rel(d_log * 1.001)

    def td_line(self, eps):
        """``(c, s, s_float)`` of the power-law piece through each target's crossing (the segment
        of ``inverse``, or the ``tail_alpha`` tail): ``log U(w) = c - s log w`` on it, and off it
        U lies on the same side of eps as the piece does (both are non-increasing and agree at
        the segment's ends, where U = V_j > eps and U = V_(j+1) <= eps). Triple-doubles from
        250-bit mpmath, one per segment in use."""
        n = len(self.windows)
        i = self._segment(eps)
        j = np.where((i == n) & (self.tail_alpha is not None), n - 1, np.clip(i - 1, 0, n - 2))
        W, V = self.windows, self.values_

        def make(jj):
            with mpmath.workprec(250):
                lw, lv = mpmath.log(int(W[jj])), mpmath.log(mpmath.mpf(V[jj]))
                if jj == n - 1:
                    s = mpmath.mpf(self.tail_alpha)
                else:
                    s = (lv - mpmath.log(mpmath.mpf(V[jj + 1]))) / (mpmath.log(int(W[jj + 1])) - lw)
                return _dd.td_const(lv + s * lw), _dd.td_const(s)

        parts = [_cached_mp(self, ("td_line", int(jj)), lambda jj=jj: make(jj)) for jj in np.unique(j)]
        lookup = {int(jj): p for jj, p in zip(np.unique(j), parts, strict=True)}
        fields = [[getattr(lookup[int(jj)][k], f) for jj in j] for k in (0, 1) for f in ("a0", "a1", "a2", "err")]
        c, s_td = _dd.TD(*(np.array(v) for v in fields[:4])), _dd.TD(*(np.array(v) for v in fields[4:]))
        return c, s_td, s_td.a0.copy()

    def inverse_mp(self, eps):
        self._check_reachable(float(eps))
        i = int(self._segment(float(eps)))
        if i == 0:
            return mpmath.mpf(0)
        n = len(self.windows)
        return self._segment_mp(self._last_segment if i == n else i - 1).inverse_mp(eps)


@dataclass(frozen=True, eq=False)
class StepEnvelope(Envelope):
    """The step function ``L(w) = values[i]`` on ``(windows[i-1], windows[i]]`` (``values[0]``
    for ``w <= windows[0]``), 0 beyond the last window: the lower envelope a non-increasing
    risk satisfies when it is known at the tabulated windows (``achievability_tabulated``
    part 4). Inverted by table look-up."""

    windows: np.ndarray
    values_: np.ndarray

    def values(self, w) -> np.ndarray:
        w = np.asarray(w)
        idx = np.searchsorted(
            self.windows,
            w.astype(np.float64)
            if w.dtype != object
            else np.array([float(min(v, 2**1000)) for v in w.ravel()]).reshape(w.shape),
            side="left",
        )
        return np.append(self.values_, 0.0)[idx]

    def value_mp(self, w):
        return mpmath.mpf(float(self.values(np.asarray(w, dtype=object))))

    def converse_window(self, eps, w0: int):
        """Smallest ``w >= 1`` with ``L(w) <= eps`` (exact: a table look-up)."""
        W = np.asarray(self.windows, dtype=np.int64)
        i = np.searchsorted(-self.values_, -np.asarray(eps), side="left")
        return np.where(i == 0, 1, W[np.maximum(i - 1, 0)] + 1).astype(np.int64)

    def smallest_window(self, eps, w_min: int):
        w = self.converse_window(eps, w_min)
        return np.maximum(w, w_min)

    def range_sum_mp(self, m: int, n: int):
        W = [int(v) for v in self.windows]
        total, k = mpmath.mpf(0), m
        for Wi, Li in zip(W, self.values_, strict=True):
            if k >= n:
                break
            top = min(n, Wi + 1)
            if k < top:
                total += (top - k) * mpmath.mpf(Li)
                k = top
        return total
