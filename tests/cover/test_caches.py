"""Beyond suffix-only caches on the Santa Fe source (proofs/selective_cache.md, summary_cache.md).

One theorem per property test; the statement is in each docstring. Simulation tests use a very
high confidence level (1 - 1e-6) so that a correct implementation fails with probability ~1e-6
per compared point, and are derandomised so the examples are the same on every run.
"""
import json
import math

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wzbounds.caches import (POLICIES, BitSummary, CachePolicy, SlidingWindow, TopKeysCache,
                             asymptotic_constants, memory_ratio, min_distortion, simulate,
                             window_for_epsilon_by_class)
from wzbounds.caches.simulate import expected_cold_start_bits, streaming_losses
from wzbounds.sources.santa_fe import SantaFe
from wzbounds.testing import cache_memory_grids, santa_fe_sources, seeds
from wzbounds.theorems import THEOREMS

HIGH_CONFIDENCE = 1 - 1e-6


def sources(min_beta=1.3, max_beta=2.5):
    # the range where n ~ 10^4 steps resolve tails of a few hundred keys
    return santa_fe_sources(min_beta=min_beta, max_beta=max_beta)


# ------------------------------------------------------------------ policies


@given(source=sources(1.1, 4.0), seed=seeds(), memory=st.integers(0, 40))
def test_streaming_policy_equals_vectorised(source, seed, memory):
    """Each policy run token by token (observe / prob_bit_one) loses exactly what its vectorised
    ``batch_losses`` reports, at every step."""
    keys, bits = source.sample(300, np.random.default_rng(seed))
    for cls in POLICIES.values():
        policy = cls(memory)
        assert isinstance(policy, CachePolicy)
        np.testing.assert_array_equal(streaming_losses(policy, keys, bits), policy.batch_losses(keys, bits))


@given(source=sources(1.1, 4.0), seed=seeds(), memory=st.integers(1, 30))
def test_selective_cache_holds_at_most_m_tokens(source, seed, memory):
    """The keep-latest-of-top-m cache never holds more than m tokens (its memory in tokens)."""
    keys, bits = source.sample(300, np.random.default_rng(seed))
    cache = TopKeysCache(memory)
    for k, z in zip(keys.tolist(), bits.tolist()):
        cache.observe(k, z)
        assert cache.tokens_held <= memory


# ------------------------------------------------------------------ theorems (exact)


@given(source=santa_fe_sources(), m=st.integers(1, 10 ** 6))
def test_selective_beats_suffix_at_equal_tokens(source, m):
    """selective_cache part 4: I_m = Σ p_k (1-p_k)^m > Σ_{k>m} p_k for every m ≥ 1 — a sliding window
    is one value-oblivious selective cache, and not an optimal one."""
    suffix = min_distortion(m, source, "suffix").distortion_kl_bits
    selective = min_distortion(m, source, "selective")
    assert selective.theorem_id == "selective_cache" and selective.memory_unit == "tokens"
    assert suffix > selective.distortion_kl_bits


@given(source=santa_fe_sources(), m=st.integers(0, 10 ** 9))
def test_selective_equals_summary_minimum(source, m):
    """selective_cache and summary_cache: the minimum at m tokens (value-oblivious selective) equals
    the minimum at m bits (summary): both are Σ_{k>m} p_k = ζ(β, m+1)/ζ(β)."""
    sel = min_distortion(m, source, "selective")
    summ = min_distortion(m, source, "summary")
    assert summ.memory_unit == "bits" and summ.theorem_id == "summary_cache"
    assert sel.distortion_kl_bits == summ.distortion_kl_bits
    # against an independent 30-digit Hurwitz zeta; 1e-12 relative is float64 round-off of scipy
    with mpmath.workdps(30):
        exact = mpmath.zeta(source.beta, m + 1) / mpmath.zeta(source.beta)
    assert abs(sel.distortion_kl_bits / float(exact) - 1) < 1e-12


@given(source=santa_fe_sources(), m=st.integers(1, 10 ** 12))
def test_tail_two_sided_bound(source, m):
    """selective_cache part 5: B (m+1)^(1-β) ≤ Σ_{k>m} p_k ≤ B m^(1-β), B = 1/((β-1) ζ(β))."""
    b_const = asymptotic_constants(source).selective_constant
    tail = min_distortion(m, source, "selective").distortion_kl_bits
    rel = 1e-10  # float64 evaluation of ζ(β, m+1) and of the powers
    assert b_const * (m + 1) ** (1 - source.beta) * (1 - rel) <= tail <= b_const * m ** (1 - source.beta) * (1 + rel)


