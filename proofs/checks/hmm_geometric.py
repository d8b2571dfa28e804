"""Machine check of proofs/hmm_geometric.md: Markov zero risk, the entropy-rate sandwich, the
Birkhoff contraction and the geometric bound, additivity over products, and the MC identity."""
import mpmath
import numpy as np
import sympy as sp


def _hilbert(x, y):
    return float(np.log(np.max(x / y)) + np.log(np.max(y / x)))


def _symbolic():
    # tanh(D/4) in (0, 1) for D > 0; KL <= log max ratio is E_p log(p/q) <= max log(p/q)
    D = sp.Symbol("D", positive=True)
    assert sp.limit(sp.tanh(D / 4), D, sp.oo) == 1 and sp.tanh(D / 4).subs(D, 0) == 0
    assert sp.simplify(sp.diff(sp.tanh(D / 4), D)).is_positive


def _numeric():
    from wzbounds.sources import HMM, MarkovChain, Product

    rng = np.random.default_rng(0)
    for _ in range(20):  # Birkhoff contraction on random positive matrices and vectors
        S = int(rng.integers(2, 5))
        A = rng.dirichlet(np.ones(S), size=S)
        h = HMM(A, np.eye(S))
        delta, tau = h.birkhoff_constants()
        x, y = rng.dirichlet(np.ones(S)), rng.dirichlet(np.ones(S))
        assert _hilbert(x @ A, y @ A) <= tau * _hilbert(x, y) + 1e-12
        assert _hilbert(x @ A, y @ A) <= delta + 1e-12
    for _ in range(6):  # geometric bound and sandwich on random HMMs
        S, V = int(rng.integers(2, 4)), int(rng.integers(2, 4))
        h = HMM(rng.dirichlet(np.ones(S) * 2, size=S), rng.dirichlet(np.ones(V), size=S))
        low, high = h.entropy_rate_bracket(4)
        low2, high2 = h.entropy_rate_bracket()
        assert low <= low2 + 1e-12 and high2 <= high + 1e-12 and low2 <= high2 + 1e-12
        ws = np.arange(1, 7)
        I = h.bayes_risk(ws)
        delta, tau = h.birkhoff_constants()
        assert np.all(I <= delta * tau ** (ws - 1) + h.risk_error_nats())
        assert np.all(np.diff(I) <= h.risk_error_nats() * 2 + 1e-15)
    # an order-1 Markov chain is an HMM with identity emissions: I_w = 0 for w >= 1 in both
    T = rng.dirichlet(np.ones(3), size=3)
    assert MarkovChain(T).bayes_risk(1) == 0.0
    assert abs(HMM(T, np.eye(3)).bayes_risk(3)) < 1e-12
    # order-2 chain: I_1 by direct mpmath enumeration
    T2 = rng.dirichlet(np.ones(2), size=(2, 2))
    m = MarkovChain(T2)
    J = m._joint
    mpmath.mp.dps = 30
    exact = mpmath.mpf(0)
    for i in range(2):
        for j in range(2):
            for k in range(2):
                pw = J[:, j, k].sum() / J[:, j, :].sum()
                exact += J[i, j, k] * mpmath.log(T2[i, j, k] / pw)
    assert abs(m.bayes_risk(1) - exact) < 1e-13 and m.bayes_risk(2) == 0.0
    # products add: the product of two independent chains is itself a chain on the product
    # alphabet; its risk, enumerated from its own joint law, must equal the sum of the factors'
    for k1, V1, k2, V2 in ((3, 2, 2, 3), (2, 2, 2, 2), (3, 2, 1, 2)):
        T1 = rng.dirichlet(np.ones(V1), size=(V1,) * k1)
        T2 = rng.dirichlet(np.ones(V2), size=(V2,) * k2)
        m1, m2 = MarkovChain(T1), MarkovChain(T2)
        k = max(k1, k2)
        joint = np.empty((V1 * V2,) * (k + 1))
        for idx in np.ndindex(*joint.shape):
            xs, ys = [i // V2 for i in idx], [i % V2 for i in idx]
            joint[idx] = T1[tuple(xs[k - k1:])] * T2[tuple(ys[k - k2:])]  # a lower order ignores older symbols
        prod = MarkovChain(joint)
        for w in range(k + 1):
            assert abs(prod.bayes_risk(w) - (m1.bayes_risk(w) + m2.bayes_risk(w))) < 1e-12
            assert abs(Product(m1, m2).bayes_risk(w) - prod.bayes_risk(w)) < 1e-12


def check():
    _symbolic()
    _numeric()
