"""Machine check of achievability_sliding: the inversion algebra (sympy) and minimality of the
library's window at many random points (mpmath, 60+ digits, independent of the library's check)."""
import mpmath
import numpy as np
import sympy as sp

from wzbounds.profiles import power_law_window


def _U(w, alpha, C):
    return mpmath.mpf(C) * mpmath.power(w, -mpmath.mpf(alpha))


def check():
    w, C, eps, a = sp.symbols("w C epsilon alpha", positive=True)
    U = C * w ** -a
    x = (C / eps) ** (1 / a)
    assert sp.simplify(U.subs(w, x) - eps) == 0, "U(x(eps)) = eps"
    assert sp.simplify(sp.diff(U, w) + a * C * w ** (-a - 1)) == 0, "U' = -a C w^(-a-1) < 0"
    assert sp.solve(sp.Eq(U, eps), w) == [x], "unique positive root"

    rng = np.random.default_rng(20260101)
    for _ in range(300):
        alpha = float(10 ** rng.uniform(-1.3, 0.6))
        C = float(10 ** rng.uniform(-2, 2))
        w0 = int(rng.integers(1, 100))
        e = float(10 ** rng.uniform(-9, 1))
        wa = power_law_window(e, alpha, C, w0)
        with mpmath.workdps(60 + len(str(wa))):
            E = mpmath.mpf(e)
            assert wa >= w0
            assert _U(wa, alpha, C) <= E * (1 + mpmath.mpf(10) ** -50), (alpha, C, w0, e, wa)
            assert wa == w0 or _U(wa - 1, alpha, C) > E, (alpha, C, w0, e, wa)
            assert wa <= max(w0, mpmath.power(mpmath.mpf(C) / E, 1 / mpmath.mpf(alpha)) + 1)
    # an exact tie and an astronomically large window
    assert power_law_window(0.25, 0.5, 1.0) == 16
    big = power_law_window(1e-6, 0.05, 1.0)
    assert isinstance(big, int) and len(str(big)) == 120
    with mpmath.workdps(200):
        assert _U(big, 0.05, 1.0) <= mpmath.mpf(1e-6) < _U(big - 1, 0.05, 1.0)


if __name__ == "__main__":
    check()
