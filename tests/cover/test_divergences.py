"""Properties of wzbounds.divergences: one theorem per test, its statement in the docstring."""
import math

import mpmath
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from wzbounds import divergences as dv
from wzbounds.profiles.power_law import PowerLaw
from wzbounds.testing import distribution_pairs, distributions

# Float64 slack for inequalities between computed KL/TV values: each is a sum of <= 20 terms
# of size <= ~25 (log of 1e-9 ratios), so rounding is below 1e-12.
SLACK = 1e-12


@given(distribution_pairs())
def test_pinsker(pair):
    """pinsker: TV(p, q) <= sqrt(KL_nats(p‖q) / 2) for any two laws."""
    p, q = pair
    assert dv.tv(p, q) <= dv.pinsker(dv.kl(p, q)).tv_upper + SLACK
    assert dv.kl(p, q) >= dv.pinsker_kl_lower(dv.tv(p, q)) - SLACK


@given(distribution_pairs(q_positive=True))
def test_reverse_pinsker(pair):
    """reverse_pinsker: with q_min = min q > 0, KL(p‖q) <= log(1 + 2·TV(p, q)²/q_min)."""
    p, q = pair
    bound = dv.reverse_pinsker(dv.tv(p, q), q.min())
    assert bound.theorem == "reverse_pinsker"
    # relative slack: the bound can be ~log(1e9) and KL ~ the same size
    assert dv.kl(p, q) <= bound.kl_upper_nats * (1 + 1e-12) + SLACK
    assert bound.kl_upper_bits == pytest.approx(bound.kl_upper_nats / math.log(2), rel=1e-15)


@given(distribution_pairs(q_positive=True))
def test_pinsker_sandwich(pair):
    """pinsker + reverse_pinsker: 2·TV² <= KL(p‖q) <= log(1 + 2·TV²/q_min)."""
    p, q = pair
    t = dv.tv(p, q)
    k = dv.kl(p, q)
    assert dv.pinsker_kl_lower(t) - SLACK <= k <= dv.reverse_pinsker(t, q.min()).kl_upper_nats * (1 + 1e-12) + SLACK


def test_reverse_pinsker_constant_two_is_attained_by_its_sign_split_step():
    """reverse_pinsker step 3: Σ(p−q)² = 2·TV² when p − q = (t, −t, 0, ...), so the 2 is sharp."""
    q = np.full(4, 0.25)
    p = q + np.array([0.1, -0.1, 0.0, 0.0])
    assert np.sum((p - q) ** 2) == pytest.approx(2 * dv.tv(p, q) ** 2, rel=1e-12)  # rounding only


@given(distribution_pairs(), st.floats(1e-6, 1.0))
def test_smoothing_bias_and_floor(pair, mu):
    """smoothing parts 1-4: min q_μ >= μ/V; TV(q_μ, q) = μ·TV(q, u) <= μ(1 − 1/V);
    TV(p, q_μ) <= (1 − μ)TV(p, q) + μ(1 − 1/V); KL(p‖q_μ) <= log(1 + 2V·that²/μ)."""
    p, q = pair
    v = q.size
    q_mu = dv.smooth(q, mu)
    bound = dv.smoothing_bound(dv.tv(p, q), mu, v)
    u = np.full(v, 1.0 / v)
    assert q_mu.min() >= bound.q_min_floor * (1 - 1e-12)
    assert dv.tv(q_mu, q) == pytest.approx(mu * dv.tv(q, u), rel=1e-9, abs=1e-15)  # rounding of μ(u−q)
    assert dv.tv(q_mu, q) <= bound.tv_bias_max + SLACK
    assert dv.tv(p, q_mu) <= bound.tv_after + SLACK
    assert dv.kl(p, q_mu) <= bound.kl_upper_nats * (1 + 1e-12) + SLACK


@given(st.floats(1e-9, 1.0), st.integers(2, 100_000))
def test_optimal_smoothing_beats_grid(tau, vocab_size):
    """smoothing part 5: μ* = optimal_smoothing(τ, V).mu minimises the KL bound over μ ∈ (0, 1]."""
    opt = dv.optimal_smoothing(tau, vocab_size)
    assert 0 < opt.mu <= 1
    assert opt.kl_bound_nats == pytest.approx(dv.smoothing_bound(tau, opt.mu, vocab_size).kl_upper_nats, rel=1e-12)
    grid = np.geomspace(1e-12, 1.0, 400)
    # relative slack for the float evaluation of the same formula at two points
    assert np.all(opt.kl_bound_nats <= dv.smoothing_bound(tau, grid, vocab_size).kl_upper_nats * (1 + 1e-12))


