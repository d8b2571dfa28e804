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
        """``(L', B, H', K)`` (the shape of ``ctx.position_ids()``): the entry's position."""
        import torch

        return ctx.position_ids().to(torch.float32)
