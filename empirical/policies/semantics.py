"""The three eviction semantics, each computing the next-token logits under a policy's keep-set.

For a batch of prefixes ``ids`` ``(B, T)`` (cache = positions ``0..T-2``, query = ``T-1``):

* **truncation** (suffix-only, the theory's class): the kept tokens and the query are re-encoded
  alone — nothing computed from the evicted past survives. One forward of ``k`` tokens per
  budget (all prefixes batched). Positions: ``preserve`` (original ids) or ``reindex`` (from 0).
* **prefill** (post-prefill eviction, what kvpress does): the cache is computed once with full
  context, restricted to the kept entries (per layer and KV head), then the query runs one
  decode step. Kept entries still carry information about the evicted past. One shared
  prefill, one decode step per budget.
* **streaming** (eviction while generating): every position attends only to what the policy had
  kept at its own step, so hidden states never see evicted tokens after eviction — but they saw
  them before. Two exact ways to compute it:

  - :func:`streaming_decode_logits`, the incremental decode every policy can use: one token at a
    time over a real KV cache of ``k`` slots, the policy scoring the entries it holds before
    every step and the new token's key/value overwriting the evicted slot; attention-scored
    policies are scored on the attention the model computes under their own evictions. No
    eviction happens before the cache is full, so the first ``k`` tokens come from the shared
    prefill (causal: the same keys and values), and ``T - k`` steps remain. All prefixes (and
    policies) of a budget decode together: every (layer, row, KV head) holds ``k`` entries.
  - :func:`streaming_logits`, for step-invariant policies: one masked forward pass of ``T``
    tokens per budget (:func:`~wzbounds.empirical.policies.base.streaming_keep`).

  :func:`streaming_oracle` is the deliberately simple step-by-step loop both must equal.

Every tensor created here lives on the device of ``ids`` (which must be the model's) and, where it
meets the model's activations, in the model's dtype. The naive references
(:func:`prefill_eviction_naive`, :func:`streaming_oracle`) exist for tests and ``bench/policies.py``.
torch is imported inside functions.
"""
from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass, field

from .. import compat
from .base import LayerInput, ScoreContext, check_budget, evict_one, streaming_keep

SEMANTICS = ("truncation", "prefill", "streaming")
POSITION_MODES = ("preserve", "reindex")
#: Statistics read from attention weights (they need eager attention where they are recorded).
ATTENTION_NEEDS = frozenset({"accumulated_attention", "last_query_attention"})
#: Bytes of eager attention weights one prefill chunk may hold (per layer, float32): the chunk
#: length follows from it (113 tokens for 4 prefixes of 4096 tokens on SmolLM2: 9 heads).
CHUNK_BYTES = 1 << 26


@dataclass(frozen=True)
class Prefill:
    """A shared prefill of ``ids[:, :T-1]`` plus the full-cache query step.

    ``keys``/``values``: per layer ``(B, H, K, head_dim)`` tensors (K = T - 1, RoPE applied);
    ``full_logits``: ``(B, V)`` float32 logits of the query step on the full cache (the reference
    ``p``); ``ctx``: the :class:`ScoreContext` with the statistics that were requested;
    ``starts``: for each requested boundary ``r`` (a streaming budget), the statistics of the
    causal pass over the first ``r`` tokens, ``(accumulated, last_row)``, each ``(L, B, H, r)``
    float32 or None — column sums of the attention of queries ``0..r-1``, and the attention row
    of query ``r-1`` (itself included), grouped per KV head. ``forward_tokens``/``forward_calls``:
    tokens run (``B T``) and model calls made (prefill chunks and the query step).
    """

    ids: object
    keys: tuple
    values: tuple
    full_logits: object
    ctx: ScoreContext
    starts: dict = field(default_factory=dict)
    forward_tokens: int = 0
    forward_calls: int = 0


def _layers(model):
    inner = getattr(model, "model", model)
    inner = getattr(inner, "language_model", inner)
    return inner.layers


def _text_config(model):
    get = getattr(model.config, "get_text_config", None)
    return get() if get is not None else model.config


