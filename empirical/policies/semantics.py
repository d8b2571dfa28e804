"""The three eviction semantics, each computing the next-token logits under a policy's keep-set.

For a batch of prefixes ``ids`` ``(B, T)`` (cache = positions ``0..T-2``, query = ``T-1``):

* **truncation** (suffix-only, the theory's class): the kept tokens and the query are re-encoded
  alone — nothing computed from the evicted past survives. One forward per budget (all prefixes
  batched). Positions: ``preserve`` (original ids) or ``reindex`` (from 0).
* **prefill** (post-prefill eviction, what kvpress does): the cache is computed once with full
  context, restricted to the kept entries (per layer and KV head: ``index`` gather on each
  layer's keys/values), then the query runs one decode step. Kept entries still carry
  information about the evicted past. One shared prefill, one decode step per budget.
* **streaming** (eviction while generating): every position attends only to what the policy had
  kept at its own step, so hidden states never see evicted tokens after eviction — but they saw
  them before. For step-invariant policies one masked forward pass per budget computes every step
  at once (:func:`~wzbounds.empirical.policies.base.streaming_keep`); :func:`streaming_oracle` is
  the step-by-step decoding loop it must equal.

The naive references (:func:`prefill_eviction_naive`, :func:`streaming_oracle`) exist for tests
and ``bench/policies.py``. torch is imported inside functions.
"""
from __future__ import annotations

from dataclasses import dataclass

from .base import LayerInput, ScoreContext, check_budget, streaming_keep

SEMANTICS = ("truncation", "prefill", "streaming")
POSITION_MODES = ("preserve", "reindex")


@dataclass(frozen=True)
class Prefill:
    """A shared prefill of ``ids[:, :T-1]`` plus the full-cache query step.

    ``keys``/``values``: per layer ``(B, H, K, head_dim)`` tensors (K = T - 1, RoPE applied);
    ``full_logits``: ``(B, V)`` float32 logits of the query step on the full cache (the reference
    ``p``); ``ctx``: the :class:`ScoreContext` with the statistics that were requested.
    """

    ids: object
    keys: tuple
    values: tuple
    full_logits: object
    ctx: ScoreContext


def _layers(model):
    inner = getattr(model, "model", model)
    inner = getattr(inner, "language_model", inner)
    return inner.layers


class _attention_implementation:
    """Context manager switching the model to ``impl`` (eager is the one returning weights)."""

    def __init__(self, model, impl):
        self.model, self.impl = model, impl

    def __enter__(self):
        self.old = self.model.config._attn_implementation
        if self.impl != self.old:
            self.model.set_attn_implementation(self.impl)
        return self

    def __exit__(self, *exc):
        if self.impl != self.old:
            self.model.set_attn_implementation(self.old)


