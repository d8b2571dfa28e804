"""Machine check of proofs/cache_rate_distortion.md: sympy for the identities (steps 2-4, 7, 8, 12,
13), mpmath for parts 1 and 3-6 on random laws and caches (every quantity recomputed from its
definition, independently of wzbounds.wz.cache_rd), then the solver against the closed forms of
part 8, the summary_cache values, and a fine-grid linear program for the exact problem."""
import itertools

import mpmath as mp
import numpy as np
import sympy as sp
from scipy.optimize import linprog

from wzbounds.caches.theory import min_distortion
from wzbounds.sources import HMM, BayesMixture, MarkovChain, SantaFe
from wzbounds.wz.cache_laws import (dsbs_cache_curve, dsbs_cache_law, hmm_cache_law, markov_cache_law,
                                    mixture_cache_law, santa_fe_cache_curve, santa_fe_cache_law,
                                    side_information_cache_law, window_cache)
from wzbounds.wz.cache_rd import cache_rate_distortion, evaluate_cache, query_withheld_law

mp.mp.dps = 40
LN2 = mp.log(2)


# --------------------------------------------------------------------------- sympy
def _steps():
    # symbolic joint entropies; a Markov chain is imposed by substituting equal conditional entropies
    H = {name: sp.Symbol(f"H_{name}", real=True) for name in
         ("Q", "S", "U", "X", "SQ", "UQ", "XQ", "SU", "XU", "SX", "SUQ", "SXQ", "XUQ", "SXU", "SXUQ")}
    ent = lambda a, b: H[a] - H[b] if b else H[a]                              # H(A|B) = H(AB) − H(B)
    # step 3: I(X;S,U|Q) = I(X;U|Q) + I(X;S|U,Q) (chain rule), and I(X;U|S,Q) = 0 under U − S − (Q,X)
    i_x_su_q = ent("XQ", "Q") - ent("SXUQ", "SUQ")
    i_x_u_q = ent("XQ", "Q") - ent("XUQ", "UQ")
    i_x_s_uq = ent("XUQ", "UQ") - ent("SXUQ", "SUQ")
    assert sp.simplify(i_x_su_q - (i_x_u_q + i_x_s_uq)) == 0
    markov = {H["SXUQ"]: H["SXQ"] + H["SUQ"] - H["SQ"]}                        # H(X|S,U,Q) = H(X|S,Q)
    d0 = ent("XQ", "Q") - ent("SXQ", "SQ")
    assert sp.simplify(i_x_su_q.subs(markov) - d0) == 0
    # step 4: I(S;U) = I(Q;U) + I(S;U|Q) when H(U|S,Q) = H(U|S)
    i_su = H["S"] + H["U"] - H["SU"]
    i_qu = H["Q"] + H["U"] - H["UQ"]
    i_su_q = ent("SQ", "Q") - ent("SUQ", "UQ")
    assert sp.simplify((i_qu + i_su_q - i_su).subs({H["SUQ"]: H["SU"] + H["SQ"] - H["S"]})) == 0
    # step 8: H(X|U) − H(X|S,Q) = I(X;S|U) + I(X;Q|S) when H(X|S,U) = H(X|S)
    lhs = ent("XU", "U") - ent("SXQ", "SQ")
    rhs = (ent("XU", "U") - ent("SXU", "SU")) + (ent("SX", "S") - ent("SXQ", "SQ"))
    assert sp.simplify((lhs - rhs).subs({H["SXU"]: H["SX"] + H["SU"] - H["S"]})) == 0
    # step 2: time sharing is linear in θ for both the rate and the distortion
    th, a1, a2 = sp.symbols("theta a1 a2", real=True)
    assert sp.expand(th * a1 + (1 - th) * a2 - (a2 + th * (a1 - a2))) == 0
    # step 12: Σ_q p(q) Σ_u p(u|q) log p(u|q)/r(u|q) = J(r) − J(p(u|q)) on one query, two letters
    p, r = sp.symbols("p r", positive=True)
    J = lambda rr: p * sp.log(1 / rr) + (1 - p) * sp.log(1 / (1 - rr))       # cross-entropy part of J
    kl = p * sp.log(p / r) + (1 - p) * sp.log((1 - p) / (1 - r))
    assert sp.simplify(sp.expand_log(J(r) - J(p) - kl, force=True)) == 0
    # step 13: min_p Σ_u p_u (log p_u − c_u) = −log Σ e^{c_u}, attained at p ∝ e^{c}
    c1, c2, x = sp.symbols("c1 c2 x", real=True)
    f = x * (sp.log(x) - c1) + (1 - x) * (sp.log(1 - x) - c2)
    star = sp.exp(c1) / (sp.exp(c1) + sp.exp(c2))
    assert sp.simplify(sp.diff(f, x).subs(x, star)) == 0
    assert sp.simplify(sp.expand_log(f.subs(x, star) + sp.log(sp.exp(c1) + sp.exp(c2)), force=True)) == 0
    assert sp.simplify(sp.diff(f, x, 2)) != 0 and sp.diff(f, x, 2).subs(x, sp.Rational(1, 2)) > 0
    # step 7: the knapsack through (0, 0) and the cumulative (capacity, capacity/η) is linear per item
    cap, eta, t = sp.symbols("cap eta t", positive=True)
    assert sp.simplify((t * cap / eta) / (t * cap) - 1 / eta) == 0


