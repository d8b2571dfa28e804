"""Heavy-hitter oracle (H2O): keep the keys with the largest accumulated attention."""
from __future__ import annotations

from dataclasses import dataclass

from .base import CachePolicy, ScoreContext


@dataclass(frozen=True)
class HeavyHitter(CachePolicy):
    """H2O: score = attention probability each cached key received, summed over all prefill
    queries (per layer and KV head). With ``recent > 0`` the last ``recent`` cached positions are
    always kept too (H2O's recent window); the default 0 is the pure heavy-hitter rule."""

    recent: int = 0
    name = "h2o"
    needs = frozenset({"accumulated_attention"})

    def __post_init__(self):
        if isinstance(self.recent, bool) or not isinstance(self.recent, int) or self.recent < 0:
            raise ValueError(f"`recent` must be an integer >= 0, got {self.recent!r}")

    @property
    def label(self) -> str:
        return f"h2o(recent={self.recent})" if self.recent else "h2o"

    def score(self, ctx: ScoreContext):
        """``(L, B, H, K)``: accumulated attention, plus a bonus above any attention mass for
        the last ``recent`` positions."""
        import torch

        acc = ctx.require("accumulated_attention").float()
        k = acc.shape[-1]
        bonus = (torch.arange(k) >= k - self.recent).float() * (k + 1.0)  # acc <= K queries
        return acc + bonus
