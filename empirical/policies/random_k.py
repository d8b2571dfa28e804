"""Random retention: keep a seeded uniformly random subset of the cache."""
from __future__ import annotations

from dataclasses import dataclass

from .base import CachePolicy, ScoreContext


@dataclass(frozen=True)
class RandomK(CachePolicy):
    """Random-k: position ``j`` of a prefix gets the ``j``-th i.i.d. uniform draw of a generator
    seeded by ``(seed, prefix seed)`` (the same draw whatever the step, so the policy is
    step-invariant). Post-prefill and truncation: a uniform random ``(k-1)``-subset. Streaming:
    the cache evicts its lowest-tagged entry, so survivors are random, not recent."""

    seed: int = 0
    name = "random"
    step_invariant = True

    def __post_init__(self):
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"`seed` must be an integer >= 0, got {self.seed!r}")

    def score(self, ctx: ScoreContext):
        """``(L', B, H', K)`` (the shape of ``ctx.position_ids()``): the rank of each position's
        draw among the draws of positions ``0 .. query_position - 1``, as float32.

        The draws are float64 on the CPU (reproducible on every device); their ranks are exact
        small integers, so the scores can live on any device in float32 without ties."""
        import numpy as np
        import torch

        n = ctx.query_position  # every cached position is below the query's
        draws = np.stack([np.random.default_rng([self.seed, int(s)]).random(n) for s in ctx.seeds])
        ranks = torch.as_tensor(draws.argsort(axis=1).argsort(axis=1), dtype=torch.float32)
        pos = ctx.position_ids()
        table = ranks.to(ctx.device)[None, :, None, :].expand(pos.shape[0], -1, pos.shape[2], -1)
        return table.gather(-1, pos)