def _sliding_layers(model) -> dict:
    """``{layer index: window}`` for the sliding-window attention layers of ``model``."""
    from ..masks import attention_types

    cfg = _text_config(model)
    window = getattr(cfg, "sliding_window", None)
    kinds = attention_types(model)
    if "sliding_attention" not in kinds:
        return {}
    types = getattr(cfg, "layer_types", None) or ["sliding_attention"] * int(cfg.num_hidden_layers)
    return {i: int(window) for i, t in enumerate(types) if t == "sliding_attention"}


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


#: Name under which :func:`_gqa_eager_attention` is registered with transformers while a decode runs.
GQA_EAGER = "wzbounds_gqa_eager"


def _gqa_eager_attention(module, query, key, value, attention_mask, dropout=0.0, scaling=None, softcap=None,
                         **kwargs):
    """transformers' eager attention (scale, optional soft-cap, additive mask, float32 softmax),
    computed per KV group instead of on repeated KV heads: ``query`` ``(B, Hq, Q, d)`` is viewed as
    ``(B, H, g Q, d)`` against ``key``/``value`` ``(B, H, n, d)``, so a decode step reads the cache
    once instead of copying it ``g`` times (eager's ``repeat_kv``; at 16 rows x 1024 slots that copy
    dominated the step). Returns ``(output (B, Q, Hq, d), weights (B, Hq, Q, n))`` like eager.
    Attention sinks (``s_aux``) are not supported."""
    import torch

    if kwargs.get("s_aux") is not None:
        raise ValueError("attention sinks (s_aux) are not supported by the decode's attention")
    b, hq, q, d = query.shape
    h, n = key.shape[1], key.shape[2]
    scores = torch.matmul(query.reshape(b, h, hq // h * q, d), key.transpose(2, 3))
    scores = scores * (d ** -0.5 if scaling is None else scaling)
    if softcap is not None:
        scores = torch.tanh(scores / softcap) * softcap
    if attention_mask is not None:
        mask = attention_mask[:, :, :, :n].expand(b, hq, q, n).reshape(b, h, hq // h * q, n)
        scores = scores + mask
    weights = torch.nn.functional.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype)
    weights = torch.nn.functional.dropout(weights, p=dropout, training=module.training)
    out = torch.matmul(weights, value).reshape(b, hq, q, d)
    return out.transpose(1, 2).contiguous(), weights.reshape(b, hq, q, n)


class _gqa_eager:
    """Context manager: ``model`` runs :func:`_gqa_eager_attention`, registered with transformers
    for the duration only (no mask function is registered, so transformers builds no masks: the
    decode's full-attention layers see every slot, its sliding layers get their masks by hook)."""

    def __init__(self, model):
        self.model = model

    def __enter__(self):
        from transformers import AttentionInterface

        self.registered = GQA_EAGER not in AttentionInterface._global_mapping
        if self.registered:
            AttentionInterface.register(GQA_EAGER, _gqa_eager_attention)
        self.impl = _attention_implementation(self.model, GQA_EAGER).__enter__()
        return self

    def __exit__(self, *exc):
        from transformers import AttentionInterface

        self.impl.__exit__(*exc)
        if self.registered:
            del AttentionInterface._global_mapping[GQA_EAGER]


def _group_heads(weights, n_kv_heads):
    """``(B, Hq, ..., K)`` attention -> ``(B, H, ..., K)`` summed over each KV group's query heads."""
    b, hq = weights.shape[:2]
    return weights.reshape(b, n_kv_heads, hq // n_kv_heads, *weights.shape[2:]).sum(dim=2)


def _no_logits(device):
    """``logits_to_keep`` selecting no position: steps whose logits are not needed skip the LM head."""
    import torch

    return torch.empty(0, dtype=torch.long, device=device)


@functools.cache
def _slot_layer():
    """The cache layer class of :func:`_slot_cache` (built on first use: transformers loads lazily)."""

    class SlotLayer(compat.fixed_size_layer()):
        """Keys/values ``(R, H, n, head_dim)`` of fixed size; ``update`` writes the new token's
        key/value into ``slot`` ``(R, H)`` and returns the whole buffer."""

        def __init__(self, keys, values):
            super().__init__(keys, values)
            self.slot = None

        def update(self, key_states, value_states, *args, **kwargs):
            r, h, _, d = self.keys.shape
            index = self.slot[:, :, None, None].expand(r, h, 1, d)
            self.keys.scatter_(2, index, key_states)
            self.values.scatter_(2, index, value_states)
            return self.keys, self.values

    return SlotLayer


def _slot_cache(keys, values):
    """A KV cache of fixed slots: per layer keys/values ``(R, H, n, head_dim)``, written in place.

    Before each step the caller sets every layer's ``slot`` ``(R, H)``: the slot of each (row, KV
    head) that the new token's key and value overwrite (an evicted entry, or a free slot). Slots
    are in no particular order: attention over them does not depend on it (RoPE is applied to the
    keys before caching), and masks are built from the entries' positions, not their slots.
    """
    from transformers.cache_utils import Cache

    layer = _slot_layer()
    return Cache(layers=[layer(k, v) for k, v in zip(keys, values)])


class _Decoder:
    """Decode steps over a :func:`_slot_cache` — one piece for the post-prefill query step, the
    reference step and the streaming decode.

    ``keys``/``values``: per layer ``(R, H, n, head_dim)`` (owned: written in place);
    ``positions``: ``(L, R, H, n)`` long, the position of every slot's entry (updated in place).
    With ``weights`` the steps run eager attention (:func:`_gqa_eager_attention`) and
    :attr:`weights` holds, after each step,
    the ``(L, R, H, n)`` attention of the step's query over the slots, grouped per KV head.
    Use as a context manager (hooks and the attention implementation are restored on exit).
    """

    def __init__(self, model, keys, values, positions, *, weights: bool):
        self.model, self.positions, self.want_weights = model, positions, weights
        self.cache = _slot_cache(keys, values)
        self.sliding = _sliding_layers(model)
        self.n_kv = int(model.config.num_key_value_heads)
        self.dtype = keys[0].dtype
        self.weights = None
        self._captured = [None] * len(keys)
        self._masks = {}
        if self.sliding:  # every step masks all sliding layers in one batch of kernels, not a batch per layer
            import torch

            self._sliding_index = torch.tensor(list(self.sliding), dtype=torch.long, device=positions.device)
            self._windows = torch.tensor(list(self.sliding.values()), dtype=torch.long,
                                         device=positions.device)[:, None, None, None]

    def __enter__(self):
        layers = _layers(self.model)
        self._impl = _gqa_eager(self.model) if self.want_weights else contextlib.nullcontext()
        self._impl.__enter__()
        self._handles = []
        if self.want_weights:
            self._handles += [layer.self_attn.register_forward_hook(self._capture) for layer in layers]
        # sliding layers see only entries within their window of the query, by position: a mask
        # per layer (entries differ per layer and head), which transformers cannot build from slots
        self._handles += [layers[i].self_attn.register_forward_pre_hook(self._mask, with_kwargs=True)
                          for i in self.sliding]
        return self

    def __exit__(self, *exc):
        for h in self._handles:
            h.remove()
        self._impl.__exit__(*exc)

    def _capture(self, module, args, output):
        self._captured[module.layer_idx] = output[1]

    def _mask(self, module, args, kwargs):
        kwargs["attention_mask"] = self._masks[module.layer_idx]
        return args, kwargs

    def step(self, tokens, position: int, slot, *, logits: bool):
        """Run ``tokens`` ``(R, 1)`` at ``position`` writing into ``slot`` ``(L, R, H)``; returns the
        float32 logits ``(R, V)`` when ``logits`` (else None: the LM head is skipped)."""
        import torch

        self.positions.scatter_(-1, slot[..., None], position)
        for layer, s in zip(self.cache.layers, slot):
            layer.slot = s
        if self.sliding:
            groups = int(self.model.config.num_attention_heads) // self.n_kv
            hidden = self.positions.index_select(0, self._sliding_index) <= position - self._windows  # (S, R, H, n)
            mask = torch.zeros(hidden.shape, dtype=self.dtype, device=hidden.device)
            mask = mask.masked_fill_(hidden, torch.finfo(self.dtype).min).repeat_interleave(groups, dim=2)
            self._masks = dict(zip(self.sliding, mask[:, :, :, None, :]))  # each (R, Hq, 1, n)
        r = tokens.shape[0]
        device = tokens.device
        cache_position = torch.full((1,), position, dtype=torch.long, device=device)
        # full-attention layers: every slot is visible (all positions < the query's); transformers
        # builds that mask itself from the slot count and the cache position (or skips it for sdpa)
        out = self.model(input_ids=tokens, position_ids=cache_position.expand(r, 1), cache_position=cache_position,
                         **compat.cache_kwarg(self.cache), use_cache=True,
                         logits_to_keep=1 if logits else _no_logits(device))
        if self.want_weights:  # all layers grouped at once: (L, R, Hq, n) -> (L, R, H, n)
            w = torch.stack([w[:, :, 0] for w in self._captured]).float()
            self.weights = w.reshape(w.shape[0], w.shape[1], self.n_kv, -1, w.shape[-1]).sum(dim=3)
        return out.logits[:, -1].float() if logits else None


def _query_step(model, ids, keys, values, positions, *, weights=False):
    """The query ``ids[:, -1]`` at position ``T-1`` on a cache of entries ``keys``/``values`` (per
    layer ``(B, H, n, head_dim)``) at ``positions`` ``(L, B, H, n)``. Returns ``(logits (B, V),
    weights (L, B, H, n + 1) or None)`` (the query's own slot last)."""
    import torch

    b, t = ids.shape
    l, _, h, n = positions.shape
    pad = keys[0].new_zeros(b, h, 1, keys[0].shape[-1])  # the query's slot
    keys = [torch.cat([k, pad], dim=2) for k in keys]
    values = [torch.cat([v, pad], dim=2) for v in values]
    positions = torch.cat([positions, positions.new_zeros(l, b, h, 1)], dim=-1)
    slot = torch.full((l, b, h), n, dtype=torch.long, device=ids.device)
    with torch.no_grad(), _Decoder(model, keys, values, positions, weights=weights) as dec:
        logits = dec.step(ids[:, -1:], t - 1, slot, logits=True)
    return logits, dec.weights


def _chunk_ends(n_tokens: int, batch: int, n_heads: int, boundaries) -> list:
    """Ends of prefill chunks: every boundary, and often enough that one chunk's eager attention
    weights (``batch x n_heads x chunk x n_tokens`` floats) stay within :data:`CHUNK_BYTES`."""
    step = max(1, CHUNK_BYTES // (4 * batch * n_heads * n_tokens))
    return sorted({n_tokens, *range(step, n_tokens, step), *(r for r in boundaries if r < n_tokens)})


def prefill(model, ids, needs=frozenset(), seeds=None, *, boundaries=()) -> Prefill:
    """Run the shared prefill of ``ids`` ``(B, T)`` and record what ``needs`` asks for.

    ``needs`` is a subset of :data:`~wzbounds.empirical.policies.base.NEEDS`; attention statistics
    run eager attention where they are recorded (the prefill in chunks, so that peak memory stays
    bounded; the query step for ``last_query_attention``). ``seeds``: B ints for stochastic policies
    (default ``0..B-1``). ``boundaries``: token counts ``r`` in ``[1, T-1]`` at which to keep the
    statistics of the first ``r`` tokens (:attr:`Prefill.starts`, the streaming decode's start).
    """
    import torch

    from .kvpress_press import compressible_layers

    b, t = ids.shape
    if t < 2:
        raise ValueError(f"prefixes must hold at least 2 tokens (cache + query), got {t}")
    n_cached = t - 1
    boundaries = sorted(set(int(r) for r in boundaries))
    if boundaries and not 1 <= boundaries[0] <= boundaries[-1] <= n_cached:
        raise ValueError(f"`boundaries` must lie in [1, {n_cached}], got {boundaries}")
    layers = _layers(model)
    n_layers = len(layers)
    n_kv = int(model.config.num_key_value_heads)
    n_heads = int(model.config.num_attention_heads)
    record_acc = "accumulated_attention" in needs
    record_row = "last_query_attention" in needs and bool(boundaries)
    weights = record_acc or record_row
    ends = _chunk_ends(n_cached, b, n_heads, boundaries) if weights else [n_cached]
    running = [None] * n_layers  # (B, H, K) accumulated attention so far
    starts_acc = {r: [None] * n_layers for r in boundaries}
    starts_row = {r: [None] * n_layers for r in boundaries}
    hidden = [None] * n_layers  # (B, K, hidden) per layer, filled chunk by chunk
    shared_kwargs = []  # per chunk: the position arguments every layer receives
    chunk = {"start": 0, "end": 0}

    def hook(module, args, kwargs, output):
        idx, end = module.layer_idx, chunk["end"]
        if weights:
            w = _group_heads(output[1].float(), n_kv)  # (B, H, chunk, end)
            if running[idx] is None:
                running[idx] = w.new_zeros(b, n_kv, n_cached)
            running[idx][..., :end] += w.sum(dim=2)
            if end in starts_acc:
                starts_acc[end][idx] = running[idx][..., :end].clone() if record_acc else None
                starts_row[end][idx] = w[:, :, -1] if record_row else None
        if "layer_inputs" in needs:
            x = kwargs["hidden_states"]
            if hidden[idx] is None:  # one buffer per layer: chunk lists and a concatenation would double it
                hidden[idx] = x.new_empty(b, n_cached, x.shape[-1])
            hidden[idx][:, chunk["start"]:end] = x
            if idx == 0:
                shared_kwargs.append({k: kwargs[k] for k in ("position_embeddings", "position_ids", "cache_position")
                                      if kwargs.get(k) is not None})

    from transformers import DynamicCache

    # a cache without the config keeps every layer's full context (with the config, sliding
    # layers would keep only their window and the policies could not choose among all entries)
    cache = DynamicCache()
    handles = ([layer.self_attn.register_forward_hook(hook, with_kwargs=True) for layer in layers]
               if weights or "layer_inputs" in needs else [])
    try:
        impl = "eager" if weights else model.config._attn_implementation
        with torch.no_grad(), _attention_implementation(model, impl):
            for start, end in zip([0, *ends[:-1]], ends):
                chunk.update(start=start, end=end)
                model(input_ids=ids[:, start:end], **compat.cache_kwarg(cache), use_cache=True,
                      logits_to_keep=_no_logits(ids.device))
    finally:
        for h in handles:
            h.remove()
    keys = tuple(cache.layers[i].keys for i in range(n_layers))
    values = tuple(cache.layers[i].values for i in range(n_layers))
    positions = torch.arange(n_cached, device=ids.device).expand(n_layers, b, n_kv, n_cached)
    full_logits, row = _query_step(model, ids, keys, values, positions, weights="last_query_attention" in needs)
    layer_inputs = None
    if "layer_inputs" in needs:
        kw = {k: _cat_chunks([c[k] for c in shared_kwargs]) for k in shared_kwargs[0]}
        layer_inputs = tuple(LayerInput(layers[i].self_attn, hidden[i], keys[i], values[i], kw)
                             for i in range(n_layers))
    ctx = ScoreContext(
        n_cached=n_cached, batch_size=b, n_layers=n_layers, n_kv_heads=n_kv,
        seeds=tuple(range(b)) if seeds is None else tuple(int(s) for s in seeds),
        accumulated_attention=torch.stack(running) if record_acc else None,
        last_query_attention=row[..., :-1] if row is not None else None,  # drop the query itself
        layer_inputs=layer_inputs, model=model, compressible_layers=compressible_layers(model),
        device=ids.device)
    starts = {r: (torch.stack(starts_acc[r]) if record_acc else None,
                  torch.stack(starts_row[r]) if record_row else None) for r in boundaries}
    return Prefill(ids, keys, values, full_logits, ctx, starts, forward_tokens=b * t, forward_calls=len(ends) + 1)


def _cat_chunks(parts):
    """Concatenate per-chunk layer arguments along their token axis (tuples elementwise)."""
    import torch

    if isinstance(parts[0], tuple):
        return tuple(_cat_chunks(list(p)) for p in zip(*parts))
    return torch.cat(parts, dim=-1 if parts[0].dim() == 1 else 1)


def evicted_cache(pre: Prefill, keep, budget: int):
    """Per-layer keys/values restricted to ``keep`` ``(L', B, H', K)`` bool with ``budget - 1`` True
    per row; returns ``(keys, values, positions)``: tuples of ``(B, H, budget-1, head_dim)``
    tensors and the ``(L, B, H, budget-1)`` long positions of the kept entries (in order)."""
    import torch

    n_kept = check_budget(budget, pre.ctx.n_cached) - 1
    b, h, n, d = pre.keys[0].shape
    # positions of the kept entries, in order (a stable sort of ~keep puts True first, by index), for
    # every layer in one sort: a token-level keep-set (L' = 1) is sorted once, not once per layer
    m = keep.expand(keep.shape[0], b, h, n)  # (L', B, H, K)
    index = torch.argsort((~m).to(torch.int8), dim=-1, stable=True)[..., :n_kept]
    keys, values = [], []
    for idx, (k, v) in enumerate(zip(pre.keys, pre.values)):
        gather = index[idx if index.shape[0] > 1 else 0].unsqueeze(-1).expand(-1, -1, -1, d)
        keys.append(k.gather(2, gather))
        values.append(v.gather(2, gather))
    return tuple(keys), tuple(values), index.expand(len(pre.keys), b, h, n_kept)


def prefill_eviction_logits(model, pre: Prefill, keep, budget: int):
    """Logits ``(B, V)`` of the query step on the cache restricted to ``keep`` ``(L', B, H', K)``
    (``budget - 1`` True per row)."""
    keys, values, positions = evicted_cache(pre, keep, budget)
    return _query_step(model, pre.ids, keys, values, positions)[0]


def prefill_eviction_naive(model, ids, policy, budget, seeds=None):
    """Reference: a fresh prefill for this one (policy, budget), then eviction and the query step."""
    pre = prefill(model, ids, policy.needs, seeds)
    budget = check_budget(budget, pre.ctx.n_cached)
    return prefill_eviction_logits(model, pre, policy.keep(pre.ctx, budget), budget), pre.full_logits


def truncation_logits(model, ids, token_keep, budget: int, position_mode="preserve"):
    """Logits ``(B, V)`` of the query when only the kept tokens and the query are encoded.

    ``token_keep``: ``(B, K)`` bool with ``budget - 1`` True per row. ``position_mode``:
    ``preserve`` (original position ids) or ``reindex`` (``0 .. budget-1``).
    """
    import torch

    if position_mode not in POSITION_MODES:
        raise ValueError(f"`position_mode` must be one of {list(POSITION_MODES)}, got {position_mode!r}")
    b, t = ids.shape
    n = check_budget(budget, t - 1)
    full = torch.cat([token_keep, torch.ones(b, 1, dtype=torch.bool, device=ids.device)], dim=1)
    index = torch.argsort((~full).to(torch.int8), dim=-1, stable=True)[:, :n]
    tokens = ids.gather(1, index)
    pos = index if position_mode == "preserve" else torch.arange(n, device=ids.device).expand(b, n)
    # an all-ones padding mask: the model's own causal path (SDPA's fused causal kernels, sliding
    # layers masked by sequence index, as in validate's measure_batched); a dense 4-D causal mask
    # would force the unfused masked kernel. With no mask at all, transformers would read the gaps
    # in position_ids as packed sequences and split the row at every gap.
    ones = torch.ones((b, n), dtype=torch.long, device=ids.device)
    with torch.no_grad():
        out = model(input_ids=tokens, attention_mask=ones, position_ids=pos, use_cache=False, logits_to_keep=1)
    return out.logits[:, -1].float()


def _all_positions_context(batch_size, n_positions, seeds, device, **extra):
    """A context scoring every position ``0 .. n_positions-1`` (a step-invariant policy's scores)."""
    return ScoreContext(n_cached=n_positions, batch_size=batch_size, seeds=tuple(seeds), device=device, **extra)


def streaming_scores(policy, ids, seeds=None):
    """Step-invariant scores ``(B, T)`` of all positions of ``ids`` for ``policy``."""
    if not policy.step_invariant:
        raise ValueError(f"policy {policy.label!r} is not step-invariant: its streaming cache needs the "
                         "attention under its own evictions at every step, which one masked pass cannot give; "
                         "use streaming_decode_logits")
    b, t = ids.shape
    scores = policy.score(_all_positions_context(b, t, range(b) if seeds is None else seeds, ids.device))
    if scores.shape[0] != 1 or scores.shape[2] != 1:
        raise ValueError("streaming needs token-level scores (L' = H' = 1)")
    return scores[0, :, 0]


def streaming_logits(model, ids, policy, budget, seeds=None):
    """Logits ``(B, V)`` at the last position under streaming eviction: one masked forward pass in
    which the query at every position ``i`` sees itself plus the policy's top-``(budget-1)`` of
    positions ``< i`` (original position ids). Step-invariant policies only."""
    import torch

    from ..masks import model_masks

    b, t = ids.shape
    budget = check_budget(budget, t - 1)
    keep = streaming_keep(streaming_scores(policy, ids, seeds), budget)
    pos = torch.arange(t, device=ids.device).expand(b, t)
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=model_masks(model, keep),
                    position_ids=pos, use_cache=False, logits_to_keep=1)
    return out.logits[:, -1].float()


def streaming_decode_logits(model, pre: Prefill, policies, budget: int, *, on_step=None):
    """Streaming eviction by incremental decode: logits ``(B, V)`` of the last step, one per policy.

    Each policy's cache holds ``budget`` slots; before every step ``i`` (``budget <= i < T``) the
    policy scores the ``budget`` entries held (per layer and KV head, with their positions and,
    for attention-scored policies, the statistics accumulated under its own evictions), the
    lowest-scored entry (ties: the older) is evicted and token ``i``'s key and value take its
    slot. Steps ``0 .. budget-1`` evict nothing and come from ``pre`` (which must hold
    ``starts[budget]`` for attention-scored policies, see :func:`prefill`). The rows of all
    prefixes and policies decode together; step-invariant policies are scored once on every
    position. Policies needing ``layer_inputs`` (kvpress) have no per-step scores: ValueError.
    ``on_step``: called with 1 after each of the ``T - budget`` decode steps (progress).
    """
    import torch

    b, t = pre.ids.shape
    budget = check_budget(budget, t - 1)
    if budget == t:  # the cache never overflows: no eviction
        return [pre.full_logits for _ in policies]
    ctx = pre.ctx
    n_layers, n_kv, device = ctx.n_layers, ctx.n_kv_heads, pre.ids.device
    needs = frozenset().union(*(p.needs for p in policies))
    if not needs <= ATTENTION_NEEDS:
        raise ValueError(f"streaming decode can track only {sorted(ATTENTION_NEEDS)}; "
                         f"policies {[p.label for p in policies if not p.needs <= ATTENTION_NEEDS]} need more")
    if needs and budget not in pre.starts:
        raise ValueError(f"the prefill holds no statistics for budget {budget}: pass it in `boundaries`")
    n_pol = len(policies)
    rows = [slice(p * b, (p + 1) * b) for p in range(n_pol)]
    acc, row = pre.starts.get(budget, (None, None))
    acc = acc.repeat(1, n_pol, 1, 1) if "accumulated_attention" in needs else None
    last = row.repeat(1, n_pol, 1, 1) if "last_query_attention" in needs else None
    keys = [k[:, :, :budget].repeat(n_pol, 1, 1, 1) for k in pre.keys]  # copies: written in place
    values = [v[:, :, :budget].repeat(n_pol, 1, 1, 1) for v in pre.values]
    positions = torch.arange(budget, device=device).expand(n_layers, n_pol * b, n_kv, budget).clone()
    full = (n_layers, b, n_kv, t)
    static = [p.score(_all_positions_context(b, t, ctx.seeds, device, n_layers=n_layers, n_kv_heads=n_kv,
                                             budget=budget)).expand(full) if p.step_invariant else None
              for p in policies]
    tokens = pre.ids.repeat(n_pol, 1)
    with torch.no_grad(), _Decoder(model, keys, values, positions, weights=bool(needs)) as dec:
        for i in range(budget, t):
            scores = []
            for p, policy in enumerate(policies):
                if static[p] is not None:
                    scores.append(static[p].gather(-1, positions[:, rows[p]]))
                    continue
                step_ctx = ScoreContext(
                    n_cached=budget, batch_size=b, n_layers=n_layers, n_kv_heads=n_kv, seeds=ctx.seeds,
                    accumulated_attention=None if acc is None else acc[:, rows[p]],
                    last_query_attention=None if last is None else last[:, rows[p]],
                    model=model, compressible_layers=ctx.compressible_layers, positions=positions[:, rows[p]],
                    query_position=i, budget=budget, device=device)
                scores.append(policy.score(step_ctx).expand(n_layers, b, n_kv, budget))
            victim = evict_one(torch.cat(scores, dim=1), positions)  # (L, R, H)
            logits = dec.step(tokens[:, i:i + 1], i, victim, logits=i == t - 1)
            if on_step is not None:
                on_step(1)
            if acc is not None:  # the new entry starts from its own attention
                acc.scatter_(-1, victim[..., None], 0.0).add_(dec.weights)
            if last is not None:
                last = dec.weights
    return [logits[r] for r in rows]


def streaming_oracle(model, ids, policy, budget, seeds=None):
    """Reference for the streaming semantics, deliberately simple: one prefix at a time, every
    token decoded one by one from position 0 with a plain transformers cache and eager attention
    (``output_attentions``); whenever the cache holds ``budget`` entries before a step, each
    (layer, KV head) drops the entry the policy scores lowest (ties: the older), the statistics
    are kept in Python lists. Full-attention models only. Returns the logits ``(B, V)``."""
    import torch
    from transformers import DynamicCache

    if _sliding_layers(model):
        raise ValueError("streaming_oracle supports full-attention models only")
    b, t = ids.shape
    budget = check_budget(budget, t - 1)
    seeds = tuple(range(b)) if seeds is None else tuple(seeds)
    n_layers = len(_layers(model))
    n_kv = int(model.config.num_key_value_heads)
    out_rows = []
    for r in range(b):
        held = [[[] for _ in range(n_kv)] for _ in range(n_layers)]  # positions, per layer and head
        acc = [[[] for _ in range(n_kv)] for _ in range(n_layers)]
        last = [[[] for _ in range(n_kv)] for _ in range(n_layers)]
        cache = DynamicCache()
        with torch.no_grad(), _attention_implementation(model, "eager"):
            for i in range(t):
                if len(held[0][0]) == budget:
                    as_tensor = lambda x, dt: torch.tensor(x, dtype=dt, device=ids.device)[:, None]  # noqa: E731
                    step_ctx = ScoreContext(
                        n_cached=budget, batch_size=1, n_layers=n_layers, n_kv_heads=n_kv, seeds=(seeds[r],),
                        accumulated_attention=as_tensor(acc, torch.float32),
                        last_query_attention=as_tensor(last, torch.float32), model=model,
                        positions=as_tensor(held, torch.long), query_position=i, budget=budget, device=ids.device)
                    s = policy.score(step_ctx).expand(n_layers, 1, n_kv, budget)[:, 0].tolist()
                    for li, layer in enumerate(cache.layers):
                        stay = []
                        for h in range(n_kv):
                            drop = min(range(budget), key=lambda j: (s[li][h][j], held[li][h][j]))
                            stay.append([j for j in range(budget) if j != drop])
                            for stat in (held, acc, last):
                                stat[li][h] = [stat[li][h][j] for j in stay[-1]]
                        index = torch.tensor(stay, device=ids.device)[None, :, :, None].expand(
                            1, n_kv, budget - 1, layer.keys.shape[-1])
                        layer.keys, layer.values = layer.keys.gather(2, index), layer.values.gather(2, index)
                out = model(input_ids=ids[r:r + 1, i:i + 1], position_ids=torch.tensor([[i]], device=ids.device),
                            **compat.cache_kwarg(cache), use_cache=True, output_attentions=True)
                for li, w in enumerate(out.attentions):
                    g = _group_heads(w[:, :, 0].float(), n_kv)[0].tolist()  # (H, n + 1)
                    for h in range(n_kv):
                        acc[li][h] = [a + g[h][j] for j, a in enumerate(acc[li][h])] + [g[h][-1]]
                        last[li][h] = g[h]
                        held[li][h].append(i)
        out_rows.append(out.logits[:, -1].float())
    return torch.cat(out_rows)


def divergences(full_logits, logits):
    """``(tv, kl_nats)``: ``TV(softmax(full), softmax(logits))`` and ``KL(softmax(full) ||
    softmax(logits))`` in nats, each float64 numpy ``(B,)`` (the truncation measurement's own
    divergence code, row by row). Computed on the logits' device: only the ``2 B`` values come to
    the host, not two ``(B, V)`` blocks per call."""
    from ..truncation import divergences_from_logits

    tv, kl, _ = divergences_from_logits(full_logits.detach(), logits.detach(), mus=())
    return tv, kl