@given(distribution_pairs(), st.floats(0.0, 2.0))
def test_smoothed_profile_almost_sure(pair, looseness):
    """smoothing part 6a: if TV(p, q) <= U then with μ = optimal_smoothing(min(U, 1), V).mu,
    KL(p‖q_μ) <= 8(V − 1)·U."""
    p, q = pair
    env = min(1.0, dv.tv(p, q) * (1 + looseness)) or 1e-9
    mu = dv.optimal_smoothing(env, q.size).mu
    assert dv.kl(p, dv.smooth(q, mu)) <= 8 * (q.size - 1) * env + SLACK


@given(st.integers(2, 30).flatmap(lambda v: st.lists(distribution_pairs(min_size=v, max_size=v), min_size=1,
                                                      max_size=8)))
def test_smoothed_profile_mean(pairs):
    """smoothing part 6b: if E TV(p, q) <= U then with μ = min(1, sqrt(U)/(1 − 1/V)),
    E KL(p‖q_μ) <= 4(V − 1)·sqrt(U) (here E is the empirical law of a batch of pairs)."""
    v = pairs[0][0].size
    U = max(np.mean([dv.tv(p, q) for p, q in pairs]), 1e-12)
    mu = min(1.0, math.sqrt(U) / (1 - 1 / v))
    mean_kl = np.mean([dv.kl(p, dv.smooth(q, mu)) for p, q in pairs])
    assert mean_kl <= 4 * (v - 1) * math.sqrt(U) + SLACK


@given(distributions())
def test_kl_bits_is_nats_over_ln2(p):
    """Units: KL in bits is KL in nats divided by ln 2, and KL(p‖p) = 0 = TV(p, p)."""
    q = dv.smooth(p, 0.5)
    assert dv.kl(p, q, "kl_bits") == pytest.approx(dv.kl(p, q) / math.log(2), rel=1e-12)
    assert dv.kl(p, p) == 0.0 and dv.tv(p, p) == 0.0


def test_vectorised_over_leading_axes():
    """kl and tv reduce the last axis only and broadcast the leading ones."""
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(6), size=(3, 4))
    q = rng.dirichlet(np.ones(6), size=(4,))
    k, t = dv.kl(p, q), dv.tv(p, q)
    assert k.shape == t.shape == (3, 4)
    assert k[2, 1] == pytest.approx(dv.kl(p[2, 1], q[1]), rel=1e-15)


def test_kl_profile_to_tv():
    """pinsker, envelope form: KL envelope C·w^-α (bits) -> TV envelope sqrt(C ln2 / 2)·w^(-α/2),
    and the resulting TV envelope dominates sqrt(KL envelope/2) at every window."""
    kl_profile = PowerLaw(alpha=1.2, C=3.0, c=1.0, divergence="kl_bits", alpha_ci=(1.0, 1.4), C_ci=(2.0, 4.0))
    tv_profile = dv.kl_profile_to_tv(kl_profile)
    assert tv_profile.divergence == "tv" and tv_profile.c is None
    assert tv_profile.alpha == 0.6 and tv_profile.C == pytest.approx(math.sqrt(3.0 * math.log(2) / 2), rel=1e-15)
    assert tv_profile.alpha_ci == (0.5, 0.7)
    assert tv_profile.provenance["theorem"] == "pinsker"
    w = np.arange(1, 1000)
    assert np.allclose(tv_profile.upper(w), np.sqrt(kl_profile.upper(w) * math.log(2) / 2), rtol=1e-12)


