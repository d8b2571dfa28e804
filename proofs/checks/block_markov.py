"""Machine check of block_markov: memory sums and the Hurwitz-difference asymptotics (sympy);
the Hurwitz/digamma identity against the direct sum for alpha < 1, = 1, > 1 (mpmath); orderings,
monotonicity and sizing of the library's block functions."""
import mpmath
import numpy as np
import sympy as sp

from wzbounds import PowerLaw, window_for_epsilon
from wzbounds.schemes import block_average_distortion, block_average_distortion_mp


def check():
    b, j, x = sp.symbols("b j x", positive=True, integer=True)
    a = sp.symbols("alpha", positive=True)
    assert sp.simplify(sp.summation(b + j, (j, 0, b - 1)) - b * (3 * b - 1) / 2) == 0
    xr = sp.symbols("x", positive=True)
    integral = sp.integrate(xr ** -a, (xr, b, 2 * b), conds="none")
    kappa = (1 - 2 ** (1 - a)) / (a - 1)
    assert sp.simplify(sp.powsimp(integral / b ** (1 - a), force=True) - kappa) == 0
    assert sp.limit(kappa, a, 1) == sp.log(2)

    rng = np.random.default_rng(13)
    with mpmath.workdps(40):
        for _ in range(60):
            alpha = float(rng.choice([rng.uniform(0.05, 0.99), 1.0, rng.uniform(1.01, 4.0)]))
            bb = int(rng.integers(1, 150))
            direct = mpmath.fsum(mpmath.power(bb + k, -mpmath.mpf(alpha)) for k in range(bb)) / bb
            assert mpmath.almosteq(block_average_distortion_mp(bb, alpha, 1), direct, rel_eps=mpmath.mpf(10) ** -30)
        # asymptotic constant
        for alpha in (0.3, 1.0, 2.0):
            bb = 10 ** 8
            k = mpmath.log(2) if alpha == 1 else (1 - mpmath.power(2, 1 - alpha)) / (alpha - 1)
            val = block_average_distortion_mp(bb, alpha, 1) * mpmath.power(bb, alpha)
            assert abs(val / k - 1) < 1e-7  # the O(1/b) correction at b = 1e8

        # part 5 bounds C kappa b^-a <= A(b) <= C (kappa + (1 - 2^-a)/b) b^-a, against direct sums,
        # including blocks >= 1e4 where the library switches to Euler-Maclaurin
        from wzbounds.profiles import PowerEnvelope
        for alpha in (0.3, 1.0, 2.5):
            a_ = mpmath.mpf(alpha)
            kap = mpmath.log(2) if alpha == 1 else (1 - mpmath.power(2, 1 - a_)) / (a_ - 1)
            for bb in (1, 7, 300, 12345):
                direct = mpmath.fsum(mpmath.power(k, -a_) for k in range(bb, 2 * bb)) / bb
                lo = kap * mpmath.power(bb, -a_)
                hi = (kap + (1 - mpmath.power(2, -a_)) / bb) * mpmath.power(bb, -a_)
                assert lo <= direct <= hi
                lib = PowerEnvelope(1.0, alpha).block_average_mp(bb)
                assert mpmath.almosteq(lib, direct, rel_eps=mpmath.mpf(10) ** -35)

    for _ in range(15):
        alpha = float(rng.uniform(0.1, 3.0))
        C = float(10 ** rng.uniform(-1, 1))
        p = PowerLaw(alpha, C)
        bs = np.arange(1, 40)
        A = block_average_distortion(bs, alpha, C)
        assert np.all(np.diff(A) <= 1e-15 * A[:-1])  # non-increasing up to float rounding
        U = C * bs.astype(float) ** -alpha
        U2 = C * (2 * bs - 1).astype(float) ** -alpha
        assert np.all(U2 <= A * (1 + 1e-13)) and np.all(A <= U * (1 + 1e-13))
        eps = float(C * 10 ** rng.uniform(-4, -0.5))
        w_ach = window_for_epsilon(eps, p).window_tokens
        b_avg = window_for_epsilon(eps, p, "block-average").window_tokens
        assert (w_ach + 1) // 2 <= b_avg <= w_ach
        # minimality, decided by mpmath's Hurwitz zeta at digits(b) + 40 (independent of the
        # library's search and of its Euler-Maclaurin path for large blocks)
        with mpmath.workdps(len(str(b_avg)) + 40 + int(-mpmath.log10(abs(alpha - 1)))):
            avg = lambda v: C * (mpmath.zeta(alpha, v) - mpmath.zeta(alpha, 2 * v)) / v  # noqa: E731
            assert avg(b_avg) <= eps * (1 + mpmath.mpf(10) ** -30)
            assert b_avg == 1 or avg(b_avg - 1) > eps


if __name__ == "__main__":
    check()
