"""Sink-plus-recent (StreamingLLM): keep the first ``sinks`` tokens and the most recent ones."""
from __future__ import annotations

from dataclasses import dataclass

from .base import CachePolicy, ScoreContext


@dataclass(frozen=True)
class SinkRecent(CachePolicy):
    """Attention sinks plus recency: the first ``sinks`` positions outrank every other, then
    recency. At budget ``k`` the prediction sees ``min(sinks, k-1)`` sinks and the last
    ``k - min(sinks, k-1)`` tokens (query included). Positions keep their original indices
    (no StreamingLLM re-indexing) except under truncation with ``reindex``."""

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
        """``(L', B, H', K)``: position ``j``, plus ``ctx.query_position`` (above every cached
        position) for the first ``sinks`` positions."""
        import torch

        pos = ctx.position_ids()
        return (pos + ctx.query_position * (pos < self.sinks)).to(torch.float32)