@given(distribution_pairs(q_positive=False), st.floats(1e-9, 0.999))
def test_smoothing_convexity_pointwise(pair, mu):
    """smoothing_convexity part 1: KL(p‖q_μ) ≤ (1 − τ)·log(1/(1 − μ)) + τ·log(Vτ/μ), τ = TV(p, q),
    even where q has zeros (the reverse-Pinsker route has no bound there as μ → 0)."""
    p, q = pair
    v, tau = q.size, dv.tv(p, q)
    bound = (1 - tau) * -math.log1p(-mu) + (tau * math.log(v * tau / mu) if tau > 0 else 0.0)
    # relative slack: the bound can be ~30 nats and the float KL rounds at 1e-15 of that
    assert dv.kl(p, dv.smooth(q, mu)) <= bound * (1 + 1e-12) + SLACK
    assert dv.smoothing_bound(tau, mu, v).kl_upper_convexity_nats >= bound * (1 - 1e-12)


@given(st.integers(2, 30).flatmap(lambda v: st.lists(distribution_pairs(min_size=v, max_size=v, q_positive=False),
                                                      min_size=1, max_size=8)),
       st.floats(1e-6, 0.3), st.floats(1.0, 1.5))
def test_smoothing_convexity_mean_envelope(pairs, closeness, looseness):
    """smoothing_convexity part 4: if E TV(p, q) ≤ U ≤ 1 − 1/V, smoothing with μ = U gives
    E KL(p‖q_U) ≤ −(1 − U)log(1 − U) + U·log(V/U) (E: the empirical law of a batch of pairs)."""
    v = pairs[0][0].size
    # q moved towards p scales TV by `closeness`, so U <= 0.3 * 1.5 < 1 - 1/V for every V >= 2
    pairs = [(p, (1 - closeness) * p + closeness * q) for p, q in pairs]
    U = max(np.mean([dv.tv(p, q) for p, q in pairs]), 1e-12) * looseness
    mean_kl = np.mean([dv.kl(p, dv.smooth(q, U)) for p, q in pairs])
    bound = dv.optimal_smoothing(min(U, 1.0), v, tv_envelope="mean").kl_bound_nats
    assert mean_kl <= (-(1 - U) * math.log1p(-U) + U * math.log(v / U)) * (1 + 1e-12) + SLACK
    assert mean_kl <= bound * (1 + 1e-12) + SLACK  # the library's best bound is at most this one


def test_optimal_smoothing_at_llm_vocabulary():
    """smoothing_convexity part 6: at V = 49152, TV = 0.01 the proved bound is 0.118 nats per pair
    (0.164 from a mean envelope), below 0.2, where the reverse-Pinsker route gives 8.27."""
    pair = dv.optimal_smoothing(0.01, 49152)
    mean = dv.optimal_smoothing(0.01, 49152, tv_envelope="mean")
    assert pair.kl_bound_nats == pytest.approx(0.1179766, rel=1e-6) and pair.route == "convexity"
    assert mean.kl_bound_nats == pytest.approx(0.1640283, rel=1e-6) and mean.kl_bound_nats < 0.2
    assert pair.theorem == "smoothing_convexity" and pair.mu == 0.01
    assert dv.smoothing_bound(0.01, 0.01, 49152).kl_upper_reverse_pinsker_nats == pytest.approx(8.267, rel=1e-3)


def test_smoothed_kl_profile_constants():
    """smoothing_convexity part 5: mean envelope C w^-β -> (C(1 + log(V/C)) + Cβ log w) w^-β;
    almost-sure -> C(1 + log V) w^-β; both from the first w with U(w) <= 1 - 1/V."""
    tv_profile = PowerLaw(alpha=0.8, C=0.5, divergence="tv")
    mean = dv.smoothed_kl_profile(tv_profile, 1000)
    sure = dv.smoothed_kl_profile(tv_profile, 1000, tv_envelope="almost_sure")
    assert (mean.alpha, mean.C, mean.D) == (0.8, pytest.approx(0.5 * (1 + math.log(2000)), rel=1e-15), 0.4)
    assert (sure.alpha, sure.C) == (0.8, pytest.approx(0.5 * (1 + math.log(1000)), rel=1e-15))
    assert mean.divergence == sure.divergence == "kl_nats" and mean.w0 == sure.w0 == 1
    assert mean.provenance["theorem"] == sure.provenance["theorem"] == "smoothing_convexity"
    late = dv.smoothed_kl_profile(PowerLaw(alpha=0.5, C=4.0, divergence="tv"), 10)
    assert late.w0 == 20  # 4 w^-1/2 <= 0.9 first at w = 20


