"""Exact smallest block of the block-Markov time average, vectorised.

The time average of block ``b`` is ``A(b) = (1/b) sum_{k=b}^{2b-1} U(k)`` (``block_markov``
part 3), non-increasing in ``b`` (part 4), so the smallest block ``b >= w_min`` with
``A(b) <= eps`` is ``n`` exactly when ``A(n) <= eps < A(n - 1)`` (or ``n = w_min``).
``smallest_block`` decides that for all targets at once by *evaluating* ``log A`` at candidate
integers with a certified error bound, never by trusting a root:

1. float64 (every envelope: ``Envelope._block_float``): Newton steps on ``log A`` in ``log b``
   from the sliding window's solution, then the sign of ``log A(n) - log eps`` and of
   ``log A(n - 1) - log eps`` outside their error bounds;
2. double-double, then 3. mpmath at the block's bits plus guard bits (per target), for blocks
   on an envelope's *family* part: ``f(x) = exp(log K) (1 + d log x) x^-s`` (a power law, a
   log-power law, a table's power-law tail). There ``A(b) = exp(log K) b^-s (Qm(b) + Qc(b))``
   with the integral part ``Qm = (1 + d log b) I0 + d I1`` (``I0 = int_1^2 y^-s dy``,
   ``I1 = int_1^2 y^-s log y dy``) and the Euler-Maclaurin corrections ``Qc = O(1/b)`` with
   ``M_TERMS`` Bernoulli terms and their remainder bound (valid while ``f^(2M)`` keeps one sign on
   ``[b, 2b]``, checked). Only ``log K - s log b + log Qm`` needs the high precision: ``Qc`` is
   ``O(1/b)`` of ``Qm``, so its float64 error is ``O(u/b)`` in ``log A``, far below the gap
   ``~ s/b`` between neighbouring blocks. One high-precision evaluation at an anchor ``n0``
   (the previous tier's estimate) gives ``log A`` at every ``n`` near it through the float64
   difference ``log A(n) - log A(n0) = -s log1p((n - n0)/n0) + log1p(...)``, whose error is
   ``u`` of a quantity ``~ |n - n0|/n0``: the Newton step and both decisions cost one
   evaluation.

Targets no tier decides are returned undecided; the caller searches them exactly in mpmath
(``wzbounds.schemes.block``). A wrong integer needs a wrong error bound: every bound is charged
generously (``u`` per float64 operation times small constants, ``MP_ULPS`` per mpmath one) and
``tests/cover/test_fast_inversion.py`` compares every tier with the exact search at the
boundaries.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import mpmath
import numpy as np
from mpmath import libmp

from . import _dd
from ._inversion import _TD_MIN_BATCH, HP_GUARD_BITS, MP_ULPS, _store, anchor_steps, compare, decide, shift

U = 2.0**-53
#: Euler-Maclaurin terms of the family sums (B_2 .. B_8); with b >= FAMILY_MIN the remainder is
#: below ~1e-16 relative for slopes up to ~3 (checked per block, not assumed).
M_TERMS = 4
#: Smallest block the family formula is used for (smaller blocks are summed term by term).
FAMILY_MIN = 64
#: B_2j / (2j)! for j = 1..M_TERMS.
_BERNOULLI = (1 / 12, -1 / 720, 1 / 30240, -1 / 1209600)
#: Newton-and-decide rounds of the float tier, and anchor rounds of the triple-double tier.
_FLOAT_ROUNDS = 8
_TD_ROUNDS = 2
#: Largest block the mpmath tier takes (beyond it 1/b underflows float64 in the corrections).
_HP_MAX_BITS = 900
_LN2 = math.log(2.0)


def _rising(s: float, k: int):
    """``(P_k, Q_k)`` of ``d^k/dx^k [(1 + d log x) x^-s] = x^(-s-k) (P_k (1 + d log x) + d Q_k)``:
    ``P_0 = 1, Q_0 = 0, P_(i+1) = (-s-i) P_i, Q_(i+1) = (-s-i) Q_i + P_i``."""
    p, q = 1.0, 0.0
    for i in range(k):
        p, q = (-s - i) * p, (-s - i) * q + p
    return p, q


def _i0_i1(s, d):
    """``I0 = int_1^2 y^-s dy`` and ``I1 = int_1^2 y^-s log y dy`` (0 when ``d = 0``: unused) in
    the current mpmath precision (series where the closed forms cancel: ``t = 1 - s`` near 0)."""
    from .profiles.envelopes import _log_power_series

    L, t = mpmath.ln2, 1 - s
    i0 = L if t == 0 else mpmath.expm1(t * L) / t
    if d == 0:
        i1 = mpmath.mpf(0)
    elif abs(t * L) <= 1:
        i1 = _log_power_series(t * L) * L**2
    else:
        i1 = (L * mpmath.exp(t * L) * t - mpmath.expm1(t * L)) / t**2
    return i0, i1


@dataclass(frozen=True, eq=False)
class Family:
    """``f(x) = exp(log_k) (1 + d log x) x^-s`` for ``x >= start``: an envelope's part whose block
    sums have the closed form of the module docstring. ``exact(prec)`` returns ``(log_k, s, d)``
    as mpf numbers accurate to ``prec`` bits (computed with enough guard bits by the envelope);
    ``d >= 0`` and ``1 + d log x > 0`` on the family's range."""

    exact: Callable[[int], tuple[Any, Any, Any]]
    start: int
    _cache: dict = field(default_factory=dict, repr=False)

    def _mp(self, prec: int):
        """``(log_k, s, d, I0, I1)`` at ``prec`` bits (mpf), cached."""
        key = ("mp", prec)
        if key not in self._cache:
            with mpmath.workprec(prec + 16):
                log_k, s, d = self.exact(prec + 16)
                i0, i1 = _i0_i1(s, d)
            self._cache[key] = (log_k, s, d, i0, i1)
        return self._cache[key]

    @property
    def floats(self):
        """The constants as float64: ``(log_k, s, d, I0, I1)``."""
        if "float" not in self._cache:
            self._cache["float"] = tuple(float(v) for v in self._mp(200))
        return self._cache["float"]

    @property
    def dds(self):
        """The constants as double-doubles (error 2**-104 relative: the 200-bit values rounded)."""
        if "dd" not in self._cache:
            out = []
            for v in self._mp(200):
                hi = float(v)
                with mpmath.workprec(200):
                    lo = float(v - hi)
                out.append(_dd.DD(np.float64(hi), np.float64(lo), np.float64(abs(hi) * 2.0**-104)))
            self._cache["dd"] = tuple(out)
        return self._cache["dd"]

    # --- float64 pieces ----------------------------------------------------------------------
    @property
    def _pq(self):
        """``(P_k, Q_k)`` for k = 0..2M (floats, from float s)."""
        if "pq" not in self._cache:
            self._cache["pq"] = [_rising(self.floats[1], k) for k in range(2 * M_TERMS + 1)]
        return self._cache["pq"]

    def corrections(self, b, lb):
        """``(Qc, Rc, ok)``: the Euler-Maclaurin corrections of the normalised block sum at blocks
        ``b`` (float64, log ``lb``), the remainder bound, and where ``f^(2M)`` keeps one sign on
        ``[b, 2b]`` (``P_2M (1 + d log x) + d Q_2M`` is linear in log x: its signs at both ends
        decide)."""
        _, s, d, _, _ = self.floats
        pq = self._pq
        l1, l2 = 1 + d * lb, 1 + d * (lb + _LN2)
        qc = (l1 * -math.expm1(-s * _LN2) - d * 2.0**-s * _LN2) / (2 * b)
        inv_b2 = 1 / (b * b)
        scale = inv_b2
        term = 0.0
        for j, c in enumerate(_BERNOULLI, start=1):
            p, q = pq[2 * j - 1]
            term = c * scale * (2.0 ** (-s - 2 * j + 1) * (p * l2 + d * q) - (p * l1 + d * q))
            qc = qc + term
            scale = scale * inv_b2
        p, q = pq[2 * M_TERMS]
        ok = (p * l1 + d * q) * (p * l2 + d * q) > 0
        return qc, np.abs(term), ok

    def log_average_float(self, b):
        """``(log A(b), err)`` in float64 for blocks ``b`` (float64 array, >= ``start``)."""
        log_k, s, d, i0, i1 = self.floats
        with np.errstate(all="ignore"):
            lb = np.log(b)
            qm = (1 + d * lb) * i0 + d * i1
            qc, rc, ok = self.corrections(b, lb)
            q = qm + qc
            val = log_k - s * lb + np.log(q)
            # u per operation on each term (times 16), the corrections' own rounding and remainder
            err = (
                16 * U * (2 + abs(log_k) + 2 * np.abs(s * lb) + np.abs(np.log(q)) + np.abs(d * lb))
                + (8 * U * np.abs(qc) + rc + 1e-300) / (q - rc) * 1.01
            )
            err = np.where(ok & (q - rc > 0) & (b >= self.start), err, np.inf)
        return val, err

    def log_slope(self, b):
        """``d log A / d log b`` at blocks ``b`` (float64; an estimate for Newton steps)."""
        _, s, d, i0, i1 = self.floats
        lb = np.log(b)
        qc, _, _ = self.corrections(b, lb)
        q = (1 + d * lb) * i0 + d * i1 + qc
        return -s + (d * i0 - qc + d * -math.expm1(-s * _LN2) / (2 * b)) / q

    def difference(self, dn, n0f):
        """``(log A(n0 + dn) - log A(n0), err)`` in float64 for integer offsets ``dn`` (exact
        floats, ``|dn| << n0``) from anchors ``n0`` (given rounded to float64, ``n0f``: a relative
        2**-53 in ``dn / n0`` is inside the charge)."""
        _, s, d, i0, i1 = self.floats
        with np.errstate(all="ignore"):
            lam = np.log1p(dn / n0f)
            lb0 = np.log(n0f)
            qc0, rc0, ok0 = self.corrections(n0f, lb0)
            qc1, rc1, ok1 = self.corrections(n0f + dn, lb0 + lam)
            q0 = (1 + d * lb0) * i0 + d * i1 + qc0
            arg = (d * i0 * lam + qc1 - qc0) / q0
            val = -s * lam + np.log1p(arg)
            err = 8 * U * (np.abs(s * lam) + np.abs(arg) + np.abs(d * lam)) + 2.02 * (
                16 * U * (np.abs(qc0) + np.abs(qc1)) + rc0 + rc1 + 1e-300
            ) / (q0 - rc0)
            err = np.where(ok0 & ok1 & (q0 - rc0 > 0) & (n0f + dn >= self.start) & (n0f >= self.start), err, np.inf)
        return val, err

    # --- triple-double ---------------------------------------------------------------------------
    @property
    def tds(self):
        """``(log K + log I0, s, d, I0, I1, log I0)`` as scalar triple-doubles (2**-165 relative)."""
        if "td" not in self._cache:
            log_k, s, d, i0, i1 = self._mp(260)
            with mpmath.workprec(260):
                self._cache["td"] = tuple(
                    _dd.td_const(v) for v in (log_k + mpmath.log(i0), s, d, i0, i1, mpmath.log(i0))
                )
        return self._cache["td"]

    def log_main_td(self, n_hi, n_lo) -> _dd.TD:
        """``log K - s log n + log Qm(n)`` as a triple-double at exact double-double integers
        ``n = n_hi + n_lo`` (the corrections enter through ``log_corrections``): ~2**-140
        absolute, which separates neighbouring blocks up to ~2**130."""
        c0, s, d, i0, i1, log_i0 = self.tds
        shape = np.shape(n_hi)

        def full(c):
            return _dd.TD(*(np.full(shape, v) for v in (c.a0, c.a1, c.a2, c.err)))

        with np.errstate(all="ignore"):
            lb = _dd.td_log_int(n_hi, n_lo)
            out = _dd.td_add(full(c0), _dd.td_neg(_dd.td_mul(full(s), lb)))
            if self.floats[2] != 0:  # log(Qm / I0) = log(1 + d log n + d I1 / I0)
                qm = _dd.td_add(
                    _dd.td_mul(_dd.td_add(full(_dd.td_const(1)), _dd.td_mul(full(d), lb)), full(i0)),
                    _dd.td_mul(full(d), full(i1)),
                )
                log_qm = _td_log_of(qm)
                out = _dd.td_add(out, _dd.td_add(log_qm, _dd.td_neg(full(log_i0))))
            ok = n_hi >= self.start
        return _dd.TD(out.a0, out.a1, out.a2, np.where(ok, out.err, np.inf))

    # --- double-double ---------------------------------------------------------------------------
    def log_average_dd(self, n_hi, n_lo) -> _dd.DD:
        """``log A(n)`` in double-double at exact integers ``n = n_hi + n_lo`` (>= ``start``)."""
        log_k, s, d, i0, i1 = self.dds
        shape = np.shape(n_hi)
        full = lambda c: _dd.DD(np.full(shape, c.hi), np.full(shape, c.lo), np.full(shape, c.err))  # noqa: E731
        with np.errstate(all="ignore"):
            lb = _dd.log(_dd.DD(n_hi, n_lo, np.zeros(shape)))
            if self.floats[2] == 0:
                qm = full(i0)
            else:
                qm = _dd.add(
                    _dd.mul(_dd.add(_dd.exact(np.ones(shape)), _dd.mul(full(d), lb)), full(i0)),
                    _dd.mul(full(d), full(i1)),
                )
            qc, rc, ok = self.corrections(n_hi, lb.hi)
            # Qc at n_hi (n off by < 2**-52 relative): its float error covers that
            q = _dd.add(qm, _dd.DD(qc, np.zeros(shape), 16 * U * np.abs(qc) + rc + 1e-300))
            out = _dd.sub(_dd.add(full(log_k), _dd.log(q)), _dd.mul(full(s), lb))
            err = np.where(ok & (n_hi >= self.start), out.err, np.inf)
        return _dd.DD(out.hi, out.lo, err)

    # --- mpmath, one target -------------------------------------------------------------------
    def log_main_hp(self, n: int, prec: int):
        """``log K - s log n + log Qm(n)`` as a libmp number at ``prec`` bits, and its error bound
        in units of 2**-prec (one ``MP_ULPS`` charge per operation on each term); the
        corrections enter through ``log_corrections``."""
        log_k, s, d, i0, i1 = self._mp(prec)
        fk, fs, fd, fi0, _ = self.floats
        lb = libmp.mpf_log(libmp.from_int(n), prec)
        flb = libmp.to_float(lb)
        val = libmp.mpf_sub(log_k._mpf_, libmp.mpf_mul(s._mpf_, lb, prec), prec)
        charges = abs(fk) + 3 * abs(fs * flb) + 2
        if fd != 0:
            qm = libmp.mpf_add(
                libmp.mpf_mul(libmp.mpf_add(libmp.fone, libmp.mpf_mul(d._mpf_, lb, prec), prec), i0._mpf_, prec),
                libmp.mpf_mul(d._mpf_, i1._mpf_, prec),
                prec,
            )
            log_qm = libmp.mpf_log(qm, prec)
            charges += abs(libmp.to_float(log_qm)) + 4 * (1 + abs(fd * flb)) * fi0 / libmp.to_float(qm) + 1
        else:
            if ("log_i0", prec) not in self._cache:
                self._cache[("log_i0", prec)] = libmp.mpf_log(i0._mpf_, prec)
            log_qm = self._cache[("log_i0", prec)]
            charges += abs(math.log(fi0)) + 1
        val = libmp.mpf_add(val, log_qm, prec)
        return val, MP_ULPS * (charges + abs(libmp.to_float(val))) * 1.001

    def log_corrections(self, b):
        """``(log1p(Qc/Qm), err)`` at blocks ``b`` (float64 arrays): ``log A = log_main + this``."""
        _, _, d, i0, i1 = self.floats
        with np.errstate(all="ignore"):
            lb = np.log(b)
            qm = (1 + d * lb) * i0 + d * i1
            qc, rc, ok = self.corrections(b, lb)
            arg = qc / qm
            err = 4 * U * np.abs(arg) + 1.01 * (16 * U * np.abs(qc) + rc + 1e-300) / (qm - rc)
        return np.log1p(arg), np.where(ok & (qm - rc > 0), err, np.inf)


