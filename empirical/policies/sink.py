"""Sink-plus-recent (StreamingLLM): keep the first ``sinks`` tokens and the most recent ones."""
from __future__ import annotations

from dataclasses import dataclass

from .base import CachePolicy, ScoreContext


@dataclass(frozen=True)
class SinkRecent(CachePolicy):
    """Attention sinks plus recency: the first ``sinks`` positions outrank every other, then
    recency. At budget ``k`` the prediction sees ``min(sinks, k-1)`` sinks and the last
    ``k - min(sinks, k-1)`` tokens (query included). Positions keep their original indices
    (no StreamingLLM re-indexing) except under truncation, which re-encodes from 0."""

    sinks: int = 4
    name = "sink"
    step_invariant = True

    def __post_init__(self):
        if isinstance(self.sinks, bool) or not isinstance(self.sinks, int) or self.sinks < 0:
            raise ValueError(f"`sinks` must be an integer >= 0, got {self.sinks!r}")

    @property
    def label(self) -> str:
        return f"sink({self.sinks})"

    def score(self, ctx: ScoreContext):
        """``(1, B, 1, K)``: ``j + K`` for the first ``sinks`` positions, ``j`` otherwise."""
        import torch

        k = ctx.n_cached
        pos = torch.arange(k, dtype=torch.float32)
        pos = pos + k * (pos < self.sinks).float()
        return pos.expand(1, ctx.batch_size, 1, k)
