"""Machine check of proofs/bayes_risk_identity.md: the identity symbolically (steps A-B); I_w and
the chain rule (step C) computed two independent ways on random finite laws; the library's
decomposition; and part 4's limits (countable alphabet on Santa Fe, finite past on HMMs)."""
import itertools
import math

import numpy as np
import sympy as sp
from scipy.special import xlogy

from wzbounds.wz.bayes_risk import bayes_risk_decomposition, truncation_risk_profile
from wzbounds.wz.setup import FiniteSequenceSource


def _symbolic_identity():
    # P(f, u, x) with f, u, x in {0, 1}; q(x|u) for each u; all positive symbols.
    P = {k: sp.Symbol(f"P{k[0]}{k[1]}{k[2]}", positive=True) for k in itertools.product(range(2), repeat=3)}
    a = {u: sp.Symbol(f"a{u}", positive=True) for u in range(2)}  # q(0|u) = a/(a+b)
    b = {u: sp.Symbol(f"b{u}", positive=True) for u in range(2)}
    q = {(u, 0): a[u] / (a[u] + b[u]) for u in range(2)}
    q.update({(u, 1): b[u] / (a[u] + b[u]) for u in range(2)})
    Pfu = {(f, u): P[f, u, 0] + P[f, u, 1] for f in range(2) for u in range(2)}
    Pux = {(u, x): P[0, u, x] + P[1, u, x] for u in range(2) for x in range(2)}
    Pu = {u: Pux[u, 0] + Pux[u, 1] for u in range(2)}
    pt = {k: P[k] / Pfu[k[0], k[1]] for k in P}
    pbar = {(u, x): Pux[u, x] / Pu[u] for u in range(2) for x in range(2)}
    # step A: log(p_t/q) = log(p_t/pbar) + log(pbar/q)
    for (f, u, x) in P:
        lhs = sp.expand_log(sp.log(pt[f, u, x] / q[u, x]), force=True)
        rhs = sp.expand_log(sp.log(pt[f, u, x] / pbar[u, x]) + sp.log(pbar[u, x] / q[u, x]), force=True)
        assert sp.simplify(lhs - rhs) == 0
    total = sum(P[k] * sp.log(pt[k] / q[k[1], k[2]]) for k in P)
    truncation = sum(P[k] * sp.log(pt[k] / pbar[k[1], k[2]]) for k in P)
    excess = sum(Pu[u] * pbar[u, x] * sp.log(pbar[u, x] / q[u, x]) for u in range(2) for x in range(2))
    # step B: Σ_f P(f,u,x) = P(u) pbar(x|u)
    for u, x in Pux:
        assert sp.simplify(P[0, u, x] + P[1, u, x] - Pu[u] * pbar[u, x]) == 0
    diff = sp.expand(sp.expand_log(total - truncation - excess, force=True))
    assert sp.simplify(diff) == 0, diff


def _cond_entropy(joint, given_axes):
    """H(X_last | X at given_axes) in nats from a joint law over axes 0..T-1 (X_last = axis T-1)."""
    T = joint.ndim
    keep = tuple(sorted(given_axes)) + (T - 1,)
    marg = joint.sum(axis=tuple(i for i in range(T) if i not in keep))
    cond = marg / np.where(marg.sum(axis=-1, keepdims=True) > 0, marg.sum(axis=-1, keepdims=True), 1.0)
    return float(-np.sum(xlogy(marg, cond)))


def _risk_kl_form(joint, w):
    """I_w = E KL(p_t || pbar_w) from the conditional laws (not from entropies)."""
    T = joint.ndim
    full = joint / np.where(joint.sum(axis=-1, keepdims=True) > 0, joint.sum(axis=-1, keepdims=True), 1.0)
    win = joint.sum(axis=tuple(range(T - 1 - w)), keepdims=True)
    win = win / np.where(win.sum(axis=-1, keepdims=True) > 0, win.sum(axis=-1, keepdims=True), 1.0)
    mask = joint > 0
    return float(np.sum(joint[mask] * (np.log(full[mask]) - np.log(np.broadcast_to(win, joint.shape)[mask]))))


def _numerics():
    rng = np.random.default_rng(20260525)
    for V, T in [(2, 2), (2, 4), (3, 3), (3, 4), (4, 3)]:
        for concentration in (0.2, 1.0):
            joint = rng.dirichlet(np.full(V ** T, concentration)).reshape((V,) * T)
            source = FiniteSequenceSource(joint)
            risks = truncation_risk_profile(source).truncation_risk_nats
            h_all = _cond_entropy(joint, range(T - 1))
            for w in range(T):
                window = range(T - 1 - w, T - 1)
                kl_form = _risk_kl_form(joint, w)
                entropy_form = _cond_entropy(joint, window) - h_all                    # part 2
                assert abs(kl_form - entropy_form) < 1e-10 and abs(kl_form - risks[w]) < 1e-10
                if w + 1 < T:                                                           # step C
                    step = _cond_entropy(joint, window) - _cond_entropy(joint, range(T - 2 - w, T - 1))
                    assert abs((kl_form - _risk_kl_form(joint, w + 1)) - step) < 1e-10 and step >= -1e-12
                q = rng.dirichlet(np.ones(V), size=(V,) * w)
                parts = bayes_risk_decomposition(source, q, w)
                assert abs(parts.identity_gap_nats) < 1e-10, parts
                assert parts.excess_risk_nats >= -1e-12
            assert abs(risks[T - 1]) < 1e-12


def _limits():
    """Part 4: the countable-alphabet and infinite-past limits, each against an independent value."""
    from wzbounds.sources import HMM, SantaFe

    for beta in (1.5, 3.0):
        src = SantaFe(beta)
        for w in (1, 30, 1000):
            exact = src.bayes_risk(w, unit="bits")
            k = np.arange(1, 10 ** 6 + 1, dtype=np.float64)
            p = k ** -beta / src._zeta
            terms = p * (1 - p) ** w                        # coarse-grained risk at K = sum of the first K
            assert np.all(terms >= 0)                       # so it increases with K
            partial = math.fsum(terms)
            # 0 <= I_w - (K = 1e6 risk) <= sum_{k>K} p_k; 1e-12: the evaluator's relative error
            assert -1e-12 * exact <= exact - partial <= src.tail_mass(10 ** 6) + 1e-12 * exact
    rng = np.random.default_rng(3)
    for _ in range(4):
        h = HMM(rng.dirichlet(np.ones(2) * 2, size=2), rng.dirichlet(np.ones(2), size=2))
        low, _ = h.entropy_rate_bracket()
        for w in (0, 1, 2):
            finite = [h.conditional_entropy(w) - h.conditional_entropy(n) for n in range(w, h.max_exact_window + 1)]
            assert np.all(np.diff(finite) >= -1e-12)            # non-decreasing in the past length
            assert finite[-1] <= h.conditional_entropy(w) - low + 1e-12


def check():
    _symbolic_identity()
    _numerics()
    _limits()


if __name__ == "__main__":
    check()
    print("ok")
