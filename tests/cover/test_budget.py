"""Policy profiles and the budget calculator (wzbounds.budget): one property per test."""
from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wzbounds import window_for_epsilon
from wzbounds.budget import BudgetResult, budget_for_epsilon, kvpress_compression_ratio
from wzbounds.memory import KVMemorySpec
from wzbounds.profiles import PolicyProfile, Tabulated, load_profile, save_profile
from wzbounds.theorems import ASSUMPTIONS, THEOREMS


def two_contexts(**kw):
    return PolicyProfile("kvpress:snapkv", "prefill", (1024, 2048),
                         ((8, 16, 64, 256, 1000), (8, 16, 64, 256, 1024, 2047)),
                         ((1.0, 0.5, 0.2, 0.05, 0.01), (2.0, 1.0, 0.3, 0.1, 0.02, 0.01)),
                         alpha=(0.8, 0.7), C=(5.0, 8.0), alpha_ci=((0.7, 0.9), (0.6, 0.8)), C_ci=((4, 6), (6, 10)),
                         provenance={"source": "test"}, **kw)


def test_round_trip_through_json(tmp_path):
    p = two_contexts()
    q = load_profile(save_profile(p, tmp_path / "p.json"))
    assert isinstance(q, PolicyProfile)
    assert (q.context_tokens, q.budgets_tokens, q.values, q.alpha_ci) == (p.context_tokens, p.budgets_tokens,
                                                                           p.values, p.alpha_ci)
    assert json.loads((tmp_path / "p.json").read_text())["kind"] == "policy"


@pytest.mark.parametrize("change, field", [
    (dict(context_tokens=(2048, 1024)), "context_tokens"),
    (dict(budgets_tokens=((8, 16), (8, 4096))), "budgets_tokens[1]"),
    (dict(values=((1.0, 2.0), (1.0, 0.5))), "values[0]"),
    (dict(values=((1.0, 0.0), (1.0, 0.5))), "values[0]"),
    (dict(alpha=(1.0, 1.0)), "alpha"),
    (dict(divergence="nats"), "divergence"),
])
def test_bad_fields_are_named(change, field):
    base = dict(policy="p", semantics="prefill", context_tokens=(1024, 2048), budgets_tokens=((8, 16), (8, 16)),
                values=((1.0, 0.5), (1.0, 0.5)))
    with pytest.raises(ValueError, match=f"`{field.split('[')[0]}"):
        PolicyProfile(**{**base, **change})


def test_budget_at_a_measured_context_inverts_its_own_curve():
    r = budget_for_epsilon(0.1, two_contexts(), context_tokens=2048)
    # U(256) = 0.1 exactly at a measured budget: the smallest k is 256 and k - 1 = 255 is above
    assert (r.budget_tokens, r.cache_tokens, r.context_status) == (256, 255, "measured")
    assert r.distortion_bound == pytest.approx(0.1)


def test_interpolated_budget_lies_between_the_measured_ones():
    p = two_contexts()
    for eps in (0.03, 0.1, 0.3, 0.9):
        ks = [budget_for_epsilon(eps, p, context_tokens=T).budget_tokens for T in (1024, 1500, 2048)]
        assert min(ks[0], ks[2]) <= ks[1] <= max(ks[0], ks[2])
        assert budget_for_epsilon(eps, p, context_tokens=1500).context_status == "interpolated"


def test_eps_outside_the_measured_range_is_refused():
    with pytest.raises(ValueError, match=r"`eps` = 0.001 lies outside the measured range \[0.01, 2\]"):
        budget_for_epsilon(0.001, two_contexts(), context_tokens=2048)
    with pytest.raises(ValueError, match="`eps`"):
        budget_for_epsilon(2.5, two_contexts(), context_tokens=2048)


