"""Policies x budgets x semantics on one batch of prefixes: the KL and TV tables, batched, with their cost.

:func:`measure_batch` shares work as the semantics allow: one prefill (recording only the
statistics the policies need) gives the reference ``p``, every policy's scores and the start of
every streaming decode; post-prefill eviction is one decode step per (policy, budget) on that
prefill; truncation is one forward of ``k`` tokens per (policy, budget) for the whole batch;
streaming is, per budget, one incremental decode of ``T - k`` steps for all decoded policies
together, or one masked ``T``-token forward per step-invariant policy (see ``streaming``).
:func:`measure_naive` is the baseline of ``bench/policies.py``: one full run per (policy, budget)
— a fresh prefill for post-prefill eviction and truncation, and the step-by-step oracle for
streaming.

Cost is counted in forward-token equivalents (one token through the model, whatever its
context): :attr:`BatchMeasurement.forward_tokens` what was run, :attr:`BatchMeasurement.floor_tokens`
the floor of each semantics for the same table.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from . import semantics as sem
from .base import check_budget

STREAMING_METHODS = ("auto", "decode", "masked")


@dataclass(frozen=True)
class BatchMeasurement:
    """KL and TV tables of one batch of ``B`` prefixes of ``T`` tokens, and what they cost.

    ``kl_nats[(semantics, policy_label)]``: float64 ``(B, n_budgets)`` nats;
    ``tv[(semantics, policy_label)]``: float64 ``(B, n_budgets)`` total variation in [0, 1], same
    keys (both divergences of the same logits);
    ``skipped[(semantics, policy_label)]``: reason a combination was not measured;
    ``seconds``: wall time per semantics, plus ``shared_prefill`` (the prefill and reference step);
    ``forward_calls``: model calls made.
    ``forward_tokens``: forward-token equivalents run for the whole batch, by ``shared_prefill``
    (the ``T - 1``-token prefill and the reference query step: ``B T``) and by semantics
    (post-prefill: ``B`` per (policy, budget); truncation: ``B k``; streaming: ``B (T - k)``
    decode steps, or ``B T`` for a masked pass).
    ``floor_tokens``: the floor of the same keys: ``B T`` for the shared prefill; per (policy,
    budget) one decode step (``B``) for post-prefill, one pass of ``k`` tokens (``B k``) for
    truncation, one ``T``-token pass or ``T`` decode steps (``B T``) for streaming.
    ``streaming_method``: ``{policy_label: "decode" | "masked"}`` for the streamed policies.
    """

    budgets_tokens: tuple
    kl_nats: dict
    tv: dict
    skipped: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)
    forward_calls: int = 0
    forward_tokens: dict = field(default_factory=dict)
    floor_tokens: dict = field(default_factory=dict)
    streaming_method: dict = field(default_factory=dict)

    def cost_ratios(self) -> dict:
        """``forward_tokens / floor_tokens`` per key, and ``total`` (sums); identical per prefix,
        since every term scales with ``B``."""
        out = {k: self.forward_tokens[k] / self.floor_tokens[k] for k in self.floor_tokens if self.floor_tokens[k]}
        total = sum(self.floor_tokens.values())
        if total:
            out["total"] = sum(self.forward_tokens.values()) / total
        return out


def _measure_iv(ids, policies, budgets, semantics, streaming="auto"):
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
    if streaming not in STREAMING_METHODS:
        raise ValueError(f"`streaming` must be one of {list(STREAMING_METHODS)}, got {streaming!r}")
    return budgets


def skip_reason(policy, semantics: str):
    """Why ``policy`` is not measured under ``semantics`` (None if it is)."""
    if semantics == "streaming" and not policy.needs <= sem.ATTENTION_NEEDS:
        return ("scores what the layers saw in a prefill (kvpress press); a streaming cache has no per-step "
                "counterpart to feed it (not measured)")
    return None


def streaming_method(policy, streaming: str = "auto") -> str:
    """``"decode"`` or ``"masked"``: how ``policy`` is measured under streaming. Attention-scored
    policies always decode; step-invariant ones follow ``streaming`` (``auto``: the masked pass)."""
    if not policy.step_invariant:
        return "decode"
    return "masked" if streaming == "auto" else streaming


def _stack(row):
    """``row``: one :func:`.semantics.divergences` pair ``(tv, kl)`` of ``(B,)`` arrays per budget ->
    ``(tv, kl)``, each ``(B, n_budgets)``."""
    tv, kl = zip(*row, strict=True)
    return np.stack(tv, axis=1), np.stack(kl, axis=1)


def measure_batch(model, ids, policies, budgets, semantics=sem.SEMANTICS, *, seeds=None,
                  position_mode="preserve", streaming="auto", progress=None) -> BatchMeasurement:
    """KL(p || p_policy) in nats and TV(p, p_policy) for every (semantics, policy, budget) on prefixes
    ``ids`` ``(B, T)``.

    ``budgets``: strictly increasing ints in ``[1, T]`` (tokens seen, query included). ``seeds``:
    one int per prefix for stochastic policies. ``position_mode``: truncation's position ids.
    ``streaming``: how step-invariant policies are streamed (``auto``, ``decode`` or ``masked``;
    both are exact and agree). Logits become TV and KL through :func:`.semantics.divergences`, the
    only step that needs the numbers on the host. ``progress``: called as ``progress(done, total)``
    after every forward pass, ``total`` (every pass of the batch, the result's ``forward_calls``)
    known from the end of the shared prefill on; for a progress bar over a batch that decodes for
    minutes. It reads nothing from the device.
    """
    budgets = _measure_iv(ids, policies, budgets, semantics, streaming)
    b, t = ids.shape
    seconds = {s: 0.0 for s in semantics}
    kl, tv, skipped = {}, {}, {}
    tokens = {"shared_prefill": 0, **{s: 0 for s in semantics}}
    floor = {"shared_prefill": b * t, **{s: 0 for s in semantics}}
    streamed = [p for p in policies if "streaming" in semantics and not skip_reason(p, "streaming")]
    method = {p.label: streaming_method(p, streaming) for p in streamed}
    decoded = [p for p in streamed if method[p.label] == "decode"]
    needs = frozenset().union(*(p.needs for p in policies)) if set(semantics) - {"streaming"} else frozenset()
    needs |= frozenset().union(*(p.needs for p in decoded))
    boundaries = [k for k in budgets if k < t] if any(p.needs for p in decoded) else []
    t0 = time.perf_counter()
    pre = sem.prefill(model, ids, needs, seeds, boundaries=boundaries)
    calls = pre.forward_calls
    tokens["shared_prefill"] = pre.forward_tokens
    seconds["shared_prefill"] = time.perf_counter() - t0
    ref = pre.full_logits
    n_measured = {s: sum(not skip_reason(p, s) for p in policies) for s in semantics}
    total = calls + sum(  # the passes below, one by one: decode steps, masked streams, one per (policy, budget)
        (sum(t - k for k in budgets) if decoded else 0) + len(budgets) * (len(streamed) - len(decoded))
        if s == "streaming" else len(budgets) * n_measured[s] for s in semantics)

    def advance(n=1):
        nonlocal calls
        calls += n
        if progress is not None:
            progress(calls, total)

    advance(0)  # the prefill's passes, and the total

    def record(s, policy, row):
        tv[(s, policy.label)], kl[(s, policy.label)] = _stack(row)

    for s in semantics:
        t1 = time.perf_counter()
        measured = [p for p in policies if not skip_reason(p, s)]
        skipped.update({(s, p.label): skip_reason(p, s) for p in policies if skip_reason(p, s)})
        if s == "streaming":
            rows = {p.label: [] for p in decoded}
            for k in budgets:
                if decoded:
                    for p, logits in zip(decoded, sem.streaming_decode_logits(model, pre, decoded, k, on_step=advance)):
                        rows[p.label].append(sem.divergences(ref, logits))
                    tokens[s] += len(decoded) * b * (t - k)
            for p in decoded:
                record(s, p, rows[p.label])
            for p in (p for p in measured if method[p.label] == "masked"):
                row = []
                for k in budgets:
                    row.append(sem.divergences(ref, sem.streaming_logits(model, ids, p, k, pre.ctx.seeds)))
                    advance()
                record(s, p, row)
                tokens[s] += len(budgets) * b * t
            floor[s] = len(measured) * len(budgets) * b * t
        else:
            for p in measured:
                row = []
                for k in budgets:
                    if s == "prefill":
                        logits = sem.prefill_eviction_logits(model, pre, p.keep(pre.ctx, k), k)
                        tokens[s] += b
                    else:
                        logits = sem.truncation_logits(model, ids, p.token_keep(pre.ctx, k), k, position_mode)
                        tokens[s] += b * k
                    row.append(sem.divergences(ref, logits))
                    advance()
                record(s, p, row)
            floor[s] = len(measured) * (len(budgets) * b if s == "prefill" else b * sum(budgets))
        seconds[s] += time.perf_counter() - t1
    return BatchMeasurement(budgets, kl, tv, skipped, seconds, calls, tokens, floor, method)


def measure_naive(model, ids, policies, budgets, semantics=sem.SEMANTICS, *, seeds=None,
                  position_mode="preserve") -> BatchMeasurement:
    """The same table with one full run per (policy, budget): a fresh prefill per run for
    post-prefill eviction and truncation, and :func:`~.semantics.streaming_oracle` (token by token
    from position 0, plain cache, eager attention) for streaming. Slow on purpose: the baseline
    and oracle for :func:`measure_batch`."""
    budgets = _measure_iv(ids, policies, budgets, semantics)
    b, t = ids.shape
    seconds = {s: 0.0 for s in semantics}
    kl, tv, skipped, calls = {}, {}, {}, 0
    tokens = {s: 0 for s in semantics}
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
                calls += pre.forward_calls
                tokens[s] += pre.forward_tokens
                if s == "prefill":
                    logits = sem.prefill_eviction_logits(model, pre, policy.keep(pre.ctx, k), k)
                    calls, tokens[s] = calls + 1, tokens[s] + b
                elif s == "truncation":
                    logits = sem.truncation_logits(model, ids, policy.token_keep(pre.ctx, k), k, position_mode)
                    calls, tokens[s] = calls + 1, tokens[s] + b * k
                else:
                    logits = sem.streaming_oracle(model, ids, policy, k, pre.ctx.seeds)
                    calls, tokens[s] = calls + b * t, tokens[s] + b * t
                row.append(sem.divergences(pre.full_logits, logits))
            tv[(s, policy.label)], kl[(s, policy.label)] = _stack(row)
            seconds[s] += time.perf_counter() - t1
    return BatchMeasurement(budgets, kl, tv, skipped, seconds, calls, tokens)
