"""Truncation sensitivity of a causal LM: next-token law on the full prefix vs on a cut one.

For a prefix ``x_0..x_{T-1}`` the model's next-token law ``p`` is compared with ``p_w``, its law
when only the last ``w`` tokens are re-encoded (a *truncated run*: every kept position attends
only inside the kept tokens). Position modes: ``preserve`` (kept tokens keep their original
position ids ``T-w..T-1``) and ``reindex`` (positions restart at 0). Sink-plus-recent keeps the
first ``s`` tokens plus the last ``w`` (positions as in the first listed mode).

Metrics per (prefix, run), in float64 from the logits: ``tv`` = ½‖p − p_w‖₁; ``kl`` =
KL(p ‖ p_w) in nats; ``kl_smoothed[j]`` = KL(p ‖ (1−μ_j) p_w + μ_j/V) for μ in
:data:`SMOOTHING_GRID`.

Two implementations give the same numbers up to float tolerance:

* :func:`measure_oracle` — the definition: one plain forward per run on the cut token list
  (the test oracle and the benchmark baseline);
* :func:`measure_batched` — all runs of a prefix in one forward: each run is a *segment*,
  segments are packed (first-fit decreasing) into rows of length ``T``, and a block-diagonal
  causal float mask with explicit position ids makes every segment attend only to itself. The
  forward processes ``T + Σ run lengths`` tokens, the same work as the oracle (the floor for
  true truncation: no hidden state of a truncated run equals one of the full run), minus the
  per-forward overhead of ``1 + runs`` separate calls.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .masks import model_masks

__all__ = ["POSITION_MODES", "SMOOTHING_GRID", "Segment", "TruncationPlan", "PrefixMeasurement",
           "plan_truncation", "measure_batched", "measure_oracle", "divergences_from_logits",
           "pack_segments"]

POSITION_MODES = ("preserve", "reindex")
#: Smoothing weights μ for KL(p ‖ (1−μ)p_w + μ·uniform).
SMOOTHING_GRID = (1e-4, 1e-2, 0.1, 0.3)


@dataclass(frozen=True)
class Segment:
    """One run: ``token_index`` (int array) selects prefix tokens, ``position_ids`` their positions;
    ``kind`` is ``"full"``, a position mode, or ``"sink"``; ``window_tokens`` the recent window
    (``T`` for the full run)."""

    kind: str
    window_tokens: int
    token_index: np.ndarray
    position_ids: np.ndarray

    @property
    def length(self) -> int:
        return int(self.token_index.shape[0])


@dataclass(frozen=True)
class TruncationPlan:
    """Runs measured on each prefix of ``prefix_tokens`` tokens.

    ``windows``: sorted recent windows (tokens, each in ``[1, T-1]``); ``modes``: position modes;
    ``sink_tokens``: s for sink-plus-recent (0: not measured); ``sink_windows``: the windows with
    ``s + w < T``; ``perplexity_tokens``: the last this-many next-token predictions of the full run
    score the perplexity sanity figure; ``segments``: full run first, then mode runs, then sinks.
    """

    prefix_tokens: int
    windows: tuple
    modes: tuple
    sink_tokens: int
    sink_windows: tuple
    perplexity_tokens: int
    segments: tuple

    @property
    def sink_mode(self) -> str:
        return self.modes[0]

    @property
    def forward_tokens_per_prefix(self) -> int:
        """Tokens re-encoded per prefix (both implementations)."""
        return sum(s.length for s in self.segments)


def _plan_truncation_iv(prefix_tokens, windows, modes, sink_tokens, perplexity_tokens):
    from wzbounds._validation import positive_int

    T = positive_int("prefix_tokens", prefix_tokens, minimum=2)
    w = np.asarray(windows)
    if w.ndim != 1 or w.size == 0 or not np.issubdtype(w.dtype, np.integer):
        raise ValueError(f"`windows` must be a non-empty list of integers, got {windows!r}")
    if w.min() < 1 or w.max() >= T:
        raise ValueError(f"`windows` must lie in [1, prefix length - 1] = [1, {T - 1}], got "
                         f"{sorted(int(x) for x in w if x < 1 or x >= T)}")
    modes = tuple(modes)
    if not modes or any(m not in POSITION_MODES for m in modes) or len(set(modes)) != len(modes):
        raise ValueError(f"`modes` must be distinct values from {list(POSITION_MODES)}, got {modes!r}")
    s = positive_int("sink_tokens", sink_tokens, minimum=0)
    if s >= T - 1:
        raise ValueError(f"`sink_tokens` must lie in [0, {T - 2}], got {s}")
    k = positive_int("perplexity_tokens", perplexity_tokens, minimum=0)
    return T, tuple(sorted({int(x) for x in w})), modes, s, min(k, T - 1)


def plan_truncation(prefix_tokens, windows, modes=POSITION_MODES, sink_tokens=4,
                    perplexity_tokens=256) -> TruncationPlan:
    """The runs for prefixes of ``prefix_tokens`` tokens: full, each mode × window, sink × window."""
    T, windows, modes, s, k = _plan_truncation_iv(prefix_tokens, windows, modes, sink_tokens, perplexity_tokens)
    segs = [Segment("full", T, np.arange(T), np.arange(T))]
    for mode in modes:
        for w in windows:
            idx = np.arange(T - w, T)
            segs.append(Segment(mode, w, idx, idx.copy() if mode == "preserve" else np.arange(w)))
    sink_windows = tuple(w for w in windows if s and s + w < T)
    for w in sink_windows:
        idx = np.concatenate([np.arange(s), np.arange(T - w, T)])
        pos = idx.copy() if modes[0] == "preserve" else np.arange(s + w)
        segs.append(Segment("sink", w, idx, pos))
    return TruncationPlan(T, windows, modes, s, sink_windows, k, tuple(segs))


@dataclass(frozen=True)
class PrefixMeasurement:
    """Divergences for one prefix.

    ``tv[kind]``, ``kl_nats[kind]``: float64 arrays over the windows of that kind (``plan.windows``
    for modes, ``plan.sink_windows`` for ``"sink"``); ``kl_smoothed_nats[kind]``: ``(len(SMOOTHING_GRID),
    n_windows)``; ``nll_nats_sum`` / ``nll_tokens``: next-token negative log-likelihood of the full
    run over its last ``plan.perplexity_tokens`` predictions; ``forward_tokens``: token slots the
    forward passes processed (padding included); ``forward_calls``; ``wall_s``."""

    tv: dict
    kl_nats: dict
    kl_smoothed_nats: dict
    nll_nats_sum: float
    nll_tokens: int
    forward_tokens: int
    forward_calls: int
    wall_s: float

    def to_row(self) -> dict:
        """JSON-able row (lists of floats)."""
        return {"tv": {k: v.tolist() for k, v in self.tv.items()},
                "kl_nats": {k: v.tolist() for k, v in self.kl_nats.items()},
                "kl_smoothed_nats": {k: v.tolist() for k, v in self.kl_smoothed_nats.items()},
                "nll_nats_sum": self.nll_nats_sum, "nll_tokens": self.nll_tokens,
                "forward_tokens": self.forward_tokens, "forward_calls": self.forward_calls,
                "wall_s": self.wall_s}


def divergences_from_logits(full_logits, logits, mus=SMOOTHING_GRID):
    """TV, KL and smoothed KLs of ``softmax(full_logits)`` against each row of ``softmax(logits)``.

    ``full_logits``: ``(V,)``; ``logits``: ``(R, V)`` (torch or numpy); computed in float64.
    Returns ``tv (R,)``, ``kl (R,)`` nats, ``kl_smoothed (len(mus), R)`` nats (numpy float64)."""
    import torch

    lp = torch.log_softmax(torch.as_tensor(full_logits, dtype=torch.float64), -1)
    lq = torch.log_softmax(torch.as_tensor(logits, dtype=torch.float64), -1)
    p, q = lp.exp(), lq.exp()
    V = lq.shape[-1]
    tv = 0.5 * (p[None] - q).abs().sum(-1)
    kl = (p[None] * (lp[None] - lq)).sum(-1)
    sm = []
    for mu in mus:
        lqm = torch.log((1.0 - mu) * q + mu / V)
        sm.append((p[None] * (lp[None] - lqm)).sum(-1))
    # KL >= 0 exactly; float64 rounding can leave -1e-17 on identical laws
    return (tv.numpy(), kl.clamp_min(0).numpy(),
            torch.stack(sm).clamp_min(0).numpy() if sm else np.zeros((0, len(tv))))


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


def _finish(plan, full_logits, seg_logits, ppl_logits, targets, forward_tokens, calls, t0):
    """Metrics from the logits of the full run's last position (``full_logits (V,)``), each
    non-full segment's last position (``seg_logits (S-1, V)``, plan order), and the full run's
    perplexity positions (``ppl_logits (K, V)`` predicting ``targets (K,)``)."""
    import torch

    tv, kl, sm = divergences_from_logits(full_logits, seg_logits)
    kinds = [s.kind for s in plan.segments[1:]]
    out_tv, out_kl, out_sm = {}, {}, {}
    for kind in dict.fromkeys(kinds):
        sel = np.array([k == kind for k in kinds])
        out_tv[kind], out_kl[kind], out_sm[kind] = tv[sel], kl[sel], sm[:, sel]
    if plan.perplexity_tokens:
        lp = torch.log_softmax(ppl_logits.to(torch.float64), -1)
        nll = float(-lp.gather(-1, targets[:, None]).sum())
    else:
        nll = 0.0
    return PrefixMeasurement(out_tv, out_kl, out_sm, nll, plan.perplexity_tokens, int(forward_tokens),
                             int(calls), time.perf_counter() - t0)


def _prefix_tensor(prefix_ids, plan, device):
    import torch

    ids = torch.as_tensor(np.asarray(prefix_ids), dtype=torch.long, device=device)
    if ids.shape != (plan.prefix_tokens,):
        raise ValueError(f"`prefix_ids` must have shape ({plan.prefix_tokens},), got {tuple(ids.shape)}")
    return ids


def measure_oracle(model, prefix_ids, plan: TruncationPlan) -> PrefixMeasurement:
    """Reference implementation: a plain forward (default causal mask) on each run's token list.

    ``model``: a transformers causal LM; ``prefix_ids``: int ``(T,)``."""
    import torch

    t0 = time.perf_counter()
    device = next(model.parameters()).device
    ids = _prefix_tensor(prefix_ids, plan, device)
    K = plan.perplexity_tokens
    last, tokens = [], 0
    with torch.inference_mode():
        for i, seg in enumerate(plan.segments):
            idx = torch.as_tensor(seg.token_index, device=device)
            pos = torch.as_tensor(seg.position_ids, device=device)[None]
            keep = K + 1 if i == 0 else 1
            # An explicit all-ones 2-D mask: without one, transformers >= 4.5x reads a jump in
            # position ids (the sink run in preserve mode) as packed sequences and blocks
            # attention across it, which is not a truncated run.
            ones = torch.ones((1, seg.length), dtype=torch.long, device=device)
            out = model(input_ids=ids[idx][None], attention_mask=ones, position_ids=pos,
                        logits_to_keep=keep, use_cache=False)
            tokens += seg.length
            if i == 0:
                full_block = out.logits[0]
            last.append(out.logits[0, -1])
    return _finish(plan, last[0], torch.stack(last[1:]), full_block[:-1], ids[plan.prefix_tokens - K:], tokens,
                   len(plan.segments), t0)


def pack_segments(lengths, capacity):
    """First-fit-decreasing packing of segment ``lengths`` into rows of ``capacity`` tokens.

    Returns ``(row, offset)`` per segment (input order) and the number of rows."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    free, place = [], [None] * len(lengths)
    for i in order:
        for r, room in enumerate(free):
            if room >= lengths[i]:
                place[i] = (r, capacity - room)
                free[r] -= lengths[i]
                break
        else:
            place[i] = (len(free), 0)
            free.append(capacity - lengths[i])
    return place, len(free)