def test_context_outside_is_refused_unless_extrapolation_is_asked_for():
    p = two_contexts()
    with pytest.raises(ValueError, match="`context_tokens` = 4096 lies outside"):
        budget_for_epsilon(0.1, p, context_tokens=4096)
    r = budget_for_epsilon(0.1, p, context_tokens=4096, extrapolate=True)
    assert r.context_status == "extrapolated" and "context-interpolation" in r.assumptions
    # the extrapolated curve is made non-increasing (a negative weight can break monotonicity)
    assert np.all(np.diff(r.profile.values[0]) <= 0)


def test_several_contexts_need_one_chosen():
    with pytest.raises(ValueError, match="`context_tokens` is required"):
        budget_for_epsilon(0.1, two_contexts())


def test_result_vocabulary_and_ids():
    mem = KVMemorySpec(30, 3, 64, 2)
    r = budget_for_epsilon([0.05, 0.2], two_contexts(), context_tokens=2048, memory=mem)
    assert isinstance(r, BudgetResult)
    assert np.asarray(r.budget_tokens).shape == (2,)
    assert list(r.memory_bytes) == [int(k) * mem.bytes_per_token for k in r.budget_tokens]
    assert set(r.theorem_ids) <= set(THEOREMS) and set(r.assumptions) <= set(ASSUMPTIONS)
    json.dumps(r.to_dict())


def test_window_for_epsilon_answers_a_policy_profile_in_the_same_vocabulary():
    p = two_contexts()
    r = window_for_epsilon(0.1, p, context_tokens=2048)
    assert isinstance(r, BudgetResult)
    assert r.budget_tokens == budget_for_epsilon(0.1, p, context_tokens=2048).budget_tokens
    with pytest.raises(ValueError, match="`scheme`"):
        window_for_epsilon(0.1, p, "sink", context_tokens=2048)


def test_truncation_and_policy_profiles_are_not_interchangeable():
    t = Tabulated([1, 10, 100], [1.0, 0.3, 0.1])
    with pytest.raises(ValueError, match="`profile` must be a policy profile"):
        budget_for_epsilon(0.2, t)
    with pytest.raises(ValueError, match="`context_tokens` needs a policy profile"):
        window_for_epsilon(0.2, t, context_tokens=2048)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.01, 1.0), min_size=2, max_size=6), st.data())
def test_budget_is_the_smallest_certified_one(drops, data):
    """measured_policy_envelope part 1: U(k*) <= eps and U(k* - 1) > eps (or k* is the first budget)."""
    # budgets from 2 on: budget 1 keeps no cache entry, which budget_for_epsilon refuses (kvpress keeps one)
    budgets = np.cumsum(data.draw(st.lists(st.integers(2, 300), min_size=len(drops), max_size=len(drops))))
    values = 3.0 * np.exp(-np.cumsum(drops))
    T = int(budgets[-1]) + data.draw(st.integers(1, 1000))
    p = PolicyProfile("p", "prefill", (T,), (tuple(int(b) for b in budgets),), (tuple(values),))
    eps = float(values[-1] * (values[0] / values[-1]) ** data.draw(st.floats(0, 1)))
    eps = min(max(eps, values[-1]), values[0])
    r = budget_for_epsilon(eps, p)
    U = p.upper_envelope.values
    assert budgets[0] <= r.budget_tokens <= budgets[-1]
    assert U(r.budget_tokens) <= eps * (1 + 1e-12)  # float64 evaluation of the same interpolant
    assert r.budget_tokens == budgets[0] or U(r.budget_tokens - 1) > eps * (1 - 1e-12)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 10 ** 6), st.floats(0, 1))
def test_kvpress_ratio_keeps_exactly_k_minus_one(context, frac):
    """measured_policy_envelope part 4, against kvpress's formula restated (kvpress 0.5.x compute_n_kept)."""
    kept = max(1, int(frac * context))
    r = kvpress_compression_ratio(context, kept)
    assert 0.0 <= r < 1.0
    assert max(1, int(context * (1 - r))) == min(kept, context)
