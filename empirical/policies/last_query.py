"""Last-query heavy hitter: keep the keys the query token attends to most."""
from __future__ import annotations

from dataclasses import dataclass

from .base import CachePolicy, ScoreContext


@dataclass(frozen=True)
class LastQuery(CachePolicy):
    """Score = the query token's attention probability over the full cache (per layer and KV
    head). A lightweight heavy hitter: one attention row instead of H2O's accumulated columns.
    It looks at the next query, i.e. the decoder's side information."""

    name = "lastq"
    needs = frozenset({"last_query_attention"})

    def score(self, ctx: ScoreContext):
        """``(L, B, H, K)``: the query's attention probabilities."""
        return ctx.require("last_query_attention").float()
