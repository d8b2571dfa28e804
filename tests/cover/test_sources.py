"""Property tests of wzbounds.sources: one theorem per test, statement in the docstring."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from wzbounds.sources import HMM, BayesMixture, MarkovChain, Product, SantaFe
from wzbounds.testing import bayes_mixtures, hmms, markov_chains, santa_fe_sources

_spec = importlib.util.spec_from_file_location(
    "santa_fe_reference", Path(__file__).resolve().parents[1] / "_santa_fe_reference.py")
ref = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ref)

# The evaluator claims relative error <= 1e-9; observed agreement is ~1e-15 (notes/sources.md).
CLAIMED_REL = 1e-9


@pytest.mark.parametrize("beta,w", [(b, w) for b in (1.05, 1.3, 1.5, 2.0, 3.0, 5.0)
                                    for w in (0, 1, 7, 100, 10 ** 4)]
                         + [(2.0, 10 ** 9), (3.0, 10 ** 9), (5.0, 10 ** 9), (1.5, 10 ** 7)])
def test_santa_fe_matches_direct_summation(beta, w):
    """santa_fe part 1 evaluator: bayes_risk(w, bits) = sum_k p_k (1-p_k)^w to 1e-9 relative."""
    got = SantaFe(beta).bayes_risk(w, unit="bits")
    exact = ref.direct_bits(beta, w)
    assert abs(got - exact) <= CLAIMED_REL * exact


@pytest.mark.parametrize("beta,w", [(1.05, 10 ** 6), (1.2, 3), (2.0, 10 ** 9), (4.0, 10 ** 9)])
def test_santa_fe_matches_quad_euler_maclaurin(beta, w):
    """santa_fe part 1 evaluator vs an independent mpmath.quad Euler-Maclaurin evaluation."""
    got = SantaFe(beta).bayes_risk(w, unit="bits")
    exact = ref.quad_em_bits(beta, w)
    assert abs(got - exact) <= CLAIMED_REL * exact


@given(santa_fe_sources(), st.integers(1, 10 ** 9))
def test_santa_fe_envelope(src, w):
    """santa_fe parts 2-3: c(w0) w^-alpha <= I_w <= C(w0) w^-alpha for w >= w0 (proved constants)."""
    w0 = src.smallest_valid_w0()
    c, C = src.envelope_constants(w0)
    w = max(w, w0)
    scaled = src.bayes_risk(w, unit="bits") * w ** src.exponent
    assert c <= scaled <= C
    prof = src.profile()
    assert prof.c <= prof.C and prof.alpha == src.exponent


def test_santa_fe_units_and_tv():
    """santa_fe part 5 and units: nats = bits * ln 2; E TV = I_w[bits] / 2."""
    src = SantaFe(1.7)
    w = np.array([0, 3, 1000])
    bits = src.bayes_risk(w, unit="bits")
    np.testing.assert_allclose(src.bayes_risk(w, unit="nats"), bits * np.log(2), rtol=1e-15)
    np.testing.assert_allclose(src.tv_sensitivity(w), bits / 2, rtol=1e-15)
    assert src.bayes_risk(0, unit="bits") == pytest.approx(1.0, rel=1e-14)  # I_0 = sum p_k = 1 bit


def test_santa_fe_asymptotic_constant():
    """santa_fe part 4: I_w w^(1-1/beta) -> A = Gamma(1-1/beta) zeta(beta)^(-1/beta) / beta."""
    for beta in (1.1, 2.0, 3.0):
        src = SantaFe(beta)
        w = 10 ** 9
        gap = src.bayes_risk(w, unit="bits") * w ** src.exponent / src.asymptotic_constant_bits - 1
        # part 2 bounds the gap above by w^-1/beta / (e A); below it is O(w^-1/(2 beta))-small
        assert -1e-2 < gap <= w ** (-1 / beta) / (np.e * src.asymptotic_constant_bits)


@given(santa_fe_sources(), st.integers(0, 2 ** 32 - 1))
def test_santa_fe_sample_reproducible(src, seed):
    """sample(n, rng) is a function of the seed: equal seeds give equal paths; bits are fixed per key."""
    k1, b1 = src.sample(500, np.random.default_rng(seed))
    k2, b2 = src.sample(500, np.random.default_rng(seed))
    assert np.array_equal(k1, k2) and np.array_equal(b1, b2)
    assert k1.dtype == np.int64 and b1.dtype == np.uint8 and np.all(k1 >= 1)
    for key in np.unique(k1)[:20]:
        assert np.unique(b1[k1 == key]).size == 1


def test_santa_fe_sample_frequencies():
    """Keys are Zipf(beta): empirical frequencies of keys 1..4 match p_k."""
    src = SantaFe(1.5)
    keys, _ = src.sample(200_000, np.random.default_rng(7))
    p = src.key_probabilities(np.arange(1, 5))
    freq = np.array([(keys == k).mean() for k in range(1, 5)])
    # 5 binomial standard errors: false-failure probability < 1e-5 per key for this fixed seed
    assert np.all(np.abs(freq - p) <= 5 * np.sqrt(p * (1 - p) / keys.size))


@given(st.one_of(santa_fe_sources(), bayes_mixtures(max_alphabet=4), markov_chains(), hmms()))
def test_risk_non_increasing(src):
    """bayes_risk_identity: I_w is non-increasing in w (for HMMs up to the entropy-rate error)."""
    w = np.arange(0, 9)
    risk = src.bayes_risk(w)
    slack = 2 * src.risk_error_nats() + 1e-15 if isinstance(src, HMM) else 1e-15
    assert np.all(np.diff(risk) <= slack + 1e-13 * risk[:-1])
    assert np.all(risk >= 0)


@given(markov_chains())
def test_markov_zero_beyond_order(chain):
    """hmm_geometric part 1: I_w = 0 for every w >= k."""
    assert np.all(chain.bayes_risk(np.arange(chain.order, chain.order + 5)) == 0.0)


def test_mixture_rissanen_rate():
    """bayes_mixture part 4: w I_w -> (V-1)/2 nats."""
    for V, a in ((2, 0.5), (3, 1.0), (5, 2.0)):
        src = BayesMixture(V, a)
        w = 10 ** 5
        # part 2 at w=1e5: |w I_w - (V-1)/2| <= V w E[1/(n+a)]/(12 N) + ... < 0.02 (V-1)/2 here
        assert src.bayes_risk(w) * w == pytest.approx((V - 1) / 2, rel=0.02)


@given(bayes_mixtures(max_alphabet=4), st.integers(1, 3000))
def test_mixture_two_sided_bounds(src, w):
    """bayes_mixture part 2: (V-1)/(2N) - V E[1/(n+a)]/(12N) <= I_w <= (V-1)/(2N) + 1/(12N^2)."""
    V, a = src.alphabet_size, src.concentration
    N = w + V * a
    risk = src.bayes_risk(w)
    assert risk <= (V - 1) / (2 * N) + 1 / (12 * N ** 2) + 1e-13 * risk
    assert risk >= (V - 1) / (2 * N) - V / (12 * N) * src.inverse_count_moment(w) - 1e-13 * risk


@given(santa_fe_sources(min_beta=1.5), hmms(max_states=2, max_alphabet=2))
def test_product_additivity(sf, hmm):
    """hmm_geometric part 4: the risk of an independent product is the sum of the risks."""
    w = np.array([0, 1, 4, 9])
    np.testing.assert_allclose(Product(sf, hmm).bayes_risk(w),
                               sf.bayes_risk(w) + hmm.bayes_risk(w), rtol=1e-14)


@given(hmms())
def test_hmm_birkhoff_envelope(hmm):
    """hmm_geometric part 3: I_w <= Delta(A) tau(A)^(w-1) for w >= 1."""
    delta, tau = hmm.birkhoff_constants()
    w = np.arange(1, 8)
    assert np.all(hmm.bayes_risk(w) <= delta * tau ** (w - 1.0) + hmm.risk_error_nats() + 1e-15)


def test_hmm_monte_carlo_covers_exact():
    """hmm_geometric part 5: the MC estimate of I_w - I_L has a CI covering the exact I_w."""
    hmm = HMM([[0.9, 0.1], [0.2, 0.8]], [[0.95, 0.05], [0.1, 0.9]])
    for w in (1, 3):
        res = hmm.monte_carlo_risk(w, np.random.default_rng(11 + w), n_samples=3000, confidence_level=0.999)
        # 99.9% normal CI with a fixed seed; the burn-in bias I_L < 1e-28 is negligible
        assert res.ci_low_nats <= hmm.bayes_risk(w) <= res.ci_high_nats
        assert res.bias_bound_nats < 1e-20 and res.n_samples == 3000


@given(st.one_of(bayes_mixtures(), markov_chains(), hmms()), st.integers(0, 2 ** 32 - 1))
def test_sample_reproducible(src, seed):
    """sample(n, rng) depends only on the rng state."""
    a = src.sample(300, np.random.default_rng(seed))
    b = src.sample(300, np.random.default_rng(seed))
    assert np.array_equal(a, b) and a.shape == (300,)


def test_validation_names_parameter():
    """Bad inputs raise ValueError naming the parameter."""
    with pytest.raises(ValueError, match="beta"):
        SantaFe(1.0)
    with pytest.raises(ValueError, match="`w`"):
        SantaFe(2.0).bayes_risk(-1)
    with pytest.raises(ValueError, match="`w`"):
        SantaFe(2.0).bayes_risk(1.5)
    with pytest.raises(ValueError, match="unit"):
        SantaFe(2.0).bayes_risk(1, unit="nat")
    with pytest.raises(ValueError, match="alphabet_size"):
        BayesMixture(1, 1.0)
    with pytest.raises(ValueError, match="transition"):
        MarkovChain([[0.5, 0.6], [0.5, 0.5]])
    with pytest.raises(ValueError, match="rng"):
        SantaFe(2.0).sample(3, 0)


def test_exact_window_refusals():
    """Sources without an exact risk (HMM) or beyond the verified range are refused by name."""
    from wzbounds import window_for_epsilon
    h = HMM(np.array([[0.9, 0.1], [0.2, 0.8]]), np.array([[0.7, 0.3], [0.1, 0.9]]))
    with pytest.raises(ValueError, match="exact Bayes risk"):
        window_for_epsilon(1e-3, h)
    with pytest.raises(ValueError, match="eps"):
        window_for_epsilon(1e-7, SantaFe(1.5))  # the window is ~1e19 tokens, past the verified 1e9
    with pytest.raises(ValueError, match="divergence"):
        SantaFe(1.5).profile("tv2")
    with pytest.raises(ValueError, match="scheme"):
        window_for_epsilon(1e-2, SantaFe(1.5), "block")


def test_product_exact_window():
    """hmm_geometric part 4: the product's risk adds, and its exact window has no profile band."""
    from wzbounds import window_for_epsilon
    m = MarkovChain(np.array([[[0.9, 0.1], [0.3, 0.7]], [[0.5, 0.5], [0.2, 0.8]]]))
    p = Product(SantaFe(2.0), m)
    r = window_for_epsilon(0.05, p)
    w = r.window_tokens
    assert p.bayes_risk(w) <= 0.05 < p.bayes_risk(w - 1) and r.envelope_window_tokens is None
