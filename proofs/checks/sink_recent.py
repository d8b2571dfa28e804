"""Machine check of sink_recent: the log split (sympy) and the Pythagorean identity
E KL(p||p̄_w) = E KL(p||q_G) + E KL(q_G||p̄_w) on random finite laws (brute force, float64);
the calculator charges s + w tokens."""
import numpy as np
import sympy as sp

from wzbounds import PowerLaw, window_for_epsilon


def check():
    p, q, r = sp.symbols("p q r", positive=True)
    assert sp.simplify(sp.expand_log(sp.log(p / r) - sp.log(p / q) - sp.log(q / r), force=True)) == 0

    rng = np.random.default_rng(17)
    for _ in range(200):
        # axes: S (sinks), F (beyond the window, not cached), W (window), X (next token)
        shape = tuple(int(v) for v in rng.integers(2, 4, size=4))
        P = rng.dirichlet(np.full(int(np.prod(shape)), 0.5)).reshape(shape) + 1e-12
        P /= P.sum()
        p_t = P / P.sum(axis=3, keepdims=True)
        PG = P.sum(axis=1, keepdims=True)
        q_G = PG / PG.sum(axis=3, keepdims=True)
        PW = P.sum(axis=(0, 1), keepdims=True)
        p_w = PW / PW.sum(axis=3, keepdims=True)
        lhs = np.sum(P * np.log(p_t / p_w))
        kl_pq = np.sum(P * np.log(p_t / q_G))
        kl_qp = np.sum(PG * np.log(q_G / p_w))
        assert abs(lhs - (kl_pq + kl_qp)) < 1e-10  # float sums of <= 81 terms
        assert kl_pq <= lhs + 1e-12
    r = window_for_epsilon(0.01, PowerLaw(0.5, 1.0), "sink", sinks=4)
    assert (r.window_tokens, r.peak_memory_tokens) == (10000, 10004) and "sink_recent" in r.theorem_ids


if __name__ == "__main__":
    check()
