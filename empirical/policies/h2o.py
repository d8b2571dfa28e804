"""Heavy-Hitter Oracle (H2O, Zhang et al. 2023): heavy hitters plus a recent window."""
from __future__ import annotations

import math
from dataclasses import dataclass

from .base import CachePolicy, ScoreContext


@dataclass(frozen=True)
class HeavyHitter(CachePolicy):
    """H2O as published: of the ``k`` tokens the prediction sees (query included), the most recent
    ``round(recent_ratio * k)`` form the recent window and the rest are the heavy hitters — the
    cached keys with the largest accumulated attention (the attention probability every query
    that saw the key gave it, per layer and KV head, summed over the KV group's query heads).
    The default ``recent_ratio = 0.5`` is the paper's half-and-half split; ``0`` is the pure
    accumulated-attention rule (registered as ``h2o-acc``).

    Post-prefill: the statistic is accumulated over the prefill queries, then the cache is
    evicted once. Streaming (as in the paper, evicting while generating): the cache is decoded
    one token at a time; at every step the statistic includes the attention of every query so
    far under the policy's own evictions, and the lowest-scored entry outside the recent window
    is evicted.
    """

    recent_ratio: float = 0.5
    name = "h2o"
    needs = frozenset({"accumulated_attention"})

    def __post_init__(self):
        r = self.recent_ratio
        if isinstance(r, bool) or not isinstance(r, (int, float)) or not 0 <= r <= 1:
            raise ValueError(f"`recent_ratio` must be a number in [0, 1], got {r!r}")

    @property
    def label(self) -> str:
        if self.recent_ratio == 0:
            return "h2o-acc"
        return "h2o" if self.recent_ratio == 0.5 else f"h2o(recent_ratio={self.recent_ratio:g})"

    def n_recent_cached(self, budget: int) -> int:
        """Cached entries in the recent window at budget ``k``: ``round(recent_ratio * k)`` tokens
        (halves rounded up), less the query, which is always seen."""
        return max(math.floor(self.recent_ratio * budget + 0.5) - 1, 0)

    def score(self, ctx: ScoreContext):
        """``(L, B, H, K)``: accumulated attention; ``+inf`` for the recent window (the entries at
        positions ``>= query_position - n_recent_cached(budget)``), so it is always kept."""
        acc = ctx.require("accumulated_attention").float()
        if self.recent_ratio == 0:
            return acc
        recent = ctx.position_ids() >= ctx.query_position - self.n_recent_cached(ctx.require_budget())
        return acc.masked_fill(recent, float("inf"))