def _td_log_of(x: _dd.TD) -> _dd.TD:
    """``log x`` of a positive triple-double: ``log x0 + log1p(delta)``, ``delta = (x1 + x2)/x0``
    (~2**-53) to ~2**-159 through the exact remainder of x1 / x0, ``log1p delta = delta -
    delta^2/2`` (the cube and the roundings charged), plus x's own error relative to it."""
    q1 = x.a1 / x.a0
    ph, pl = _dd.two_prod(q1, x.a0)
    rem = (x.a1 - ph) - pl  # x1 - q1 x0, exact
    q2 = (rem + x.a2) / x.a0
    tail = q2 - q1 * q1 / 2
    charge = (
        8 * U * np.abs(tail)
        + np.abs(q1) ** 3
        + np.abs(q1 * q2)
        + 4 * U * (np.abs(rem) + np.abs(x.a2)) / np.abs(x.a0)
        + x.err / (np.abs(x.a0) - x.err)
    )
    return _dd.td_add(_dd.td_log(x.a0), _dd.TD(q1, tail, np.zeros_like(q1), np.where(x.a0 > x.err, charge, np.inf)))


def smallest_block(eps: np.ndarray, envelope, w_min: int, log_target: _dd.TD | None = None):
    """Smallest integer ``b >= w_min`` with ``A(b) <= eps``, elementwise, where the tiers of the
    module docstring decide it.

    ``log_target``, optional: targets ``T`` that are real numbers rather than float64 (the
    inverse of a bound at a float64 target), given by their logarithms as a TD of ``eps``'s shape:
    ``|log T - (a0 + a1 + a2)| <= err``. ``eps`` is then only where the searches start; every
    decision is taken against ``T`` with that error charged, and the mpmath tier (which would
    need ``T`` to any precision) is the caller's: its targets come back undecided.

    Returns ``(b, undecided)``: an int64 array (an object array of Python ints where some block
    exceeds int64) and the mask of the targets left to the exact search.
    """
    eps = np.asarray(eps, dtype=np.float64).ravel()
    out = np.zeros(eps.shape, dtype=np.int64)
    big: dict[int, int] = {}  # index -> Python int, for blocks beyond int64
    undecided = np.ones(eps.shape, dtype=bool)
    if w_min >= 2**50:  # float64 blocks would not be exact: all to the exact search
        return out, undecided
    with np.errstate(all="ignore"):
        if log_target is None:
            log_eps, log_err, eps_low = np.log(eps), np.zeros(eps.shape), eps
        else:
            log_target = _dd.TD(
                *(
                    np.broadcast_to(a, eps.shape).astype(np.float64).ravel()
                    for a in (log_target.a0, log_target.a1, log_target.a2, log_target.err)
                )
            )
            log_eps = log_target.a0
            log_err = np.abs(log_target.a1) + np.abs(log_target.a2) + log_target.err
            eps_low = np.exp(log_eps - log_err) * (1 - 4 * U)  # <= T: exp's rounding (1 ulp) charged twice
        x_u, err_u = envelope.inverse(eps_low)
    # U(w_min) <= eps already: then A(w_min) <= U(w_min) <= eps (block_markov part 3)
    at_once = x_u + err_u <= w_min
    out[at_once] = w_min
    undecided[at_once] = False
    idx = np.flatnonzero(undecided)
    x = _float_tier(
        envelope, log_eps, log_err, idx, envelope._block_guess(eps_low[idx], x_u[idx]), w_min, out, undecided
    )
    family = envelope._block_family()
    todo = np.flatnonzero(undecided[idx] & np.isfinite(x) & (x >= (family.start if family else np.inf) + 2))
    if family is None or not todo.size:
        return out, undecided
    _anchor_tiers(family, eps, idx[todo], x[todo], w_min, out, big, undecided, log_target)
    if big:
        fits = all(v <= np.iinfo(np.int64).max for v in big.values())
        out = out if fits else out.astype(object)
        for i, v in big.items():
            out[i] = v
    return out, undecided


