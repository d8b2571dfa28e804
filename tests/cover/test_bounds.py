"""Properties of the window calculator (wzbounds.bounds / wzbounds.windows), one theorem each."""
import math

import mpmath
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from wzbounds import (Exponential, KVMemorySpec, PowerLaw, Tabulated, distortion_at_window,
                      memory_for_epsilon, window_for_epsilon)
from wzbounds._inversion import verify_boundary
from wzbounds.profiles import power_law_window
from wzbounds.testing import exponential_profiles, power_law_profiles, tabulated_profiles, targets


def _mp_power(w, alpha, C):
    with mpmath.workdps(60 + len(str(w))):
        return mpmath.mpf(C) * mpmath.power(w, -mpmath.mpf(alpha))


def _is_minimal_power(w, eps, alpha, C, w0):
    """U(w) <= eps and (w == w0 or U(w-1) > eps), independently in mpmath at >= 60 digits."""
    with mpmath.workdps(60 + len(str(w))):
        e = mpmath.mpf(eps)
        ok = _mp_power(w, alpha, C) <= e * (1 + mpmath.mpf(10) ** -50)
        return ok and (w == w0 or _mp_power(w - 1, alpha, C) > e)


@given(power_law_profiles(), targets())
def test_achievability_window_is_minimal_power_law(profile, eps):
    """achievability_sliding: w_ach is the smallest integer w >= w0 with C w^-alpha <= eps
    (checked in mpmath, independently of the library's own boundary check)."""
    w = window_for_epsilon(eps, profile).window_tokens
    assert isinstance(w, int)
    assert _is_minimal_power(w, eps, profile.alpha, profile.C, profile.w0)


@given(exponential_profiles(), targets())
def test_achievability_window_is_minimal_geometric(profile, eps):
    """achievability_geometric: smallest w >= w0 with C rho^w <= eps."""
    w = window_for_epsilon(eps, profile).window_tokens
    with mpmath.workdps(60):
        U = lambda v: mpmath.mpf(profile.C) * mpmath.mpf(profile.rho) ** v
        assert U(w) <= mpmath.mpf(eps) * (1 + mpmath.mpf(10) ** -50)
        assert w == profile.w0 or U(w - 1) > mpmath.mpf(eps)


@given(tabulated_profiles(), targets(1e-6, 1e3))
def test_achievability_window_is_minimal_tabulated(profile, eps):
    """achievability_tabulated: smallest w >= windows[0] with the log-log envelope <= eps."""
    w = window_for_epsilon(eps, profile).window_tokens
    assert verify_boundary(w, eps, profile.upper_envelope, profile.w0)
    assert profile.upper(w) <= eps * (1 + 1e-9)  # float evaluation agrees up to rounding


@given(st.one_of(power_law_profiles(), exponential_profiles(), tabulated_profiles()),
       st.lists(targets(), min_size=2, max_size=20))
def test_window_non_increasing_in_eps(profile, eps):
    """The achievability window is non-increasing in eps (U is non-increasing)."""
    eps = np.sort(np.asarray(eps))
    w = window_for_epsilon(eps, profile).window_tokens
    assert all(int(a) >= int(b) for a, b in zip(w[:-1], w[1:]))


@given(st.one_of(power_law_profiles(lower=True), exponential_profiles(lower=True),
                 tabulated_profiles(lower=True)), targets())
def test_converse_at_most_achievability(profile, eps):
    """converse_suffix: w_conv <= w_ach, since L <= U wherever both are claimed (w >= w0)."""
    r = window_for_epsilon(eps, profile)
    assert 1 <= r.converse_window_tokens <= r.window_tokens
    assert r.ratio >= 1


@given(power_law_profiles(lower=True), targets())
def test_converse_window_is_minimal(profile, eps):
    """converse_suffix: w_conv is the smallest w >= 1 with c max(w, w0)^-alpha <= eps."""
    wc = window_for_epsilon(eps, profile).converse_window_tokens
    L = lambda v: _mp_power(max(v, profile.w0), profile.alpha, profile.c)
    with mpmath.workdps(60 + len(str(wc))):
        assert L(wc) <= mpmath.mpf(eps) * (1 + mpmath.mpf(10) ** -50)
        assert wc == 1 or L(wc - 1) > mpmath.mpf(eps)


