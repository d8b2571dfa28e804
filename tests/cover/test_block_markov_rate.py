"""wzbounds.block_markov_rate (theorem block_markov_rate): one theorem per test."""
import math

import mpmath
import numpy as np
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
        # at 50 digits: near alpha = 1 the Hurwitz difference cancels (15 digits give 0)
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
    r = block_markov_rate(profile, forward_decay=True, regularity=eta, eps=0.1)
    assert r.regime == "forward-decay+regularity" and r.gamma == r.gamma_converse
    assert r.block_theorem == "reverse_pinsker" and r.smoothing_mu is None
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


def test_forward_decay_regime_reports_the_smaller_proved_block():
    """block_markov_rate parts 2-3: with V known both bounds are proved in the forward-decay regime,
    so its block is the smaller of the two (beta = 0.4, C = 1.5, V = 1000, eta = 1e-3, eps = 0.2:
    the smoothing bound's block, not the reverse-Pinsker one), and the result says which."""
    p = PowerLaw(0.4, 1.5, c=0.3, divergence="tv")
    fd_only = block_markov_rate(p, forward_decay=True, regularity=1e-3, eps=0.2)
    uncond = block_markov_rate(p, eps=0.2, vocab_size=1000)
    both = block_markov_rate(p, forward_decay=True, regularity=1e-3, eps=0.2, vocab_size=1000)
    assert uncond.block_tokens < fd_only.block_tokens
    assert both.block_tokens == uncond.block_tokens and both.block_theorem == "smoothing_convexity"
    assert both.distortion_bound_nats == uncond.distortion_bound_nats and both.smoothing_mu == uncond.smoothing_mu
    assert fd_only.block_theorem == "reverse_pinsker" and "smoothing_convexity" in both.theorem_ids
    small = block_markov_rate(p, forward_decay=True, regularity=1e-3, eps=1e-3, vocab_size=1000)
    assert small.block_theorem == "reverse_pinsker" and small.smoothing_mu == 0.0  # no smoothing there
    assert small.block_tokens == block_markov_rate(p, forward_decay=True, regularity=1e-3, eps=1e-3).block_tokens


def test_converse_from_a_derived_profile_takes_the_direct_route():
    """tv_converse part 2c in the rate: a profile that tv_converse_profile derived from the Bayes
    predictor's (c = 0.3) gives I_w >= 2(0.3)^2 w^-0.8, so at eps = 1e-3 the converse block is
    the smallest b with 0.18 A_0.8(b) <= eps (not 0.045 A_0.8(b), the chain's)."""
    from wzbounds.divergences import tv_converse_profile

    r = block_markov_rate(tv_converse_profile(PowerLaw(0.4, 1.5, c=0.3, divergence="tv")), eps=1e-3, vocab_size=1000)
    b = r.converse_block_tokens
    with mpmath.workdps(40):
        A = lambda k: (mpmath.zeta(0.8, k) - mpmath.zeta(0.8, 2 * k)) / k  # noqa: E731
        assert 0.18 * A(b) <= 1e-3 < 0.18 * A(b - 1)


