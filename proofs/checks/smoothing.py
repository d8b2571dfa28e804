"""Machine check for proofs/smoothing.md: each algebraic step in sympy; parts 1-6 of the
statement in mpmath (50 digits) on random laws, smoothing weights and vocabulary sizes."""
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


def _check_algebra():
    mu, tau, a, V, U = sp.symbols("mu tau a V U", positive=True)
    p, q, u = sp.symbols("p q u")  # one coordinate of each law; the identities are coordinatewise
    q_mu = (1 - mu) * q + mu * u
    assert sp.expand(q_mu - q - mu * (u - q)) == 0                                   # part 2
    assert sp.expand(p - q_mu - ((1 - mu) * (p - q) + mu * (p - u))) == 0            # part 3
    # part 5: g(mu) = s^2/mu with s = (1-mu) tau + mu a, b = a - tau
    b = a - tau
    s = (1 - mu) * tau + mu * a
    g = s ** 2 / mu
    assert sp.simplify(g - (tau ** 2 / mu + 2 * tau * b + b ** 2 * mu)) == 0
    assert sp.simplify(sp.diff(g, mu) - (b ** 2 - tau ** 2 / mu ** 2)) == 0
    assert sp.simplify(g.subs(mu, tau / b) - 4 * tau * b) == 0
    assert sp.simplify(s.subs(mu, 1) - a) == 0
    # both branches agree at tau = a/2 (mu* = 1 there)
    assert sp.simplify((tau / b).subs(tau, a / 2) - 1) == 0
    assert sp.simplify((8 * V * tau * b).subs(tau, a / 2) - 2 * V * a ** 2) == 0
    # V a = V - 1 for a = 1 - 1/V
    assert sp.simplify(V * (1 - 1 / V) - (V - 1)) == 0
    # part 6b: (1-mu)(1-mu+2 mu a) = (1-mu)(1+c mu) with c = 2a - 1, and 1 - that = mu (1 - c (1-mu))
    c = 2 * a - 1
    assert sp.expand((1 - mu) * (1 - mu + 2 * mu * a) - (1 - mu) * (1 + c * mu)) == 0
    assert sp.expand(1 - (1 - mu) * (1 + c * mu) - mu * (1 - c * (1 - mu))) == 0
    # E s^2 expansion with E tau^2 -> m2, E tau -> m1
    m1, m2 = sp.symbols("m1 m2", nonnegative=True)
    c2, c1, c0 = sp.Poly(sp.expand(s ** 2), tau).all_coeffs()  # E is linear: tau^k -> m_k
    es2 = c2 * m2 + c1 * m1 + c0
    assert sp.expand(es2 - ((1 - mu) ** 2 * m2 + 2 * mu * a * (1 - mu) * m1 + mu ** 2 * a ** 2)) == 0
    # AM-GM value at mu = sqrt(U)/a
    assert sp.simplify((U / mu + mu * a ** 2).subs(mu, sp.sqrt(U) / a) - 2 * a * sp.sqrt(U)) == 0


def _bound(tau, mu, v):
    a = 1 - mpmath.mpf(1) / v
    s = (1 - mu) * tau + mu * a
    return mpmath.log1p(2 * v * s ** 2 / mu)


def _mu_star(tau, v):
    a = 1 - mpmath.mpf(1) / v
    return tau / (a - tau) if tau < a / 2 else mpmath.mpf(1)


def _check_statement():
    laws = _laws()
    rng = np.random.default_rng(20260527)
    # slack 1e-40: 50-digit sums of <= 40 terms round at ~1e-48
    slack = mpmath.mpf(10) ** -40
    for p, q in laws.random_laws(rng, 300):
        v = len(p)
        a = 1 - mpmath.mpf(1) / v
        u = [mpmath.mpf(1) / v] * v
        mu = mpmath.mpf(float(rng.choice([1e-6, 1e-3, 0.05, 0.3, 1.0]) * rng.uniform(0.5, 1.0)))
        q_mu = [(1 - mu) * qi + mu * ui for qi, ui in zip(q, u)]
        tau = laws.tv(p, q)
        assert min(q_mu) >= mu / v - slack                                            # part 1
        assert abs(laws.tv(q_mu, q) - mu * laws.tv(q, u)) < slack                     # part 2
        assert laws.tv(q, u) <= a + slack
        assert laws.tv(p, q_mu) <= (1 - mu) * tau + mu * a + slack                    # part 3
        assert laws.kl(p, q_mu) <= _bound(tau, mu, v) + slack                         # part 4
        # part 6a at the pair itself (U = tau, and a looser U = min(1, 3 tau))
        for env in (tau, min(1, 3 * tau)):
            assert laws.kl(p, [(1 - _mu_star(env, v)) * qi + _mu_star(env, v) / v for qi in q]) \
                <= 8 * (v - 1) * env + slack
    # part 5: mu* beats a dense grid (log-spaced to reach the small interior optima); tau
    # spans both branches (tau < a/2 and tau >= a/2) including tau > a
    for v in (2, 3, 10, 1000):
        for tau in np.concatenate([np.geomspace(1e-7, 1.0, 12), rng.uniform(0, 1, 4)]):
            tau = mpmath.mpf(tau)
            best = _bound(tau, _mu_star(tau, v), v)
            for m in np.geomspace(1e-9, 1.0, 80):
                assert best <= _bound(tau, mpmath.mpf(m), v) + slack
    # the bias bound is attained by a point mass
    for v in (2, 7, 50):
        q = [mpmath.mpf(1)] + [mpmath.mpf(0)] * (v - 1)
        assert abs(laws.tv(q, [mpmath.mpf(1) / v] * v) - (1 - mpmath.mpf(1) / v)) < slack
    # part 6b: holds for the empirical law of any batch of pairs, so test batch means
    for _ in range(25):
        v = int(rng.integers(2, 30))
        pairs = list(laws.random_laws(rng, 12, sizes=(v, v)))
        a = 1 - mpmath.mpf(1) / v
        U = mpmath.fsum(laws.tv(p, q) for p, q in pairs) / len(pairs)
        mu = min(mpmath.mpf(1), mpmath.sqrt(U) / a)
        mean_kl = mpmath.fsum(laws.kl(p, [(1 - mu) * qi + mu / v for qi in q]) for p, q in pairs) / len(pairs)
        assert mean_kl <= 4 * (v - 1) * mpmath.sqrt(U) + slack


def check():
    _check_algebra()
    with mpmath.workdps(50):
        _check_statement()


if __name__ == "__main__":
    check()
    print("smoothing: ok")
