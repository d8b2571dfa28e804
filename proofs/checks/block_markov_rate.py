"""Machine check of proofs/block_markov_rate.md: sympy for the algebraic steps; mpmath for the
converse inequalities, the two achievability bounds on random per-window ensembles and on the
extremal ones a wrong constant would fail, part 2's per-offset form, the four sharpness examples
(Santa Fe at alpha/2, two V = 2 pair laws computed from their laws, the Bayes mixture at alpha),
and the library's blocks."""
import importlib.util
import math
from pathlib import Path

import mpmath
import numpy as np
import sympy as sp
from scipy import special


def _laws():
    spec = importlib.util.spec_from_file_location("_laws", Path(__file__).with_name("_laws.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _avg(s, b):
    """A_s(b) = (1/b) sum_{j<b} (b + j)^-s, by direct summation (small b only)."""
    s = mpmath.mpf(s)
    return mpmath.fsum(mpmath.power(b + j, -s) for j in range(b)) / b


def _kappa(s):
    s = mpmath.mpf(s)
    return mpmath.log(2) if s == 1 else (1 - mpmath.power(2, 1 - s)) / (s - 1)


#: Part 4a's exponent interval is evaluated at b = 10^B_DIGITS (the .md quotes the same b).
B_DIGITS = 40


def _G(x, v):
    """Part 2's bound G(x), from its formula."""
    return -(1 - x) * mpmath.log(1 - x) + x * mpmath.log(v / x)


def _fd_bound(C2, eta, alpha, b):
    """Part 3's bound (2 C2/eta) A_alpha(b), from its formula."""
    return 2 * C2 / eta * _avg(alpha, b)


def _claims_4b(U):
    """Part 4b as stated: (E tau, E tau^2, the lower bound on E KL(p || q_mu) for every mu)."""
    return U, 2 * U ** 2, U * mpmath.log(2 * (1 - U))


def _claims_4c(U):
    """Part 4c as stated: (E tau, E tau^2, E KL)."""
    return U, U / 2, 2 * U * mpmath.log(2)


def _true_exponent_4a(alpha):
    """Part 4a's scope: Santa Fe's Bayes risk decays at exponent alpha/2, so (B) at alpha is slack."""
    return alpha / 2


def _check_algebra():
    x, V, C, a, b, U, mu = sp.symbols("x V C alpha b U mu", positive=True)
    G = -(1 - x) * sp.log(1 - x) + x * sp.log(V / x)
    assert sp.simplify(sp.expand_log(sp.diff(G, x) - sp.log(V * (1 - x) / x), force=True)) == 0
    assert sp.simplify(sp.diff(G, x, 2) + 1 / (x * (1 - x))) == 0     # part 2: G is concave
    H = x * (1 + sp.log(V / x))
    assert sp.simplify(sp.expand_log(sp.diff(H, x) - sp.log(V / x), force=True)) == 0
    # part 2: H(C b^-a/2) = C b^-a/2 (1 + log(V/C) + (a/2) log b), and the exponent limit
    u = C * b ** (-a / 2)
    assert sp.simplify(sp.expand_log(H.subs(x, u) - u * (1 + sp.log(V / C) + a / 2 * sp.log(b)), force=True)) == 0
    bound = u * (1 + sp.log(V / C) + a / 2 * sp.log(b))
    assert sp.limit(sp.log(1 / bound) / sp.log(b), b, sp.oo) == a / 2
    # part 4b: the lower bound h(mu) and its minimiser 2U/(1 - U)
    h = (1 - U) * mu / 2 + (1 - 2 * U) * sp.log(1 - 2 * U) / 2 + U * sp.log(4 * U / mu)
    m_star = 2 * U / (1 - U)
    assert sp.simplify(sp.diff(h, mu).subs(mu, m_star)) == 0 and sp.simplify(sp.diff(h, mu, 2) - U / mu ** 2) == 0
    h_min = U + (1 - 2 * U) * sp.log(1 - 2 * U) / 2 + U * sp.log(2 * (1 - U))
    assert sp.simplify(sp.expand_log(h.subs(mu, m_star) - h_min, force=True)) == 0


def _check_converse_and_integral_bounds():
    """Part 1: A_a(b) >= max(kappa b^-a, (2b-1)^-a); part 3's upper integral bound."""
    for a in ("0.1", "0.5", "1", "1.7", "3"):
        for b in (1, 2, 5, 40, 333):
            A = _avg(a, b)
            am = mpmath.mpf(a)
            assert A >= _kappa(a) * mpmath.power(b, -am) and A >= mpmath.power(2 * b - 1, -am)
            assert A <= (_kappa(a) + (1 - mpmath.power(2, -am)) / b) * mpmath.power(b, -am)


def _window_ensembles(rng, b, v, regular=None):
    """For each window b..2b-1 a random batch of pairs (p, q) with TV shrinking in the window;
    ``regular``: q >= regular on every symbol."""
    laws = _laws()
    out = []
    for j in range(b):
        shrink = mpmath.mpf(b + j) ** -0.5
        batch = []
        for p, q in laws.random_laws(rng, 6, sizes=(v, v)):
            q = [shrink * qi + (1 - shrink) * pi for pi, qi in zip(p, q)]  # q closer to p as w grows
            if regular is not None:
                q = [(1 - v * regular) * qi + regular for qi in q]
            batch.append((p, q))
        out.append(batch)
    return out


def _check_achievability(rng):
    """Parts 2 and 3 on random per-window ensembles: D_b from the pairs, bound from the formula."""
    laws = _laws()
    slack = mpmath.mpf(10) ** -40
    for b, v in ((2, 3), (3, 5), (5, 2), (4, 12)):
        ens = _window_ensembles(rng, b, v)
        beta = mpmath.mpf("0.5")
        # (S) with the tightest C for this ensemble: C = max_w E tau_w w^beta
        mean_tv = [mpmath.fsum(laws.tv(p, q) for p, q in batch) / len(batch) for batch in ens]
        C = max(t * mpmath.power(b + j, beta) for j, t in enumerate(mean_tv))
        abar = C * mpmath.fsum(mpmath.power(b + j, -beta) for j in range(b)) / b
        if abar <= 1 - mpmath.mpf(1) / v:
            d_b = mpmath.fsum(mpmath.fsum(laws.kl(p, [(1 - abar) * qi + abar / v for qi in q]) for p, q in batch)
                              / len(batch) for batch in ens) / b
            assert d_b <= _G(abar, v) + slack                                               # part 2
        eta = mpmath.mpf("0.3") / v
        ens = _window_ensembles(rng, b, v, regular=eta)
        alpha = mpmath.mpf(1)
        m2 = [mpmath.fsum(laws.tv(p, q) ** 2 for p, q in batch) / len(batch) for batch in ens]
        C2 = max(t * mpmath.power(b + j, alpha) for j, t in enumerate(m2))
        d_b = mpmath.fsum(mpmath.fsum(laws.kl(p, q) for p, q in batch) / len(batch) for batch in ens) / b
        assert d_b <= _fd_bound(C2, eta, alpha, b) + slack                                  # part 3


def _mix(weighted, f):
    """E f(p, q) over a finite pair law [(probability, p, q), ...]."""
    return mpmath.fsum(w * f(p, q) for w, p, q in weighted)


def _point(v, i):
    return [mpmath.mpf(1) if k == i else mpmath.mpf(0) for k in range(v)]


def _check_extremal_ensembles():
    """Parts 2 and 3 on the ensembles a wrong constant fails, D_b computed from the pair laws.

    Part 2: at window b + j, tau in {0, 1} with P(tau = 1) = x_j = C (b + j)^-alpha/2 (pairs
    (delta_2, delta_1) and (delta_1, delta_1)), so the mean TV meets (S) with equality and
    Abar = mean x_j: D_b is within (1 - Abar) log(1 + Abar/(V(1 - Abar))) of G(Abar), and G without
    its -(1 - x) log(1 - x) term fails (V = 3, Abar = 0.2: 0.656 > 0.542). The per-offset form:
    mu_j = x_j gives D_b <= mean G(x_j) <= G(Abar) (G concave).
    Part 3: p = delta_0 w.p. P_j, else p = q, q = (1 - eta, eta): tau = eta, KL = log 1/(1 - eta),
    so D_b / bound = log(1/(1 - eta)) / (2 eta), and C2/eta in place of 2 C2/eta fails (eta = 0.3)."""
    laws = _laws()
    slack = mpmath.mpf(10) ** -40
    for b, v, target in ((4, 3, "0.2"), (2, 2, "0.3"), (7, 10, "0.05"), (3, 1000, "0.01")):
        half = mpmath.mpf(1) / 2                                   # (S) at exponent alpha/2 = 1/2
        C = mpmath.mpf(target) / _avg(half, b)
        xs = [C * mpmath.power(b + j, -half) for j in range(b)]
        ens = [[(x, _point(v, 1), _point(v, 0)), (1 - x, _point(v, 0), _point(v, 0))] for x in xs]
        mean_tv = [_mix(e, laws.tv) for e in ens]
        assert max(abs(t - x) for t, x in zip(mean_tv, xs)) < slack
        abar = C * _avg(half, b)
        smooth = lambda q, m: [(1 - m) * qi + m / v for qi in q]  # noqa: E731
        d_b = mpmath.fsum(_mix(e, lambda p, q: laws.kl(p, smooth(q, abar))) for e in ens) / b
        assert d_b <= _G(abar, v) + slack                                                   # part 2
        assert _G(abar, v) - d_b <= (1 - abar) * mpmath.log1p(abar / (v * (1 - abar))) + slack
        per_offset = mpmath.fsum(_mix(e, lambda p, q, m=x: laws.kl(p, smooth(q, m))) for e, x in zip(ens, xs)) / b
        g_mean = mpmath.fsum(_G(x, v) for x in xs) / b
        assert per_offset <= g_mean + slack and g_mean <= _G(abar, v) + slack              # part 2, per offset
    for b in (1, 3, 6):
        eta, alpha = mpmath.mpf("0.3"), mpmath.mpf(1)
        q = [1 - eta, eta]
        probs = [mpmath.mpf("0.9") * mpmath.power(mpmath.mpf(b + j) / b, -alpha) for j in range(b)]
        ens = [[(P, [mpmath.mpf(1), mpmath.mpf(0)], q), (1 - P, q, q)] for P in probs]
        m2 = [_mix(e, lambda p, q: laws.tv(p, q) ** 2) for e in ens]
        C2 = max(t * mpmath.power(b + j, alpha) for j, t in enumerate(m2))
        d_b = mpmath.fsum(_mix(e, laws.kl) for e in ens) / b
        assert min(qi for e in ens for _, _, qd in e for qi in qd) >= eta                   # (REG)
        assert d_b <= _fd_bound(C2, eta, alpha, b) + slack                                  # part 3


def _santa_fe_second_moment(beta, w, K=4000):
    """(E S_K, lower, upper): E S_K and bounds on E S^2, S = sum of p_k over keys unseen in w
    draws, S_K its part over keys <= K (exact), with S_K <= S <= S_K + t_K, t_K = sum_{k>K} p_k."""
    z = special.zeta(beta)
    p = np.arange(1, K + 1, dtype=np.float64) ** -beta / z
    single = (1 - p) ** w
    pair = np.clip(1 - p[:, None] - p[None, :], 0, None) ** w
    np.fill_diagonal(pair, single)
    es2 = float(p @ pair @ p)
    es = float(p @ single)
    tail = float(special.zeta(beta, K + 1)) / z
    return es, es2, es2 + 2 * tail * es + tail ** 2


def _check_santa_fe(rng):
    """Part 4a: Santa Fe(beta') with 1 - 1/beta' = alpha/2 satisfies (B), (S), (FD) and has
    gamma = alpha/2."""
    from wzbounds.sources import SantaFe

    for alpha in (0.5, 1.0, 1.6):
        beta = 2 / (2 - alpha)
        src = SantaFe(beta)
        a1 = src.exponent
        assert abs(a1 - alpha / 2) < 1e-12
        w0 = src.smallest_valid_w0()
        c_sf, C_sf = src.envelope_constants(w0)
        z = float(special.zeta(beta))
        C2 = (C_sf / 2) ** 2 + 0.25 * (math.gamma(2 - 1 / beta) * z ** (-1 / beta) / beta + 4 * math.exp(-2))
        for w in (w0, 3 * w0, 10 * w0, 100 * w0):
            es = src.bayes_risk(w, unit="bits")                      # E S = I_w[bits]
            es_k, lo, hi = _santa_fe_second_moment(beta, w)
            assert lo >= es_k ** 2 * (1 - 1e-12)                     # Jensen; 1e-12: float sums of 1.6e7 terms
            assert es_k <= es * (1 + 1e-12)                          # the truncated sum is below the evaluator
            assert hi / 4 <= C2 * w ** -alpha                        # (FD) for E tau^2 = E S^2 / 4
            assert es / 2 <= C_sf / 2 * w ** (-alpha / 2)            # (S)
            assert src.bayes_risk(w, unit="nats") >= c_sf * math.log(2) * w ** -alpha  # (B)
        # the integral and max used for (FD), in mpmath
        for w in (3, 50):
            f = lambda x: (x ** -beta / z) ** 2 * mpmath.exp(-w * x ** -beta / z)  # noqa: E731
            integral = mpmath.quad(f, [0, 1, 10, 100, mpmath.inf])
            closed = z ** (-1 / beta) / beta * mpmath.gamma(2 - 1 / beta) * mpmath.power(w, -(2 - 1 / beta))
            assert mpmath.almosteq(integral, closed, rel_eps=1e-8)  # quadrature accuracy
            terms = mpmath.nsum(f, [1, mpmath.inf])
            assert terms <= closed + 4 * mpmath.exp(-2) / w ** 2
        # D_b of the Bayes predictor (the least over suffix-only schemes) inside the proved band
        for b in sorted({w0, 2 * w0, 7 * w0}):
            d_b = sum(src.bayes_risk(b + j, unit="nats") for j in range(b)) / b
            band = float(_avg(a1, b))
            assert c_sf * math.log(2) * band <= d_b <= C_sf * math.log(2) * band
        # the exponent interval at b = 10^B_DIGITS from the band (constants at the profile's w0,
        # tighter than at the smallest valid one): close to the true exponent alpha/2, far from
        # alpha, the exponent of (B): the factor of two here is (B)'s slack
        c_p, C_p = src.envelope_constants(src.profile().w0)
        b = 10 ** B_DIGITS
        true = _true_exponent_4a(alpha)
        with mpmath.workdps(40):
            A = _avg_big(a1, b)
            lo_g = float(mpmath.log(1 / (C_p * mpmath.log(2) * A)) / mpmath.log(b))
            hi_g = float(mpmath.log(1 / (c_p * mpmath.log(2) * A)) / mpmath.log(b))
        assert abs(lo_g - true) < 0.05 and abs(hi_g - true) < 0.05 and hi_g < alpha - 0.2
        # and the risk itself: I_w w^(true exponent) stays in the proved band while I_w w^alpha grows
        for w in (w0, 100 * w0, 10 ** 4 * w0):
            scaled = src.bayes_risk(w, unit="bits") * w ** true
            assert c_sf <= scaled <= C_sf
        assert src.bayes_risk(10 ** 4 * w0) * (10 ** 4 * w0) ** alpha > 10 * src.bayes_risk(w0) * w0 ** alpha


def _check_pair_examples():
    """Parts 4b and 4c on V = 2: every moment and KL computed from the explicit pair law, then
    compared with the statement (``_claims_4b``, ``_claims_4c``)."""
    laws = _laws()
    one, zero, half = mpmath.mpf(1), mpmath.mpf(0), mpmath.mpf(1) / 2
    delta0, u = [one, zero], [half, half]
    close = mpmath.mpf(10) ** -40  # 50-digit sums of a few terms
    grid = [mpmath.mpf(m) for m in np.geomspace(1e-14, 1.0, 3000)]
    for U in ("1e-2", "1e-4", "1e-6"):
        U = mpmath.mpf(U)
        law_b = [(half, delta0, delta0), (half, [1 - 2 * U, 2 * U], delta0)]
        e_tau, e_tau2, lower = _claims_4b(U)
        assert abs(_mix(law_b, laws.tv) - e_tau) < close
        assert abs(_mix(law_b, lambda p, q: laws.tv(p, q) ** 2) - e_tau2) < close
        smoothed = lambda m: (lambda p, q: laws.kl(p, [(1 - m) * qi + m / 2 for qi in q]))  # noqa: E731
        best = min(_mix(law_b, smoothed(m)) for m in grid + [2 * U / (1 - U)])
        assert best >= lower                                        # part 4b, every mu on the grid
        assert abs(best / U - mpmath.log(2)) < 0.05                 # -> log 2 (U = 1e-2: log(2(1 - U)) + O(U))
        law_c = [(2 * U, delta0, u), (1 - 2 * U, u, u)]
        e_tau, e_tau2, e_kl = _claims_4c(U)
        assert abs(_mix(law_c, laws.tv) - e_tau) < close
        assert abs(_mix(law_c, lambda p, q: laws.tv(p, q) ** 2) - e_tau2) < close
        assert abs(_mix(law_c, laws.kl) - e_kl) < close
        assert min(u) >= half                                       # (REG) with eta = 1/2


def _check_mixture():
    """Part 4d: the Dirichlet mixture's Bayes predictor has b D_b -> (V-1)/2 log 2 (gamma = 1)
    and E TV^2 <= (V-1)/(4(w + V a + 1)) (exact enumeration for V = 2)."""
    from wzbounds.sources import BayesMixture

    V, a = 2, 1.0
    src = BayesMixture(V, a)
    prof = src.profile("kl_nats")
    for b in (prof.w0, 4 * prof.w0, 16 * prof.w0):
        d_b = sum(src.bayes_risk(b + j) for j in range(b)) / b
        A1 = float(_avg(1, b))
        assert prof.c * A1 <= d_b <= prof.C * A1 and A1 <= (math.log(2) + 1 / (2 * b)) / b
    with mpmath.workdps(30):
        for w in (1, 5, 40):
            N = w + V * a
            total = mpmath.mpf(0)
            for n in range(w + 1):  # n = count of symbol 0; theta_0 | n ~ Beta(n + a, w - n + a)
                pmf = mpmath.binomial(w, n) * mpmath.beta(n + a, w - n + a) / mpmath.beta(a, a)
                m = (n + a) / N
                total += pmf * m * (1 - m) / (N + 1)      # E[(theta_0 - pbar_0)^2 | n]; TV = |theta_0 - pbar_0|
            assert total <= (V - 1) / (4 * (N + 1)) + mpmath.mpf(10) ** -25


def _check_library():
    """The library's blocks are the smallest with their proved bound <= eps (recomputed here)."""
    from wzbounds import block_markov_rate
    from wzbounds.profiles import PowerEnvelope, PowerLaw

    tv = PowerLaw(0.4, 1.5, c=0.3, divergence="tv")
    V = 1000
    r = block_markov_rate(tv, eps=[0.05, 0.2], vocab_size=V)
    assert r.regime == "unconditional" and r.gamma == 0.4 and r.gamma_converse == 0.8
    with mpmath.workdps(40):
        env = PowerEnvelope(1.5, 0.4)
        for eps, b in zip((0.05, 0.2), r.block_tokens):
            abar = lambda v: env.block_average_mp(int(v))  # noqa: E731
            assert _G(abar(b), V) <= eps and (b == 1 or _G(abar(b - 1), V) > eps)
    fd = block_markov_rate(tv, forward_decay=True, regularity=1e-3, eps=0.05)
    assert fd.regime == "forward-decay+regularity" and fd.gamma == 0.8
    with mpmath.workdps(40):
        K = 2 * mpmath.mpf(1.5) ** 2 / mpmath.mpf(1e-3)
        b = fd.block_tokens
        assert K * _avg_big(0.8, b) <= 0.05 and K * _avg_big(0.8, b - 1) > 0.05
        cb = fd.converse_block_tokens
        c_kl = 2 * 0.3 ** 2
        assert c_kl * _avg_big(0.8, cb) <= 0.05 and (cb == 1 or c_kl * _avg_big(0.8, cb - 1) > 0.05)
    # part 3 with V known: both bounds are proved, the block is the smaller (recomputed here:
    # beta 0.4, C 1.5, V 1000, eta 1e-3, eps 0.2 gives the part-2 block)
    both = block_markov_rate(tv, forward_decay=True, regularity=1e-3, eps=0.2, vocab_size=V)
    alone = block_markov_rate(tv, forward_decay=True, regularity=1e-3, eps=0.2)
    with mpmath.workdps(40):
        b_fd = alone.block_tokens
        assert K * _avg_big(0.8, b_fd) <= 0.2 < K * _avg_big(0.8, b_fd - 1)
        b_u = r.block_tokens[1]
        assert _G(1.5 * _avg_big(0.4, b_u), V) <= 0.2 < _G(1.5 * _avg_big(0.4, b_u - 1), V)
    assert both.block_tokens == min(b_u, b_fd) == b_u and both.block_theorem == "smoothing_convexity"


def _avg_big(s, b):
    """A_s(b) by mpmath's Hurwitz zeta (independent of the library's sums)."""
    return (mpmath.zeta(s, b) - mpmath.zeta(s, 2 * b)) / b


def _check_statement_text():
    """The .md quotes the b at which part 4a's exponent interval is evaluated here."""
    text = (Path(__file__).resolve().parents[1] / "block_markov_rate.md").read_text()
    assert f"b = 10^{B_DIGITS}" in text


def check():
    rng = np.random.default_rng(20261113)
    _check_statement_text()
    _check_algebra()
    with mpmath.workdps(50):
        _check_converse_and_integral_bounds()
        _check_achievability(rng)
        _check_extremal_ensembles()
        _check_pair_examples()
    _check_santa_fe(rng)
    _check_mixture()
    _check_library()


if __name__ == "__main__":
    check()
    print("block_markov_rate: ok")
