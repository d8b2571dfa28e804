"""Machine check of proofs/layer_propagation.md."""
import mpmath as mp
import numpy as np
import sympy as sp

from wzbounds.wz.layers import (allocate_rate, geometric_am_gm, layer_sensitivity, plain_gain_sq,
                                residual_gain_sq)


def _steps():
    x, y, eps = sp.symbols("x y epsilon", positive=True)
    # step A: (1+ε)x² + (1+1/ε)y² − (x+y)² = (√ε x − y/√ε)²
    assert sp.simplify((1 + eps) * x**2 + (1 + 1 / eps) * y**2 - (x + y)**2
                       - (sp.sqrt(eps) * x - y / sp.sqrt(eps))**2) == 0
    # step B: unroll E_ℓ = c_ℓ E_{ℓ−1} + δ_ℓ for three layers; coefficients are Π_{m>ℓ} c_m
    c = sp.symbols("c1:4", positive=True)
    d = sp.symbols("d1:4", positive=True)
    E = 0
    for cl, dl in zip(c, d):
        E = cl * E + dl
    s = [c[1] * c[2], c[2], 1]
    assert sp.expand(E - sum(si * di for si, di in zip(s, d))) == 0
    # steps C, D: with w_ℓ 2^{−2R_ℓ} = θ and Σ R_ℓ = R (L = 3): θ = GM·2^{−2R/3}, ratio AM/GM
    w = sp.symbols("w1:4", positive=True)
    R = sp.Symbol("R", positive=True)
    theta = (w[0] * w[1] * w[2]) ** sp.Rational(1, 3) * 2 ** (-2 * R / 3)
    rates = [sp.log(wi / theta, 2) / 2 for wi in w]
    assert sp.simplify(sp.expand_log(sum(rates) - R, force=True)) == 0
    d_opt = 3 * theta
    d_uni = sum(w) * 2 ** (-2 * R / 3)
    am_gm = (sum(w) / 3) / (w[0] * w[1] * w[2]) ** sp.Rational(1, 3)
    assert sp.simplify(d_uni / d_opt - am_gm) == 0
    # step E: geometric AM/GM closed form, symbolic in q for L = 4
    q = sp.Symbol("q", positive=True)
    L = 4
    am = sum(q**k for k in range(L)) / L
    gm = q ** sp.Rational(L - 1, 2)
    assert sp.simplify(am / gm - (q**L - 1) / (L * (q - 1) * gm)) == 0


def _numerics():
    rng = np.random.default_rng(11)
    for trial in range(200):
        layers, dim = rng.integers(1, 10), rng.integers(1, 6)
        residual = bool(trial % 2)
        lips = rng.uniform(0.1, 2.0, size=layers)
        mats = [lip * m / np.linalg.norm(m, 2) for lip, m in zip(lips, rng.normal(size=(layers, dim, dim)))]
        noise = rng.normal(size=(layers, dim)) * rng.uniform(0, 1, size=(layers, 1))
        a = a_hat = rng.normal(size=dim)
        for m, n in zip(mats, noise):
            step = (lambda v: v + np.tanh(m @ v)) if residual else (lambda v: np.tanh(m @ v))
            a, a_hat = step(a), step(a_hat) + n
        sens = layer_sensitivity(residual_gain_sq(lips) if residual else plain_gain_sq(lips),
                                 slack=rng.uniform(0.01, 3.0, size=layers))
        assert np.sum((a - a_hat) ** 2) <= sens.error_bound_sq(np.sum(noise**2, axis=1)) * (1 + 1e-12)
    res = layer_sensitivity(residual_gain_sq(0.1, model="uncorrelated"), layers=60, model="uncorrelated")
    plain = layer_sensitivity(plain_gain_sq(1.05), layers=60, model="uncorrelated")
    assert abs(res.ratio - float(mp.mpf("1.01") ** 59)) < 1e-9 and abs(res.ratio - 1.80) < 0.01
    assert abs(plain.ratio / float(mp.mpf("1.05") ** 118) - 1) < 1e-12 and abs(plain.ratio - 316.47) < 0.01
    for _ in range(200):
        w = np.exp(rng.uniform(-5, 5, size=rng.integers(1, 12)))
        alloc = allocate_rate(w, rng.uniform(0, 50))
        rivals = rng.dirichlet(np.ones(w.size), size=200) * alloc.total_rate_bits
        assert np.all(alloc.distortion <= (w * 2.0 ** (-2 * rivals)).sum(axis=1) * (1 + 1e-12))
        assert alloc.distortion_ratio <= alloc.am_gm_ratio * (1 + 1e-12)
        if alloc.all_layers_active:
            assert abs(alloc.distortion_ratio / alloc.am_gm_ratio - 1) < 1e-9
    mp.mp.dps = 40
    for kappa in (1.5, 10.0, 320.0, 1e4):
        for L in (2, 3, 10, 60, 100):
            exact = mp.fsum(mp.mpf(kappa) ** (mp.mpf(k) / (L - 1)) for k in range(L)) / L / mp.sqrt(kappa)
            assert abs(geometric_am_gm(kappa, L) / exact - 1) < 1e-12


def check():
    _steps()
    _numerics()


if __name__ == "__main__":
    check()
    print("ok")