def test_constants_beyond_float_range_give_exact_blocks():
    """C = 1e300 (C^2 overflows float64), c = 1e200 (2c^2 overflows) and eta = 5e-324 (2 C2/eta
    overflows): exact blocks from the constants in mpmath, no OverflowError and no inf."""
    from wzbounds.schemes.block_rate import regime_exponents

    big = PowerLaw(0.5, 1e300, divergence="tv")
    assert regime_exponents(big) == {"unconditional": 0.5, "forward-decay+regularity": 1.0, "converse": None}
    r = block_markov_rate(big, eps=0.01, vocab_size=49152)
    with mpmath.workdps(700):
        A = lambda k: 1e300 * (mpmath.zeta(0.5, k) - mpmath.zeta(0.5, 2 * k)) / k  # noqa: E731
        b = r.block_tokens
        assert _G(A(b), 49152) <= 0.01 < _G(A(b - 1), 49152)
    fd = block_markov_rate(big, forward_decay=True, regularity=1e-5, eps=0.01)
    with mpmath.workdps(700):  # alpha2 = 2 beta = 1: A_1(b) = (psi(2b) - psi(b))/b
        K = 2 * mpmath.mpf(1e300) ** 2 / mpmath.mpf(1e-5)
        A1 = lambda k: (mpmath.digamma(2 * k) - mpmath.digamma(k)) / k  # noqa: E731
        b = fd.block_tokens
        assert K * A1(b) <= 0.01 < K * A1(b - 1)
    conv = block_markov_rate(PowerLaw(0.5, 1e200, c=1e200, divergence="tv"), eps=0.01, vocab_size=49152)
    with mpmath.workdps(500):
        c_kl = 2 * mpmath.mpf(1e200) ** 2
        b = conv.converse_block_tokens
        assert c_kl * A1(b) <= 0.01 < c_kl * A1(b - 1)
    tiny = block_markov_rate(PowerLaw(0.5, 1.0, divergence="tv"), forward_decay=True, regularity=5e-324,
                             eps=0.01, vocab_size=49152)
    assert tiny.block_theorem == "smoothing_convexity" and math.isfinite(tiny.distortion_bound_nats)


def test_cli_with_a_constant_beyond_float_range(capsys):
    """``window --scheme block-markov-rate --C 1e300``: a table, not an OverflowError traceback."""
    from wzbounds.cli import main

    rc = main(["window", "--scheme", "block-markov-rate", "--vocab-size", "49152", "--alpha", "0.5", "--C", "1e300",
               "--divergence", "tv", "--eps", "0.01"])
    out, err = capsys.readouterr()
    assert rc == 0 and "regime unconditional" in out and err == ""


@pytest.mark.parametrize("profile", [PowerLaw(0.44, 1.0, c=0.5, divergence="kl_nats"),
                                     PowerLaw(1.3, 7.0, c=0.2, w0=5, divergence="kl_nats"),
                                     PowerLaw(0.3, 2.0, c=1.0, w0=100, divergence="kl_bits")])
def test_kl_envelope_blocks_all_at_once_equal_target_by_target(profile):
    """The kl-envelope regime sizes every target in one vectorised block-average search, and its
    converse blocks likewise: the same exact ints as the per-target searches (large eps included,
    where the converse block falls below w0)."""
    from wzbounds.schemes.block import block_size_time_average
    from wzbounds.schemes.block_rate import _converse_block, _lower_kl
    from wzbounds.units import kl_scale

    rng = np.random.default_rng(3)
    eps = np.concatenate([np.geomspace(1e-12, 0.9, 60), rng.uniform(1e-6, 2.0, 20)])
    r = block_markov_rate(profile, eps=eps)
    scale = kl_scale("kl_nats", profile.divergence)
    alpha, c = _lower_kl(profile)
    assert [int(b) for b in r.block_tokens] == [block_size_time_average(float(e) * scale, profile) for e in eps]
    assert [int(b) for b in r.converse_block_tokens] == [_converse_block(float(e), alpha, c, profile.w0) for e in eps]
    assert set(r.block_theorem) == {"block_markov"}


def _boundary_targets(profile, v, blocks):
    """Float targets at G(Abar(b)) for the given blocks: each within a rounding of the boundary
    between b - 1 and b, where only a certified log target decides."""
    env = PowerEnvelope(profile.C, profile.alpha)
    with mpmath.workdps(60):
        a = 1 - mpmath.mpf(1) / v
        return [float(_G(min(env.block_average_mp(b), a), v)) for b in blocks]