@given(source=santa_fe_sources(min_beta=1.2), log_eps=st.floats(-12.0, -0.1))
def test_selective_memory_is_exact_and_bracketed(source, log_eps):
    """selective_cache part 5: m(ε) is the least m with Σ_{k>m} p_k ≤ ε, and
    (B/ε)^{1/(β-1)} - 1 ≤ m(ε) ≤ ⌈(B/ε)^{1/(β-1)}⌉ (exact integers, any size)."""
    eps = 10.0 ** log_eps
    res = window_for_epsilon_by_class(eps, source, "selective")
    m = res.memory
    with mpmath.workdps(40 + len(str(m))):
        zeta = mpmath.zeta(source.beta)
        assert mpmath.zeta(source.beta, m + 1) / zeta <= eps
        if m > 0:
            assert mpmath.zeta(source.beta, m) / zeta > eps
        beta = mpmath.mpf(source.beta)
        x = (1 / ((beta - 1) * zeta * mpmath.mpf(eps))) ** (1 / (beta - 1))
        assert x - 1 <= m <= mpmath.ceil(x)


@settings(max_examples=10)
@given(source=santa_fe_sources(min_beta=1.6, max_beta=5.0), log_eps=st.floats(-4.0, -0.5))
def test_memory_ratio_at_least_one_and_exact(source, log_eps):
    """selective_cache part 6: w(ε) ≥ m(ε) (suffix needs at least the selective tokens); both are the
    least integers reaching ε; summary bits = selective tokens."""
    eps = 10.0 ** log_eps
    r = memory_ratio(eps, source)
    assert r.suffix_window_tokens >= r.selective_memory_tokens == r.summary_memory_bits
    w = r.suffix_window_tokens
    assert source.bayes_risk(w, unit="bits") <= eps < source.bayes_risk(w - 1, unit="bits")


@pytest.mark.parametrize("beta, eps, tol", [(1.5, 1e-3, 1e-5), (2.0, 1e-5, 1e-4), (3.0, 1e-5, 1e-2)])
def test_memory_ratio_asymptote(beta, eps, tol):
    """selective_cache part 6: ε·w(ε)/m(ε) → K(β) = (Γ(1-1/β)^β (β-1)/β^β)^{1/(β-1)}.
    Tolerances: the measured convergence at these ε (m(ε) is within 1 of its asymptote)."""
    r = memory_ratio(eps, SantaFe(beta))
    k_val = (math.gamma(1 - 1 / beta) ** beta * (beta - 1) / beta ** beta) ** (1 / (beta - 1))
    assert abs(r.ratio * eps / k_val - 1) < tol
    assert math.isclose(asymptotic_constants(SantaFe(beta)).ratio_constant, k_val, rel_tol=1e-12)


@given(source=santa_fe_sources(min_beta=1.2, max_beta=5.0))
def test_local_exponents_approach_theorems(source):
    """santa_fe / selective_cache: the exact curves' log-log slopes at large memory approach
    1 - 1/β (suffix) and β - 1 (selective/summary)."""
    c = asymptotic_constants(source)
    m1, m2 = 10 ** 5, 10 ** 6
    for cls, expo in (("suffix", c.suffix_exponent), ("selective", c.selective_exponent)):
        d1 = min_distortion(m1, source, cls).distortion_kl_bits
        d2 = min_distortion(m2, source, cls).distortion_kl_bits
        slope = math.log(d1 / d2) / math.log(m2 / m1)
        # 0.02: next-order corrections at m ≥ 1e5 (computed: ≤ 0.01 over β in [1.2, 5])
        assert abs(slope - expo) < 0.02, (cls, slope, expo)


def test_theorem_ids_registered():
    """Every theorem id a cache result reports is registered (its proof and check exist)."""
    for tid in ("santa_fe", "selective_cache", "summary_cache"):
        assert tid in THEOREMS


