"""The calculator's windows checked against sources whose Bayes truncation risk I_w is exact.

One theorem per test, its statement in the docstring. The Bayes window predictor has distortion
exactly I_w (proofs/bayes_risk_identity.md), so a source's exact ``bayes_risk`` is the distortion
of the best suffix-only decoder at every window.
"""
from hypothesis import assume, given
from hypothesis import strategies as st

from wzbounds import window_for_epsilon
from wzbounds.testing import bayes_mixtures, hmms, santa_fe_sources

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
    w_conv = result.converse_window_tokens
    assume(w_conv is not None and int(w_conv) > 1)  # a converse window of 1 has no shorter window to test
    assert source.bayes_risk(int(w_conv) - 1, unit=unit) > eps
    assert int(w_conv) <= w


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
