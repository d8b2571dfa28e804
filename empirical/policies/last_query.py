"""Last-query attention: keep the keys the latest query attends to most."""
from __future__ import annotations

from dataclasses import dataclass

from .base import CachePolicy, ScoreContext


@dataclass(frozen=True)
class LastQuery(CachePolicy):
    """Score = the latest query's attention probability over the cached entries (per layer and
    KV head, summed over the KV group's query heads).

    Post-prefill: that query is the one being predicted for, attending to the full cache — an
    oracle selection that looks at the decoder's side information. Streaming: it is the token
    just processed, attending to the entries it saw under the policy's own evictions (itself
    included); the lowest-scored entry is evicted before the next token. That is TOVA's rule
    (Oren et al. 2024, "evict by the current query's attention"), here per KV head where TOVA
    averages the heads of a layer.
    """

    name = "lastq"
    needs = frozenset({"last_query_attention"})

    def score(self, ctx: ScoreContext):
        """``(L, B, H, K)``: the latest query's attention probabilities."""
        return ctx.require("last_query_attention").float()
