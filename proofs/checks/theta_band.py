"""Machine check of theta_band: limits of both ratio bounds (sympy) and the band and ratio bounds
for the library's windows at many points (exact ints)."""
import numpy as np
import sympy as sp

from wzbounds import PowerLaw, window_for_epsilon


def check():
    u, C, c, a = sp.symbols("u C c alpha", positive=True)
    xC, xc = C ** (1 / a) * u, c ** (1 / a) * u
    target = (C / c) ** (1 / a)
    for bound in (xC / (xc + 1), (xC + 1) / xc):
        assert sp.simplify(sp.limit(bound, u, sp.oo) - target) == 0

    rng = np.random.default_rng(5)
    for _ in range(200):
        alpha = float(rng.uniform(0.1, 3.0))
        Cv = float(10 ** rng.uniform(-1, 2))
        cv = Cv * float(rng.uniform(0.05, 1.0))
        w0 = int(rng.integers(1, 20))
        e = cv * w0 ** -alpha * float(10 ** rng.uniform(-6, -0.01))  # eps < c w0^-alpha
        r = window_for_epsilon(e, PowerLaw(alpha, Cv, c=cv, w0=w0))
        x_C, x_c = (Cv / e) ** (1 / alpha), (cv / e) ** (1 / alpha)
        rel = 1e-12  # float evaluation of x_C, x_c (the windows themselves are exact)
        assert x_c * (1 - rel) <= r.converse_window_tokens <= r.window_tokens < (x_C + 1) * (1 + rel)
        assert x_C / (x_c + 1) * (1 - rel) < r.ratio < (x_C + 1) / x_c * (1 + rel)
    p = PowerLaw(0.7, 3.0, c=1.3)
    ratios = window_for_epsilon(np.array([1e-2, 1e-5, 1e-10]), p).ratio
    err = np.abs(ratios - (3.0 / 1.3) ** (1 / 0.7))
    assert err[0] > err[2] and err[2] < 1e-9  # ceil effects are O(1/w_conv), w_conv ~ 1e14 here


if __name__ == "__main__":
    check()
