"""wzbounds.symbolic: each sympy formula, lambdified, equals the numeric code that implements it."""
import math

import mpmath
import numpy as np
import pytest
import sympy as sp

from wzbounds import divergences as dv
from wzbounds import symbolic as sy
from wzbounds.memory import KVMemorySpec
from wzbounds.profiles.exponential import Exponential, geometric_window
from wzbounds.profiles.power_law import PowerLaw, power_law_window
from wzbounds.schemes import BlockMarkov, Sink, block_average_distortion
from wzbounds.windows import achievability_window, converse_window

N_POINTS = 40


@pytest.fixture
def rng():
    return np.random.default_rng(20260525)


def _mp(name):
    """The integer-valued formulas evaluated in 50-digit mpmath, so the ceiling is exact (a
    float64 evaluation of (C/eps)^(1/alpha) can land on the wrong side of an integer)."""
    f = sy.lambdify_formula(name, modules="mpmath")

    def call(**kw):
        with mpmath.workdps(50):
            return int(f(**{k: mpmath.mpf(v) for k, v in kw.items()}))
    return call


def _mp_elementwise(name):
    """Formula ``name`` evaluated entry by entry in 30-digit mpmath, returned as float64: the
    reference for formulas containing log(1 + x), which a float64 lambdify evaluates with
    cancellation for tiny x (the numeric code uses log1p)."""
    f = sy.lambdify_formula(name, modules="mpmath")

    def call(**kw):
        arrays = np.broadcast_arrays(*kw.values())
        with mpmath.workdps(30):
            out = [float(f(**{k: mpmath.mpf(float(v[i])) for k, v in zip(kw, arrays)}))
                   for i in np.ndindex(arrays[0].shape)]
        return np.array(out).reshape(arrays[0].shape)
    return call


def test_every_formula_lambdifies():
    """Every registered formula is a sympy expression with a numeric function."""
    for name in sy.FORMULAS:
        assert isinstance(sy.formula(name), sp.Basic)
        assert callable(sy.lambdify_formula(name))
    with pytest.raises(ValueError, match="`name`"):
        sy.formula("no_such_formula")


def test_power_law_window_matches_calculator(rng):
    """achievability_sliding: max(w0, ceil((C/eps)^(1/alpha))) = the calculator's window."""
    f = _mp("power_law_window_int")
    for _ in range(N_POINTS):
        alpha, C, eps = rng.uniform(0.1, 3.0), 10 ** rng.uniform(-2, 2), 10 ** rng.uniform(-6, 0)
        w0 = int(rng.integers(1, 50))
        expected = f(eps=eps, C=C, alpha=alpha, w0=w0)
        assert int(achievability_window(eps, PowerLaw(alpha=alpha, C=C, w0=w0))) == expected
        assert power_law_window(eps, alpha, C, w0) == expected


def test_converse_window_matches_calculator(rng):
    """converse_suffix: smallest w >= 1 with c max(w, w0)^-alpha <= eps = the calculator's."""
    f = _mp("converse_window_int")
    for _ in range(N_POINTS):
        alpha, C, eps = rng.uniform(0.1, 3.0), 10 ** rng.uniform(-2, 2), 10 ** rng.uniform(-6, 0)
        c, w0 = C * rng.uniform(0.01, 1.0), int(rng.integers(1, 50))
        profile = PowerLaw(alpha=alpha, C=C, c=c, w0=w0)
        assert int(converse_window(eps, profile)) == f(eps=eps, c=c, alpha=alpha, w0=w0)


def test_ratio_and_its_limit(rng):
    """theta_band: the continuous ratio is (C/c)^(1/alpha) exactly, and the integer ratio of
    the calculator's windows approaches it as eps -> 0."""
    assert sp.simplify(sy.window_ratio() - sy.window_ratio_limit()) == 0
    limit = sy.lambdify_formula("window_ratio_limit")
    for _ in range(10):
        alpha, C = rng.uniform(0.3, 2.0), 10 ** rng.uniform(-1, 1)
        c = C * rng.uniform(0.05, 1.0)
        profile = PowerLaw(alpha=alpha, C=C, c=c)
        eps = C * 1e-7 ** alpha  # converse window ~ 1e7 * (c/C)^(1/alpha) >= ~1e4 tokens
        w_conv = int(converse_window(eps, profile))
        ratio = int(achievability_window(eps, profile)) / w_conv
        # each window is within one token of its continuous value
        assert ratio == pytest.approx(limit(C=C, c=c, alpha=alpha), rel=2.0 / w_conv)


