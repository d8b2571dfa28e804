"""Cache schemes: sliding, sink-plus-recent and block-Markov (theorem block_markov)."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from wzbounds import Exponential, PowerLaw, Tabulated, distortion_at_window, window_for_epsilon
from wzbounds.schemes import (BlockMarkov, Sink, Sliding, block_average_distortion, compare_block_with_sliding,
                              get_scheme, profile_block_average)
from wzbounds.testing import exponential_profiles, power_law_profiles, tabulated_profiles, targets

blocks = st.integers(1, 400)


@given(st.floats(0.05, 4.0), st.floats(0.01, 100.0), blocks)
def test_hurwitz_block_average_matches_direct_sum(alpha, C, b):
    """block_markov: (C/b)[zeta(alpha,b) - zeta(alpha,2b)] = (1/b) sum_{j<b} C (b+j)^-alpha,
    for alpha < 1 too (analytic continuation) and at alpha = 1 (digamma form)."""
    direct = C / b * sum((b + j) ** -alpha for j in range(b))
    assert block_average_distortion(b, alpha, C) == pytest.approx(direct, rel=1e-11)  # float sum of <= 400 terms
    if b < 50:
        assert block_average_distortion(b, 1.0, C) == pytest.approx(C / b * sum(1 / (b + j) for j in range(b)),
                                                                     rel=1e-12)


@given(st.one_of(power_law_profiles(), exponential_profiles(), tabulated_profiles()), blocks)
def test_block_orderings(profile, b):
    """block_markov: U(2b-1) <= time average A(b) <= worst case U(b); a sliding window with the
    block's peak memory 2b-1 beats the block's worst case."""
    b = b + profile.w0 - 1
    d = distortion_at_window(b, profile, "block")
    cmp = compare_block_with_sliding(b, profile)
    tol = 1e-12  # float rounding of the sums
    assert d.time_average_distortion <= d.worst_case_distortion * (1 + tol)
    assert cmp.sliding_equal_peak_distortion <= d.time_average_distortion * (1 + tol)
    assert cmp.sliding_equal_peak_distortion <= cmp.block_worst_case_distortion
    assert cmp.peak_memory_tokens == 2 * b - 1 == d.peak_memory_tokens
    assert d.average_memory_tokens == (3 * b - 1) / 2


@given(st.one_of(power_law_profiles(), exponential_profiles(), tabulated_profiles()), targets(1e-5, 1.0))
def test_block_average_size_is_minimal(profile, eps):
    """The time-average block is the smallest b >= w0 with A(b) <= eps, and never exceeds the
    worst-case block (A <= U)."""
    import mpmath
    b_avg = window_for_epsilon(eps, profile, "block-average").window_tokens
    b_worst = window_for_epsilon(eps, profile, "block").window_tokens
    assert b_avg <= b_worst
    # decided exactly (mpmath), so the float64 value may exceed eps by rounding at a tie
    assert float(profile_block_average(b_avg, profile)) <= eps * (1 + 1e-14)
    with mpmath.workdps(60):
        direct = lambda b: mpmath.fsum(profile.upper_envelope.value_mp(k) for k in range(b, 2 * b)) / b  # noqa: E731
        if b_avg < 3000:  # an independent direct sum where it is affordable
            assert direct(b_avg) <= eps * (1 + mpmath.mpf(10) ** -40)
            assert b_avg == profile.w0 or direct(b_avg - 1) > eps


def test_block_average_large_b_and_alpha_near_one():
    """Cancellation of the two zeta values is absorbed by extra digits (compared with a
    correctly rounded direct sum)."""
    import math
    b = 20000
    for alpha in (0.3, 1 - 1e-9, 1.0, 1 + 1e-9, 2.5):
        ref = math.fsum(k ** -alpha for k in range(b, 2 * b)) / b
        # each term carries ~1 ulp from ** (fsum adds no error): 1e-13 relative is generous
        assert block_average_distortion(b, alpha, 1.0) == pytest.approx(ref, rel=1e-13)


def test_memory_accounting():
    p = PowerLaw(0.5, 1.0)
    assert window_for_epsilon(0.01, p, "sink", sinks=4).peak_memory_tokens == 10004
    r = window_for_epsilon(0.01, p, "block")
    assert (r.window_tokens, r.peak_memory_tokens, r.average_memory_tokens) == (10000, 19999, 14999.5)
    assert window_for_epsilon(0.01, p).peak_memory_tokens == 10000


def test_scheme_objects_and_names():
    assert isinstance(get_scheme("sliding"), Sliding)
    assert get_scheme("sink", sinks=2) == Sink(2)
    assert get_scheme("block-average") == BlockMarkov("time_average")
    assert window_for_epsilon(0.01, PowerLaw(0.5, 1.0), Sink(3)).peak_memory_tokens == 10003
    for bad, kw in (("lru", {}), ("sliding", {"sinks": 2}), (3, {})):
        with pytest.raises(ValueError):
            get_scheme(bad, **kw)
    with pytest.raises(ValueError, match="sinks"):
        Sink(-1)
    with pytest.raises(ValueError, match="criterion"):
        BlockMarkov("median")


def test_geometric_and_tabulated_block_average_direct_sum():
    e = Exponential(0.9, 2.0)
    t = Tabulated([1, 4, 16], [1.0, 0.3, 0.05])
    for p in (e, t):
        for b in (1, 3, 10, 40):  # b = 40 runs into t's extrapolated tail
            direct = np.mean(p.upper(np.arange(b, 2 * b)))
            assert float(profile_block_average(b, p)) == pytest.approx(direct, rel=1e-12)


def test_block_average_matches_direct_sum_beyond_euler_maclaurin_threshold():
    """Envelope block sums switch to Euler-Maclaurin at 1e4; the value agrees with the direct sum."""
    import mpmath
    for profile in (PowerLaw(0.7, 2.0), Tabulated([1, 100, 20000], [1.0, 0.2, 0.01])):
        b = 12000
        with mpmath.workdps(40):
            direct = mpmath.fsum(profile.upper_envelope.value_mp(k) for k in range(b, 2 * b)) / b
        # the float64 value is a rounded 30-digit mpmath value
        assert float(profile_block_average(b, profile)) == pytest.approx(float(direct), rel=1e-13)


def test_steep_block_sums_keep_their_relative_precision():
    """mpmath's Hurwitz zeta keeps an absolute error near 10**-dps, so zeta(25, 120) ~ 1e-52 at
    30 digits was off by 1e-9 relative (and the block average with it); the guard digits keep
    the exact path's sums relative, checked against a direct sum (power and log-power laws)."""
    import mpmath

    from wzbounds.profiles import LogPowerLaw
    for env in (PowerLaw(25.0, 1.0).upper_envelope, LogPowerLaw(12.0, 1.0, 0.5).upper_envelope):
        for b in (7, 120, 3000):
            with mpmath.workdps(80):
                direct = mpmath.fsum(env.value_mp(k) for k in range(b, 2 * b)) / b
            with mpmath.workdps(30):
                value = env.block_average_mp(b)
            with mpmath.workdps(80):
                assert abs(value / direct - 1) < mpmath.mpf(10) ** -27, (env, b)


@pytest.mark.parametrize(("m", "n", "alpha"), [(695, 1086, 1000.0), (695, 1086, 100.0), (20, 5000, 37.5),
                                               (9000, 20000, 3000.0), (2, 3000, 64.0), (10, 13, 400.5)])
def test_steep_power_sums_term_by_term(m, n, alpha):
    """A steep tail (a tabulated profile's extrapolation, alpha ~ 1000) is summed term by term, not
    through Hurwitz zeta at ~(alpha - 1) log10(m) guard digits (thousands: a CI run stalled there),
    and equals the direct sum at higher precision within working precision."""
    import mpmath

    from wzbounds.profiles.envelopes import PowerEnvelope, _steep_sum

    with mpmath.workdps(40):
        assert _steep_sum(m, n, alpha, mpmath.power(m, -alpha)) is not None
        got = PowerEnvelope(1.0, alpha).range_sum_mp(m, n)
    with mpmath.workdps(80):
        ref = mpmath.fsum(mpmath.power(k, -mpmath.mpf(alpha)) for k in range(m, n))
        assert abs(got / ref - 1) < mpmath.mpf(10) ** -39  # the result's own rounding at 40 digits
