"""Truncation sensitivity of a causal LM: next-token law on the full prefix vs on a cut one.

A *truncated run* re-encodes only some tokens of the prefix ``x_0..x_{T-1}`` (every kept position
attends only inside the kept tokens). Position modes: ``preserve`` (kept tokens keep their
original position ids) and ``reindex`` (positions restart at 0). Sink-plus-recent also keeps the
first ``S`` tokens (positions as in the first listed mode). Two measurement protocols
(:data:`PROTOCOLS`) say which laws are compared for window ``w``:

* ``fixed-end`` — at the last position: ``p`` = law on ``x_0..x_{T-1}`` vs ``p_w`` = law on the
  last ``w`` tokens ``x_{T-w}..x_{T-1}`` (``T - w`` oldest tokens dropped). One truncated run per
  window: the forwards process ``T + Σw`` tokens.
* ``fixed-start`` — with a start ``s``, at position ``t = s + w - 1``: ``p`` = law on
  ``x_0..x_t`` vs ``p_w`` = law on ``x_s..x_t`` (the ``s`` oldest tokens dropped; windows
  ``w ≤ T - s``). A causal run over ``x_s..x_{T-1}`` holds the truncated law of *every* window
  at once (position ``t`` has seen exactly ``x_s..x_t``), and the full run holds every ``p``:
  ``T + (T - s)`` tokens per mode, whatever the number of windows.

Each compared pair is a :class:`Readout` of the plan.

**Numerical floor.** :func:`measure_batched` also computes every reference law a second way that
is equal in exact arithmetic but rounds differently, and records the divergences between the two
ways (``floor_*`` of :class:`PrefixMeasurement`): what rounding alone makes of a comparison of two
laws in the model's dtype. A measured divergence near the floor says nothing about truncation.
Two second ways (:data:`FLOOR_METHODS`):

* ``shift`` (relative-position models, :func:`.models.relative_positions`): the full run again
  with every position id shifted by one. Under rotary embeddings attention depends only on
  position differences, so the laws are equal, while every rotated query and key rounds anew.
  Costs ``T`` tokens per prefix.
* ``decode`` (any other model): each reference token decoded alone over the full run's keys and
  values of the tokens before it (the one-query attention path instead of the prefill's). Only
  the last token's own computation rounds anew, so this is a lower estimate of the floor. Costs
  one token per distinct reference.

Batching or chunking the full run is no second way: on the CPU a prefill chunk over cached keys
reproduces the one-pass hidden states bit for bit (measured: floor 0), so it would hide the floor.

Metrics per (prefix, run), in float64 from the logits: ``tv`` = ½‖p − p_w‖₁; ``kl`` =
KL(p ‖ p_w) in nats; ``kl_smoothed[j]`` = KL(p ‖ (1−μ_j) p_w + μ_j/V) for μ in
:data:`SMOOTHING_GRID`.

Two implementations give the same numbers up to float tolerance:

* :func:`measure_oracle` — the definition, per window: one plain forward on the reference's
  token list and one on the truncated list, last-position logits (the test oracle and the
  benchmark baseline);
* :func:`measure_batched` — every run of a prefix computed once, runs of equal length stacked as
  rows of one forward with explicit position ids and an all-ones padding mask (so the model
  takes its own causal path, which fused attention kernels serve); the readouts pick positions
  out of it. Under ``fixed-end`` it processes ``T + Σw`` tokens, the same work as the oracle
  (the floor for true truncation: no hidden state of a truncated run equals one of the full
  run); under ``fixed-start`` it processes ``T + modes·(T - s)`` (+ ``S + T - s`` for sinks)
  against the oracle's ``Σ(s + w) + modes·Σw`` (+ ``Σ(S + w)``). Runs of different lengths are
  not packed into one row: that needs a block-diagonal mask, which forces the unfused attention
  path over all row × row scores — on the CPU at T = 4096 (fixed-start, 16 windows, 4 sinks,
  one thread, beside another job) packed rows took 82.8 s, one causal forward per run 35.8 s.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from . import compat

__all__ = ["POSITION_MODES", "PROTOCOLS", "SMOOTHING_GRID", "FLOOR_METHODS", "floor_method", "Segment", "Readout", "TruncationPlan",
           "PrefixMeasurement",
           "plan_truncation", "measure_batched", "measure_oracle", "divergences_from_logits"]

POSITION_MODES = ("preserve", "reindex")
#: Measurement protocols (see the module docstring); the first is the default.
PROTOCOLS = ("fixed-end", "fixed-start")
#: Second computations of the reference laws for the numerical floor (see the module docstring).
FLOOR_METHODS = ("shift", "decode")
#: Smoothing weights μ for KL(p ‖ (1−μ)p_w + μ·uniform).
SMOOTHING_GRID = (1e-4, 1e-2, 0.1, 0.3)


@dataclass(frozen=True)
class Segment:
    """One run: ``token_index`` (int array) selects prefix tokens, ``position_ids`` their positions;
    ``kind`` is ``"full"``, a position mode, or ``"sink"``; ``window_tokens`` the longest recent
    window it holds (``T`` for the full run)."""

    kind: str
    window_tokens: int
    token_index: np.ndarray
    position_ids: np.ndarray

    @property
    def length(self) -> int:
        return int(self.token_index.shape[0])


@dataclass(frozen=True)
class Readout:
    """One compared pair: the law at index ``offset`` of segment ``segment`` (plan order; a
    truncated run) against the full run's law at position ``reference`` (0-based, so the full
    context is ``reference + 1`` tokens); ``kind`` and ``window_tokens`` name the metric cell."""

    kind: str
    window_tokens: int
    segment: int
    offset: int
    reference: int


@dataclass(frozen=True)
class TruncationPlan:
    """Runs measured on each prefix of ``prefix_tokens`` tokens.

    ``protocol``: one of :data:`PROTOCOLS`; ``start_tokens``: s, the tokens dropped under
    ``fixed-start`` (None under ``fixed-end``); ``windows``: sorted recent windows (tokens, in
    ``[1, T-1]`` for fixed-end, ``[1, T-s]`` for fixed-start); ``modes``: position modes;
    ``sink_tokens``: S for sink-plus-recent (0: not measured); ``sink_windows``: the sink
    windows measured (fixed-end: ``S + w < T``; fixed-start: all); ``perplexity_tokens``: the
    last this-many next-token predictions of the full run score the perplexity sanity figure;
    ``segments``: full run first, then mode runs, then sinks; ``readouts``: the compared pairs,
    per kind in ``windows`` order (modes, then sink).
    """

    prefix_tokens: int
    windows: tuple
    modes: tuple
    sink_tokens: int
    sink_windows: tuple
    perplexity_tokens: int
    segments: tuple
    readouts: tuple
    protocol: str = PROTOCOLS[0]
    start_tokens: int | None = None
    sink_modes: tuple = ()

    @property
    def sink_mode(self) -> str:
        return self.sink_modes[0] if self.sink_modes else self.modes[0]

    @property
    def kinds(self) -> tuple:
        """Metric cells per prefix: each position mode, then ``sink`` (sinks in :attr:`sink_mode`)
        and ``sink_<mode>`` for further sink position modes."""
        if not self.sink_windows:
            return tuple(self.modes)
        return tuple(self.modes) + tuple(sink_kind(m, i) for i, m in enumerate(self.sink_modes or self.modes[:1]))

    def windows_of(self, kind: str) -> tuple:
        return self.sink_windows if kind.startswith("sink") else self.windows

    @property
    def forward_tokens_per_prefix(self) -> int:
        """Tokens in the plan's runs: the batched forward's work before padding (and, under
        ``fixed-end``, the oracle's)."""
        return sum(s.length for s in self.segments)


def _plan_truncation_iv(prefix_tokens, windows, modes, sink_tokens, perplexity_tokens, protocol, start_tokens):
    from wzbounds._validation import choice, positive_int

    T = positive_int("prefix_tokens", prefix_tokens, minimum=2)
    protocol = choice("protocol", protocol, PROTOCOLS)
    if protocol == "fixed-end":
        if start_tokens is not None:
            raise ValueError(f"`start_tokens` applies only to protocol 'fixed-start', got {start_tokens!r}")
        start, top = None, T - 1
    else:
        start = T // 2 if start_tokens is None else positive_int("start_tokens", start_tokens)
        if start >= T:
            raise ValueError(f"`start_tokens` must lie in [1, prefix length - 1] = [1, {T - 1}], got {start}")
        top = T - start
    w = np.asarray(windows)
    if w.ndim != 1 or w.size == 0 or not np.issubdtype(w.dtype, np.integer):
        raise ValueError(f"`windows` must be a non-empty list of integers, got {windows!r}")
    if w.min() < 1 or w.max() > top:
        bound = "prefix length - 1" if start is None else "prefix length - start_tokens"
        raise ValueError(f"`windows` must lie in [1, {bound}] = [1, {top}], got "
                         f"{sorted(int(x) for x in w if x < 1 or x > top)}")
    modes = tuple(modes)
    if not modes or any(m not in POSITION_MODES for m in modes) or len(set(modes)) != len(modes):
        raise ValueError(f"`modes` must be distinct values from {list(POSITION_MODES)}, got {modes!r}")
    s = positive_int("sink_tokens", sink_tokens, minimum=0)
    if s >= T - 1:
        raise ValueError(f"`sink_tokens` must lie in [0, {T - 2}], got {s}")
    if start is not None and s >= start:
        raise ValueError(f"`sink_tokens` must lie in [0, start_tokens - 1] = [0, {start - 1}] under "
                         f"protocol 'fixed-start', got {s}")
    k = positive_int("perplexity_tokens", perplexity_tokens, minimum=0)
    return T, tuple(sorted({int(x) for x in w})), modes, s, min(k, T - 1), protocol, start


def sink_kind(mode: str, index: int) -> str:
    """Metric cell name of sink-plus-recent in position mode ``mode`` (the first is ``sink``)."""
    return "sink" if index == 0 else f"sink_{mode}"


def _positions(idx, mode):
    return idx.copy() if mode == "preserve" else np.arange(idx.shape[0])


def plan_truncation(prefix_tokens, windows, modes=POSITION_MODES, sink_tokens=4,
                    perplexity_tokens=256, protocol="fixed-end", start_tokens=None, sink_modes=None) -> TruncationPlan:
    """The runs and readouts for prefixes of ``prefix_tokens`` tokens under ``protocol``.

    ``fixed-end``: full run, one run per mode × window, one per sink window, each read at its last
    token against the full run's last token. ``fixed-start`` (``start_tokens`` s, default ``T // 2``):
    full run, one run over ``x_s..x_{T-1}`` per mode and one over ``x_0..x_{S-1} ++ x_s..x_{T-1}``
    for sinks, window ``w`` read at the run's token for ``x_{s+w-1}`` against the full run there.
    ``sink_modes``: position modes of the sink runs (default: the first of ``modes``); a second
    mode moves the recent window next to the sinks, which changes the gap a relative-position
    model sees (see :func:`.models.relative_positions`)."""
    T, windows, modes, S, k, protocol, start = _plan_truncation_iv(
        prefix_tokens, windows, modes, sink_tokens, perplexity_tokens, protocol, start_tokens)
    sink_modes = tuple(sink_modes) if sink_modes else modes[:1]
    if any(m not in POSITION_MODES for m in sink_modes) or len(set(sink_modes)) != len(sink_modes):
        raise ValueError(f"`sink_modes` must be distinct values from {list(POSITION_MODES)}, got {sink_modes!r}")
    segs, reads = [Segment("full", T, np.arange(T), np.arange(T))], []
    if protocol == "fixed-end":
        for mode in modes:
            for w in windows:
                idx = np.arange(T - w, T)
                reads.append(Readout(mode, w, len(segs), w - 1, T - 1))
                segs.append(Segment(mode, w, idx, _positions(idx, mode)))
        sink_windows = tuple(w for w in windows if S and S + w < T)
        for i, mode in enumerate(sink_modes):
            for w in sink_windows:
                idx = np.concatenate([np.arange(S), np.arange(T - w, T)])
                reads.append(Readout(sink_kind(mode, i), w, len(segs), S + w - 1, T - 1))
                segs.append(Segment("sink", w, idx, _positions(idx, mode)))
    else:
        idx = np.arange(start, T)
        for mode in modes:
            reads += [Readout(mode, w, len(segs), w - 1, start + w - 1) for w in windows]
            segs.append(Segment(mode, T - start, idx, _positions(idx, mode)))
        sink_windows = windows if S else ()
        for i, mode in enumerate(sink_modes if S else ()):
            sidx = np.concatenate([np.arange(S), idx])
            reads += [Readout(sink_kind(mode, i), w, len(segs), S + w - 1, start + w - 1) for w in windows]
            segs.append(Segment("sink", T - start, sidx, _positions(sidx, mode)))
    return TruncationPlan(T, windows, modes, S, sink_windows, k, tuple(segs), tuple(reads), protocol, start,
                          sink_modes)


@dataclass(frozen=True)
class PrefixMeasurement:
    """Divergences for one prefix.

    ``tv[kind]``, ``kl_nats[kind]``: float64 arrays over the windows of that kind (``plan.windows``
    for modes, ``plan.sink_windows`` for ``"sink"``); ``kl_smoothed_nats[kind]``: ``(len(SMOOTHING_GRID),
    n_windows)``; ``nll_nats_sum`` / ``nll_tokens``: next-token negative log-likelihood of the full
    run over its last ``plan.perplexity_tokens`` predictions; ``forward_tokens``: token slots the
    forward passes processed (padding included); ``forward_calls``; ``wall_s``; ``protocol`` and
    ``start_tokens`` echo the plan's. ``floor_tv``, ``floor_kl_nats`` ``(n_refs,)`` and
    ``floor_kl_smoothed_nats`` ``(len(SMOOTHING_GRID), n_refs)``: the divergences between the two
    computations of each distinct reference law (sorted by position; see the module docstring) by
    ``floor_method`` (one of :data:`FLOOR_METHODS`), or None where not measured."""

    tv: dict
    kl_nats: dict
    kl_smoothed_nats: dict
    nll_nats_sum: float
    nll_tokens: int
    forward_tokens: int
    forward_calls: int
    wall_s: float
    protocol: str = PROTOCOLS[0]
    start_tokens: int | None = None
    floor_tv: np.ndarray | None = None
    floor_kl_nats: np.ndarray | None = None
    floor_kl_smoothed_nats: np.ndarray | None = None
    floor_method: str | None = None

    def to_row(self) -> dict:
        """JSON-able row (lists of floats)."""
        row = {"tv": {k: v.tolist() for k, v in self.tv.items()},
               "kl_nats": {k: v.tolist() for k, v in self.kl_nats.items()},
               "kl_smoothed_nats": {k: v.tolist() for k, v in self.kl_smoothed_nats.items()},
               "nll_nats_sum": self.nll_nats_sum, "nll_tokens": self.nll_tokens,
               "forward_tokens": self.forward_tokens, "forward_calls": self.forward_calls,
               "wall_s": self.wall_s, "protocol": self.protocol, "start_tokens": self.start_tokens}
        if self.floor_tv is not None:
            row.update(floor_tv=self.floor_tv.tolist(), floor_kl_nats=self.floor_kl_nats.tolist(),
                       floor_kl_smoothed_nats=self.floor_kl_smoothed_nats.tolist(), floor_method=self.floor_method)
        return row


def divergences_from_logits(full_logits, logits, mus=SMOOTHING_GRID):
    """TV, KL and smoothed KLs of ``softmax(full_logits)`` against each row of ``softmax(logits)``.

    ``full_logits``: ``(V,)`` (one reference for every row) or ``(R, V)`` (row by row);
    ``logits``: ``(R, V)`` (torch or numpy); computed in float64 where the logits are.
    Returns ``tv (R,)``, ``kl (R,)`` nats, ``kl_smoothed (len(mus), R)`` nats (host numpy float64)."""
    import torch

    lp = torch.log_softmax(torch.as_tensor(full_logits, dtype=torch.float64), -1)
    lq = torch.log_softmax(torch.as_tensor(logits, dtype=torch.float64), -1)
    lp = lp[None] if lp.dim() == 1 else lp
    p, q = lp.exp(), lq.exp()
    V = lq.shape[-1]
    tv = 0.5 * (p - q).abs().sum(-1)
    kl = (p * (lp - lq)).sum(-1)
    sm = []
    for mu in mus:
        lqm = torch.log((1.0 - mu) * q + mu / V)
        sm.append((p * (lp - lqm)).sum(-1))
    # KL >= 0 exactly; float64 rounding can leave -1e-17 on identical laws. Computed on the logits'
    # device, returned on the host (a CUDA tensor has no .numpy(): validate on a GPU stopped here)
    return (tv.cpu().numpy(), kl.clamp_min(0).cpu().numpy(),
            torch.stack(sm).clamp_min(0).cpu().numpy() if sm else np.zeros((0, len(tv))))


def _head(model, hidden):
    """Logits from final hidden states ``(N, H)``, with the model's output post-processing."""
    import torch

    cfg = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    logits = model.get_output_embeddings()(hidden)
    scale = getattr(cfg, "logit_scale", None)  # Cohere multiplies
    if isinstance(scale, (int, float)) and scale != 1:
        logits = logits * scale
    scaling = getattr(cfg, "logits_scaling", None)  # Granite divides
    if isinstance(scaling, (int, float)) and scaling != 1:
        logits = logits / scaling
    cap = getattr(cfg, "final_logit_softcapping", None)  # Gemma 2/3
    if cap:
        logits = torch.tanh(logits / cap) * cap
    return logits


def _finish(plan, ref_logits, read_logits, ppl_logits, targets, forward_tokens, calls, t0, floor_logits=None,
            floor=None):
    """Metrics from the logits of each readout's reference (``ref_logits (R, V)``, plan order) and
    truncated law (``read_logits (R, V)``), and the full run's perplexity positions
    (``ppl_logits (K, V)`` predicting ``targets (K,)``); ``floor_logits``: the distinct references
    computed both ways, ``(first (n, V), second (n, V))``, or None."""
    import torch

    tv, kl, sm = divergences_from_logits(ref_logits, read_logits)
    kinds = [r.kind for r in plan.readouts]
    out_tv, out_kl, out_sm = {}, {}, {}
    for kind in dict.fromkeys(kinds):
        sel = np.array([k == kind for k in kinds])
        out_tv[kind], out_kl[kind], out_sm[kind] = tv[sel], kl[sel], sm[:, sel]
    if plan.perplexity_tokens:
        lp = torch.log_softmax(ppl_logits.to(torch.float64), -1)
        nll = float(-lp.gather(-1, targets[:, None]).sum())
    else:
        nll = 0.0
    divs = (None,) * 3 if floor_logits is None else divergences_from_logits(*floor_logits)
    return PrefixMeasurement(out_tv, out_kl, out_sm, nll, plan.perplexity_tokens, int(forward_tokens),
                             int(calls), time.perf_counter() - t0, plan.protocol, plan.start_tokens, *divs, floor)


def _prefix_tensor(prefix_ids, plan, device):
    import torch

    ids = torch.as_tensor(np.asarray(prefix_ids), dtype=torch.long, device=device)
    if ids.shape != (plan.prefix_tokens,):
        raise ValueError(f"`prefix_ids` must have shape ({plan.prefix_tokens},), got {tuple(ids.shape)}")
    return ids


def measure_oracle(model, prefix_ids, plan: TruncationPlan) -> PrefixMeasurement:
    """Reference implementation, one readout at a time: a plain forward (default causal mask) on
    the full context of each distinct reference position (``x_0..x_r``; the whole prefix is always
    run, for the perplexity), and one on each readout's truncated token list (its segment up to the
    read token); last-position logits.

    ``model``: a transformers causal LM; ``prefix_ids``: int ``(T,)``."""
    import torch

    t0 = time.perf_counter()
    device = next(model.parameters()).device
    ids = _prefix_tensor(prefix_ids, plan, device)
    T, K = plan.prefix_tokens, plan.perplexity_tokens
    tokens, calls = 0, 0

    def last(idx, pos, keep=1):
        nonlocal tokens, calls
        idx = torch.as_tensor(idx, device=device)
        # An explicit all-ones 2-D mask: without one, transformers >= 4.5x reads a jump in
        # position ids (the sink run in preserve mode) as packed sequences and blocks
        # attention across it, which is not a truncated run.
        ones = torch.ones((1, idx.shape[0]), dtype=torch.long, device=device)
        out = model(input_ids=ids[idx][None], attention_mask=ones,
                    position_ids=torch.as_tensor(pos, device=device)[None], logits_to_keep=keep, use_cache=False)
        tokens += idx.shape[0]
        calls += 1
        return out.logits[0]

    with torch.inference_mode():
        full_block = last(np.arange(T), np.arange(T), K + 1)
        refs = {T - 1: full_block[-1]}
        for r in sorted({ro.reference for ro in plan.readouts} - {T - 1}):
            refs[r] = last(np.arange(r + 1), np.arange(r + 1))[-1]
        reads = []
        for ro in plan.readouts:
            seg = plan.segments[ro.segment]
            reads.append(last(seg.token_index[:ro.offset + 1], seg.position_ids[:ro.offset + 1])[-1])
        ref_logits = torch.stack([refs[ro.reference] for ro in plan.readouts])
    return _finish(plan, ref_logits, torch.stack(reads), full_block[:-1], ids[T - K:], tokens, calls, t0)


def _segment_batches(plan, max_rows):
    """Segment indices grouped into forwards: runs of equal length stacked as rows (at most
    ``max_rows`` per forward), longest first."""
    groups = {}
    for i, seg in enumerate(plan.segments):
        groups.setdefault(seg.length, []).append(i)
    out = []
    for length in sorted(groups, reverse=True):
        idx = groups[length]
        step = len(idx) if max_rows is None else max(1, int(max_rows))
        out += [idx[j:j + step] for j in range(0, len(idx), step)]
    return out


def _is_oom(exc) -> bool:
    return "out of memory" in str(exc).lower()


def floor_method(model) -> str:
    """The floor's second computation for ``model``: ``shift`` when it sees positions only through
    differences, else ``decode`` (see the module docstring)."""
    from .models import relative_positions

    return "shift" if relative_positions(model)[0] else "decode"


def _second_way(base, ids, refs, method, full_cache):
    """Final hidden states ``(len(refs), H)`` of the reference positions ``refs`` (sorted) computed
    the second way ``method``; ``full_cache``: the full run's keys and values (``decode`` only)."""
    import torch
    from transformers import DynamicCache

    T = ids.shape[0]
    if method == "shift":
        pos = torch.arange(1, T + 1, device=ids.device)[None]
        ones = torch.ones((1, T), dtype=torch.long, device=ids.device)
        h = base(input_ids=ids[None], attention_mask=ones, position_ids=pos, use_cache=False).last_hidden_state[0]
        return h[refs]
    out = []
    for r in refs:
        past = DynamicCache()  # no config: plain growing layers, sliding ones masked by position
        for i, layer in enumerate(full_cache.layers):
            past.update(layer.keys[:, :, :r], layer.values[:, :, :r], i)
        ones = torch.ones((1, r + 1), dtype=torch.long, device=ids.device)
        pos = torch.tensor([[r]], device=ids.device)
        out.append(base(input_ids=ids[None, r:r + 1], attention_mask=ones, position_ids=pos,
                        **compat.cache_kwarg(past), use_cache=True).last_hidden_state[0, 0])
    return torch.stack(out)


def measure_batched(model, prefix_ids, plan: TruncationPlan, *, max_rows=None, log=None,
                    floor: str | None = "auto") -> PrefixMeasurement:
    """All runs of one prefix in as few forwards as it has distinct run lengths (see the module
    docstring); same numbers as :func:`measure_oracle` up to float tolerance, plus the numerical
    floor: the references computed a second way, ``floor`` one of :data:`FLOOR_METHODS`, ``"auto"``
    (:func:`floor_method` of the model) or None (not measured).

    ``max_rows`` caps rows (runs) per forward (default: all runs of a length); on a GPU
    out-of-memory error the rows are split in halves and retried, with a message through ``log``
    (a callable taking a str)."""
    import torch
    from transformers import DynamicCache

    t0 = time.perf_counter()
    floor = floor_method(model) if floor == "auto" else floor
    if floor is not None and floor not in FLOOR_METHODS:
        raise ValueError(f"`floor` must be one of {list(FLOOR_METHODS) + ['auto', None]}, got {floor!r}")
    device = next(model.parameters()).device
    ids = _prefix_tensor(prefix_ids, plan, device)
    T, K = plan.prefix_tokens, plan.perplexity_tokens
    base = model.base_model
    hidden = [None] * len(plan.segments)
    pending = _segment_batches(plan, max_rows)
    calls, full_cache = 0, None
    with torch.inference_mode():
        while pending:
            batch = pending.pop(0)
            segs = [plan.segments[i] for i in batch]
            inp = torch.stack([ids[torch.as_tensor(s.token_index, device=device)] for s in segs])
            pos = torch.stack([torch.as_tensor(s.position_ids, dtype=torch.long, device=device) for s in segs])
            # an all-ones padding mask: the model's own causal path (fused kernels where it has them);
            # with no mask at all transformers would read a position jump (sinks, then the recent
            # window) as the start of another packed sequence and hide the sinks
            pad = torch.ones(inp.shape, dtype=torch.long, device=device)
            # the full run (always alone: no other run has T tokens) keeps its keys and values for
            # the decode floor
            cache = DynamicCache() if batch == [0] and floor == "decode" else None
            try:
                h = base(input_ids=inp, attention_mask=pad, position_ids=pos, use_cache=cache is not None,
                         **compat.cache_kwarg(cache)).last_hidden_state
            except RuntimeError as exc:  # torch.OutOfMemoryError subclasses RuntimeError
                if not _is_oom(exc) or len(batch) == 1:
                    raise
                half = len(batch) // 2
                pending[:0] = [batch[:half], batch[half:]]
                if device.type == "cuda":
                    torch.cuda.empty_cache()
                if log is not None:
                    log(f"out of memory with {len(batch)} rows of {inp.shape[1]} tokens; retrying with {half} rows per forward")
                continue
            for j, i in enumerate(batch):
                hidden[i] = h[j]
            full_cache = cache if cache is not None else full_cache
            calls += 1
        # hidden states of: each readout's truncated law, each distinct reference (both ways), the
        # perplexity positions (only these reach the vocabulary head); segment 0 is the full run
        refs = sorted({ro.reference for ro in plan.readouts})
        second = [] if floor is None else _second_way(base, ids, refs, floor, full_cache)
        full_cache = None  # free the keys and values before the vocabulary head
        states = ([hidden[ro.segment][ro.offset] for ro in plan.readouts] + [hidden[0][r] for r in refs]
                  + list(second) + [hidden[0][t] for t in range(T - 1 - K, T - 1)])
        logits = _head(model, torch.stack(states))
    n, m, m2 = len(plan.readouts), len(refs), len(second)
    at = {r: n + i for i, r in enumerate(refs)}
    ref_logits = logits[[at[ro.reference] for ro in plan.readouts]]
    floor_logits = (logits[n:n + m], logits[n + m:n + m + m2]) if m2 else None
    extra_tokens, extra_calls = {"shift": (T, 1), "decode": (m, m), None: (0, 0)}[floor]
    return _finish(plan, ref_logits, logits[:n], logits[n + m + m2:], ids[T - K:],
                   plan.forward_tokens_per_prefix + extra_tokens, calls + extra_calls, t0, floor_logits, floor)
