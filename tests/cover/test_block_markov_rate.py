"""wzbounds.block_markov_rate (theorem block_markov_rate): one theorem per test."""
import math

import mpmath
import pytest
from hypothesis import given
from hypothesis import strategies as st

from wzbounds import block_markov_rate
from wzbounds.profiles import PowerEnvelope, PowerLaw
from wzbounds.theorems import ASSUMPTIONS, THEOREMS

tv_profiles = st.builds(lambda b, C, u, w0: PowerLaw(b, C, c=C * u, w0=w0, divergence="tv"),
                        st.floats(0.1, 1.0), st.floats(0.2, 3.0), st.floats(0.05, 1.0), st.integers(1, 20))
targets = st.floats(-3.0, -0.3).map(lambda e: 10.0 ** e)
vocab = st.integers(2, 200_000)


def _G(x, v):
    return -(1 - x) * mpmath.log(1 - x) + x * mpmath.log(v / x)


@given(tv_profiles, targets, vocab)
def test_unconditional_block_is_the_smallest_with_its_bound(profile, eps, v):
    """block_markov_rate part 2: with mu_b = Abar(b), the block is the smallest b >= w0 with
    G(Abar(b)) <= eps (recomputed in mpmath from the TV envelope), and gamma = beta."""
    r = block_markov_rate(profile, eps=eps, vocab_size=v)
    assert r.regime == "unconditional" and r.gamma == profile.alpha
    b = r.block_tokens
    env = PowerEnvelope(profile.C, profile.alpha)
    with mpmath.workdps(50):
        a = 1 - mpmath.mpf(1) / v
        bound = lambda k: _G(min(env.block_average_mp(k), a), v)  # noqa: E731
        assert eps >= math.log(v) or bound(b) <= eps * (1 + mpmath.mpf(10) ** -30)
        assert b == profile.w0 or bound(b - 1) > eps
    assert r.smoothing_mu == pytest.approx(float(min(env.block_average_mp(b), a)), rel=1e-12) or eps >= math.log(v)


@given(tv_profiles, targets, vocab)
def test_converse_block_bounds_every_scheme(profile, eps, v):
    """block_markov_rate part 1: no suffix-only scheme reaches eps below the converse block, so
    both regimes' blocks are >= it, and the converse exponent is 2 beta (tv_converse)."""
    uncond = block_markov_rate(profile, eps=eps, vocab_size=v)
    fd = block_markov_rate(profile, forward_decay=True, regularity=1.0 / v, eps=eps, vocab_size=v)
    assert uncond.converse_block_tokens == fd.converse_block_tokens
    assert uncond.converse_block_tokens <= min(uncond.block_tokens, fd.block_tokens)
    assert uncond.gamma_converse == fd.gamma == pytest.approx(2 * profile.alpha)
    c_kl, b = 2 * profile.c ** 2, uncond.converse_block_tokens
    with mpmath.workdps(50):  # the lower bound (1/b) sum_j c max(b + j, w0)^-2beta, directly
        low = lambda k: mpmath.fsum(c_kl * mpmath.power(max(k + j, profile.w0), -2 * profile.alpha)  # noqa: E731
                                    for j in range(k)) / k
        if b < 5000:
            assert low(b) <= eps * (1 + mpmath.mpf(10) ** -30) and (b == 1 or low(b - 1) > eps)


@given(tv_profiles, st.floats(1e-6, 1.0))
def test_forward_decay_regime_exponent(profile, eta_fraction):
    """block_markov_rate part 3: under (FD) and (REG) gamma = alpha = 2 beta (the converse
    exponent), and the bound is (2 C2/eta) A_alpha(b) with C2 = C^2 for an almost-sure envelope."""
    v = 1000
    eta = eta_fraction / v
    r = block_markov_rate(profile, forward_decay=True, regularity=eta, eps=0.1, vocab_size=v)
    assert r.regime == "forward-decay+regularity" and r.gamma == r.gamma_converse
    with mpmath.workdps(40):
        value = 2 * profile.C ** 2 / eta * PowerEnvelope(1.0, 2 * profile.alpha).block_average_mp(r.block_tokens)
    assert r.distortion_bound_nats == pytest.approx(float(value), rel=1e-12)  # same 40-digit value, rounded
    assert set(r.hypotheses) >= {"forward-decay", "regularity"} and set(r.hypotheses) <= set(ASSUMPTIONS)


def test_result_names_its_theorems_and_the_factor_of_two():
    """The result carries the theorem ids and the factor gamma_converse / gamma = 2 unconditionally."""
    p = PowerLaw(0.389, 1.7, c=0.2, divergence="tv")
    r = block_markov_rate(p)
    assert r.gamma_converse / r.gamma == pytest.approx(2.0) and r.block_tokens is None
    assert all(t in THEOREMS for t in r.theorem_ids) and "smoothing_convexity" in r.theorem_ids
    kl = block_markov_rate(PowerLaw(0.8, 2.0, c=0.5), eps=0.01)
    assert kl.regime == "kl-envelope" and kl.gamma == kl.gamma_converse == 0.8
    tv2 = block_markov_rate(PowerLaw(0.8, 0.3, divergence="tv2"), regularity=1e-3, eps=0.05)
    assert tv2.regime == "forward-decay+regularity" and tv2.gamma == 0.8


@pytest.mark.parametrize("kwargs, name", [
    (dict(regularity=0.01, vocab_size=1000), "regularity"), (dict(regularity=0.0), "regularity"),
    (dict(eps=0.1), "vocab_size"), (dict(forward_decay="yes"), "forward_decay"),
    (dict(forward_decay=PowerLaw(3.0, 1.0, divergence="tv2"), regularity=1e-3), "contradict"),
    (dict(eps=-1.0, vocab_size=10), "eps"), (dict(vocab_size=1), "vocab_size"),
])
def test_bad_input_names_the_parameter(kwargs, name):
    with pytest.raises(ValueError, match=name):
        block_markov_rate(PowerLaw(0.4, 1.0, c=0.5, divergence="tv"), **kwargs)


def test_astronomical_blocks_are_refused_in_one_line():
    """A TV exponent of 1e-300 needs a block of 10^(1e299) tokens: a ValueError naming eps, at once."""
    with pytest.raises(ValueError, match="eps"):
        block_markov_rate(PowerLaw(1e-300, 1.0, divergence="tv"), eps=0.5, vocab_size=2)


def test_kl_profile_refuses_tv_hypotheses():
    with pytest.raises(ValueError, match="forward_decay"):
        block_markov_rate(PowerLaw(0.8, 1.0), forward_decay=True)
    with pytest.raises(ValueError, match="profile"):
        block_markov_rate("not a profile")
