"""Machine check of proofs/smoothing_convexity.md: sympy for each algebraic step, mpmath (50
digits) for the statement on random and adversarial pairs, and the library against both."""
import importlib.util
from pathlib import Path

import mpmath
import numpy as np
import sympy as sp


def _laws():
    spec = importlib.util.spec_from_file_location("_laws", Path(__file__).with_name("_laws.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _B(tau, mu, v):
    """Part 1's bound, from its formula (independent of the library)."""
    tail = tau * mpmath.log(v * tau / mu) if tau > 0 else mpmath.mpf(0)
    return (1 - tau) * mpmath.log(1 / (1 - mu)) + tail


def _g(U, v):
    """Part 4's mean envelope at mu = U, from its formula: -(1 - U) log(1 - U) + U log(V/U)."""
    return -(1 - U) * mpmath.log(1 - U) + U * mpmath.log(v / U)


def _point(v, i):
    return [mpmath.mpf(1) if k == i else mpmath.mpf(0) for k in range(v)]


def _check_extremal_batch():
    """Part 4 on its extremal batch {(delta_2, delta_1) w.p. U, (delta_1, delta_1) otherwise}:
    E TV = U (computed from the batch), and E KL at mu = U is below the bound by at most
    (1 - U) log(1 + U/(V(1 - U))) (part 2's gap), so a bound smaller by more than that fails
    (e.g. U log(V/U): at V = 3, U = 0.2, E KL = 0.6561 > 0.5416)."""
    laws = _laws()
    slack = mpmath.mpf(10) ** -40  # 50-digit sums of <= 2000 terms
    for v in (2, 3, 1000):
        for U in ("0.2", "0.01", "1e-6"):
            U = mpmath.mpf(U)
            if U > 1 - mpmath.mpf(1) / v:
                continue
            batch = [(U, _point(v, 1), _point(v, 0)), (1 - U, _point(v, 0), _point(v, 0))]
            assert abs(mpmath.fsum(w * laws.tv(p, q) for w, p, q in batch) - U) < slack
            mean_kl = mpmath.fsum(w * laws.kl(p, [(1 - U) * qi + U / v for qi in q]) for w, p, q in batch)
            assert mean_kl <= _g(U, v) + slack                                          # part 4
            assert _g(U, v) - mean_kl <= (1 - U) * mpmath.log1p(U / (v * (1 - U))) + slack


def _check_algebra():
    tau, mu, V, U, C, beta, x = sp.symbols("tau mu V U C beta x", positive=True)
    L = sp.log(1 / (1 - mu))
    B = (1 - tau) * L + tau * sp.log(V * tau / mu)
    # part 1: issue 11's form minus B = tau L + tau - tau log tau
    issue = L + tau * (1 + sp.log(V / mu))
    assert sp.simplify(sp.expand_log(issue - B - (tau * L + tau - tau * sp.log(tau)), force=True)) == 0
    # part 2: B - KL of the two-point pair
    kl = (1 - tau) * sp.log((1 - tau) / (1 - mu + mu / V)) + tau * sp.log(V * tau / mu)
    gap = (1 - tau) * sp.log(1 / (1 - tau)) + (1 - tau) * sp.log(1 + mu / (V * (1 - mu)))
    assert sp.simplify(sp.logcombine(sp.expand((B - kl - gap) / (1 - tau)), force=True)) == 0
    # part 3: convex in tau and in mu, stationary at mu = U, endpoint difference at mu = U
    assert sp.simplify(sp.diff(B, tau, 2) - 1 / tau) == 0
    BU = B.subs(tau, U)
    assert sp.simplify(sp.diff(BU, mu, 2) - ((1 - U) / (1 - mu) ** 2 + U / mu ** 2)) == 0
    assert sp.simplify(sp.diff(BU, mu).subs(mu, U)) == 0
    assert sp.simplify(sp.expand_log(BU.subs(mu, U) - L.subs(mu, U) - U * sp.log(V * (1 - U)), force=True)) == 0
    assert sp.simplify(sp.expand_log(BU.subs(mu, U) - (-(1 - U) * sp.log(1 - U) + U * sp.log(V)), force=True)) == 0
    # part 4: slope of the affine function, and g'(U) = 0
    g = (1 - U) * L + U * sp.log(V / mu)
    slope = sp.diff((1 - tau) * L + tau * sp.log(V / mu), tau)
    assert sp.simplify(sp.expand_log(slope - sp.log(V * (1 - mu) / mu), force=True)) == 0
    assert sp.simplify(sp.diff(g, mu).subs(mu, U)) == 0
    # part 5: U (1 + log(V/U)) with U = C e^{-beta x}, and the derivative condition
    u = C * sp.exp(-beta * x)
    K0, K1 = C * (1 + sp.log(V / C)), C * beta
    assert sp.simplify(sp.expand_log(u * (1 + sp.log(V / u)) - (K0 + K1 * x) * sp.exp(-beta * x), force=True)) == 0
    d = sp.diff((K0 + K1 * x) * sp.exp(-beta * x), x)
    assert sp.simplify(d - sp.exp(-beta * x) * (K1 - beta * (K0 + K1 * x))) == 0
    assert sp.simplify(sp.expand_log((K0 + K1 * x - K1 / beta) / C - (sp.log(V / C) + beta * x), force=True)) == 0


def _adversarial_pairs(rng):
    """Pairs chosen to make part 1 nearly tight or to stress its edge cases."""
    one = mpmath.mpf(1)
    for v in (2, 3, 17, 1000):
        for tau in (mpmath.mpf(10) ** -12, mpmath.mpf("0.001"), mpmath.mpf("0.3"), mpmath.mpf("0.999")):
            q = [one] + [mpmath.mpf(0)] * (v - 1)
            yield [1 - tau, tau] + [mpmath.mpf(0)] * (v - 2), q           # part 2 family
            tiny = [mpmath.mpf(10) ** -30] * (v - 1)
            q = [1 - mpmath.fsum(tiny)] + tiny                             # spike onto a 1e-30 symbol
            yield [(1 - tau) * qi for qi in q[:-1]] + [(1 - tau) * q[-1] + tau], q
        q = [mpmath.mpf(x) for x in rng.dirichlet(np.ones(v))]
        q = [x / mpmath.fsum(q) for x in q]
        yield list(q), q                                                   # p = q (tau = 0)
        yield [one] + [mpmath.mpf(0)] * (v - 1), [mpmath.mpf(0)] + [one / (v - 1)] * (v - 1)  # tau = 1


def _check_statement():
    laws = _laws()
    rng = np.random.default_rng(20261111)
    slack = mpmath.mpf(10) ** -40  # 50-digit sums of <= 1000 terms round far below this
    mus = [mpmath.mpf(m) for m in ("1e-12", "1e-6", "0.001", "0.1", "0.5", "0.9")]
    pairs = list(laws.random_laws(rng, 300)) + list(_adversarial_pairs(rng))
    for p, q in pairs:
        v, tau = len(p), laws.tv(p, q)
        for mu in mus:
            q_mu = [(1 - mu) * qi + mu / v for qi in q]
            kl = laws.kl(p, q_mu)
            assert kl <= _B(tau, mu, v) + slack, (v, tau, mu)                          # part 1
            assert _B(tau, mu, v) <= mpmath.log(1 / (1 - mu)) + tau * (1 + mpmath.log(v / mu)) + slack
        assert laws.kl(p, [mpmath.mpf(1) / v] * v) <= mpmath.log(v) + slack             # part 1, mu = 1
    # part 2: the exact gap on the two-point family
    for v in (2, 5, 49152):
        for tau in ("1e-9", "0.01", "0.5"):
            for mu in ("1e-9", "0.01", "0.7"):
                tau, mu = mpmath.mpf(tau), mpmath.mpf(mu)
                p = [1 - tau, tau]
                q_mu = [1 - mu + mu / v, mu / v]
                gap = _B(tau, mu, v) - laws.kl(p, q_mu)
                expected = (1 - tau) * mpmath.log(1 / (1 - tau)) + (1 - tau) * mpmath.log1p(mu / (v * (1 - mu)))
                assert abs(gap - expected) < slack and 0 <= gap <= tau + mu / (v * (1 - mu)) + slack
    # part 3: mu = U minimises the worst case over tau' <= U, against a log grid
    for v in (2, 10, 49152):
        for U in ("1e-8", "0.01", "0.3"):
            U = mpmath.mpf(U)
            if U > 1 - mpmath.mpf(1) / v:
                continue
            best = max(_B(0, U, v), _B(U, U, v))
            assert abs(best - (-(1 - U) * mpmath.log(1 - U) + U * mpmath.log(v))) < slack
            assert best <= U * (1 + mpmath.log(v)) + slack
            for m in np.geomspace(1e-12, 0.999, 120):
                m = mpmath.mpf(m)
                assert best <= max(_B(0, m, v), _B(U, m, v)) + slack
            for p, q in laws.random_laws(rng, 20, sizes=(v, v) if v < 50 else (2, 40)):
                t = laws.tv(p, q)
                if t <= U:
                    n = len(p)
                    assert laws.kl(p, [(1 - U) * qi + U / n for qi in q]) <= \
                        -(1 - U) * mpmath.log(1 - U) + U * mpmath.log(n) + slack
    # part 4: holds for the empirical law of any batch of pairs, so test batch means
    for _ in range(40):
        v = int(rng.integers(2, 30))
        batch = list(laws.random_laws(rng, 10, sizes=(v, v)))
        U = mpmath.fsum(laws.tv(p, q) for p, q in batch) / len(batch) * mpmath.mpf(rng.uniform(1.0, 1.5))
        if U > 1 - mpmath.mpf(1) / v:
            continue
        mean_kl = mpmath.fsum(laws.kl(p, [(1 - U) * qi + U / v for qi in q]) for p, q in batch) / len(batch)
        assert mean_kl <= _g(U, v) + slack
        assert mean_kl <= U * (1 + mpmath.log(v / U)) + slack


def _check_library():
    """Part 6 and the library's convexity bound against the formulas above."""
    from wzbounds import divergences as dv

    pair = dv.optimal_smoothing(0.01, 49152)
    mean = dv.optimal_smoothing(0.01, 49152, tv_envelope="mean")
    with mpmath.workdps(30):
        U, v = mpmath.mpf(0.01), 49152
        assert abs(pair.kl_bound_nats - float(-(1 - U) * mpmath.log(1 - U) + U * mpmath.log(v))) < 1e-14
        assert abs(mean.kl_bound_nats - float(_g(U, v))) < 1e-14
    assert pair.route == mean.route == "convexity" and mean.kl_bound_nats < 0.2
    assert abs(dv.smoothing_bound(0.01, pair.mu, 49152).kl_upper_reverse_pinsker_nats - 8.2671) < 1e-3
    rng = np.random.default_rng(7)
    for _ in range(50):
        tau, mu, v = float(rng.uniform(0, 1)), float(10 ** rng.uniform(-9, -0.01)), int(rng.integers(2, 10 ** 5))
        b = dv.smoothing_bound(tau, mu, v)
        with mpmath.workdps(30):
            expected = max(_B(0, mpmath.mpf(mu), v), _B(mpmath.mpf(tau), mpmath.mpf(mu), v))
        assert abs(b.kl_upper_convexity_nats - float(expected)) <= 1e-12 * float(expected) + 1e-300
        assert b.kl_upper_nats == min(b.kl_upper_convexity_nats, b.kl_upper_reverse_pinsker_nats)


def check():
    _check_algebra()
    with mpmath.workdps(50):
        _check_statement()
        _check_extremal_batch()
    _check_library()


if __name__ == "__main__":
    check()
    print("smoothing_convexity: ok")
