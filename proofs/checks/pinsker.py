"""Machine check for proofs/pinsker.md: every algebraic step in sympy, the statement in
mpmath (50 digits) on random laws, including near-degenerate ones."""
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
    a, b = sp.symbols("a b", positive=True)
    # binary divergence minus 2(a-b)^2: derivative in b factorises with the sign of (b - a)
    d = a * sp.log(a / b) + (1 - a) * sp.log((1 - a) / (1 - b))
    f = d - 2 * (a - b) ** 2
    fprime = sp.diff(f, b)
    assert sp.simplify(fprime - (b - a) * (1 / (b * (1 - b)) - 4)) == 0
    assert sp.simplify(1 / (b * (1 - b)) - 4 - (1 - 2 * b) ** 2 / (b * (1 - b))) == 0
    assert sp.simplify(f.subs(b, a)) == 0
    # envelope form: sqrt(C w^-alpha / 2) == sqrt(C/2) w^(-alpha/2)
    C, w, alpha = sp.symbols("C w alpha", positive=True)
    assert sp.simplify(sp.sqrt(C * w ** -alpha / 2) - sp.sqrt(C / 2) * w ** (-alpha / 2)) == 0


def _check_statement():
    laws = _laws()
    rng = np.random.default_rng(20260525)
    # slack 1e-40 (1e-45 on the grid): 50-digit sums of <= 40 terms round at ~1e-48; the
    # inequalities hold with equality only when p = q, where both sides are ~0
    # binary inequality on a grid including the edges of (0, 1)
    grid = [mpmath.mpf(x) for x in (1e-12, 1e-6, 0.01, 0.2, 0.5, 0.8, 0.99, 1 - 1e-6, 1 - 1e-12)]
    for x in grid:
        for y in grid:
            dxy = x * mpmath.log(x / y) + (1 - x) * mpmath.log((1 - x) / (1 - y))
            assert dxy >= 2 * (x - y) ** 2 - mpmath.mpf(10) ** -45, (x, y)
    # the statement on random laws; p_i = 0 entries are skipped (0 log 0 = 0)
    for p, q in laws.random_laws(rng, 300):
        kl, tv = laws.kl(p, q), laws.tv(p, q)
        assert tv <= mpmath.sqrt(kl / 2) + mpmath.mpf(10) ** -40, (kl, tv)
        # the two-point reduction: d(P(A)||Q(A)) <= KL and P(A) - Q(A) = TV
        P = mpmath.fsum(pi for pi, qi in zip(p, q) if pi > qi)
        Q = mpmath.fsum(qi for pi, qi in zip(p, q) if pi > qi)
        assert abs((P - Q) - tv) < mpmath.mpf(10) ** -40
        if 0 < P < 1:
            dPQ = P * mpmath.log(P / Q) + (1 - P) * mpmath.log((1 - P) / (1 - Q))
            assert dPQ <= kl + mpmath.mpf(10) ** -40
    # envelope form on random ensembles: mean TV <= sqrt(mean KL / 2) (Jensen on the batch law)
    for _ in range(20):
        pairs = list(laws.random_laws(rng, 15))
        mean_tv = mpmath.fsum(laws.tv(p, q) for p, q in pairs) / len(pairs)
        mean_kl = mpmath.fsum(laws.kl(p, q) for p, q in pairs) / len(pairs)
        assert mean_tv <= mpmath.sqrt(mean_kl / 2)


def check():
    _check_algebra()
    with mpmath.workdps(50):
        _check_statement()


if __name__ == "__main__":
    check()
    print("pinsker: ok")
