"""Machine check of converse_suffix: inversion algebra (sympy); the library's converse window is
the minimal w >= 1 with L(max(w, w0)) <= eps (mpmath, many points); and, on a random finite
source, every suffix-only decoder's KL risk is >= I_w, with I_w non-increasing (brute force)."""
import mpmath
import numpy as np
import sympy as sp

from wzbounds import Exponential, PowerLaw, window_for_epsilon


def _finite_source_check(rng):
    """Random law of (X_1..X_4) on {0,1}: E KL(p_t || q) >= I_w for random window-measurable q,
    and I_w non-increasing in w (t = 4, w = 0..3)."""
    P = rng.dirichlet(np.ones(16)).reshape(2, 2, 2, 2)  # axes X1, X2, X3, X4 (X4 = X_t)
    p_full = P / P.sum(axis=3, keepdims=True)
    risks = []
    for w in range(4):
        keep = tuple(range(3 - w, 3))  # window axes
        drop = tuple(a for a in range(3) if a not in keep)
        marg = P.sum(axis=drop, keepdims=True)
        pbar = marg / marg.sum(axis=3, keepdims=True)
        I_w = float(np.sum(P * np.log(p_full / pbar)))
        risks.append(I_w)
        for _ in range(5):
            q = rng.dirichlet(np.ones(2), size=marg.shape[:3]).reshape(marg.shape)
            assert float(np.sum(P * np.log(p_full / q))) >= I_w - 1e-12  # rounding of sums of 16 terms
    assert all(a >= b - 1e-12 for a, b in zip(risks, risks[1:])) and abs(risks[-1]) < 1e-12


def check():
    w, c, eps, a = sp.symbols("w c epsilon alpha", positive=True)
    assert sp.simplify((c * w ** -a).subs(w, (c / eps) ** (1 / a)) - eps) == 0

    rng = np.random.default_rng(3)
    for _ in range(200):
        alpha = float(10 ** rng.uniform(-1.2, 0.5))
        C = float(10 ** rng.uniform(-2, 2))
        c = C * float(rng.uniform(0.01, 1.0))
        w0 = int(rng.integers(1, 60))
        e = float(10 ** rng.uniform(-8, 1))
        wc = window_for_epsilon(e, PowerLaw(alpha, C, c=c, w0=w0)).converse_window_tokens
        with mpmath.workdps(60 + len(str(wc))):
            L = lambda v: mpmath.mpf(c) * mpmath.power(max(v, w0), -mpmath.mpf(alpha))
            E = mpmath.mpf(e)
            assert L(wc) <= E * (1 + mpmath.mpf(10) ** -50) and (wc == 1 or L(wc - 1) > E), (alpha, c, w0, e, wc)
            y = mpmath.power(mpmath.mpf(c) / E, 1 / mpmath.mpf(alpha))
            assert wc >= y or L(w0) <= E  # the Omega bound
    g = Exponential(0.8, 1.0, c=0.5, w0=3)
    assert window_for_epsilon(0.6, g).converse_window_tokens == 1
    assert window_for_epsilon(1e-3, g).converse_window_tokens == int(np.ceil(np.log(500) / np.log(1.25)))
    for _ in range(20):
        _finite_source_check(rng)


if __name__ == "__main__":
    check()
