"""Machine check for proofs/reverse_pinsker.md: the chi-square identity and the
sign-splitting step in sympy, both inequalities in mpmath (50 digits) on random laws."""
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
    # Step 1: sum (p-q)^2/q = sum p^2/q - 1 when both sum to 1 (V = 2..5; last entries eliminated)
    for v in range(2, 6):
        p = list(sp.symbols(f"p0:{v - 1}", positive=True))
        q = list(sp.symbols(f"q0:{v - 1}", positive=True))
        p.append(1 - sum(p))
        q.append(1 - sum(q))
        chi2 = sum((pi - qi) ** 2 / qi for pi, qi in zip(p, q))
        assert sp.simplify(chi2 - (sum(pi ** 2 / qi for pi, qi in zip(p, q)) - 1)) == 0
    # Step 3: for x_j >= 0, (sum x)^2 - sum x^2 = sum of cross terms 2 x_j x_l >= 0
    x = sp.symbols("x0:4", nonnegative=True)
    cross = sp.expand(sum(x) ** 2 - sum(xi ** 2 for xi in x))
    assert cross == sum(2 * x[j] * x[l] for j in range(4) for l in range(j + 1, 4))
    # equality case d = (t, -t, 0, ...): sum d^2 = 2 t^2 = 2 TV^2, TV = t
    t = sp.symbols("t", positive=True)
    d = [t, -t, 0, 0]
    assert sp.simplify(sum(di ** 2 for di in d) - 2 * (sum(abs(di) for di in d) / 2) ** 2) == 0


def _check_statement():
    laws = _laws()
    rng = np.random.default_rng(20260526)
    # slack 1e-40: 50-digit sums of <= 40 terms round at ~1e-48
    slack = mpmath.mpf(10) ** -40
    for p, q in laws.random_laws(rng, 400):
        kl, tv, chi2 = laws.kl(p, q), laws.tv(p, q), laws.chi2(p, q)
        q_min = min(q)
        d = [pi - qi for pi, qi in zip(p, q)]
        assert mpmath.fsum(di ** 2 for di in d) <= 2 * tv ** 2 + slack
        assert kl <= mpmath.log1p(chi2) + slack, (kl, chi2)
        assert chi2 <= 2 * tv ** 2 / q_min + slack * (1 + 1 / q_min)
        assert kl <= mpmath.log1p(2 * tv ** 2 / q_min) + slack
    # the constant 2 in step 3 cannot be lowered: equality at d = (t, -t, 0, ...)
    for t in (mpmath.mpf("0.001"), mpmath.mpf("0.3")):
        q = [mpmath.mpf(1) / 4] * 4
        p = [q[0] + t, q[1] - t, q[2], q[3]]
        d = [pi - qi for pi, qi in zip(p, q)]
        assert abs(mpmath.fsum(di ** 2 for di in d) - 2 * laws.tv(p, q) ** 2) < slack


def check():
    _check_algebra()
    with mpmath.workdps(50):
        _check_statement()


if __name__ == "__main__":
    check()
    print("reverse_pinsker: ok")