@given(power_law_profiles(), targets())
def test_distortion_at_window_inverts_window_for_epsilon(profile, eps):
    """window_for_epsilon is the inverse of distortion_at_window: the bound at w_ach is <= eps
    and (above w0) the bound at w_ach - 1 is not, up to float rounding of the returned bound."""
    w = window_for_epsilon(eps, profile).window_tokens
    d = distortion_at_window(w, profile).distortion_bound
    assert d <= eps * (1 + 1e-12)  # the float bound rounds; the exact check is in mpmath above
    if w > profile.w0:
        assert distortion_at_window(w - 1, profile).distortion_bound >= eps * (1 - 1e-12)


def test_vectorised_matches_scalar_and_shapes():
    profile = PowerLaw(0.44, 1.0, c=0.5, divergence="tv")
    eps = np.geomspace(1e-5, 0.5, 12).reshape(3, 4)
    r = window_for_epsilon(eps, profile)
    assert r.window_tokens.shape == (3, 4) and r.window_tokens.dtype == np.int64
    for e, w, wc in zip(eps.ravel(), r.window_tokens.ravel(), r.converse_window_tokens.ravel()):
        s = window_for_epsilon(float(e), profile)
        assert (s.window_tokens, s.converse_window_tokens) == (w, wc)


def test_closed_form_values():
    """Hand-computable cases: (C/eps)^(1/alpha) at exact ties and off them."""
    assert power_law_window(0.25, 0.5, 1.0) == 16  # 16^-1/2 = 1/4 exactly: the tie counts
    assert power_law_window(0.1, 1.0, 1.0) == 10  # float 0.1 > 1/10 exactly
    assert power_law_window(0.5, 1.0, 1.0, w0=5) == 5
    assert window_for_epsilon(1e-3, Exponential(0.5, 1.0)).window_tokens == 10  # 2^-10 < 1e-3 < 2^-9


def test_astronomical_windows_are_exact_ints():
    """alpha = 0.05, eps = 1e-6: w ~ 1e120, an exact Python int, never inf."""
    profile = PowerLaw(0.05, 1.0, c=0.5)
    r = window_for_epsilon([1e-6, 1e-2], profile)
    assert r.window_tokens.dtype == object
    w = r.window_tokens[0]
    assert isinstance(w, int) and 10 ** 119 < w < 10 ** 121
    assert _is_minimal_power(w, 1e-6, 0.05, 1.0, 1)
    assert math.isclose(r.ratio[0], 2.0 ** 20, rel_tol=1e-9)  # (C/c)^(1/alpha) exactly in the limit
    assert isinstance(r.window_tokens[1], int) and _is_minimal_power(r.window_tokens[1], 1e-2, 0.05, 1.0, 1)


def test_ratio_tends_to_theta_band_limit():
    """theta_band: w_ach/w_conv -> (C/c)^(1/alpha) as eps -> 0."""
    profile = PowerLaw(0.7, 3.0, c=1.0)
    r = window_for_epsilon([1e-4, 1e-8, 1e-12], profile)
    limit = 3.0 ** (1 / 0.7)
    err = np.abs(r.ratio - limit)
    assert err[-1] < err[0] and err[-1] / limit < 1e-6  # ceil effects are O(1/w) ~ 1e-17 here


def test_window_ci_from_cis_brackets_point_window():
    """The CI corner rule: the range is [min, max] of the corner windows and contains the
    point window because the window is monotone in alpha and C; memory_ci is the same for the
    scheme's memory (block: 2b - 1)."""
    profile = PowerLaw(0.5, 1.0, alpha_ci=(0.4, 0.6), C_ci=(0.8, 1.2))
    r = window_for_epsilon([1e-2, 1e-3], profile)
    lo, hi = r.window_ci_tokens
    assert np.all(lo <= r.window_tokens) and np.all(r.window_tokens <= hi)
    assert hi[0] == power_law_window(1e-2, 0.4, 1.2) and lo[0] == power_law_window(1e-2, 0.6, 0.8)
    assert r.memory_ci[0].tolist() == lo.tolist() and r.memory_ci[1].tolist() == hi.tolist()
    block = window_for_epsilon(1e-2, profile, "block")
    assert block.memory_ci == (2 * block.window_ci_tokens[0] - 1, 2 * block.window_ci_tokens[1] - 1)
    assert window_for_epsilon(1e-2, PowerLaw(0.5, 1.0)).window_ci_tokens is None


