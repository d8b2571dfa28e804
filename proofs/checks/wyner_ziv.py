"""Machine check of proofs/wyner_ziv.md."""
import itertools

import mpmath as mp
import numpy as np
import sympy as sp

from wzbounds.wz.rate_distortion import (conditional_rate_distortion, dsbs_joint, dsbs_tangent_point,
                                         dsbs_wyner_ziv_rd, rate_distortion, wyner_ziv_rd)


def _steps():
    # step 1: I(X;U|Y) = I(X,Y;U) − I(Y;U), and I(X,Y;U) = I(X;U) under U − X − Y
    HU, HUgY, HUgX, HUgXY = sp.symbols("HU HUgY HUgX HUgXY", real=True)
    i_xu_given_y = HUgY - HUgXY
    i_xyu = HU - HUgXY
    i_yu = HU - HUgY
    assert sp.simplify(i_xu_given_y - (i_xyu - i_yu)) == 0
    i_xu = HU - HUgX
    assert sp.simplify((i_xyu - i_yu).subs(HUgXY, HUgX) - (i_xu - i_yu)) == 0  # Markov: H(U|X,Y) = H(U|X)
    # step 2: time sharing is linear in θ
    th, r1, r2, d1, d2 = sp.symbols("theta R1 R2 D1 D2", real=True)
    assert sp.expand(th * r1 + (1 - th) * r2 - (r2 + th * (r1 - r2))) == 0
    # step 4: Σ p(x,y) p(u|x) log p(u|x)/r(u|y) − I(X;U|Y) = Σ_y p(y) KL(p(u|y) ‖ r(u|y)), 2×2×2
    pxy = {k: sp.Symbol(f"p{k[0]}{k[1]}", positive=True) for k in itertools.product(range(2), repeat=2)}
    c = {x: sp.Symbol(f"c{x}", positive=True) for x in range(2)}       # p(0|x) = c/(1+c)
    pu_x = {(x, 0): c[x] / (1 + c[x]) for x in range(2)}
    pu_x.update({(x, 1): 1 / (1 + c[x]) for x in range(2)})
    e = {y: sp.Symbol(f"e{y}", positive=True) for y in range(2)}       # r(0|y) = e/(1+e)
    r = {(y, 0): e[y] / (1 + e[y]) for y in range(2)}
    r.update({(y, 1): 1 / (1 + e[y]) for y in range(2)})
    py = {y: pxy[0, y] + pxy[1, y] for y in range(2)}
    pu_y = {(y, u): sum(pxy[x, y] * pu_x[x, u] for x in range(2)) / py[y] for y in range(2) for u in range(2)}
    J = sum(pxy[x, y] * pu_x[x, u] * sp.log(pu_x[x, u] / r[y, u]) for x, y, u in itertools.product(range(2), repeat=3))
    I = sum(pxy[x, y] * pu_x[x, u] * sp.log(pu_x[x, u] / pu_y[y, u]) for x, y, u in itertools.product(range(2), repeat=3))
    KL = sum(py[y] * pu_y[y, u] * sp.log(pu_y[y, u] / r[y, u]) for y in range(2) for u in range(2))
    diff = sp.expand(sp.expand_log(J - I - KL, force=True))
    assert sp.simplify(diff) == 0, diff


def _h(p):
    return 0 if p in (0, 1) else -p * mp.log(p, 2) - (1 - p) * mp.log(1 - p, 2)


def _g(p0, D):
    return _h(p0 * (1 - D) + D * (1 - p0)) - _h(D)


def _dsbs_numerics():
    mp.mp.dps = 30
    for p0 in (0.05, 0.1, 0.2, 0.25, 0.3, 0.4, 0.5):
        b = dsbs_tangent_point(p0)
        # tangency: g'(b)(b − p0) = g(b), g' by mpmath differentiation
        slope = mp.diff(lambda t: _g(mp.mpf(p0), t), mp.mpf(b))
        assert abs(slope * (b - p0) - _g(mp.mpf(p0), mp.mpf(b))) < 1e-9
        # g* is the lower convex envelope: below g everywhere, and below every chord to (p0, 0)
        for D in np.linspace(0.0, p0, 41)[:-1]:
            value = dsbs_wyner_ziv_rd(p0, D)
            assert value <= float(_g(mp.mpf(p0), mp.mpf(D))) + 1e-12
            for beta in np.linspace(1e-4, p0, 30)[:-1]:
                if D >= beta:
                    chord = float(_g(mp.mpf(p0), mp.mpf(beta))) * (p0 - D) / (p0 - beta)
                    assert value <= chord + 1e-12
            assert value >= float(_h(mp.mpf(p0)) - _h(mp.mpf(D))) - 1e-12   # ≥ R_{X|Y}
            assert value <= float(1 - _h(mp.mpf(D))) + 1e-12                 # ≤ R_X
    rng = np.random.default_rng(7)
    H = 1.0 - np.eye(2)
    for p0, D in ((0.1, 0.03), (0.25, 0.05), (0.25, 0.2), (0.4, 0.1)):
        assert abs(wyner_ziv_rd(dsbs_joint(p0), H, D, rng=rng).rate_bits - dsbs_wyner_ziv_rd(p0, D)) < 1e-6
        assert abs(conditional_rate_distortion(dsbs_joint(p0), H, D).rate_bits
                   - float(_h(mp.mpf(p0)) - _h(mp.mpf(D)))) < 1e-6
        assert abs(rate_distortion([0.5, 0.5], H, D).rate_bits - float(1 - _h(mp.mpf(D)))) < 1e-6


def check():
    _steps()
    _dsbs_numerics()


if __name__ == "__main__":
    check()
    print("ok")