def test_smoothed_kl_profile_bounds_a_batch():
    """smoothing_convexity part 5 end to end: pairs whose mean TV follows the TV envelope have
    mean KL after smoothing with mu = U(w) below the derived LogPowerLaw at w."""
    rng = np.random.default_rng(5)
    v = 20
    tv_profile = PowerLaw(alpha=0.5, C=0.6, divergence="tv")
    kl_profile = dv.smoothed_kl_profile(tv_profile, v)
    for w in (4, 50, 900):
        U = float(tv_profile.upper(w))
        ps = rng.dirichlet(np.ones(v), size=30)
        qs = (1 - U) * ps + U * rng.dirichlet(np.ones(v), size=30)  # TV(p, q) <= U pairwise
        mean_kl = np.mean([dv.kl(p, dv.smooth(q, U)) for p, q in zip(ps, qs)])
        assert mean_kl <= float(kl_profile.upper(w)) * (1 + 1e-12)


def test_locally_quadratic_is_flagged_empirical():
    """locally-quadratic (EMPIRICAL ASSUMPTION): a tv2 profile (α, C₂, c₂) -> KL (α, κC₂, 2c₂),
    the lower constant by the proved Pinsker bound, never a theorem; a mean-TV profile is refused."""
    from wzbounds.theorems import ASSUMPTIONS, THEOREMS

    out = dv.locally_quadratic_kl_profile(PowerLaw(alpha=1.0, C=0.09, c=0.01, divergence="tv2"), 3.0)
    assert (out.alpha, out.C, out.c) == (1.0, pytest.approx(0.27), pytest.approx(0.02))
    assert out.provenance["assumption"] == "locally-quadratic" and out.provenance["theorem"] is None
    assert out.provenance["lower_theorem"] == "tv_converse"
    assert "locally-quadratic" in ASSUMPTIONS and "locally-quadratic" not in THEOREMS
    assert "EMPIRICAL" in out.provenance["status"]
    with pytest.raises(ValueError, match="tv2"):
        dv.locally_quadratic_kl_profile(PowerLaw(alpha=0.5, C=0.3, divergence="tv"), 3.0)


@given(distribution_pairs(), st.floats(0.0, 1.0))
def test_tv_converse_kl_from_tv(pair, weight):
    """tv_converse part 2: E KL ≥ 2·E TV² ≥ 2·(E TV)² (here E over a two-point mixture of pairs)."""
    p, q = pair
    pairs = [(p, q), (q, dv.smooth(p, 0.5))]
    w = np.array([weight, 1 - weight])
    kls = np.array([dv.kl(a, b) for a, b in pairs])
    tvs = np.array([dv.tv(a, b) for a, b in pairs])
    assert w @ kls >= 2 * (w @ tvs ** 2) - SLACK and w @ tvs ** 2 >= (w @ tvs) ** 2 - SLACK


def test_tv_and_kl_lower_envelopes():
    """tv_converse: a Bayes-TV lower c gives the suffix-only TV lower c/2; a TV lower c gives
    I_w >= 2c^2 w^-2alpha, whose converse windows are exact."""
    bayes = PowerLaw(0.4, 1.0, c=0.3, divergence="tv")
    assert dv.tv_converse_profile(bayes).c == 0.15
    k = dv.kl_lower_from_tv(bayes)
    assert (k.alpha, k.c) == (0.8, pytest.approx(0.18)) and k.theorem == "tv_converse"
    w = k.converse_window(1e-3)
    assert 0.18 * w ** -0.8 <= 1e-3 < 0.18 * (w - 1) ** -0.8
    with pytest.raises(ValueError, match="profile.c"):
        dv.kl_lower_from_tv(PowerLaw(0.4, 1.0, divergence="tv"))


