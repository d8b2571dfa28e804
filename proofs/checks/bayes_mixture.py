"""Machine check of proofs/bayes_mixture.md: sympy for the Beta moment and the bound algebra;
mpmath for the exact risk (brute-force multinomial enumeration), the phi bounds and the envelope."""
import itertools

import mpmath
import numpy as np
import sympy as sp


def _brute_nats(V, a, w):
    """sum_v E theta_v log theta_v - E sum_v q_v log q_v by enumerating all count vectors."""
    a = mpmath.mpf(a)
    e_theta = mpmath.digamma(a + 1) - mpmath.digamma(V * a + 1)
    total = mpmath.mpf(0)
    for head in itertools.product(range(w + 1), repeat=V - 1):
        if sum(head) > w:
            continue
        counts = list(head) + [w - sum(head)]
        logp = (mpmath.loggamma(w + 1) + mpmath.loggamma(V * a) - mpmath.loggamma(w + V * a)
                + mpmath.fsum(mpmath.loggamma(c + a) - mpmath.loggamma(c + 1) - mpmath.loggamma(a)
                              for c in counts))
        q = [(c + a) / (w + V * a) for c in counts]
        total += mpmath.exp(logp) * mpmath.fsum(x * mpmath.log(x) for x in q)
    return e_theta - total


def _symbolic():
    al, be, N, V = sp.symbols("alpha beta N V", positive=True)
    # E[theta log theta] for Beta(al, be) = d/dal B(al+1, be) / B(al, be)
    ratio = sp.diff(sp.gamma(al + 1) * sp.gamma(be) / sp.gamma(al + be + 1), al) \
        / (sp.gamma(al) * sp.gamma(be) / sp.gamma(al + be))
    target = al / (al + be) * (sp.polygamma(0, al + 1) - sp.polygamma(0, al + be + 1))
    assert sp.simplify(sp.expand_func(ratio - target)) == 0
    # upper bound algebra with E q = 1/V
    Eq = 1 / V
    upper = V * (1 / (2 * N) - Eq / (2 * N) + Eq / (12 * N ** 2))
    assert sp.simplify(upper - ((V - 1) / (2 * N) + 1 / (12 * N ** 2))) == 0
    lower = V * (1 / (2 * N) - Eq / (2 * N))
    assert sp.simplify(lower - (V - 1) / (2 * N)) == 0
    # phi asymptotic series: psi(x) + 1/x - log x = 1/(2x) - 1/(12x^2) + O(x^-4)
    x = sp.Symbol("x", positive=True)
    ser = sp.series(sp.polygamma(0, x) + 1 / x - sp.log(x), x, sp.oo, 5)
    assert sp.simplify(ser.removeO() - (1 / (2 * x) - 1 / (12 * x ** 2) + 1 / (120 * x ** 4))) == 0


def _numeric():
    from wzbounds.sources import BayesMixture
    from wzbounds.sources.mixture import _phi

    mpmath.mp.dps = 30
    # k(t) = 1/t - 1/(e^t - 1) in [1/2 - t/12, 1/2]  =>  phi bounds
    for t in np.geomspace(1e-4, 60, 200):
        k = 1 / mpmath.mpf(t) - 1 / mpmath.expm1(t)
        assert 0.5 - t / 12 <= k <= 0.5
    xs = np.geomspace(1e-3, 1e7, 300)
    ph = _phi(xs)
    assert np.all(np.diff(ph) < 0)
    for x, v in zip(xs[::10], ph[::10]):
        xm = mpmath.mpf(x)
        exact = mpmath.digamma(xm + 1) - mpmath.log(xm)
        assert abs(v - exact) <= 1e-13 * exact, (x, v, exact)
        assert 1 / (2 * xm) - 1 / (12 * xm ** 2) <= exact <= 1 / (2 * xm)
    for V, a in ((2, 0.5), (2, 2.0), (3, 0.3), (4, 1.0)):
        src = BayesMixture(V, a)
        for w in (0, 1, 3, 7):
            e = _brute_nats(V, a, w)
            assert abs(src.bayes_risk(w) - e) <= 1e-12 * e, (V, a, w)
        ws = np.array([1, 2, 5, 10, 100, 1000, 20000])
        I = src.bayes_risk(ws)
        N = ws + V * a
        inv = np.array([src.inverse_count_moment(int(w)) for w in ws])
        assert np.all(I <= (V - 1) / (2 * N) + 1 / (12 * N ** 2))
        assert np.all(I >= (V - 1) / (2 * N) - V / (12 * N) * inv)
        assert np.all(np.diff(inv) <= 0) and np.all(np.diff(I) < 0)
        for w0 in (1, 8, 64):
            c, C = src.envelope_constants(w0)
            m = ws >= w0
            assert np.all(I[m] * ws[m] <= C) and np.all(I[m] * ws[m] >= c)
        assert abs(I[-1] * ws[-1] / ((V - 1) / 2) - 1) < 0.05


def check():
    _symbolic()
    _numeric()