def _group_heads(weights, n_kv_heads):
    """``(B, Hq, ..., K)`` attention -> ``(B, H, ..., K)`` summed over each KV group's query heads."""
    b, hq = weights.shape[:2]
    return weights.reshape(b, n_kv_heads, hq // n_kv_heads, *weights.shape[2:]).sum(dim=2)


def _make_cache(keys, values):
    from transformers import DynamicCache

    cache = DynamicCache()
    for idx, (k, v) in enumerate(zip(keys, values)):
        cache.update(k, v, idx)
    return cache


def _query_step(model, ids, cache):
    """Logits ``(B, V)`` of the query token ``ids[:, -1]`` at its original position on ``cache``."""
    import torch

    b, t = ids.shape
    pos = torch.full((b, 1), t - 1, dtype=torch.long, device=ids.device)
    out = model(input_ids=ids[:, -1:], past_key_values=cache, position_ids=pos, use_cache=True)
    return out.logits[:, -1].float()


def prefill(model, ids, needs=frozenset(), seeds=None) -> Prefill:
    """Run the shared prefill of ``ids`` ``(B, T)`` and record what ``needs`` asks for.

    ``needs`` is a subset of :data:`~wzbounds.empirical.policies.base.NEEDS`; attention statistics
    switch the model to eager attention for the passes that need weights. ``seeds``: B ints for
    stochastic policies (default ``0..B-1``).
    """
    import torch

    from .kvpress_press import compressible_layers

    b, t = ids.shape
    if t < 2:
        raise ValueError(f"prefixes must hold at least 2 tokens (cache + query), got {t}")
    layers = _layers(model)
    n_layers = len(layers)
    n_kv = int(model.config.num_key_value_heads)
    acc = [None] * n_layers
    lastq = [None] * n_layers
    inputs = [None] * n_layers
    phase = {"name": "prefill"}

    def hook(module, args, kwargs, output):
        idx = module.layer_idx
        weights = output[1] if isinstance(output, tuple) and len(output) > 1 else None
        if phase["name"] == "prefill":
            if "accumulated_attention" in needs:
                acc[idx] = _group_heads(weights.float().sum(dim=2), n_kv)  # sum over queries
            if "layer_inputs" in needs:
                kw = {k: v for k, v in kwargs.items() if k not in ("past_key_values", "hidden_states")}
                inputs[idx] = (module, kwargs["hidden_states"], kw)
        elif "last_query_attention" in needs:
            lastq[idx] = _group_heads(weights.float()[:, :, -1, :-1], n_kv)  # drop the query itself

    want_weights = bool(needs & {"accumulated_attention", "last_query_attention"})
    handles = [layer.self_attn.register_forward_hook(hook, with_kwargs=True) for layer in layers] if needs else []
    try:
        with torch.no_grad():
            impl = "eager" if needs & {"accumulated_attention"} else model.config._attn_implementation
            with _attention_implementation(model, impl):
                out = model(input_ids=ids[:, :-1], use_cache=True, logits_to_keep=1)
            cache = out.past_key_values
            keys = tuple(cache.layers[i].keys for i in range(n_layers))
            values = tuple(cache.layers[i].values for i in range(n_layers))
            phase["name"] = "query"
            impl = "eager" if "last_query_attention" in needs else model.config._attn_implementation
            with _attention_implementation(model, impl):
                full_logits = _query_step(model, ids, _make_cache(keys, values))
    finally:
        for h in handles:
            h.remove()
    layer_inputs = None
    if "layer_inputs" in needs:
        layer_inputs = tuple(LayerInput(m, hs, keys[i], values[i], kw) for i, (m, hs, kw) in enumerate(inputs))
    ctx = ScoreContext(
        n_cached=t - 1, batch_size=b, n_layers=n_layers, n_kv_heads=n_kv,
        seeds=tuple(range(b)) if seeds is None else tuple(int(s) for s in seeds),
        accumulated_attention=torch.stack(acc) if "accumulated_attention" in needs else None,
        last_query_attention=torch.stack(lastq) if "last_query_attention" in needs else None,
        layer_inputs=layer_inputs, model=model, compressible_layers=compressible_layers(model))
    if want_weights and any(x is None for x in (acc if "accumulated_attention" in needs else lastq)):
        raise RuntimeError("attention weights were not returned by the attention layers (eager needed)")
    return Prefill(ids, keys, values, full_logits, ctx)


def evicted_cache(pre: Prefill, keep):
    """Per-layer keys/values restricted to ``keep`` ``(L', B, H', K)`` bool with the same count
    per row; returns ``(keys, values)`` tuples of ``(B, H, n_kept, head_dim)`` tensors."""
    import torch

    keys, values = [], []
    for idx, (k, v) in enumerate(zip(pre.keys, pre.values)):
        m = keep[idx if keep.shape[0] > 1 else 0]  # (B, H', K)
        m = m.expand(k.shape[0], k.shape[1], k.shape[2])
        n_kept = int(m[0, 0].sum())
        # positions of the kept entries, in order (argsort of ~m is stable: True first, by index)
        index = torch.argsort((~m).to(torch.int8), dim=-1, stable=True)[..., :n_kept]
        index = index.unsqueeze(-1).expand(-1, -1, -1, k.shape[-1])
        keys.append(k.gather(2, index))
        values.append(v.gather(2, index))
    return tuple(keys), tuple(values)


def prefill_eviction_logits(model, pre: Prefill, keep):
    """Logits ``(B, V)`` of the query step on the cache restricted to ``keep`` ``(L', B, H', K)``."""
    import torch

    keys, values = evicted_cache(pre, keep)
    with torch.no_grad():
        return _query_step(model, pre.ids, _make_cache(keys, values))


def prefill_eviction_naive(model, ids, policy, budget, seeds=None):
    """Reference: a fresh prefill for this one (policy, budget), then eviction and the query step."""
    pre = prefill(model, ids, policy.needs, seeds)
    keep = policy.keep(pre.ctx, check_budget(budget, pre.ctx.n_cached))
    return prefill_eviction_logits(model, pre, keep), pre.full_logits


def truncation_logits(model, ids, token_keep, position_mode="preserve"):
    """Logits ``(B, V)`` of the query when only the kept tokens and the query are encoded.

    ``token_keep``: ``(B, K)`` bool with the same count per row. ``position_mode``: ``preserve``
    (original position ids) or ``reindex`` (``0 .. n-1``).
    """
    import torch

    from ..masks import causal_keep, model_masks

    if position_mode not in POSITION_MODES:
        raise ValueError(f"`position_mode` must be one of {list(POSITION_MODES)}, got {position_mode!r}")
    b, t = ids.shape
    full = torch.cat([token_keep, torch.ones(b, 1, dtype=torch.bool, device=ids.device)], dim=1)
    n = int(full[0].sum())
    index = torch.argsort((~full).to(torch.int8), dim=-1, stable=True)[:, :n]
    tokens = ids.gather(1, index)
    pos = index if position_mode == "preserve" else torch.arange(n, device=ids.device).expand(b, n)
    # an explicit causal mask: with gaps in position_ids and no mask, transformers would treat
    # the row as packed sequences and split it at every gap
    mask = model_masks(model, causal_keep(b, n, device=ids.device))
    with torch.no_grad():
        out = model(input_ids=tokens, attention_mask=mask, position_ids=pos, use_cache=False, logits_to_keep=1)
    return out.logits[:, -1].float()


def streaming_scores(policy, ids, seeds=None):
    """Step-invariant scores ``(B, T)`` of all positions of ``ids`` for ``policy``."""
    if not policy.step_invariant:
        raise ValueError(f"policy {policy.label!r} is not step-invariant: its streaming cache needs the "
                         "attention under its own evictions at every step, which one masked pass cannot give")
    b, t = ids.shape
    ctx = ScoreContext(n_cached=t, batch_size=b, seeds=tuple(range(b)) if seeds is None else tuple(seeds))
    scores = policy.score(ctx)
    if scores.shape[0] != 1 or scores.shape[2] != 1:
        raise ValueError("streaming needs token-level scores (L' = H' = 1)")
    return scores[0, :, 0]


def streaming_logits(model, ids, policy, budget, seeds=None):
    """Logits ``(B, V)`` at the last position under streaming eviction: one masked forward pass in
    which the query at every position ``i`` sees itself plus the policy's top-``(budget-1)`` of
    positions ``< i`` (original position ids)."""
    import torch

    from ..masks import model_masks

    b, t = ids.shape
    budget = check_budget(budget, t - 1)
    keep = streaming_keep(streaming_scores(policy, ids, seeds), budget)
    pos = torch.arange(t, device=ids.device).expand(b, t)
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=model_masks(model, keep.to(ids.device)),
                    position_ids=pos, use_cache=False, logits_to_keep=1)
    return out.logits[:, -1].float()