def test_one_result_vocabulary():
    """Every memory answer is a WindowResult with memory / memory_unit / eps / divergence /
    theorem_ids: profiles (peak tokens), sources (exact window, tokens) and selective caches
    (tokens) and summaries (bits)."""
    from wzbounds.sources import SantaFe

    p = PowerLaw(0.5, 1.0)
    answers = [window_for_epsilon(1e-2, p), window_for_epsilon(1e-2, p, "block"),
               window_for_epsilon(1e-2, SantaFe(1.5)), window_for_epsilon(1e-2, SantaFe(1.5), policy_class="selective"),
               window_for_epsilon(1e-2, SantaFe(1.5), policy_class="summary")]
    assert all(type(a).__name__ == "WindowResult" for a in answers)
    assert [a.memory_unit for a in answers] == ["tokens", "tokens", "tokens", "tokens", "bits"]
    assert answers[0].memory == 10000 and answers[1].memory == 19999
    assert answers[2].memory == answers[2].window_tokens == 834725  # README: the exact suffix window
    assert answers[3].memory == answers[4].memory == 5861 and answers[4].divergence == "kl_bits"
    assert [a.policy_class for a in answers] == ["suffix"] * 3 + ["selective", "summary"]
    for bad in (dict(scheme="block"), dict(sinks=2), dict(memory=KVMemorySpec(1, 1, 1))):
        with pytest.raises(ValueError, match="scheme|memory"):
            window_for_epsilon(1e-2, SantaFe(1.5), policy_class="summary", **bad)
    with pytest.raises(ValueError, match="source"):
        window_for_epsilon(1e-2, p, policy_class="selective")


def test_theta_band_only_where_its_hypothesis_holds():
    """theta_band needs eps < c w0^-alpha; above it the converse window is 1 and the band says nothing."""
    p = PowerLaw(0.5, 1.0, c=0.5, w0=4)  # c w0^-alpha = 0.25
    assert "theta_band" in window_for_epsilon([0.1, 0.2], p).theorem_ids
    assert "theta_band" not in window_for_epsilon([0.1, 0.3], p).theorem_ids
    assert "converse_suffix" in window_for_epsilon(0.3, p).theorem_ids


def test_windows_beyond_int64_are_answered_exactly():
    """Valid windows past int64 (2**63, 1e20, w0 = 10**30, 10**21 sinks) are exact ints, never
    wrapped: the bound at 2**63 is C (2**63)^-alpha."""
    p = PowerLaw(0.5, 2.0, c=1.0)
    d = distortion_at_window(2 ** 63, p)
    assert d.window_tokens == 2 ** 63 and d.distortion_bound == pytest.approx(2.0 * 2.0 ** -31.5, rel=1e-14)
    assert distortion_at_window(1e20, p).window_tokens == 10 ** 20
    assert distortion_at_window(np.array([2 ** 63], dtype=np.uint64), p).window_tokens == [2 ** 63]
    big = PowerLaw(0.5, 1.0, w0=10 ** 30)
    assert window_for_epsilon(0.01, big).window_tokens == 10 ** 30
    assert window_for_epsilon(0.01, PowerLaw(0.5, 1.0), "sink", sinks=10 ** 21).peak_memory_tokens == 10 ** 21 + 10 ** 4
    b = power_law_window(1e-20, 1.0, 1.0)  # ~1e20 (float 1e-20 is not exactly 10**-20)
    assert b > 2 ** 63 and window_for_epsilon(1e-20, PowerLaw(1.0, 1.0), "block").peak_memory_tokens == 2 * b - 1


@pytest.mark.parametrize("alpha, eps, scheme", [(1e-6, 0.5, "sliding"), (1e-7, 0.5, "sliding"),
                                                (1e-300, 0.5, "sliding"), (0.1, 1e-40, "block-average"),
                                                (1e-6, 0.5, "block-average")])
def test_tiny_alpha_or_eps_answers_fast_or_refuses(alpha, eps, scheme):
    """Windows past 10**1000 tokens are refused with a one-line ValueError naming eps; a
    block-average block of 10**400 tokens is found exactly; neither takes long."""
    import time
    start = time.perf_counter()
    try:
        r = window_for_epsilon(eps, PowerLaw(alpha, 1.0), scheme)
        assert len(str(r.window_tokens)) <= 1000
    except ValueError as exc:
        assert "`eps`" in str(exc) and "\n" not in str(exc)
    assert time.perf_counter() - start < 5.0  # milliseconds of work; 5 s leaves room on a loaded CPU


def test_memory_fields():
    spec = KVMemorySpec(layers=30, kv_heads=3, head_dim=64, dtype_bytes=2)
    profile = PowerLaw(0.5, 1.0)
    r = memory_for_epsilon(1e-2, profile, spec)
    assert r.window_tokens == 10000
    assert r.peak_memory_bytes == 10000 * 2 * 30 * 3 * 64 * 2
    assert window_for_epsilon(1e-2, profile).peak_memory_bytes is None
    big = memory_for_epsilon(1e-6, PowerLaw(0.05, 1.0), spec)
    assert big.peak_memory_bytes == big.window_tokens * spec.bytes_per_token  # exact big ints