def _float_tier(envelope, log_eps, log_err, idx, x, w_min, out, undecided):
    """Newton-and-decide rounds in float64 (see the module docstring) for the targets ``idx``
    from the starting blocks ``x``; decided ones are written to ``out``. ``log_eps`` is the
    targets' logarithm in float64, off by at most its rounding plus ``log_err``. Returns the
    refined real estimates (NaN where there is none)."""
    x = np.where(np.isfinite(x) & (x > 0), x, np.nan)
    live = np.flatnonzero(np.isfinite(x))
    le = log_eps[idx]
    ee = U * np.abs(le) + log_err[idx]
    for r in range(_FLOAT_ROUNDS):
        if r == 2:  # past float64's integers two Newton steps give the later tiers their estimate
            live = live[x[live] < 2.0**52]
        if not live.size:
            break
        xl = x[live]
        n = np.maximum(np.ceil(xl), float(w_min))
        exact = n < 2.0**52
        at_min = n <= w_min
        g_n, e_n = envelope._block_float(n)
        g_m, e_m = envelope._block_float(np.maximum(n - 1, float(w_min)))
        g_n, g_m = g_n - le[live], g_m - le[live]
        e_n, e_m = e_n + ee[live], e_m + ee[live]
        decided, down, up = decide(g_n, e_n, g_m, e_m, at_min)
        decided &= exact
        won = idx[live[decided]]
        out[won] = n[decided].astype(np.int64)
        undecided[won] = False
        # Newton in log b from n (going up) or n - 1 (going down), moving at least one block
        with np.errstate(all="ignore"):
            slope = envelope._block_slope(n)
            from_n = n * np.exp(-g_n / slope)
            from_m = (n - 1) * np.exp(-g_m / slope)
        new = np.where(down, np.minimum(from_m, n - 1.5), np.where(up, np.maximum(from_n, n + 0.5), from_n))
        stuck = ~decided & ~down & ~up & exact  # a bound straddles zero: float64 cannot decide here
        x[live] = np.where(decided, xl, np.where(np.isfinite(new) & (new > 0), new, np.nan))
        live = live[~decided & ~stuck & np.isfinite(x[live])]
    return x