def streaming_oracle(model, ids, policy, budget, seeds=None):
    """Reference for :func:`streaming_logits`: token-by-token decoding with a real cache that,
    whenever it holds more than ``budget - 1`` entries, drops its lowest-scored one (ties: the
    older). Returns the logits ``(B, V)`` of the last step."""
    import torch

    b, t = ids.shape
    budget = check_budget(budget, t - 1)
    scores = streaming_scores(policy, ids, seeds)
    if b != 1:
        return torch.cat([streaming_oracle(model, ids[i:i + 1], policy, budget,
                                           [i if seeds is None else seeds[i]]) for i in range(b)])
    held: list[int] = []
    cache = None
    with torch.no_grad():
        for i in range(t):
            if len(held) > budget - 1:  # evict before step i so the query sees budget - 1 entries
                order = sorted(held, key=lambda j: (float(scores[0, j]), j))
                drop = order[: len(held) - (budget - 1)]
                stay = [p for p in held if p not in drop]
                idx = torch.tensor([held.index(p) for p in stay], dtype=torch.long, device=ids.device)
                for layer in cache.layers:
                    layer.keys = layer.keys.index_select(2, idx)
                    layer.values = layer.values.index_select(2, idx)
                held = stay
            out = model(input_ids=ids[:, i:i + 1], past_key_values=cache,
                        position_ids=torch.tensor([[i]], device=ids.device), use_cache=True)
            cache = out.past_key_values
            held.append(i)
    return out.logits[:, -1].float()


def kl_nats(full_logits, logits):
    """``KL(softmax(full) || softmax(logits))`` in nats, float64 numpy, shape ``(B,)``
    (the truncation measurement's own divergence code, row by row)."""
    from ..truncation import divergences_from_logits

    return divergences_from_logits(full_logits.detach().cpu(), logits.detach().cpu(), mus=())[1]