def test_results_carry_theorems_and_assumptions():
    from wzbounds.theorems import ASSUMPTIONS, THEOREMS
    for profile in (PowerLaw(0.5, 1, c=0.5), Exponential(0.9, 1.0, c=0.1),
                    Tabulated([1, 10], [1.0, 0.1], lower_values=[0.5, 0.05])):
        for scheme, sinks in (("sliding", 0), ("sink", 4), ("block", 0), ("block-average", 0)):
            r = window_for_epsilon(0.05, profile, scheme, sinks=sinks)
            assert r.theorem_ids and all(t in THEOREMS for t in r.theorem_ids)
            assert all(a in ASSUMPTIONS for a in r.assumptions)
            assert r.profile is profile


@pytest.mark.parametrize("eps", [0.0, -1e-3, float("nan"), float("inf"), "x", [1e-3, 0.0]])
def test_bad_eps_raises(eps):
    with pytest.raises(ValueError, match="eps"):
        window_for_epsilon(eps, PowerLaw(0.5, 1.0))


@pytest.mark.parametrize("kwargs, name", [
    (dict(scheme="lru"), "scheme"), (dict(sinks=3), "sinks"), (dict(memory=12), "memory")])
def test_bad_options_raise(kwargs, name):
    with pytest.raises(ValueError, match=name):
        window_for_epsilon(1e-3, PowerLaw(0.5, 1.0), **kwargs)


@pytest.mark.parametrize("w", [0, 2.5, -1, "a", [1, 2.5]])
def test_bad_window_raises(w):
    with pytest.raises(ValueError, match="`w`"):
        distortion_at_window(w, PowerLaw(0.5, 1.0, w0=1))


def test_window_below_w0_raises():
    with pytest.raises(ValueError, match="w0 = 8"):
        distortion_at_window(4, PowerLaw(0.5, 1.0, w0=8))


def test_bad_profile_raises():
    with pytest.raises(ValueError, match="profile"):
        window_for_epsilon(1e-3, {"alpha": 0.5})


def test_kv_memory_spec_from_config(tmp_path):
    """bytes_per_token = 2 x layers x kv_heads x head_dim x dtype_bytes, with the transformers
    fall-backs (kv heads -> attention heads, head_dim -> hidden_size / heads)."""
    smol = {"num_hidden_layers": 30, "num_attention_heads": 9, "num_key_value_heads": 3,
            "hidden_size": 576, "torch_dtype": "bfloat16"}
    spec = KVMemorySpec.from_config(smol)
    assert (spec.layers, spec.kv_heads, spec.head_dim, spec.dtype_bytes) == (30, 3, 64, 2)
    assert spec.bytes_per_token == 2 * 30 * 3 * 64 * 2
    mha = {"num_hidden_layers": 2, "num_attention_heads": 4, "hidden_size": 32, "torch_dtype": "float32"}
    assert KVMemorySpec.from_config(mha) == KVMemorySpec(2, 4, 8, 4)
    explicit = {**mha, "head_dim": 16}
    assert KVMemorySpec.from_config(explicit, dtype_bytes=1).bytes_per_token == 2 * 2 * 4 * 16 * 1
    path = tmp_path / "config.json"
    path.write_text(__import__("json").dumps(smol))
    assert KVMemorySpec.from_config(path) == spec
    for bad, name in (({"num_attention_heads": 4}, "num_hidden_layers"),
                      ({**mha, "torch_dtype": "float13"}, "torch_dtype"),
                      ({**mha, "num_attention_heads": 0}, "num_attention_heads"),
                      ({**mha, "num_key_value_heads": 0}, "num_key_value_heads"),
                      ({**mha, "hidden_size": 30}, "hidden_size"),
                      ({**mha, "num_hidden_layers": "2"}, "num_hidden_layers")):
        with pytest.raises(ValueError, match=name):
            KVMemorySpec.from_config(bad)
    listed = tmp_path / "list.json"
    listed.write_text("[1, 2]")
    with pytest.raises(ValueError, match="JSON object"):
        KVMemorySpec.from_config(listed)
    with pytest.raises(FileNotFoundError):
        KVMemorySpec.from_config(tmp_path / "missing.json")
    with pytest.raises(ValueError, match="kv_heads"):
        KVMemorySpec(2, 0, 8, 2)
