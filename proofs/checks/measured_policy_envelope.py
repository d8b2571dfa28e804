"""Machine check of measured_policy_envelope: the library's budget against an independent mpmath
interpolant and an integer scan (one context and between two context lengths), the bracket of
part 3 (d), the slope argument of part 3 (b) with the extrapolation case that breaks it, and the
kvpress ratio against kvpress's own keep formula evaluated in plain floats."""
import math

import mpmath
import numpy as np
import sympy as sp

from wzbounds.budget import budget_for_epsilon, kvpress_compression_ratio
from wzbounds.profiles import PolicyProfile


def _U(k, W, V):
    """Independent log-log interpolant of (W, V) at integer k in [W_0, W_last], in mpmath."""
    if k <= W[0]:
        return mpmath.mpf(V[0])
    j = max(i for i in range(len(W) - 1) if W[i] <= k) if k < W[-1] else len(W) - 2
    lw0, lw1 = mpmath.log(W[j]), mpmath.log(W[j + 1])
    lv0, lv1 = mpmath.log(mpmath.mpf(V[j])), mpmath.log(mpmath.mpf(V[j + 1]))
    return mpmath.exp(lv0 + (mpmath.log(k) - lw0) * (lv1 - lv0) / (lw1 - lw0))


def _scan(U, lo, hi, eps):
    """Smallest integer k in [lo, hi] with U(k) <= eps (an integer scan; None if none)."""
    E = mpmath.mpf(eps) * (1 + mpmath.mpf(10) ** -40)  # the library's float table vs exact: 40 digits of slack
    return next((k for k in range(lo, hi + 1) if U(k) <= E), None)


def _kept(c, r):
    """kvpress 0.5.x ``compute_n_kept`` for r < 1, restated: max(1, int(c * (1 - r)))."""
    return max(1, int(c * (1.0 - r)))


def _random_curve(rng, T):
    n = int(rng.integers(2, 7))
    W = np.unique(np.sort(rng.integers(1, T, size=n)))
    while W.size < 2:
        W = np.unique(np.append(W, rng.integers(1, T)))
    V = float(10 ** rng.uniform(-1, 1)) * np.exp(-np.cumsum(rng.uniform(0.0, 1.0, size=W.size)))
    return [int(w) for w in W], [float(v) for v in V]