# --------------------------------------------------------------------------- mpmath, from definitions
def _mp(a):
    return [mp.mpf(float(v)) for v in np.ravel(a)]


def _definitions(p_sqx, channel, decoder=None):
    """(I(S;U|Q), I(S;U), I(X;S|U,Q), E KL(p(·|S,Q) ‖ decoder)) in bits, from the definitions."""
    S, Q, X = p_sqx.shape
    U = channel.shape[1]
    p = np.array(_mp(p_sqx), dtype=object).reshape(S, Q, X)
    p = p / mp.fsum(p.ravel())                  # exactly normalised, so exact identities stay exact
    c = np.array(_mp(channel), dtype=object).reshape(S, U)
    c = c / c.sum(axis=1)[:, None]
    p_s, p_sq, p_q = p.sum(axis=(1, 2)), p.sum(axis=2), p.sum(axis=(0, 2))
    p_u = np.array([mp.fsum(p_s[s] * c[s, u] for s in range(S)) for u in range(U)])
    p_uq = np.array([[mp.fsum(p_sq[s, q] * c[s, u] for s in range(S)) for q in range(Q)] for u in range(U)])
    p_uqx = np.array([[[mp.fsum(p[s, q, x] * c[s, u] for s in range(S)) for x in range(X)] for q in range(Q)]
                      for u in range(U)])
    binned = nobin = dist = excess = mp.mpf(0)
    for s, u in itertools.product(range(S), range(U)):
        if p_s[s] == 0 or c[s, u] == 0:
            continue
        nobin += p_s[s] * c[s, u] * mp.log(c[s, u] / p_u[u])
        for q in range(Q):
            if p_sq[s, q] == 0:
                continue
            binned += p_sq[s, q] * c[s, u] * mp.log(c[s, u] / (p_uq[u, q] / p_q[q]))
            for x in range(X):
                if p[s, q, x] > 0:
                    truth = p[s, q, x] / p_sq[s, q]
                    dist += p[s, q, x] * c[s, u] * mp.log(truth / (p_uqx[u, q, x] / p_uq[u, q]))
                    if decoder is not None:
                        excess += p[s, q, x] * c[s, u] * mp.log(truth / mp.mpf(float(decoder[u, q, x])))
    return binned / LN2, nobin / LN2, dist / LN2, excess / LN2


def _random_law(rng, shape):
    return rng.dirichlet(np.full(int(np.prod(shape)), float(rng.choice([0.3, 1.0, 3.0])))).reshape(shape)


