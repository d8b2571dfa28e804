"""Property tests for wzbounds.wz: one theorem per test, the statement in its docstring."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wzbounds.testing import distortion_matrices, finite_sources, joint_distributions
from wzbounds.wz.bayes_risk import bayes_risk_decomposition, truncation_risk_profile
from wzbounds.wz.layers import (allocate_rate, geometric_am_gm, layer_sensitivity, plain_gain_sq,
                                residual_gain_sq)
from wzbounds.wz.rate_distortion import (conditional_rate_distortion, dsbs_conditional_rd, dsbs_joint,
                                         dsbs_wyner_ziv_rd, rate_distortion, wyner_ziv_rd)
from wzbounds.wz.setup import CacheState, SlidingWindowEncoder, SuffixDecoder

seeds = st.integers(0, 2**32 - 1)


# --------------------------------------------------------------------------- Bayes risk
@given(source=finite_sources(), data=st.data(), seed=seeds)
def test_bayes_risk_identity(source, data, seed):
    """bayes_risk_identity: for every suffix-measurable q, E KL(p_t‖q) = I_w + E KL(p̄_w‖q),
    and I_w = I(X_t; X_{<t-w} | X_{t-w}^{t-1})."""
    w = data.draw(st.integers(0, source.length - 1))
    rng = np.random.default_rng(seed)
    q = rng.dirichlet(np.ones(source.alphabet_size), size=(source.alphabet_size,) * w)
    parts = bayes_risk_decomposition(source, q, w)
    # three sums of ≤ 3^4 float64 terms of size ≤ ~20 nats: round-off ≲ 1e-13
    assert parts.identity_gap_nats == pytest.approx(0.0, abs=1e-10)
    assert parts.excess_risk_nats >= -1e-12  # a sum of KLs, negative only by round-off
    assert parts.truncation_risk_nats == pytest.approx(source.conditional_mutual_information(w), abs=1e-10)


@given(source=finite_sources())
def test_truncation_risk_non_increasing(source):
    """bayes_risk_identity: I_w is non-increasing in w and I_{t-1} = 0."""
    risks = truncation_risk_profile(source).truncation_risk_nats
    assert np.all(np.diff(risks) <= 1e-12)  # round-off of entropy sums, see above
    assert risks[-1] == pytest.approx(0.0, abs=1e-12)


@given(source=finite_sources(max_length=3), data=st.data(), seed=seeds)
def test_bayes_predictor_is_best_suffix_decoder(source, data, seed):
    """bayes_risk_identity: the Bayes window predictor minimises E KL(p_t ‖ q) over suffix decoders,
    and a SuffixDecoder driven by a SlidingWindowEncoder reads its table at the window."""
    w = data.draw(st.integers(0, source.length - 1))
    rng = np.random.default_rng(seed)
    p_bar = source.window_predictor(w)
    smoothed = 0.999 * p_bar + 0.001 / source.alphabet_size  # positive, so q = it is admissible
    q = rng.dirichlet(np.ones(source.alphabet_size), size=(source.alphabet_size,) * w)
    assert source.expected_kl(smoothed, w) <= source.expected_kl(q, w) + source.excess_risk(smoothed, w) + 1e-12
    encoder = SlidingWindowEncoder(w)
    state = encoder.initial_state()
    tokens = rng.integers(0, source.alphabet_size, size=source.length - 1)
    for token in tokens:
        state = encoder.update(state, token)
    assert state == CacheState(tuple(int(x) for x in tokens[len(tokens) - w:]) if w else (), source.length)
    np.testing.assert_array_equal(SuffixDecoder(q).predict(state), q[state.tokens])


# --------------------------------------------------------------------------- rate distortion
@pytest.mark.parametrize("p0", [0.1, 0.25, 0.4])
def test_dsbs_closed_form(p0):
    """wyner_ziv: for the DSBS, R_WZ(D) = g*(D) (Wyner–Ziv 1976), R_{X|Y}(D) = h(p0) − h(D),
    R_X(D) = 1 − h(D). Tolerance 1e-6 bits: the computed value is the envelope of converged
    achievable points and the refinement leaves chord errors ≲ 1e-9 (measured ≤ 1e-14)."""
    rng = np.random.default_rng(1)
    H = 1.0 - np.eye(2)
    for D in (0.3 * p0, 0.8 * p0):
        assert wyner_ziv_rd(dsbs_joint(p0), H, D, rng=rng).rate_bits == pytest.approx(dsbs_wyner_ziv_rd(p0, D), abs=1e-6)
        assert conditional_rate_distortion(dsbs_joint(p0), H, D).rate_bits == pytest.approx(
            dsbs_conditional_rd(p0, D), abs=1e-6)
        h = -D * np.log2(D) - (1 - D) * np.log2(1 - D)
        assert rate_distortion([0.5, 0.5], H, D).rate_bits == pytest.approx(1 - h, abs=1e-6)


@st.composite
def rd_instances(draw):
    p_xy = draw(joint_distributions())
    d = draw(distortion_matrices(p_xy.shape[0]))
    return p_xy, d, draw(st.floats(0.05, 0.95)), draw(seeds)


def _distortion_range(p_xy, d):
    d_min = float(p_xy.sum(axis=1) @ d.min(axis=1))
    d_zero = float(np.einsum("xy,xh->yh", p_xy, d).min(axis=1).sum())
    return d_min, d_zero


@settings(max_examples=10)
@given(instance=rd_instances())
def test_rate_distortion_orderings(instance):
    """wyner_ziv: R_{X|Y}(D) ≤ R_WZ(D) ≤ R_X(D). Tolerance 1e-6 bits: R_X and R_{X|Y} are
    computed to ≲ 1e-9 (convex BA + refinement) and the WZ value is an achievable upper bound that
    includes the classic channels, so only their refinement errors can cross."""
    p_xy, d, frac, seed = instance
    d_min, d_zero = _distortion_range(p_xy, d)
    D = d_min + frac * (d_zero - d_min)
    wz = wyner_ziv_rd(p_xy, d, D, rng=np.random.default_rng(seed)).rate_bits
    cond = conditional_rate_distortion(p_xy, d, D).rate_bits
    classic = rate_distortion(p_xy.sum(axis=1), d, D).rate_bits
    assert cond <= wz + 1e-6
    assert wz <= classic + 1e-6


@settings(max_examples=8)
@given(instance=rd_instances(), gap=st.floats(0.05, 0.9))
def test_wyner_ziv_convex_non_increasing(instance, gap):
    """wyner_ziv: R_WZ is convex and non-increasing in D. Evaluated by independent runs, so the
    tolerance 1e-4 bits covers a run stopping in a different local minimum of the non-convex
    Lagrangian (the check is of the computed function, which is only an upper bound)."""
    p_xy, d, frac, seed = instance
    d_min, d_zero = _distortion_range(p_xy, d)
    D1 = d_min + frac * (1 - gap) * (d_zero - d_min)
    D2 = d_min + frac * (d_zero - d_min)
    rng = np.random.default_rng(seed)
    r1, r2, r_mid = (wyner_ziv_rd(p_xy, d, D, rng=rng).rate_bits for D in (D1, D2, (D1 + D2) / 2))
    assert r2 <= r1 + 1e-4
    assert r_mid <= (r1 + r2) / 2 + 1e-4


# --------------------------------------------------------------------------- layers
@given(layers=st.integers(1, 8), dim=st.integers(1, 5), seed=seeds,
       residual=st.booleans(), slack=st.floats(0.01, 2.0))
def test_layer_error_bound(layers, dim, seed, residual, slack):
    """layer_propagation: for L_m-Lipschitz layers (plain, or id + L_b-Lipschitz branch) and
    injected perturbations n_ℓ, ‖a^(L) − â^(L)‖² ≤ Σ_ℓ s^(ℓ) (1 + 1/ε_ℓ)‖n_ℓ‖²."""
    rng = np.random.default_rng(seed)
    lips = rng.uniform(0.1, 2.0, size=layers)
    mats = []
    for lip in lips:  # tanh∘(linear map of spectral norm lip) is lip-Lipschitz
        m = rng.normal(size=(dim, dim))
        mats.append(lip * m / np.linalg.norm(m, 2))
    layer = (lambda m, a: a + np.tanh(m @ a)) if residual else (lambda m, a: np.tanh(m @ a))
    noise = rng.normal(size=(layers, dim)) * rng.uniform(0, 1, size=(layers, 1))
    a = a_hat = rng.normal(size=dim)
    for m, n in zip(mats, noise):
        a, a_hat = layer(m, a), layer(m, a_hat) + n
    gains = residual_gain_sq(lips) if residual else plain_gain_sq(lips)
    sens = layer_sensitivity(gains, slack=slack)
    # 1e-12 relative: round-off of a ≤ 8-term sum of products
    assert np.sum((a - a_hat) ** 2) <= sens.error_bound_sq(np.sum(noise ** 2, axis=1)) * (1 + 1e-12)


def test_layer_sensitivity_paper_numbers():
    """layer_propagation: with 60 layers and uncorrelated errors, residual L_b = 0.1 gives
    ratio (1 + 0.01)^59 ≈ 1.80; plain L_g = 1.05 gives 1.05^118 ≈ 316."""
    res = layer_sensitivity(residual_gain_sq(0.1, model="uncorrelated"), layers=60, model="uncorrelated")
    plain = layer_sensitivity(plain_gain_sq(1.05), layers=60, model="uncorrelated")
    assert res.ratio == pytest.approx(1.01 ** 59, rel=1e-12)  # float64 products of 59 factors
    assert plain.ratio == pytest.approx(1.05 ** 118, rel=1e-12)


@given(weights=st.lists(st.floats(1e-3, 1e3), min_size=1, max_size=10), total=st.floats(0, 40), seed=seeds)
def test_water_filling_optimal(weights, total, seed):
    """layer_propagation: reverse water-filling minimises Σ w_ℓ 2^{−2R_ℓ} over R_ℓ ≥ 0 with
    Σ R_ℓ = R; with every layer active, uniform/optimal = AM/GM of w."""
    alloc = allocate_rate(weights, total)
    rng = np.random.default_rng(seed)
    w = np.asarray(weights)
    rivals = rng.dirichlet(np.ones(w.size), size=64) * total
    rival_distortion = (w * 2.0 ** (-2.0 * rivals)).sum(axis=1)
    # relative 1e-12: float64 round-off in sums of ≤ 10 positive terms
    assert np.all(alloc.distortion <= rival_distortion * (1 + 1e-12))
    assert alloc.rates_bits.sum() == pytest.approx(total, abs=1e-9)
    if alloc.all_layers_active:
        assert alloc.distortion_ratio == pytest.approx(alloc.am_gm_ratio, rel=1e-9)
    else:
        assert alloc.distortion_ratio <= alloc.am_gm_ratio * (1 + 1e-12)


@given(kappa=st.floats(1.0, 1e4), layers=st.integers(1, 100))
def test_geometric_am_gm(kappa, layers):
    """layer_propagation: for L weights in geometric progression with max/min κ, AM/GM has the
    closed form of ``geometric_am_gm``."""
    w = kappa ** (np.arange(layers) / max(layers - 1, 1))
    direct = np.mean(w) / np.exp(np.mean(np.log(w)))
    assert geometric_am_gm(kappa, layers) == pytest.approx(direct, rel=1e-9)  # float64, ≤ 100 terms