def _packed_inputs(ids, plan, device, pad_id=0):
    """Row tensors for :func:`measure_batched`: input ids, position ids ``(R, T)``, bool keep mask
    ``(R, T, T)`` (block-diagonal causal; padding and unused slots see only themselves), and the
    (row, column) of each segment's last token."""
    import torch

    T = plan.prefix_tokens
    place, R = pack_segments([s.length for s in plan.segments], T)
    inp = torch.full((R, T), pad_id, dtype=torch.long, device=device)
    pos = torch.zeros((R, T), dtype=torch.long, device=device)
    keep = torch.eye(T, dtype=torch.bool, device=device).repeat(R, 1, 1)
    tri = torch.ones(T, T, dtype=torch.bool, device=device).tril_()
    rows, cols = [], []
    for seg, (r, off) in zip(plan.segments, place):
        n = seg.length
        inp[r, off:off + n] = ids[torch.as_tensor(seg.token_index, device=device)]
        pos[r, off:off + n] = torch.as_tensor(seg.position_ids, device=device)
        keep[r, off:off + n, off:off + n] = tri[:n, :n]
        rows.append(r)
        cols.append(off + n - 1)
    return inp, pos, keep, place, rows, cols


def _is_oom(exc) -> bool:
    return "out of memory" in str(exc).lower()