@pytest.mark.parametrize("bad", [
    dict(eps=0.0), dict(eps=-1.0), dict(eps=float("nan")), dict(policy_class="random"),
    dict(source=object()),
])
def test_validation(bad):
    """Bad inputs raise ValueError naming the parameter."""
    kwargs = dict(eps=1e-2, source=SantaFe(1.5), policy_class="selective") | bad
    with pytest.raises(ValueError):
        window_for_epsilon_by_class(**kwargs)


def test_policy_validation():
    """Memories must be non-negative integers."""
    with pytest.raises(ValueError, match="window_tokens"):
        SlidingWindow(-1)
    with pytest.raises(ValueError, match="memory_bits"):
        BitSummary(1.5)


@pytest.mark.parametrize("kwargs, name", [
    (dict(memories=[0, 4]), "`memories`"), (dict(memories=[]), "`memories`"), (dict(memories="4"), "`memories`"),
    (dict(memories=[4, 2.5]), "`memories`"), (dict(policies=("random",)), "`policies`"),
    (dict(n_steps=1), "`n_steps`"), (dict(replicates=1), "`replicates`"),
    (dict(replicates=10 ** 9), "`replicates`"), (dict(burn_in=-1), "`burn_in`"),
    (dict(confidence_level=1.0), "`confidence_level`"),
    # sizes checked before sampling: a huge memory sets a huge default burn-in (no MemoryError)
    (dict(memories=[4, 10 ** 11]), "`burn_in`"), (dict(n_steps=10 ** 30), "`n_steps`"),
    (dict(replicates=50_000, n_steps=50_000), "`replicates`"),
    (dict(memories=[100], burn_in=0, n_steps=10), "`memories`"),
])
def test_simulation_validation(kwargs, name):
    """simulate rejects bad grids, unknown policies and sizes it cannot hold, naming the parameter."""
    call = dict(memories=[4], n_steps=100, replicates=2) | kwargs
    with pytest.raises(ValueError, match=name):
        simulate(SantaFe(1.5), call.pop("memories"), call.pop("n_steps"), np.random.default_rng(0), **call)


def test_summary_storage_does_not_grow_with_memory():
    """An M-bit summary stores only the slots it has filled, so a huge M costs nothing up front."""
    cache = BitSummary(10 ** 15)
    cache.observe(3, 1)
    assert cache.prob_bit_one(3) == 1.0 and cache.prob_bit_one(10 ** 14) == 0.5


@pytest.mark.parametrize("memories", [[4, 16], [16], [16, 16]])
def test_no_exponent_fit_without_two_lossy_memories(memories):
    """Issue 13 case 10: on Santa Fe(50) a key other than 1 has probability ~2^-50 per step, so short
    paths show zero loss at every memory; with one memory there is nothing to fit either. The
    exponent fit is then absent (None, with a note saying why), never NaN."""
    res = simulate(SantaFe(50.0), memories, 2000, np.random.default_rng(0), replicates=2)
    for f in res.fits:
        assert (f.fitted_exponent, f.exponent_ci, f.theory_fit_exponent) == (None, None, None)
        assert f.note.startswith("not fitted") and math.isfinite(f.asymptotic_exponent)
    for p in res.points:
        assert all(math.isfinite(v) for v in (p.mean_excess_bits, p.ci_low_bits, p.ci_high_bits,
                                              p.expected_cold_start_bits, p.stationary_bits))
    json.dumps(res.to_dict(), allow_nan=False)  # raises on any NaN/inf


# ------------------------------------------------------------------ simulation vs theory


@settings(derandomize=True)
@given(source=sources(), seed=seeds(), memories=cache_memory_grids(max_memory=128))
def test_simulation_matches_theory(source, seed, memories):
    """Measured mean excess log-loss of each streaming policy matches its exact expectation
    (sliding: I_w after the burn-in; top-m / M-slot: Σ_{k>m} p_k plus the cold-start term) within a
    (1 - 1e-6) t-interval over 12 replicates; the stationary theorem value is ≤ that expectation."""
    res = simulate(source, memories, 4000, np.random.default_rng(seed), replicates=12,
                   confidence_level=HIGH_CONFIDENCE)
    for p in res.points:
        if p.ci_high_bits == p.ci_low_bits:  # every replicate identical (e.g. all zero losses)
            assert abs(p.mean_excess_bits - p.expected_cold_start_bits) < 0.01  # < 1/n_steps·40 events
            continue
        assert p.ci_low_bits <= p.expected_cold_start_bits <= p.ci_high_bits, p
        assert p.stationary_bits <= p.expected_cold_start_bits + 1e-15