def test_geometric_window_matches_calculator(rng):
    """achievability_geometric: max(w0, ceil(log(C/eps)/log(1/rho))) = the calculator's window."""
    f = _mp("geometric_window_int")
    for _ in range(N_POINTS):
        rho, C, eps = rng.uniform(0.05, 0.999), 10 ** rng.uniform(-2, 2), 10 ** rng.uniform(-6, 0)
        w0 = int(rng.integers(1, 50))
        expected = f(eps=eps, C=C, rho=rho, w0=w0)
        assert geometric_window(eps, rho, C, w0) == expected
        assert int(achievability_window(eps, Exponential(rho=rho, C=C, w0=w0))) == expected


def test_memory_formulas_match_schemes(rng):
    """Memory: bytes = tokens·2·layers·kv_heads·head_dim·dtype_bytes; sink s + w; block peak
    2b − 1 and average (3b − 1)/2."""
    mem = sy.lambdify_formula("memory_bytes")
    for _ in range(N_POINTS):
        spec = KVMemorySpec(*(int(x) for x in rng.integers(1, 129, size=3)), int(rng.choice([1, 2, 4])))
        t = int(rng.integers(1, 10**6))
        assert spec.bytes_for_tokens(t) == mem(tokens=t, layers=spec.layers, kv_heads=spec.kv_heads,
                                               head_dim=spec.head_dim, dtype_bytes=spec.dtype_bytes)
    b = rng.integers(1, 10**6, size=N_POINTS)
    s = int(rng.integers(0, 16))
    assert np.array_equal(Sink(s).peak_memory_tokens(b), sy.lambdify_formula("sink_memory_tokens")(sinks=s, w=b))
    assert np.array_equal(BlockMarkov().peak_memory_tokens(b), sy.lambdify_formula("block_peak_memory_tokens")(b=b))
    assert np.array_equal(BlockMarkov().average_memory_tokens(b),
                          sy.lambdify_formula("block_average_memory_tokens")(b=b))


def test_block_markov_distortion_forms(rng):
    """block_markov: worst case C b^-alpha; time average (1/b)Σ_{j<b} C(b+j)^-alpha
    = (C/b)[ζ(alpha, b) − ζ(alpha, 2b)] (alpha ≠ 1) = (C/b)[ψ(2b) − ψ(b)] (alpha = 1)."""
    worst = sy.lambdify_formula("block_markov_worst")
    zeta_form = sy.lambdify_formula("block_markov_average", modules="mpmath")
    sum_form = sy.lambdify_formula("block_markov_average_sum")
    alpha1 = sy.lambdify_formula("block_markov_average_alpha1", modules="mpmath")
    for _ in range(N_POINTS):
        alpha, C, b = rng.uniform(0.1, 3.0), 10 ** rng.uniform(-2, 2), int(rng.integers(1, 300))
        numeric = block_average_distortion(b, alpha, C)
        assert float(PowerLaw(alpha=alpha, C=C).upper(b)) == pytest.approx(worst(C=C, alpha=alpha, b=b), rel=1e-12)
        # rtol: the float64 sum of <= 300 terms and the mpmath zeta difference agree to ~1e-13
        assert float(sum_form(C=C, alpha=alpha, b=b)) == pytest.approx(numeric, rel=1e-11)
        with mpmath.workdps(40):
            assert float(zeta_form(C=C, alpha=mpmath.mpf(alpha), b=b)) == pytest.approx(numeric, rel=1e-11)
        assert float(alpha1(C=C, b=b)) == pytest.approx(block_average_distortion(b, 1.0, C), rel=1e-11)
        assert float(alpha1(C=C, b=b)) == pytest.approx(float(sum_form(C=C, alpha=1.0, b=b)), rel=1e-11)