def _anchor_tiers(family, eps, idx, x, w_min, out, big, undecided, log_target=None):
    """Triple-double anchor rounds (anchors ``a_hi + a_lo``, exact integers, from the float64
    estimates ``x``; where the batch is too small to pay for the log tables, none), then mpmath
    rounds per remaining target at its block's bits plus guard bits (anchors as Python ints, the
    steps vectorised; a second round re-anchors at the first one's candidate). Given
    ``log_target`` (``smallest_block``), the rounds compare with it and there is no mpmath round."""
    a_hi, a_lo = np.rint(x), np.zeros(x.shape)
    live = np.arange(idx.size)

    def dd_above(h, lo):
        return lambda dn: compare(*shift(h, lo, dn), w_min)

    td_rounds = _TD_ROUNDS if (log_target is not None or _dd.td_ready() or idx.size >= _TD_MIN_BATCH) else 0
    if td_rounds:  # td_log builds its tables on first use
        le = (
            _dd.td_log(eps[idx])
            if log_target is None
            else _dd.TD(*(a[idx] for a in (log_target.a0, log_target.a1, log_target.a2, log_target.err)))
        )
        for _ in range(td_rounds):
            if not live.size:
                break
            h, lo = a_hi[live], a_lo[live]
            corr, corr_err = family.log_corrections(h)
            g0_td = _dd.td_add(
                family.log_main_td(h, lo), _dd.td_neg(_dd.TD(le.a0[live], le.a1[live], le.a2[live], le.err[live]))
            )
            g0 = _dd.td_add(g0_td, _dd.TD(corr, np.zeros_like(corr), np.zeros_like(corr), corr_err)).dd
            dn, ok = anchor_steps(family.difference, family.log_slope, g0, h, dd_above(h, lo))
            n_hi, n_lo = shift(h, lo, np.where(np.isfinite(dn), dn, 0.0))
            exact_dd = h < 2.0**100  # h + lo + dn an exact double-double integer; beyond, Python ints
            _store(out, big, idx[live[ok & exact_dd]], n_hi[ok & exact_dd], n_lo[ok & exact_dd])
            for k in np.flatnonzero(ok & ~exact_dd):
                big[int(idx[live[k]])] = int(h[k]) + int(lo[k]) + int(dn[k])
            undecided[idx[live[ok]]] = False
            a_hi[live], a_lo[live] = n_hi, n_lo  # the next anchor: the candidate
            live = live[~ok]
    if log_target is not None:
        return
    live = live[np.isfinite(a_hi[live]) & (a_hi[live] < 2.0**_HP_MAX_BITS)]
    anchors = [int(a_hi[k]) + int(a_lo[k]) for k in live]
    for _ in range(2):
        if not live.size:
            return
        anchors, dn, ok = _hp_round(family, eps, idx[live], anchors, w_min)
        for k in np.flatnonzero(ok):
            big[int(idx[live[k]])] = anchors[k] + int(dn[k])
            undecided[idx[live[k]]] = False
        keep = np.flatnonzero(~ok & np.isfinite(dn))
        live, anchors = live[keep], [anchors[k] + int(dn[k]) for k in keep]


