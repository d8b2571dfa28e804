"""Machine check of achievability_geometric (sympy inversion; mpmath minimality at many points)."""
import mpmath
import numpy as np
import sympy as sp

from wzbounds.profiles import geometric_window


def check():
    w, C, eps, rho = sp.symbols("w C epsilon rho", positive=True)
    x = sp.log(C / eps) / sp.log(1 / rho)
    assert sp.simplify(sp.expand_log(sp.log(C) + x * sp.log(rho) - sp.log(eps), force=True)) == 0
    rng = np.random.default_rng(7)
    for _ in range(300):
        r = float(rng.uniform(0.01, 0.9999))
        C = float(10 ** rng.uniform(-2, 2))
        w0 = int(rng.integers(1, 50))
        e = float(10 ** rng.uniform(-12, 1))
        wa = geometric_window(e, r, C, w0)
        with mpmath.workdps(60):
            U = lambda v: mpmath.mpf(C) * mpmath.mpf(r) ** v
            E = mpmath.mpf(e)
            assert U(wa) <= E * (1 + mpmath.mpf(10) ** -50) and (wa == w0 or U(wa - 1) > E), (r, C, w0, e, wa)
            assert wa <= max(w0, mpmath.log(C / E) / mpmath.log(1 / mpmath.mpf(r)) + 1)
    assert geometric_window(1e-3, 0.5, 1.0) == 10


if __name__ == "__main__":
    check()