def test_divergence_formulas_match_numeric(rng):
    """pinsker, reverse_pinsker, smoothing (bias, floor, TV after, KL bound, optimal μ and its
    value) and the profile constants: lambdified sympy = wzbounds.divergences."""
    f = {name: sy.lambdify_formula(name) for name in sy.FORMULAS}
    kl_v = 10 ** rng.uniform(-8, 1, N_POINTS)
    tv_v = 10 ** rng.uniform(-8, 0, N_POINTS)
    qmin = 10 ** rng.uniform(-9, math.log10(0.5), N_POINTS)
    mu = 10 ** rng.uniform(-8, 0, N_POINTS)
    V = int(rng.integers(2, 200_000))
    # same formula: float64 evaluation order (and log1p against 30-digit log) differ by ~1e-15
    close = dict(rtol=1e-12, atol=0)
    assert np.allclose(np.minimum(f["pinsker"](kl=kl_v), 1.0), dv.pinsker(kl_v).tv_upper, **close)
    assert np.allclose(_mp_elementwise("reverse_pinsker")(tv=tv_v, q_min=qmin), dv.reverse_pinsker(tv_v, qmin).kl_upper_nats, **close)
    sb = dv.smoothing_bound(tv_v, mu, V)
    assert np.allclose(f["smoothing_bias"](mu=mu, V=V), sb.tv_bias_max, **close)
    assert np.allclose(f["smoothing_q_min"](mu=mu, V=V), sb.q_min_floor, **close)
    assert np.allclose(f["smoothing_tv_after"](tv=tv_v, mu=mu, V=V), sb.tv_after, **close)
    assert np.allclose(_mp_elementwise("smoothing_kl_bound")(tv=tv_v, mu=mu, V=V), sb.kl_upper_reverse_pinsker_nats,
                       **close)
    mu_rp = f["optimal_smoothing_mu"](tv=tv_v, V=V)
    assert np.allclose(_mp_elementwise("optimal_smoothing_kl_bound")(tv=tv_v, V=V),
                       dv.smoothing_bound(tv_v, mu_rp, V).kl_upper_reverse_pinsker_nats, **close)
    small = tv_v[tv_v < 1 - 1 / V]
    conv = _mp_elementwise("smoothing_convexity_kl_bound")(tv=small, mu=mu[:small.size], V=V)
    assert np.allclose(np.maximum(conv, -np.log1p(-mu[:small.size])),
                       dv.smoothing_bound(small, mu[:small.size], V).kl_upper_convexity_nats, **close)
    mean = _mp_elementwise("smoothing_convexity_mean_bound")(tv=small, mu=mu[:small.size], V=V)
    assert np.allclose(np.maximum(mean, -np.log1p(-mu[:small.size])),
                       dv.smoothing_bound(small, mu[:small.size], V, tv_envelope="mean").kl_upper_convexity_nats, **close)
    opt = dv.optimal_smoothing(small, V)
    assert np.allclose(f["smoothing_convexity_optimal_mu"](tv=small), opt.mu, **close)
    assert np.allclose(_mp_elementwise("smoothing_convexity_optimal_bound")(tv=small, V=V), opt.kl_bound_nats, **close)
    opt_mean = dv.optimal_smoothing(small, V, tv_envelope="mean")
    assert np.allclose(np.minimum(_mp_elementwise("smoothing_convexity_mean_optimal_bound")(tv=small, V=V), math.log(V)),
                       opt_mean.kl_bound_nats, **close)
    assert np.allclose(f["locally_quadratic"](kappa=3.0, tv=tv_v), 3.0 * tv_v ** 2, **close)
    for alpha, C in zip(rng.uniform(0.1, 3, 10), 10 ** rng.uniform(-2, 2, 10)):
        tvp = dv.kl_profile_to_tv(PowerLaw(alpha=alpha, C=C))
        assert tvp.alpha == pytest.approx(f["pinsker_profile_alpha"](alpha=alpha), rel=1e-15)
        assert tvp.C == pytest.approx(f["pinsker_profile_C"](C=C), rel=1e-15)
        src = PowerLaw(alpha=alpha, C=min(C, 1.0), divergence="tv")
        mean = dv.smoothed_kl_profile(src, V)
        assert mean.C == pytest.approx(f["smoothed_profile_C_mean"](C=src.C, V=V), rel=1e-15)
        assert mean.D == pytest.approx(f["smoothed_profile_D_mean"](C=src.C, alpha=alpha), rel=1e-15)
        assert dv.smoothed_kl_profile(src, V, tv_envelope="almost_sure").C == pytest.approx(
            f["smoothed_profile_C_almost_sure"](C=src.C, V=V), rel=1e-15)
        second = PowerLaw(alpha=alpha, C=min(C, 1.0), divergence="tv2")
        assert dv.locally_quadratic_kl_profile(second, 2.5).C == pytest.approx(
            f["locally_quadratic_profile_C"](kappa=2.5, C=second.C), rel=1e-15)
        lower = PowerLaw(alpha=alpha, C=1.0, c=min(C, 1.0), divergence="tv")
        assert dv.kl_lower_from_tv(lower).c == pytest.approx(f["tv_converse_kl_lower_c"](c=lower.c), rel=1e-15)


def test_optimal_mu_is_the_stationary_point():
    """smoothing part 5, symbolically: on τ < a/2, d/dμ of the KL bound vanishes at μ*."""
    expr = sy.smoothing_kl_bound()
    mu_star = sy.tv / (1 - 1 / sy.V - sy.tv)
    assert sp.simplify(sp.diff(expr, sy.mu).subs(sy.mu, mu_star)) == 0


