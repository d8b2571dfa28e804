"""The calculator's windows checked against sources whose Bayes truncation risk I_w is exact.

One theorem per test, its statement in the docstring. The Bayes window predictor has distortion
exactly I_w (proofs/bayes_risk_identity.md), so a source's exact ``bayes_risk`` is the distortion
of the best suffix-only decoder at every window.
"""
from hypothesis import assume, given
from hypothesis import strategies as st

from wzbounds import window_for_epsilon
from wzbounds.testing import bayes_mixtures, hmms, markov_chains, santa_fe_sources

# Targets are drawn as eps = U(w) * f with w <= 1e8 and f in [0.9, 1], so the windows stay inside
# the range where the evaluators are verified (Santa Fe: w <= 1e9) or cheap (mixture: O(w)).
window_scales = st.floats(0.0, 8.0)
target_factors = st.floats(0.9, 1.0)


def _target(profile, log10_w, factor):
    w = max(profile.w0, int(10.0 ** log10_w))
    return float(profile.upper(w)) * factor


def _check_achievability_and_converse(source, profile, eps, unit):
    result = window_for_epsilon(eps, profile)
    w = int(result.window_tokens)
    assert source.bayes_risk(w, unit=unit) <= eps
    w_conv = int(result.converse_window_tokens)
    assert w_conv <= w
    assert w_conv == 1 or source.bayes_risk(w_conv - 1, unit=unit) > eps


@given(santa_fe_sources(min_beta=1.2), window_scales, target_factors)
def test_achievability_and_converse_on_santa_fe(source, log10_w, factor):
    """achievability_sliding + converse_suffix on Santa Fe(beta), proved constants (santa_fe):
    I_{w_ach} <= eps, and a window one shorter than the converse window has I > eps."""
    profile = source.profile("kl_bits")
    _check_achievability_and_converse(source, profile, _target(profile, log10_w, factor), "bits")


@given(bayes_mixtures(max_alphabet=4), st.floats(0.0, 6.0), target_factors)
def test_achievability_and_converse_on_bayes_mixture(source, log10_w, factor):
    """achievability_sliding + converse_suffix on the Dirichlet mixture (bayes_mixture):
    I_{w_ach} <= eps and I_{w_conv - 1} > eps (nats)."""
    profile = source.profile("kl_nats")
    _check_achievability_and_converse(source, profile, _target(profile, log10_w, factor), "nats")


@given(hmms(max_states=2, max_alphabet=2), st.floats(1e-7, 1e-3))
def test_geometric_achievability_on_hmm(source, eps):
    """achievability_geometric on an HMM with entrywise-positive transitions (hmm_geometric):
    the window from the Birkhoff envelope I_w <= Delta tau^(w-1) reaches eps, when the exact
    risk is computable at that window."""
    w = int(window_for_epsilon(eps, source.profile("kl_nats")).window_tokens)
    assume(w <= source.max_exact_window)
    assert source.bayes_risk(w, unit="nats") <= eps * (1 + 1e-9)  # slack: float64 risk near eps


@given(santa_fe_sources(min_beta=1.2), window_scales, target_factors)
def test_exact_window_on_santa_fe(source, log10_w, factor):
    """bayes_risk_identity + santa_fe: window_for_epsilon(eps, SantaFe) is the exact smallest
    w >= 1 with I_w <= eps (bits), inside the proved band [w_conv, w_ach]."""
    profile = source.profile("kl_bits")
    eps = _target(profile, min(log10_w, 6.0), factor)
    r = window_for_epsilon(eps, source)
    w = r.window_tokens
    assert r.memory == w and r.memory_unit == "tokens" and r.divergence == "kl_bits"
    assert source.bayes_risk(w, unit="bits") <= eps and (w == 1 or source.bayes_risk(w - 1, unit="bits") > eps)
    assert r.converse_window_tokens <= w <= r.envelope_window_tokens
    assert r.distortion_bound == source.bayes_risk(w, unit="bits")


@given(bayes_mixtures(max_alphabet=4), st.floats(-3.0, -0.5))  # windows <= ~1e4: O(w) risk per step
def test_exact_window_on_bayes_mixture(source, log10_eps):
    """bayes_risk_identity + bayes_mixture: the exact smallest window with I_w <= eps (nats)."""
    eps = 10.0 ** log10_eps
    r = window_for_epsilon(eps, source)
    w = r.window_tokens
    assert source.bayes_risk(w) <= eps and (w == 1 or source.bayes_risk(w - 1) > eps)
    assert r.converse_window_tokens <= w <= r.envelope_window_tokens


@given(markov_chains(), st.floats(-6.0, 0.0))
def test_exact_window_on_markov_chain(chain, log10_eps):
    """hmm_geometric part 1: an order-k chain needs at most k tokens; the exact window is the
    smallest with I_w <= eps."""
    eps = 10.0 ** log10_eps
    w = window_for_epsilon(eps, chain).window_tokens
    assert 1 <= w <= max(chain.order, 1) and chain.bayes_risk(w) <= eps
    assert w == 1 or chain.bayes_risk(w - 1) > eps