def _check_definitions(rng):
    """Part 1 from the definition of KL (random decoders), against evaluate_cache; part 3 averaging."""
    for _ in range(12):
        shape = tuple(int(n) for n in rng.integers(2, 4, size=3))
        law = _random_law(rng, shape)
        channel = rng.dirichlet(np.ones(int(rng.integers(2, 4))), size=shape[0])
        decoder = rng.dirichlet(np.ones(shape[2]), size=(channel.shape[1], shape[1]))
        binned, nobin, dist, excess = _definitions(law, channel, decoder)
        point = evaluate_cache(law, channel)
        assert abs(point.rate_bits - binned) < 1e-12 and abs(point.rate_without_side_info_bits - nobin) < 1e-12
        assert abs(point.distortion_bits - dist) < 1e-12
        assert excess >= dist - mp.mpf(10) ** -30                                   # part 1: p(x|u,q) is best
        assert binned <= nobin + mp.mpf(10) ** -30                                  # part 2 ordering
        # part 3: duplicate past 0 (same p(q,x|s), split mass); the class-averaged cache keeps the
        # distortion and does not increase either rate
        split = np.concatenate([law[:1] * 0.3, law[:1] * 0.7, law[1:]])
        cache = rng.dirichlet(np.ones(3), size=split.shape[0])
        avg = cache.copy()
        avg[:2] = 0.3 * cache[0] + 0.7 * cache[1]
        before, after = _definitions(split, cache), _definitions(split, avg)
        # 1e-14: the two copies' rows agree only to float64 rounding of 0.3·p and 0.7·p
        assert abs(before[2] - after[2]) < 1e-14
        assert after[0] <= before[0] + 1e-14 and after[1] <= before[1] + 1e-14


def _eta_tv(rows):
    return max(0.5 * np.abs(a - b).sum() for a in rows for b in rows)


def _check_lower_bound(rng):
    """Part 4: random caches lie above L; η_KL(P, W) ≤ η_TV(W) found by search over inputs (F3)."""
    for _ in range(10):
        shape = tuple(int(n) for n in rng.integers(2, 4, size=3))
        law = _random_law(rng, shape)
        D = np.linspace(0.0, 1.0, 5)
        band = cache_rate_distortion(law, D, rng=rng, n_betas=2, refine_steps=0)
        # the bound at arbitrary distortions, evaluated by a zero-refinement call
        for _ in range(8):
            channel = rng.dirichlet(np.full(int(rng.integers(2, 5)), 0.5), size=shape[0])
            binned, _, dist, _ = _definitions(law, channel)
            at = cache_rate_distortion(law, float(dist), rng=rng, n_betas=2, refine_steps=0)
            assert at.lower_bound_bits <= float(binned) + 1e-12
        assert np.all(band.lower_bound_bits <= band.rate_bits + 1e-12)
    for _ in range(20):
        n_s, n_x = (int(n) for n in rng.integers(2, 5, size=2))
        W = rng.dirichlet(np.ones(n_x), size=n_s)
        P = rng.dirichlet(np.ones(n_s))
        bound = _eta_tv(W)
        for r in rng.dirichlet(np.full(n_s, 0.5), size=200):
            kl_in = float(np.sum(r * np.log(r / P)))
            kl_out = float(np.sum((r @ W) * np.log((r @ W) / (P @ W))))
            assert kl_out <= bound * kl_in + 1e-12


def _check_withheld(rng):
    """Part 5: caches solved for the withheld law, evaluated with the query by independent code."""
    for _ in range(4):
        law = _random_law(rng, (3, 2, 3))
        withheld, offset = query_withheld_law(law)
        D = offset + 0.5 * cache_rate_distortion(withheld, 0.0, rng=rng, n_betas=2,
                                                 refine_steps=0).zero_rate_distortion_bits
        solved = cache_rate_distortion(withheld, D - offset, rng=rng)
        with_query = cache_rate_distortion(law, D, rng=rng)
        assert with_query.rate_bits <= with_query.rate_without_side_info_bits + 1e-12
        assert with_query.rate_without_side_info_bits <= solved.rate_without_side_info_bits + 1e-5
        for channel in solved.nobin_points_channels:
            binned, nobin, dist, _ = _definitions(law, channel)
            _, nobin_w, dist_w, _ = _definitions(withheld, channel)
            assert abs(nobin - nobin_w) < 1e-14     # the same I(S;U); p(s) differs by float64 rounding
            assert binned <= nobin + mp.mpf(10) ** -25
            assert dist <= dist_w + offset + 1e-12                              # the query only helps