def _hp_round(family, eps, idx, anchors, w_min):
    """One mpmath round: ``g0`` at each anchor (per target, libmp at the block's bits plus guard
    bits), then ``anchor_steps`` for all. Returns ``(anchors, dn, decided)``."""
    n0f = np.array([float(n) for n in anchors])
    hi, lo, err = np.zeros(n0f.size), np.zeros(n0f.size), np.full(n0f.size, np.inf)
    for k, (i, n0) in enumerate(zip(idx, anchors, strict=True)):
        prec = n0.bit_length() + HP_GUARD_BITS + 16
        main, charges = family.log_main_hp(n0, prec)
        e = float(eps[i])
        g = libmp.mpf_sub(main, libmp.mpf_log(libmp.from_float(e), prec), prec)
        hi[k] = libmp.to_float(g)
        lo[k] = libmp.to_float(libmp.mpf_sub(g, libmp.from_float(hi[k]), prec))
        # the mpmath charges, the 2**-106 of the double-double split
        err[k] = math.ldexp(charges + MP_ULPS * (abs(math.log(e)) + 2), -prec) + abs(hi[k]) * 2.0**-104
    corr, corr_err = family.log_corrections(n0f)
    g0 = _dd.add(_dd.DD(hi, lo, err), _dd.DD(corr, np.zeros_like(corr), corr_err))
    near_min = n0f < 2.0 * w_min + 2**22  # else n0 + dn > w_min for any Newton-sized dn

    def hp_above(dn):
        rel = np.ones(dn.shape)
        for k in np.flatnonzero(near_min & np.isfinite(dn)):
            v = anchors[k] + int(dn[k]) - w_min
            rel[k] = (v > 0) - (v < 0)
        return rel

    dn, ok = anchor_steps(family.difference, family.log_slope, g0, n0f, hp_above)
    return anchors, dn, ok
