"""Tests for wzbounds.wz.cache_rd and cache_laws (proofs/cache_rate_distortion.md): closed forms,
one theorem per property test (the statement in its docstring), builders and bad input."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wzbounds.caches.theory import min_distortion
from wzbounds.sources import HMM, BayesMixture, MarkovChain, SantaFe
from wzbounds.testing import cache_laws, relabellings, seeds
from wzbounds.wz import (cache_rate_distortion, dsbs_cache_curve, dsbs_cache_law, evaluate_cache, hmm_cache_law,
                         markov_cache_law, mixture_cache_law, query_withheld_law, santa_fe_cache_curve,
                         santa_fe_cache_law, side_information_cache_law, window_cache, window_comparison)
from wzbounds.wz.cache_rd import _descend, _evaluate, _law_information, _sufficient

# Tolerance of a solver value against an exact value: the solver stops at a duality gap of
# tol_bits (here 1e-8, or the default 1e-6) assuming global minima; 1e-6 leaves room for both.
SOLVER_ABS = 1e-6


def _h(p):
    p = np.asarray(p, dtype=float)
    return -(np.where(p > 0, p * np.log2(np.where(p > 0, p, 1)), 0) + np.where(p < 1, (1 - p) * np.log2(
        np.where(p < 1, 1 - p, 1)), 0))


# --------------------------------------------------------------------------- closed forms
@pytest.mark.parametrize("p0", [0.05, 0.25])
@pytest.mark.parametrize("builder", [dsbs_cache_law, side_information_cache_law])
def test_gerber_closed_form(builder, p0):
    """cache_rate_distortion, part 8 (a), (b): for S a fair bit and X = S ⊕ Bern(p0) — or S = (A, B),
    Q = A, X = A ⊕ B ⊕ Bern(p0) — R_cache = R_nobin is the curve (1 − h(δ), h(p0 ∗ δ) − h(p0))."""
    rate, dist = dsbs_cache_curve(p0, np.array([0.02, 0.1, 0.25, 0.4]))
    assert np.allclose(rate, 1 - _h([0.02, 0.1, 0.25, 0.4]), atol=1e-15)
    band = cache_rate_distortion(builder(p0).p_sqx, dist, rng=np.random.default_rng(0), tol_bits=1e-8)
    assert np.all(np.abs(band.rate_bits - rate) < SOLVER_ABS)
    assert np.all(np.abs(band.rate_without_side_info_bits - rate) < SOLVER_ABS)
    assert np.all(band.lower_bound_bits <= rate + 1e-12)      # certified: below the exact curve
    assert band.converged


def test_side_information_makes_half_of_the_past_unnecessary():
    """cache_rate_distortion, part 8 (b): with the query A the cache needs only B: R_cache(0) = 1 bit
    = H(S|Q), while the past holds H(S) = 2 bits."""
    band = cache_rate_distortion(side_information_cache_law(0.1).p_sqx, 0.0, rng=np.random.default_rng(1))
    assert band.rate_bits == pytest.approx(1.0, abs=1e-12)     # entropy of a fair bit, exact anchor
    assert band.max_rate_without_side_info_bits == pytest.approx(2.0, abs=1e-12)


@pytest.mark.parametrize("query", ["none", "key"])
def test_santa_fe_matches_summary_cache(query):
    """cache_rate_distortion, part 8 (c): on Santa Fe(2) truncated to K = 5 keys, M bits of cache reach
    exactly the summary_cache distortion Σ_{k>M} p_k (floor Σ_{k>K} p_k included), and between integers
    the curve is the fractional knapsack inverse."""
    source = SantaFe(2.0)
    law = santa_fe_cache_law(source, 5, query=query)
    targets = [max(min_distortion(M, source, "summary").distortion_kl_bits - law.floor_bits, 0.0) for M in range(6)]
    band = cache_rate_distortion(law.p_sqx, targets, rng=np.random.default_rng(2))
    assert np.all(np.abs(band.rate_bits - np.arange(6)) < SOLVER_ABS)
    D = np.linspace(0, 1, 9) * band.zero_rate_distortion_bits
    exact = santa_fe_cache_curve(source, 5, D)
    assert np.all(np.abs(cache_rate_distortion(law.p_sqx, D, rng=np.random.default_rng(3)).rate_bits - exact)
                  < SOLVER_ABS)
    assert law.floor_bits == pytest.approx(source.tail_mass(5), rel=1e-15)


def test_lossless_prediction_is_a_line():
    """cache_rate_distortion, part 8 (d): with X = S every cache has I(S;U|Q) = H(S|Q) − I(X;S|U,Q), so
    R_cache(D) = (H(S|Q) − D)⁺; with a full-support query R_nobin(0) = H(S) (binning saves I(S;Q))."""
    p_s = np.array([0.5, 0.3, 0.2])
    noise = np.array([[0.8, 0.1, 0.1], [0.15, 0.7, 0.15], [0.1, 0.2, 0.7]])
    law = p_s[:, None, None] * noise[:, :, None] * np.eye(3)[:, None, :]
    band = cache_rate_distortion(law, np.linspace(0, 1.5, 7), rng=np.random.default_rng(4))
    p_sq = law.sum(axis=2)
    h_s_q = -np.sum(p_sq * np.log2(p_sq / p_sq.sum(axis=0)))
    # 1e-9: every point lies on the line up to entropy round-off
    assert np.allclose(band.rate_bits, np.maximum(h_s_q - band.D_bits, 0), atol=1e-9)
    assert band.rate_without_side_info_bits[0] == pytest.approx(-np.sum(p_s * np.log2(p_s)), abs=1e-12)


# --------------------------------------------------------------------------- properties on random laws
def _zero_rate(law, rng):
    return cache_rate_distortion(law, 0.0, rng=rng, n_betas=2, refine_steps=0).zero_rate_distortion_bits


@settings(max_examples=10)
@given(law=cache_laws(), seed=seeds())
def test_curve_non_increasing_convex_zero_beyond(law, seed):
    """cache_rate_distortion, part 2: R_cache is non-increasing and convex in D, and 0 for D ≥ I(X;S|Q)."""
    rng = np.random.default_rng(seed)
    d0 = _zero_rate(law, rng)
    D = np.linspace(0, 1.3, 14) * max(d0, 1e-3)
    rate = cache_rate_distortion(law, D, rng=rng).rate_bits
    assert np.all(np.diff(rate) <= 1e-12)                    # an envelope evaluated exactly: round-off only
    assert np.all(rate[:-2] - 2 * rate[1:-1] + rate[2:] >= -1e-9)
    # D0 passes through bits and back to nats: at D = D0 the envelope is 0 up to one ulp of D0
    assert np.all(rate[D >= d0] <= 1e-12)


@settings(max_examples=10)
@given(law=cache_laws(), seed=seeds(), frac=st.floats(0.0, 1.2))
def test_band_and_bounds(law, seed, frac):
    """cache_rate_distortion, parts 2 and 4: L(D) ≤ R_cache(D) ≤ R_nobin(D), R_cache(D) ≥ I(X;S|Q) − D,
    R_cache ≤ H(T|Q) ≤ H(S|Q) and R_nobin ≤ H(T) ≤ H(S)."""
    rng = np.random.default_rng(seed)
    D = frac * _zero_rate(law, rng)
    band = cache_rate_distortion(law, D, rng=rng)
    tiny = 1e-12                                              # entropy round-off
    assert band.lower_bound_bits <= band.rate_bits + tiny <= band.rate_without_side_info_bits + 2 * tiny
    assert band.rate_bits >= band.zero_rate_distortion_bits - D - tiny
    p_sq, p_s, p_q = law.sum(axis=2), law.sum(axis=(1, 2)), law.sum(axis=(0, 2))
    xlx = lambda a: np.sum(np.where(a > 0, a * np.log2(np.where(a > 0, a, 1)), 0))
    assert band.rate_bits <= band.max_rate_bits + tiny <= xlx(p_q) - xlx(p_sq) + 2 * tiny
    assert band.rate_without_side_info_bits <= band.max_rate_without_side_info_bits + tiny <= -xlx(p_s) + 2 * tiny


@settings(max_examples=10)
@given(data=st.data(), law=cache_laws(max_pasts=3), seed=seeds(), frac=st.floats(0.05, 0.95))
def test_relabelling_invariance(data, law, seed, frac):
    """cache_rate_distortion: R_cache, its lower bound, I(X;S|Q) and H(S|Q) do not change when s, q
    and x are relabelled. The lower bound and the information measures are computed from invariant
    quantities (1e-12: summation order); the solver values are two upper bounds of the same number
    found from differently labelled starts (1e-5: solver tolerance plus rare local minima)."""
    perm_s, perm_q, perm_x = data.draw(relabellings(law.shape))
    renamed = law[perm_s][:, perm_q][:, :, perm_x]
    rng = np.random.default_rng(seed)
    D = frac * _zero_rate(law, rng)
    a = cache_rate_distortion(law, D, rng=np.random.default_rng(seed))
    b = cache_rate_distortion(renamed, D, rng=np.random.default_rng(seed))
    for field in ("zero_rate_distortion_bits", "max_rate_bits", "max_rate_without_side_info_bits",
                  "lower_bound_bits"):
        assert getattr(a, field) == pytest.approx(getattr(b, field), abs=1e-12)
    assert a.rate_bits == pytest.approx(b.rate_bits, abs=1e-5)
    assert a.rate_without_side_info_bits == pytest.approx(b.rate_without_side_info_bits, abs=1e-5)


@settings(max_examples=8)
@given(law=cache_laws(max_pasts=3), seed=seeds(), frac=st.floats(0.1, 0.9))
def test_query_can_only_help(law, seed, frac):
    """cache_rate_distortion, part 5: R_cache(D) ≤ R_nobin(D) ≤ R_withheld(D) = R'(D − I(X;Q|S)), R' the
    problem with the query summed out. Tolerance 1e-5: two solver upper bounds compared."""
    rng = np.random.default_rng(seed)
    withheld, offset = query_withheld_law(law)
    D = offset + frac * _zero_rate(withheld, rng)
    without = cache_rate_distortion(withheld, D - offset, rng=rng)
    with_query = cache_rate_distortion(law, D, rng=rng)
    assert with_query.rate_without_side_info_bits <= without.rate_without_side_info_bits + 1e-5
    assert without.rate_bits == pytest.approx(without.rate_without_side_info_bits, abs=1e-12)  # nothing to bin


@settings(max_examples=10)
@given(law=cache_laws(), seed=seeds())
def test_reported_caches_are_achievable(law, seed):
    """cache_rate_distortion, part 9: every envelope vertex is an explicit cache whose exact
    (distortion, rate) is the reported point, and the time sharing of the vertices around D reaches D."""
    rng = np.random.default_rng(seed)
    band = cache_rate_distortion(law, 0.5 * _zero_rate(law, rng), rng=rng)
    for channel, d, r in zip(band.points_channels, band.points_distortion_bits, band.points_rate_bits):
        point = evaluate_cache(law, channel)
        # 1e-12: re-evaluated on the unmerged law (different summation order); r was also clipped
        # up to I(X;S|Q) − d, equal for an exact point up to the same round-off
        assert point.distortion_bits == pytest.approx(d, abs=1e-12)
        assert point.rate_bits == pytest.approx(r, abs=1e-12)
    for channel, d, r in zip(band.nobin_points_channels, band.nobin_points_distortion_bits,
                             band.nobin_points_rate_bits):
        assert evaluate_cache(law, channel).rate_without_side_info_bits == pytest.approx(r, abs=1e-12)
    assert band.distortion_bits <= band.D_bits


@given(law=cache_laws(), seed=seeds(), beta=st.floats(1.0, 50.0), binned=st.booleans())
def test_descent_never_increases_the_lagrangian(law, seed, beta, binned):
    """cache_rate_distortion, part 9: each accelerated block-coordinate cycle does not increase
    J_β = rate + β·distortion (binned or not)."""
    merged = _sufficient(law)
    _, _, _, h_x = _law_information(merged)
    T = merged.p_t.size
    channel = np.random.default_rng(seed).dirichlet(np.ones(T + 1), size=(1, T))
    values = []
    for _ in range(6):
        d, b, n, _ = _evaluate(merged, channel, h_x)
        values.append(float((b if binned else n)[0] + beta * d[0]))
        channel, _, _ = _descend(merged, np.array([beta]), np.array([binned]), channel, 1, h_x)
    # 1e-12 relative: the value is a difference of entropies of size ≤ beta · log|X|
    assert np.all(np.diff(values) <= 1e-12 * max(1.0, abs(values[0])))


# --------------------------------------------------------------------------- builders and windows
def test_windows_against_sources():
    """cache_rate_distortion, part 6: a w-token window as a cache has distortion I_w − I_{n+1} (plus the
    floor: the source's own I_w), and the least cache at that distortion needs no more bits than it."""
    hmm = HMM([[0.9, 0.1], [0.25, 0.75]], [[0.8, 0.15, 0.05], [0.1, 0.3, 0.6]])
    for law, source in ((hmm_cache_law(hmm, 3), hmm),
                        (markov_cache_law(MarkovChain(np.random.default_rng(0).dirichlet(np.ones(2), size=(2, 2, 2))),
                                          3), None),
                        (mixture_cache_law(BayesMixture(2, 0.5), 4, statistic="tokens"), BayesMixture(2, 0.5))):
        cmp = window_comparison(law, rng=np.random.default_rng(5))
        if source is not None:
            # 1e-12: both are differences of exact entropies (HMM: the same entropy-rate bracket)
            assert np.allclose(cmp.total_distortion_bits, source.bayes_risk(cmp.window_tokens, unit="bits"),
                               atol=1e-12)
        assert np.all(cmp.cache.rate_bits <= cmp.window_rate_bits + 1e-9)   # the window is one cache
        assert np.all(cmp.window_rate_bits <= cmp.window_entropy_bits + 1e-12)
        assert np.all(cmp.window_entropy_bits <= cmp.window_raw_bits + 1e-12)


def test_sufficient_statistics_give_the_same_curve():
    """cache_rate_distortion, part 3: the Bayes-mixture counts and the HMM beliefs are sufficient, so
    their laws give the same curve as the token pasts (the solver merges equal rows itself)."""
    mixture = BayesMixture(3, 0.4)
    tokens, counts = mixture_cache_law(mixture, 3, statistic="tokens"), mixture_cache_law(mixture, 3)
    D = np.array([0.05, 0.2])
    a = cache_rate_distortion(tokens.p_sqx, D, rng=np.random.default_rng(6))
    b = cache_rate_distortion(counts.p_sqx, D, rng=np.random.default_rng(6))
    assert a.n_sufficient_pasts == b.n_sufficient_pasts == counts.p_sqx.shape[0] == 10
    assert np.allclose(a.rate_bits, b.rate_bits, atol=1e-9)       # the same merged law up to round-off
    hmm = HMM([[0.8, 0.2, 0.0], [0.0, 0.8, 0.2], [0.2, 0.0, 0.8]], [[1, 0], [1, 0], [0, 1]])
    belief = hmm_cache_law(hmm, 4, statistic="belief")
    assert belief.p_sqx.shape[0] < 16 and belief.past_tokens is None
    D = np.array([0.02, 0.1]) * cache_rate_distortion(belief.p_sqx, 0.0, rng=np.random.default_rng(7), n_betas=2,
                                                     refine_steps=0).zero_rate_distortion_bits
    a = cache_rate_distortion(hmm_cache_law(hmm, 4).p_sqx, D, rng=np.random.default_rng(7))
    b = cache_rate_distortion(belief.p_sqx, D, rng=np.random.default_rng(7))
    assert np.allclose(a.rate_bits, b.rate_bits, atol=SOLVER_ABS)


def test_window_cache_shapes_and_query_none():
    """window_cache: w tokens with the query as side information hold w − 1 tokens (V^{w−1} values);
    without a query, w tokens."""
    hmm = HMM([[0.7, 0.3], [0.4, 0.6]], [[0.9, 0.1], [0.2, 0.8]])
    law = hmm_cache_law(hmm, 2)
    assert window_cache(law, 1).shape == (4, 1) and window_cache(law, 3).shape == (4, 4)
    none = hmm_cache_law(hmm, 2, query="none")
    assert none.p_sqx.shape == (4, 1, 2) and window_cache(none, 2).shape == (4, 4)
    assert evaluate_cache(none.p_sqx, window_cache(none, 2)).distortion_bits == pytest.approx(0.0, abs=1e-15)


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("kwargs, name", [
    ({"p_sqx": np.ones((2, 2)) / 4}, "p_sqx"),
    ({"p_sqx": np.ones((2, 2, 2))}, "p_sqx"),
    ({"p_sqx": np.full((2, 1, 2), np.nan)}, "p_sqx"),
    ({"D": -0.1}, "D"),
    ({"D": [[0.1]]}, "D"),
    ({"D": np.inf}, "D"),
    ({"rng": 3}, "rng"),
    ({"n_restarts": -1}, "n_restarts"),
    ({"n_betas": 1}, "n_betas"),
    ({"max_iter": 0}, "max_iter"),
    ({"tol_bits": 0.0}, "tol_bits"),
    ({"refine_steps": 1.5}, "refine_steps"),
])
def test_bad_input_names_the_parameter(kwargs, name):
    """Bad input raises ValueError naming the parameter."""
    args = {"p_sqx": dsbs_cache_law(0.1).p_sqx, "D": 0.1, "rng": np.random.default_rng(0), **kwargs}
    with pytest.raises(ValueError, match=f"`{name}`"):
        cache_rate_distortion(args.pop("p_sqx"), args.pop("D"), **args)


def test_builders_reject_bad_input():
    """Builders raise ValueError naming the parameter."""
    hmm = HMM([[0.7, 0.3], [0.4, 0.6]], [[0.9, 0.1], [0.2, 0.8]])
    for call, name in ((lambda: hmm_cache_law(hmm, -1), "n_past"), (lambda: hmm_cache_law(hmm, 2, query="q"), "query"),
                       (lambda: hmm_cache_law(SantaFe(2.0), 2), "hmm"),
                       (lambda: santa_fe_cache_law(SantaFe(2.0), 12), "n_keys"),
                       (lambda: mixture_cache_law(BayesMixture(2, 1.0), 2, statistic="beliefs"), "statistic"),
                       (lambda: window_cache(hmm_cache_law(hmm, 2), 4), "window_tokens"),
                       (lambda: window_cache(santa_fe_cache_law(SantaFe(2.0), 2), 1), "law"),
                       (lambda: evaluate_cache(dsbs_cache_law(0.1).p_sqx, np.ones((3, 2)) / 2), "channel"),
                       (lambda: dsbs_cache_law(0.7), "p0")):
        with pytest.raises(ValueError, match=f"`{name}`"):
            call()


def test_trivial_law_has_zero_rate():
    """cache_rate_distortion, part 2: when X is independent of S given Q, R_cache = 0 for every D ≥ 0."""
    law = np.full((3, 2, 2), 1 / 12)
    band = cache_rate_distortion(law, [0.0, 0.5], rng=np.random.default_rng(8))
    assert band.zero_rate_distortion_bits == 0.0 and np.all(band.rate_bits == 0.0)
    assert band.n_sufficient_pasts == 1 and band.converged