def check():
    # part 3 (a), (b): a convex combination of affine pieces is affine, slope <= 0 on [0, 1]
    L, a0, b0, sa, sb, lam = sp.symbols("L a0 b0 s_a s_b lam", real=True)
    comb = sp.expand((1 - lam) * (a0 + sa * L) + lam * (b0 + sb * L))
    slope = sp.diff(comb, L)
    assert sp.diff(comb, L, 2) == 0, "affine in log k"
    assert sp.simplify(slope - ((1 - lam) * sa + lam * sb)) == 0
    for la, x, y in [(0, -1, -2), (1, -3, 0), (sp.Rational(1, 3), 0, 0), (sp.Rational(2, 3), -1, 0)]:
        assert slope.subs({lam: la, sa: x, sb: y}) <= 0
    # the extremal case: with lam > 1 (extrapolation) the combination can increase
    assert slope.subs({lam: 2, sa: -2, sb: -sp.Rational(1, 2)}) > 0

    rng = np.random.default_rng(19)
    # part 1: one context, exact against the scan
    for _ in range(150):
        T = int(rng.integers(64, 5000))
        W, V = _random_curve(rng, T)
        p = PolicyProfile("p", "prefill", (T,), (tuple(W),), (tuple(V),))
        V = list(p.values[0])
        eps = float(V[-1] * (V[0] / V[-1]) ** rng.uniform(0, 1)) if V[0] > V[-1] else V[0]
        r = budget_for_epsilon(eps, p)
        with mpmath.workdps(60):
            want = _scan(lambda k: _U(k, W, V), W[0], W[-1], eps)
        assert r.budget_tokens == want, (W, V, eps, r.budget_tokens, want)
        assert r.distortion_bound <= eps * (1 + 1e-12)  # float evaluation of the same interpolant
    # outside the measured range: refused both ways
    p = PolicyProfile("p", "prefill", (100,), ((4, 16, 64),), ((1.0, 0.5, 0.1),))
    for eps in (0.099, 1.01):
        try:
            budget_for_epsilon(eps, p)
        except ValueError as exc:
            assert "`eps`" in str(exc)
        else:
            raise AssertionError(f"eps {eps} outside [0.1, 1] was answered")

    # part 3: between two context lengths
    for _ in range(80):
        Ta = int(rng.integers(64, 2000))
        Tb = Ta + int(rng.integers(1, 3000))
        Wa, Va = _random_curve(rng, Ta)
        Wb, Vb = _random_curve(rng, Ta)  # both grids inside the shorter context
        lo, hi = max(Wa[0], Wb[0]), min(Wa[-1], Wb[-1])
        if hi - lo < 1:
            continue
        p = PolicyProfile("p", "prefill", (Ta, Tb), (tuple(Wa), tuple(Wb)), (tuple(Va), tuple(Vb)))
        Va, Vb = list(p.values[0]), list(p.values[1])
        T = int(rng.integers(Ta + 1, Tb)) if Tb - Ta > 1 else None
        if T is None:
            continue
        lamT = math.log(T / Ta) / math.log(Tb / Ta)
        with mpmath.workdps(60):
            lam_mp = mpmath.log(mpmath.mpf(T) / Ta) / mpmath.log(mpmath.mpf(Tb) / Ta)

            def U_T(k):
                return _U(k, Wa, Va) ** (1 - lam_mp) * _U(k, Wb, Vb) ** lam_mp

            top = min(_U(lo, Wa, Va), _U(lo, Wb, Vb))
            bottom = max(_U(hi, Wa, Va), _U(hi, Wb, Vb))
            if not bottom < top:
                continue
            eps = float(bottom * (top / bottom) ** mpmath.mpf(rng.uniform(0.02, 0.98)))
            r = budget_for_epsilon(eps, p, context_tokens=T)
            assert r.context_status == "interpolated" and abs(r.profile.provenance["context_weight"] - lamT) < 1e-12
            want = _scan(U_T, lo, hi, eps)
            assert r.budget_tokens == want, (Wa, Va, Wb, Vb, T, eps, r.budget_tokens, want)
            ka, kb = _scan(lambda k: _U(k, Wa, Va), lo, hi, eps), _scan(lambda k: _U(k, Wb, Vb), lo, hi, eps)
            assert min(ka, kb) <= r.budget_tokens <= max(ka, kb), (ka, kb, r.budget_tokens)
            for k in range(lo, hi + 1, max(1, (hi - lo) // 20)):  # part 3 (c) pointwise
                ua, ub, ut = _U(k, Wa, Va), _U(k, Wb, Vb), U_T(k)
                assert min(ua, ub) * (1 - mpmath.mpf(10) ** -30) <= ut <= max(ua, ub) * (1 + mpmath.mpf(10) ** -30)

    # part 4: the ratio keeps exactly m; the naive 1 - m/c does not always
    naive_fails = 0
    for c in range(1, 601):
        for m in range(1, c + 1):
            r = kvpress_compression_ratio(c, m)
            assert 0.0 <= r < 1.0
            assert _kept(c, r) == min(m, c), (c, m, r)
            naive_fails += m < c and _kept(c, 1.0 - m / c) != m
    assert naive_fails > 0, "the extremal case: 1 - m/c alone keeps m - 1 for some (c, m)"
    assert _kept(6, 1 - 2 / 6) == 1 and _kept(2047, 1 - 2 / 2047) == 1  # the statement's examples
    for c, m in zip(rng.integers(2, 10 ** 7, size=2000), rng.random(2000)):
        m = max(1, int(m * (int(c) - 1)))
        assert _kept(int(c), kvpress_compression_ratio(int(c), m)) == m


if __name__ == "__main__":
    check()
