"""Machine check of proofs/santa_fe.md: sympy for the substitution, the integrals, the maximum,
the log inequality and the monotonicity; mpmath for the statement (exact risk by brute force
with a Hurwitz-zeta tail, both envelopes, the asymptotic constant, the TV identity)."""
import mpmath
import numpy as np
import sympy as sp


def _risk_bits_mp(beta, w, n_head=400):
    """sum_k p_k (1-p_k)^w: direct sum to n_head, then the binomial expansion of (1-p)^w with
    sum_{k>n} p_k^{j+1} = zeta((j+1) beta, n+1)/zeta^{j+1} (converges as w p_n < 1)."""
    z = mpmath.zeta(beta)
    head = mpmath.fsum(k ** -beta / z * (1 - k ** -beta / z) ** w for k in range(1, n_head + 1))
    assert w * n_head ** -beta / z < 0.5
    tail, j, binom = mpmath.mpf(0), 0, mpmath.mpf(1)
    while True:
        term = binom * (-1) ** j * mpmath.zeta((j + 1) * beta, n_head + 1) / z ** (j + 1)
        tail += term
        if abs(term) <= mpmath.mpf(10) ** -28 * abs(tail):
            return head + tail
        j += 1
        binom = binom * (w - j + 1) / j


def _symbolic():
    x, u, w, beta, lam, y, mu = sp.symbols("x u w beta lambda y mu", positive=True)
    zeta = sp.Symbol("zeta", positive=True)
    # substitution u = p(x) = x^-beta/zeta: x(u) = (zeta u)^(-1/beta), dx/du = -B u^(-1/beta-1)
    x_of_u = (zeta * u) ** (-1 / beta)
    assert sp.simplify(x_of_u ** -beta / zeta - u) == 0
    B = zeta ** (-1 / beta) / beta
    assert sp.simplify(sp.diff(x_of_u, u) + B * u ** (-1 / beta - 1)) == 0
    # p(x) dx = u * B u^(-1/beta-1) du = B u^(-1/beta) du
    assert sp.simplify(u * B * u ** (-1 / beta - 1) - B * u ** (-1 / beta)) == 0
    # int_0^inf u^(-1/beta) e^(-mu u) du = Gamma(1-1/beta) mu^(-(1-1/beta)) for rational beta
    for b in (sp.Rational(3, 2), sp.Integer(2), sp.Rational(7, 3), sp.Integer(5)):
        val = sp.integrate(u ** (-1 / b) * sp.exp(-mu * u), (u, 0, sp.oo))
        assert sp.simplify(val - sp.gamma(1 - 1 / b) * mu ** (1 / b - 1)) == 0
    # max_u u e^(-w u) = 1/(e w), at u = 1/w (second derivative negative there)
    g = u * sp.exp(-w * u)
    (crit,) = sp.solve(sp.diff(g, u), u)
    assert sp.simplify(crit - 1 / w) == 0
    assert sp.simplify(g.subs(u, crit) - sp.exp(-1) / w) == 0
    assert sp.simplify(sp.diff(g, u, 2).subs(u, crit)) .is_negative
    # log(1-u) + u/(1-u) has derivative u/(1-u)^2 >= 0 and vanishes at 0
    h = sp.log(1 - u) + u / (1 - u)
    assert sp.simplify(sp.diff(h, u) - u / (1 - u) ** 2) == 0 and h.subs(u, 0) == 0
    # d/dy [y^(a-1) e^-y] = y^(a-2) e^-y (a - 1 - y)
    a = sp.Symbol("a", positive=True)
    assert sp.simplify(sp.diff(y ** (a - 1) * sp.exp(-y), y)
                       - y ** (a - 2) * sp.exp(-y) * (a - 1 - y)) == 0
    # 1/w = w^-alpha w^(-1/beta) with alpha = 1 - 1/beta
    assert sp.simplify(w ** -(1 - 1 / beta) * w ** (-1 / beta) - 1 / w) == 0
    # TV per missing key: |p-q0|+q0 >= p for every q0 >= 0 (triangle), equality iff q0 <= p
    p, q0 = sp.symbols("p q0", nonnegative=True)
    expr = sp.Abs(p - q0) + q0 - p
    assert sp.simplify(expr.subs(q0, p / 2)) == 0


def _numeric():
    from wzbounds.sources import SantaFe

    mpmath.mp.dps = 30
    rng = np.random.default_rng(0)
    for beta in (1.5, 2.0, 2.5, 3.0, 4.0):
        src = SantaFe(beta)
        A = src.asymptotic_constant_bits
        alpha = 1 - 1 / beta
        z = mpmath.zeta(beta)
        assert abs(A - mpmath.gamma(alpha) * z ** (-1 / beta) / beta) < 1e-14
        windows = [0, 1, 2, 3, 5, 8, 13, 30]
        exact = [_risk_bits_mp(beta, w) for w in windows]
        got = src.bayes_risk(np.array(windows), unit="bits")
        for w, e, g in zip(windows, exact, got):
            assert abs(g - e) <= 1e-12 * e, (beta, w, g, e)
            assert abs(src.tv_sensitivity(w) - e / 2) <= 1e-12 * e
            if w >= 1:  # part 2, unconditional form
                assert e <= A * w ** -alpha + 1 / (mpmath.e * w)
        # parts 2-3 at w >= w0 for several w0 (evaluator cross-checked above)
        for w0 in (src.smallest_valid_w0(), 4 * src.smallest_valid_w0(), 1000):
            c, C = src.envelope_constants(w0)
            ws = np.unique(np.concatenate([[w0], w0 + rng.integers(0, 10 ** 6, 20)]))
            vals = src.bayes_risk(ws, unit="bits") * ws ** alpha
            assert np.all(vals <= C) and (c <= 0 or np.all(vals >= c)), (beta, w0)
        # part 4: I_w w^alpha -> A (gap O(w^-1/beta) by part 2)
        big = src.bayes_risk(10 ** 9, unit="bits") * 1e9 ** alpha
        assert abs(big / A - 1) < 3 * 1e9 ** (-1 / beta) / (np.e * A), (beta, big, A)
    # part 6: the tail integral equals the incomplete beta closed form
    for beta, w, K in ((1.5, 40, 7), (2.0, 1000, 30), (3.0, 5, 3)):
        z = mpmath.zeta(beta)
        f = lambda x: x ** -beta / z * (1 - x ** -beta / z) ** w  # noqa: E731
        quad = mpmath.quad(f, [K, 10 * K, 100 * K, mpmath.inf])
        a = 1 - mpmath.mpf(1) / beta
        closed = z ** (-1 / beta) / beta * mpmath.betainc(a, w + 1, 0, K ** -beta / z)
        assert abs(quad - closed) < 1e-12 * closed, (beta, w, quad, closed)


def check():
    _symbolic()
    _numeric()