@pytest.mark.parametrize("call, name", [
    (lambda: dv.kl([0.5, 0.6], [0.5, 0.5]), "`p`"),
    (lambda: dv.kl([0.5, 0.5], [-0.5, 1.5]), "`q`"),
    (lambda: dv.kl([0.5, 0.5], [1.0, 0.0]), "`q`"),
    (lambda: dv.kl([0.5, 0.5], [0.5, 0.5], unit="tv"), "`unit`"),
    (lambda: dv.tv([0.5, 0.5], [0.2, 0.3, 0.5]), "`p` and `q`"),
    (lambda: dv.tv([np.nan, 1.0], [0.5, 0.5]), "`p`"),
    (lambda: dv.tv(0.5, 0.5), "`p`"),
    (lambda: dv.pinsker(-1.0), "`kl_value`"),
    (lambda: dv.reverse_pinsker(1.5, 0.1), "`tv_value`"),
    (lambda: dv.reverse_pinsker(0.1, 0.0), "`q_min`"),
    (lambda: dv.smoothing_bound(0.1, 0.0, 10), "`mu`"),
    (lambda: dv.smoothing_bound(0.1, 1.5, 10), "`mu`"),
    (lambda: dv.smoothing_bound(0.1, 0.5, 1), "`vocab_size`"),
    (lambda: dv.smooth([1.0], 0.5), "`vocab_size`"),
    (lambda: dv.optimal_smoothing(0.0, 10), "`tv_value`"),
    (lambda: dv.optimal_smoothing(0.1, 2.5), "`vocab_size`"),
    (lambda: dv.kl_profile_to_tv(PowerLaw(alpha=1.0, C=1.0, divergence="tv")), "`profile.divergence`"),
    (lambda: dv.kl_profile_to_tv("not a profile"), "`profile`"),
    (lambda: dv.smoothed_kl_profile(PowerLaw(alpha=1.0, C=1.0, divergence="tv"), 10, tv_envelope="x"),
     "`tv_envelope`"),
    (lambda: dv.locally_quadratic_kl_profile(PowerLaw(alpha=1.0, C=1.0, divergence="tv2"), -1.0), "`kappa`"),
    (lambda: dv.locally_quadratic_kl_profile(PowerLaw(alpha=1.0, C=1.0, divergence="tv2"), 1.5), "`kappa`"),
    (lambda: dv.optimal_smoothing(0.1, 10, tv_envelope="median"), "`tv_envelope`"),
    (lambda: dv.smoothing_bound(0.1, 0.5, 10, tv_envelope="x"), "`tv_envelope`"),
])
def test_bad_inputs_raise_naming_the_parameter(call, name):
    """Validation: bad input raises ValueError naming the parameter."""
    with pytest.raises(ValueError, match=name):
        call()


# --------------------------------------------------------------------------- float64 edges (issue 18 items 7, 12, 14)
def _rp_mp(t, m, scale=2):
    """log(1 + scale·t²/m) in mpmath: the reference for the overflow cases."""
    with mpmath.workdps(50):
        return float(mpmath.log1p(scale * mpmath.mpf(t) ** 2 / mpmath.mpf(m)))


def test_reverse_pinsker_stays_finite_at_a_subnormal_floor():
    """reverse_pinsker at q_min = 5e-324: 2·TV²/q_min overflows float64, its log (743.75) does not."""
    assert dv.reverse_pinsker(0.5, 5e-324).kl_upper_nats == pytest.approx(_rp_mp(0.5, 5e-324), rel=1e-15)
    # and where 2·TV² underflows but 2·TV²/q_min is a normal number
    assert dv.reverse_pinsker(1e-160, 1e-310).kl_upper_nats == pytest.approx(_rp_mp(1e-160, 1e-310), rel=1e-12)


def test_smoothing_bound_stays_finite_at_a_subnormal_mu():
    """smoothing part 4 at μ = 5e-324: log(1 + 2V·((1 − μ)τ + μa)²/μ) is 754.6 nats, not inf."""
    b = dv.smoothing_bound(0.5, 5e-324, 49152)
    with mpmath.workdps(50):
        expected = float(mpmath.log1p(2 * 49152 * mpmath.mpf(0.5) ** 2 / mpmath.mpf(5e-324)))
    assert b.kl_upper_reverse_pinsker_nats == pytest.approx(expected, rel=1e-15)
    mean = dv.smoothing_bound(0.5, 5e-324, 49152, tv_envelope="mean")
    assert all(math.isfinite(x) for x in (mean.kl_upper_reverse_pinsker_nats, mean.kl_upper_convexity_nats))