@settings(derandomize=True, max_examples=10)
@given(source=sources(1.3, 2.0), seed=seeds())
def test_simulated_selective_beats_sliding(source, seed):
    """At equal tokens the selective cache's measured distortion is below the sliding window's
    (selective_cache part 4), with non-overlapping 95% intervals at memories ≥ 4."""
    res = simulate(source, [4, 16, 64], 4000, np.random.default_rng(seed), replicates=8)
    by = {(p.policy, p.memory): p for p in res.points}
    for m in (4, 16, 64):
        assert by["selective", m].ci_high_bits < by["sliding", m].ci_low_bits


@settings(derandomize=True, max_examples=8)
@given(source=sources(1.4, 2.2), seed=seeds())
def test_fitted_exponents_match_theory(source, seed):
    """The exponent fitted to the simulation matches the exponent of the exact expected curve at
    the same memories (within a (1 - 1e-6) t-interval over replicates), and the selective exponent
    exceeds the suffix one, as the theorems say (β - 1 > 1 - 1/β for every β > 1)."""
    res = simulate(source, [4, 8, 16, 32, 64], 6000, np.random.default_rng(seed), replicates=10,
                   confidence_level=HIGH_CONFIDENCE)
    fits = {f.policy: f for f in res.fits}
    for f in fits.values():
        assert f.exponent_ci[0] <= f.theory_fit_exponent <= f.exponent_ci[1], f
    assert fits["selective"].fitted_exponent > fits["sliding"].fitted_exponent


def test_cold_start_expectation_limits():
    """The cold-start expectation tends to the stationary minimum as the burn-in grows, and equals
    I_w exactly for the sliding window once the window is full."""
    source = SantaFe(1.5)
    stationary = min_distortion(64, source, "selective").distortion_kl_bits
    early = expected_cold_start_bits(64, source, "selective", 100, 200)
    late = expected_cold_start_bits(64, source, "selective", 10 ** 7, 10 ** 7 + 100)
    assert early > late >= stationary and late - stationary < 1e-12  # (1-p_64)^1e7 ≈ e^-300
    assert expected_cold_start_bits(64, source, "sliding", 64, 1000) == source.bayes_risk(64, unit="bits")


def test_cli_simulate_json(capsys, tmp_path):
    """`wzbounds simulate --json` reports every policy at every memory with the theorem it rests on,
    and --plot writes a figure."""
    pytest.importorskip("matplotlib")
    from wzbounds.cli import main

    plot = tmp_path / "beyond.png"
    rc = main(["simulate", "--beta", "1.7", "--n", "2000", "--memories", "2", "8", "--replicates", "3",
               "--seed", "1", "--json", "--plot", str(plot)])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and plot.stat().st_size > 0
    assert {(p["policy"], p["memory"]) for p in out["points"]} == {
        (name, m) for name in ("sliding", "selective", "summary") for m in (2, 8)}
    assert {p["theorem_id"] for p in out["points"]} == {"santa_fe", "selective_cache", "summary_cache"}
    assert main(["simulate", "--beta", "0.5", "--n", "100"]) == 2  # beta must exceed 1


def test_calculator_policy_class_delegates_to_the_class_theorems():
    """window_for_epsilon(..., policy_class=...) reports the exact class minimum and its theorem;
    for Santa Fe, m selective tokens <= the proved suffix window at the same eps."""
    from wzbounds import window_for_epsilon

    source = SantaFe(1.5)
    for policy_class, unit, theorem_id in (("selective", "tokens", "selective_cache"),
                                           ("summary", "bits", "summary_cache")):
        result = window_for_epsilon(0.01, source, policy_class=policy_class)
        assert result.theorem_ids == (theorem_id,) and result.memory_unit == unit
        assert source.tail_mass(result.memory) <= 0.01 < source.tail_mass(result.memory - 1)
    suffix = window_for_epsilon(0.01, source.profile("kl_bits"))
    assert window_for_epsilon(0.01, source, policy_class="selective").memory < suffix.window_tokens