def measure_batched(model, prefix_ids, plan: TruncationPlan, *, max_rows=None, log=None) -> PrefixMeasurement:
    """All runs of one prefix in one forward (see the module docstring); same numbers as
    :func:`measure_oracle` up to float tolerance.

    ``max_rows`` caps rows per forward (default: all); on a GPU out-of-memory error the rows are
    split in halves and retried, with a message through ``log`` (a callable taking a str)."""
    import torch

    t0 = time.perf_counter()
    device = next(model.parameters()).device
    ids = _prefix_tensor(prefix_ids, plan, device)
    T, K = plan.prefix_tokens, plan.perplexity_tokens
    inp, pos, keep, place, rows, cols = _packed_inputs(ids, plan, device)
    R = inp.shape[0]
    chunk = R if max_rows is None else max(1, min(int(max_rows), R))
    base = model.base_model
    hidden = [None] * R
    calls = 0
    with torch.inference_mode():
        start = 0
        while start < R:
            stop = min(R, start + chunk)
            try:
                masks = model_masks(model, keep[start:stop])
                h = base(input_ids=inp[start:stop], attention_mask=masks, position_ids=pos[start:stop],
                         use_cache=False).last_hidden_state
            except RuntimeError as exc:  # torch.OutOfMemoryError subclasses RuntimeError
                if not _is_oom(exc) or chunk == 1:
                    raise
                chunk = max(1, chunk // 2)
                if device.type == "cuda":
                    torch.cuda.empty_cache()
                if log is not None:
                    log(f"out of memory with {stop - start} rows of {T} tokens; retrying with {chunk} rows per forward")
                continue
            for r in range(start, stop):
                hidden[r] = h[r - start]
            calls += 1
            start = stop
        r0, c0 = place[0]
        pick_r = torch.as_tensor(rows[1:] + [r0] * (K + 1), device=device, dtype=torch.long)
        pick_c = torch.as_tensor(cols[1:] + list(range(c0 + T - 1 - K, c0 + T)), device=device, dtype=torch.long)
        hs = torch.stack(hidden)[pick_r, pick_c]
        logits = _head(model, hs)
    S = len(plan.segments) - 1
    full_logits = logits[-1]
    return _finish(plan, full_logits, logits[:S], logits[S:S + K], ids[T - K:], R * T, calls, t0)