def test_vocabularies_beyond_float_range():
    """V = 10**400 (an int float64 cannot hold): the bounds use log V = 921.03 exactly."""
    V = 10 ** 400
    log_v = 400 * math.log(10)
    b = dv.smoothing_bound(0.01, 0.01, V)
    with mpmath.workdps(50):
        t = mpmath.mpf(0.01)
        conv = -(1 - t) * mpmath.log1p(-t) + t * log_v  # (1 − τ)L_μ + τ·log(Vτ/μ) at τ = μ
        rp = mpmath.log1p(2 * mpmath.mpf(V) * ((1 - t) * t + t * (1 - mpmath.mpf(1) / V)) ** 2 / t)
    assert b.kl_upper_convexity_nats == pytest.approx(float(conv), rel=1e-13)
    assert b.kl_upper_reverse_pinsker_nats == pytest.approx(float(rp), rel=1e-13)
    o = dv.optimal_smoothing(0.01, V, tv_envelope="mean")
    assert o.kl_bound_nats == pytest.approx(-0.99 * math.log1p(-0.01) + 0.01 * (log_v - math.log(0.01)), rel=1e-13)
    prof = dv.smoothed_kl_profile(PowerLaw(0.4, 1.0, divergence="tv"), V)
    assert prof.C == pytest.approx(1.0 + log_v, rel=1e-15) and prof.D == 0.4


def test_tv_to_kl_constants_beyond_float_range_name_the_parameter():
    """kl_lower_from_tv: 2α or 2c² beyond float64 is a ValueError naming the field, not alpha=inf or
    an OverflowError; smoothed_kl_profile with C > e·V (its constant C(1 + log(V/C)) < 0) names C."""
    with pytest.raises(ValueError, match="profile.alpha"):
        dv.kl_lower_from_tv(PowerLaw(1e308, 2, c=1, divergence="tv"))
    with pytest.raises(ValueError, match="profile.c"):
        dv.kl_lower_from_tv(PowerLaw(0.5, 1e200, c=1e200, divergence="tv"))
    with pytest.raises(ValueError, match="tv_profile.C"):
        dv.smoothed_kl_profile(PowerLaw(0.4, 1e300, divergence="tv"), 49152)


def test_kl_lower_from_the_bayes_predictor_is_direct():
    """tv_converse part 2c: a lower envelope c on the Bayes predictor's mean TV gives I_w ≥ 2c²w^-2α
    directly (I_w = E KL(p‖p̄_w) ≥ 2(E TV(p, p̄_w))²), four times the chain through part 1 (c/2)
    then part 2a (2(c/2)² = c²/2). The library takes the direct route from a Bayes profile and from
    a profile that tv_converse_profile derived from one."""
    bayes = PowerLaw(0.4, 1.5, c=0.3, divergence="tv")
    direct = dv.kl_lower_from_tv(bayes, bayes_predictor=True)
    chained = dv.kl_lower_from_tv(dv.tv_converse_profile(bayes))
    assert direct.c == chained.c == pytest.approx(2 * 0.3 ** 2) and direct.alpha == chained.alpha == 0.8
    assert chained.route == direct.route == "bayes_predictor"
    assert dv.kl_lower_from_tv(bayes).route == "suffix_risk"


@pytest.mark.parametrize("tv_envelope", ["mean", "almost_sure"])
@pytest.mark.parametrize("t, mu, V", [(0.0, 1e-300, 10 ** 400), (0.0, 5e-324, 2), (1e-200, 1e-250, 10 ** 320),
                                      (0.5, 5e-324, 49152), (0.3, 0.2, 10)])
def test_reverse_pinsker_smoothing_bound_at_float_edges(t, mu, V, tv_envelope):
    """smoothing parts 4 and 6b, log(1 + 2V·x/μ), against mpmath where its terms under- or overflow."""
    with mpmath.workdps(60):
        tm, m, a = mpmath.mpf(t), mpmath.mpf(mu), 1 - mpmath.mpf(1) / V
        x = ((1 - m) * tm + m * a) ** 2 if tv_envelope == "almost_sure" else tm + (m * a) ** 2
        expected = float(mpmath.log1p(2 * V * x / m))
    got = dv.smoothing_bound(t, mu, V, tv_envelope=tv_envelope).kl_upper_reverse_pinsker_nats
    assert got == pytest.approx(expected, rel=1e-13)  # logs of the factors: ~|log x| ulps at most
