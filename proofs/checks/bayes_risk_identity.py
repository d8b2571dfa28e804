"""Machine check of proofs/bayes_risk_identity.md."""
import itertools

import numpy as np
import sympy as sp

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


def _symbolic_chain_rule():
    # step C, in entropies: [H(X|W) − H(X|all)] = [H(X|W) − H(X|W')] + [H(X|W') − H(X|all)]
    h_w, h_wp, h_all = sp.symbols("H_W H_Wp H_all", real=True)
    assert sp.simplify((h_w - h_all) - ((h_w - h_wp) + (h_wp - h_all))) == 0


def _numerics():
    rng = np.random.default_rng(20260525)
    for V, T in [(2, 2), (2, 4), (3, 3), (3, 4), (4, 3)]:
        for concentration in (0.2, 1.0):
            source = FiniteSequenceSource(rng.dirichlet(np.full(V ** T, concentration)).reshape((V,) * T))
            risks = truncation_risk_profile(source).truncation_risk_nats
            assert np.all(np.diff(risks) <= 1e-12) and abs(risks[-1]) < 1e-12
            for w in range(T):
                q = rng.dirichlet(np.ones(V), size=(V,) * w)
                parts = bayes_risk_decomposition(source, q, w)
                assert abs(parts.identity_gap_nats) < 1e-10, parts
                assert parts.excess_risk_nats >= -1e-12
                assert abs(parts.truncation_risk_nats - source.conditional_mutual_information(w)) < 1e-10
                # chain rule: I_w − I_{w+1} = I(X_t; X_{t-w-1} | window) ≥ 0
                if w + 1 < T:
                    assert risks[w] - risks[w + 1] >= -1e-12


def check():
    _symbolic_identity()
    _symbolic_chain_rule()
    _numerics()


if __name__ == "__main__":
    check()
    print("ok")