@pytest.mark.parametrize(("profile", "kwargs"), [
    (PowerLaw(0.389, 1.7, c=0.3, divergence="tv"), {"vocab_size": 49152}),
    (PowerLaw(0.7, 0.2, w0=5, divergence="tv"), {"vocab_size": 3}),
    (PowerLaw(0.4, 1.5, c=0.3, divergence="tv"), {"vocab_size": 1000, "forward_decay": True, "regularity": 1e-3}),
    (PowerLaw(0.5, 0.9, w0=7, divergence="tv2"), {"vocab_size": 262144, "regularity": 1e-7}),
    (PowerLaw(0.45, 1.2, divergence="tv"), {"forward_decay": True, "regularity": 1e-4}),
])
def test_tv_regimes_all_at_once_equal_target_by_target(profile, kwargs):
    """The unconditional and forward-decay regimes size every target at once (G's inverse and
    eps/K as certified triple-double log targets of the block-average search): the same exact
    ints as the per-target mpmath searches, over eps in [1e-12, log V] and at targets within a
    rounding of a block boundary; the converse blocks (c = 2(0.3)^2, not a float) likewise."""
    from wzbounds.schemes.block_rate import (_converse_block, _lower_kl, _power_block, _tv_parts,
                                             _unconditional_block)

    v = kwargs.get("vocab_size")
    beta, c_s, fd = _tv_parts(profile, kwargs.get("forward_decay", False))
    tv_env = PowerLaw(beta, c_s, w0=profile.w0, divergence="tv")
    eps = list(np.geomspace(1e-12, 0.5, 24)) + ([] if v is None else [math.log(v) * 0.999, math.log(v) * 1.01])
    if v is not None:
        eps += _boundary_targets(tv_env, v, [profile.w0 + 1, 1000, 10**6 + 3, 10**15 + 7, 10**30 + 11])
    eps = np.array(eps)
    r = block_markov_rate(profile, eps=eps, **kwargs)
    expected, routes = [], []
    for e in eps:
        uncond = None if v is None else _unconditional_block(float(e), tv_env, v)[0]
        if "regularity" in kwargs:
            power = _power_block(float(e), lambda: 2 * fd[1] / mpmath.mpf(kwargs["regularity"]), fd[0],
                                 max(profile.w0, fd[2]))  # K at the search's own precision
            smaller = uncond is not None and uncond < power
            expected.append(uncond if smaller else power)
            routes.append("smoothing_convexity" if smaller else "reverse_pinsker")
        else:
            expected.append(uncond)
            routes.append("smoothing_convexity")
    assert [int(b) for b in r.block_tokens] == expected
    assert list(r.block_theorem) == routes
    assert np.all(np.isfinite(r.distortion_bound_nats))
    if profile.c is not None:
        alpha, c = _lower_kl(profile)
        assert [int(b) for b in r.converse_block_tokens] == [_converse_block(float(e), alpha, c, profile.w0)
                                                             for e in eps]


@given(st.floats(-12.0, 1.5), st.integers(2, 2**40))
def test_inverse_of_the_smoothing_bound_is_certified(log10_eps, v):
    """The vectorised log G^-1(eps) (a triple-double with an error bound) contains the root
    computed in mpmath at 80 digits, wherever it claims to; the targets it does not certify
    (near x = 1 - 1/V, where G' vanishes, and past G's range) go to the mpmath inverse."""
    from wzbounds.schemes.block_rate import _g_inverse, _log_g_inverse

    eps = 10.0 ** log10_eps
    if eps >= math.log(v):
        return
    log_x, ok = _log_g_inverse(np.array([eps]), v)
    if not ok[0]:
        return
    x = _g_inverse(eps, v, 80)
    with mpmath.workdps(80):
        diff = mpmath.log(x) - (mpmath.mpf(float(log_x.a0[0])) + float(log_x.a1[0]) + float(log_x.a2[0]))
    # _g_inverse rounds to its admissible side within ~1e-78: far below any bound here
    assert abs(diff) <= float(log_x.err[0]) + 1e-75
    assert float(log_x.err[0]) < 1e-30  # and the bound is useful: blocks to ~1e29 are decided