def _check_windows():
    """Part 6: window distortion + floor equals each source's own I_w (an independent evaluator)."""
    hmm = HMM([[0.85, 0.15], [0.3, 0.7]], [[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])
    chain = MarkovChain(np.random.default_rng(3).dirichlet(np.ones(2), size=(2, 2, 2)))
    mixture = BayesMixture(2, 0.7)
    for law, source in ((hmm_cache_law(hmm, 3), hmm), (markov_cache_law(chain, 3), chain),
                        (mixture_cache_law(mixture, 4, statistic="tokens"), mixture),
                        (hmm_cache_law(hmm, 3, query="none"), hmm)):
        first = 1 if law.query == "last_token" else 0
        for w in range(first, law.n_past + first + 1):
            point = evaluate_cache(law.p_sqx, window_cache(law, w))
            assert abs(point.distortion_bits + law.floor_bits - source.bayes_risk(w, unit="bits")) < 1e-12
            assert point.rate_bits <= point.entropy_bits + 1e-12 <= (w - first) * np.log2(law.alphabet_size) + 2e-12


# --------------------------------------------------------------------------- the solver
def _h(p):
    return 0.0 if p in (0.0, 1.0) else float(-p * mp.log(p, 2) - (1 - p) * mp.log(1 - p, 2))


def _check_closed_forms(rng):
    """Part 8 (a)-(d) and the summary_cache values, against the solver's band."""
    delta = np.array([0.03, 0.15, 0.3, 0.45])
    for p0 in (0.05, 0.2):
        rate = np.array([1 - _h(d) for d in delta])
        dist = np.array([_h(p0 * (1 - d) + d * (1 - p0)) - _h(p0) for d in delta])
        assert np.allclose(dsbs_cache_curve(p0, delta), (rate, dist), atol=1e-14)
        for law in (dsbs_cache_law(p0), side_information_cache_law(p0)):
            band = cache_rate_distortion(law.p_sqx, dist, rng=rng, tol_bits=1e-7)
            assert np.all(np.abs(band.rate_bits - rate) < 1e-6)
            assert np.all(np.abs(band.rate_without_side_info_bits - rate) < 1e-6)
            assert np.all(band.lower_bound_bits <= rate + 1e-12)
    for beta, K, query in ((2.0, 5, "none"), (1.5, 4, "key")):
        source = SantaFe(beta)
        law = santa_fe_cache_law(source, K, query=query)
        # summary_cache: M bits reach Σ_{k>M} p_k; here the floor Σ_{k>K} p_k is outside the law
        targets = [max(min_distortion(M, source, "summary").distortion_kl_bits - law.floor_bits, 0.0)
                   for M in range(K + 1)]
        band = cache_rate_distortion(law.p_sqx, targets, rng=rng)
        assert np.all(np.abs(band.rate_bits - np.arange(K + 1)) < 1e-6)
        D = np.linspace(0.0, 1.0, 7) * band.zero_rate_distortion_bits
        assert np.all(np.abs(cache_rate_distortion(law.p_sqx, D, rng=rng).rate_bits
                             - santa_fe_cache_curve(source, K, D)) < 1e-6)
    # (d) X = S with a noisy query: the line H(S|Q) − D, and R_nobin(0) = H(S)
    p_s = np.array([0.5, 0.3, 0.2])
    noise = np.array([[0.8, 0.1, 0.1], [0.15, 0.7, 0.15], [0.1, 0.2, 0.7]])
    law = p_s[:, None, None] * noise[:, :, None] * np.eye(3)[:, None, :]
    band = cache_rate_distortion(law, np.linspace(0.0, 1.0, 6), rng=rng)
    h_s_given_q = -np.sum(law.sum(axis=2) * np.log2(law.sum(axis=2) / law.sum(axis=(0, 2))))
    assert np.all(np.abs(band.rate_bits - np.maximum(h_s_given_q - band.D_bits, 0)) < 1e-9)
    assert abs(band.rate_without_side_info_bits[0] + np.sum(p_s * np.log2(p_s))) < 1e-12


def _grid_lp(law, D_bits, n_grid=4000):
    """R_cache(D) over caches whose posteriors p(t|u) lie on a grid of Δ(T), |T| = 2: a linear
    program over the weights of the grid posteriors (each feasible solution is an explicit cache,
    so the value is ≥ R_cache(D) and tends to it as the grid refines)."""
    p_s = law.sum(axis=(1, 2))
    cond = law / p_s[:, None, None]
    pi = np.linspace(0.0, 1.0, n_grid + 1)
    joint = pi[:, None, None] * cond[0] + (1 - pi)[:, None, None] * cond[1]                 # (G, Q, X)
    xlx = lambda a: np.where(a > 0, a * np.log(np.where(a > 0, a, 1.0)), 0.0)
    h_x_q = -xlx(joint).sum(axis=(1, 2)) + xlx(joint.sum(axis=2)).sum(axis=1)
    s_q = np.stack([pi[:, None] * law[0].sum(axis=1) / p_s[0], (1 - pi)[:, None] * law[1].sum(axis=1) / p_s[1]])
    h_s_q = -xlx(s_q).sum(axis=(0, 2)) + xlx(s_q.sum(axis=0)).sum(axis=1)
    h_joint = -xlx(law).sum() + xlx(law.sum(axis=2)).sum()                                  # H(X|S,Q)
    top = -xlx(law.sum(axis=2)).sum() + xlx(law.sum(axis=(0, 2))).sum()                    # H(S|Q)
    out = []
    for D in np.atleast_1d(D_bits):
        res = linprog(-h_s_q, A_ub=h_x_q[None], b_ub=[D * np.log(2) + h_joint],
                      A_eq=np.vstack([np.ones_like(pi), pi]), b_eq=[1.0, p_s[0]], bounds=(0, None), method="highs")
        assert res.status == 0
        out.append((top + res.fun) / np.log(2))
    return np.array(out)


def _check_against_lp(rng):
    """Part 9: the solver never exceeds the grid LP (up to its tolerance); the LP is ≥ L."""
    for _ in range(6):
        law = _random_law(rng, (2, int(rng.integers(1, 4)), int(rng.integers(2, 4))))
        d0 = cache_rate_distortion(law, 0.0, rng=rng, n_betas=2, refine_steps=0).zero_rate_distortion_bits
        D = d0 * np.array([0.2, 0.5, 0.8])
        band = cache_rate_distortion(law, D, rng=rng)
        exact = _grid_lp(law, D)
        assert np.all(band.rate_bits <= exact + 1e-5)           # 1e-5: solver tolerance plus rare local minima
        assert np.all(band.lower_bound_bits <= exact + 1e-12)


def _check_shape(rng):
    """Part 2 on the solver's output: non-increasing, convex, 0 beyond D0, between L and H(T|Q)."""
    for _ in range(4):
        law = _random_law(rng, (4, 2, 3))
        d0 = cache_rate_distortion(law, 0.0, rng=rng, n_betas=2, refine_steps=0).zero_rate_distortion_bits
        D = d0 * np.linspace(0.0, 1.2, 13)
        band = cache_rate_distortion(law, D, rng=rng)
        rate = band.rate_bits
        assert np.all(np.diff(rate) <= 1e-12) and np.all(rate[D >= d0] == 0)
        assert np.all(rate[:-2] - 2 * rate[1:-1] + rate[2:] >= -1e-9)   # convex (an envelope, exact)
        assert np.all(rate >= np.maximum(d0 - D, 0) - 1e-12) and rate[0] <= band.max_rate_bits + 1e-12
        assert np.all(band.lower_bound_bits <= rate + 1e-12)


def check():
    rng = np.random.default_rng(20260512)
    _steps()
    _check_definitions(rng)
    _check_lower_bound(rng)
    _check_withheld(rng)
    _check_windows()
    _check_closed_forms(rng)
    _check_against_lp(rng)
    _check_shape(rng)


if __name__ == "__main__":
    check()
    print("ok")
