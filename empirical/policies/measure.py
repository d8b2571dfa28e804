"""Policies x budgets x semantics on one batch of prefixes: the KL table, batched.

:func:`measure_batch` shares work as the semantics allow: one prefill (recording only the
statistics the policies need) gives the reference ``p`` and every policy's scores; post-prefill
eviction is one decode step per (policy, budget) on that prefill; truncation is one short forward
per (policy, budget) for the whole batch; streaming is one masked forward per (policy, budget).
:func:`measure_naive` is the baseline of ``bench/policies.py``: one full run per (policy, budget)
— a fresh prefill for post-prefill eviction and token-by-token decoding for streaming.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from . import semantics as sem
from .base import check_budget


@dataclass(frozen=True)
class BatchMeasurement:
    """KL table of one batch. ``kl_nats[(semantics, policy_label)]``: float64 ``(B, n_budgets)``
    nats; ``skipped[(semantics, policy_label)]``: reason a combination was not measured;
    ``seconds``: wall time per semantics, plus ``shared_prefill`` (the prefill and reference step);
    ``forward_calls``: model calls made."""

    budgets_tokens: tuple
    kl_nats: dict
    skipped: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)
    forward_calls: int = 0


def _measure_iv(ids, policies, budgets, semantics):
    if ids.dim() != 2 or ids.shape[1] < 2:
        raise ValueError(f"`ids` must be (B, T) with T >= 2, got {tuple(ids.shape)}")
    budgets = tuple(check_budget(k, ids.shape[1] - 1) for k in budgets)
    if list(budgets) != sorted(set(budgets)):
        raise ValueError(f"`budgets` must be strictly increasing, got {budgets}")
    for s in semantics:
        if s not in sem.SEMANTICS:
            raise ValueError(f"`semantics` entries must be among {list(sem.SEMANTICS)}, got {s!r}")
    if not policies:
        raise ValueError("`policies` must not be empty")
    return budgets


def skip_reason(policy, semantics: str):
    """Why ``policy`` is not measured under ``semantics`` (None if it is)."""
    if semantics == "streaming" and not policy.step_invariant:
        return ("scores depend on attention under the policy's own evictions at every step; one masked "
                "pass cannot compute that (not measured)")
    return None


def measure_batch(model, ids, policies, budgets, semantics=sem.SEMANTICS, *, seeds=None,
                  position_mode="preserve") -> BatchMeasurement:
    """KL(p || p_policy) in nats for every (semantics, policy, budget) on prefixes ``ids`` ``(B, T)``.

    ``budgets``: strictly increasing ints in ``[1, T]`` (tokens seen, query included). ``seeds``:
    one int per prefix for stochastic policies. ``position_mode``: truncation's position ids.
    """
    budgets = _measure_iv(ids, policies, budgets, semantics)
    seconds = {s: 0.0 for s in semantics}
    kl, skipped, calls = {}, {}, 0
    t0 = time.perf_counter()
    needs = frozenset().union(*(p.needs for p in policies)) if set(semantics) - {"streaming"} else frozenset()
    pre = sem.prefill(model, ids, needs, seeds)
    calls += 2
    seconds["shared_prefill"] = time.perf_counter() - t0
    ref = pre.full_logits
    for policy in policies:
        for s in semantics:
            reason = skip_reason(policy, s)
            if reason:
                skipped[(s, policy.label)] = reason
                continue
            t1 = time.perf_counter()
            row = []
            for k in budgets:
                if s == "prefill":
                    logits = sem.prefill_eviction_logits(model, pre, policy.keep(pre.ctx, k))
                elif s == "truncation":
                    logits = sem.truncation_logits(model, ids, policy.token_keep(pre.ctx, k), position_mode)
                else:
                    logits = sem.streaming_logits(model, ids, policy, k, pre.ctx.seeds)
                calls += 1
                row.append(sem.kl_nats(ref, logits))
            kl[(s, policy.label)] = np.stack(row, axis=1)
            seconds[s] += time.perf_counter() - t1
    return BatchMeasurement(budgets, kl, skipped, seconds, calls)


def measure_naive(model, ids, policies, budgets, semantics=sem.SEMANTICS, *, seeds=None,
                  position_mode="preserve") -> BatchMeasurement:
    """The same table with one full run per (policy, budget): a fresh prefill per run for
    post-prefill eviction and truncation, and token-by-token decoding with a real evicting cache
    for streaming. Slow on purpose: the baseline and oracle for :func:`measure_batch`."""
    budgets = _measure_iv(ids, policies, budgets, semantics)
    seconds = {s: 0.0 for s in semantics}
    kl, skipped, calls = {}, {}, 0
    for policy in policies:
        for s in semantics:
            reason = skip_reason(policy, s)
            if reason:
                skipped[(s, policy.label)] = reason
                continue
            t1 = time.perf_counter()
            row = []
            for k in budgets:
                pre = sem.prefill(model, ids, policy.needs if s != "streaming" else frozenset(), seeds)
                calls += 2
                if s == "prefill":
                    logits = sem.prefill_eviction_logits(model, pre, policy.keep(pre.ctx, k))
                    calls += 1
                elif s == "truncation":
                    logits = sem.truncation_logits(model, ids, policy.token_keep(pre.ctx, k), position_mode)
                    calls += 1
                else:
                    logits = sem.streaming_oracle(model, ids, policy, k, pre.ctx.seeds)
                    calls += ids.shape[0] * ids.shape[1]
                row.append(sem.kl_nats(pre.full_logits, logits))
            kl[(s, policy.label)] = np.stack(row, axis=1)
            seconds[s] += time.perf_counter() - t1
    return BatchMeasurement(budgets, kl, skipped, seconds, calls)