def test_window_for_epsilon_agrees_with_formulas(rng):
    """The public calculator (wzbounds.bounds.window_for_epsilon) reports the formulas' window,
    converse, ratio, memory bytes and block-Markov bounds."""
    from wzbounds.bounds import window_for_epsilon

    ach, conv = _mp("power_law_window_int"), _mp("converse_window_int")
    mem = sy.lambdify_formula("memory_bytes")
    zeta_form = sy.lambdify_formula("block_markov_average", modules="mpmath")
    spec = KVMemorySpec(30, 3, 64, 2)
    for _ in range(10):
        alpha, C, eps = rng.uniform(0.3, 2.0), 10 ** rng.uniform(-1, 1), 10 ** rng.uniform(-4, -1)
        c = C * rng.uniform(0.05, 1.0)
        profile = PowerLaw(alpha=alpha, C=C, c=c)
        res = window_for_epsilon(eps, profile, memory=spec)
        w, wc = ach(eps=eps, C=C, alpha=alpha, w0=1), conv(eps=eps, c=c, alpha=alpha, w0=1)
        assert (res.window_tokens, res.converse_window_tokens) == (w, wc)
        assert res.ratio == pytest.approx(w / wc, rel=1e-15)
        assert res.peak_memory_bytes == mem(tokens=w, layers=30, kv_heads=3, head_dim=64, dtype_bytes=2)
        block = window_for_epsilon(eps, profile, scheme="block-average")
        b = block.window_tokens
        assert block.peak_memory_tokens == sy.lambdify_formula("block_peak_memory_tokens")(b=b)
        with mpmath.workdps(40):
            # rtol: both are 40-digit zeta differences rounded to float64
            assert block.distortion_bound == pytest.approx(
                float(zeta_form(C=C, alpha=mpmath.mpf(alpha), b=b)), rel=1e-12)


def test_block_markov_rate_formulas_match_library(rng):
    """block_markov_rate: the library's exponents are the formulas' (alpha/2 unconditionally from a
    TV exponent alpha, 2 alpha converse), and its block bounds equal the lambdified expressions:
    G(Abar(b)) unconditionally, (2 C2/eta) A_alpha(b) under forward decay and regularity, and the
    converse (c/b)[zeta(alpha, b) - zeta(alpha, 2b)] >= c (2b - 1)^-alpha."""
    from wzbounds import block_markov_rate

    g = sy.lambdify_formula("block_markov_rate_unconditional", modules="mpmath")
    tv_avg = sy.lambdify_formula("block_markov_rate_tv_average", modules="mpmath")
    fd = sy.lambdify_formula("block_markov_rate_forward_decay", modules="mpmath")
    conv = sy.lambdify_formula("block_markov_rate_converse", modules="mpmath")
    conv_simple = sy.lambdify_formula("block_markov_rate_converse_simple")
    for _ in range(5):
        beta, C, V = rng.uniform(0.2, 0.9), rng.uniform(0.5, 2.0), int(rng.integers(2, 10 ** 5))
        c = C * rng.uniform(0.05, 0.5)
        eps = 10 ** rng.uniform(-2, -0.5)
        profile = PowerLaw(beta, C, c=c, divergence="tv")
        r = block_markov_rate(profile, eps=eps, vocab_size=V)
        assert r.gamma == sy.lambdify_formula("block_markov_rate_gamma_unconditional")(alpha=beta)
        assert r.gamma_converse == pytest.approx(sy.lambdify_formula("block_markov_rate_gamma_converse")(alpha=beta))
        with mpmath.workdps(40):
            b = r.block_tokens
            abar = tv_avg(C=C, alpha=mpmath.mpf(beta), b=b)
            # rtol: a 40-digit evaluation rounded to float64 against the library's
            assert r.distortion_bound_nats == pytest.approx(float(g(A=abar, V=V)), rel=1e-12)
            cb = r.converse_block_tokens
            value = float(conv(c=2 * c ** 2, alpha=mpmath.mpf(2 * beta), b=cb))
            assert value <= eps * (1 + 1e-12) and value >= conv_simple(c=2 * c ** 2, alpha=2 * beta, b=cb)
        eta = 1.0 / V
        f2 = block_markov_rate(profile, forward_decay=True, regularity=eta, eps=eps, vocab_size=V)
        with mpmath.workdps(40):
            b2 = f2.block_tokens
            # the block is the smaller of the two proved ones; its bound is that formula's
            expected = (fd(C2=C ** 2, eta=eta, alpha2=mpmath.mpf(2 * beta), b=b2) if f2.block_theorem == "reverse_pinsker"
                        else g(A=tv_avg(C=C, alpha=mpmath.mpf(beta), b=b2), V=V))
            assert f2.distortion_bound_nats == pytest.approx(float(expected), rel=1e-12)
            assert b2 == min(b, block_markov_rate(profile, forward_decay=True, regularity=eta, eps=eps).block_tokens)
