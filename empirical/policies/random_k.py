"""Random retention: keep a seeded uniformly random subset of the cache."""
from __future__ import annotations

from dataclasses import dataclass

from .base import CachePolicy, ScoreContext


@dataclass(frozen=True)
class RandomK(CachePolicy):
    """Random-k: each cached position gets an i.i.d. uniform score drawn from a generator seeded
    by ``(seed, prefix seed)``. Post-prefill and truncation: a uniform random ``(k-1)``-subset.
    Streaming: the cache evicts its lowest-tagged entry, so survivors are random, not recent."""

    seed: int = 0
    name = "random"
    step_invariant = True

    def score(self, ctx: ScoreContext):
        """``(1, B, 1, K)``: i.i.d. uniform(0, 1) scores, one stream per prefix."""
        import numpy as np
        import torch

        rows = [np.random.default_rng([self.seed, int(s)]).random(ctx.n_cached) for s in ctx.seeds]
        return torch.as_tensor(np.stack(rows), dtype=torch.float64).reshape(1, ctx.batch_size, 1, ctx.n_cached)
