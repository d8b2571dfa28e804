"""Sliding window (recent-k): keep the most recent cached positions."""
from __future__ import annotations

from dataclasses import dataclass

from .base import CachePolicy, ScoreContext


@dataclass(frozen=True)
class Sliding(CachePolicy):
    """Recency eviction: score = position, so the cache holds the last ``k - 1`` tokens and the
    prediction sees the theory's window of ``w = k`` tokens."""

    name = "sliding"
    step_invariant = True

    def score(self, ctx: ScoreContext):
        """``(1, B, 1, K)``: position index ``j`` (recent = high)."""
        import torch

        pos = torch.arange(ctx.n_cached, dtype=torch.float32)
        return pos.expand(1, ctx.batch_size, 1, ctx.n_cached)
