"""Selective cache: keep the most recent occurrence of each of the m most probable keys."""

from __future__ import annotations

import numpy as np

from .protocol import memory_iv, top_keys_seen


class TopKeysCache:
    """Holds at most m tokens: the latest token of each key in {1, ..., m} (Santa Fe ranks keys by
    probability, so these are the m most probable). The choice of tokens depends on keys only,
    never on bits (a value-oblivious rule, the class of ``proofs/selective_cache.md``)."""

    name = "selective"
    policy_class = "selective"
    memory_unit = "tokens"

    def __init__(self, memory_tokens: int):
        self.memory = memory_iv("memory_tokens", memory_tokens)
        self.reset()

    def reset(self) -> None:
        self._kept: dict[int, tuple[int, int]] = {}  # key -> (position, bit) of its latest token
        self._t = 0

    def observe(self, key: int, bit: int) -> None:
        if key <= self.memory:
            self._kept[int(key)] = (self._t, int(bit))  # evicts the older token of this key
        self._t += 1

    @property
    def tokens_held(self) -> int:
        return len(self._kept)

    def prob_bit_one(self, key: int) -> float:
        kept = self._kept.get(int(key))
        return 0.5 if kept is None else float(kept[1])

    def batch_losses(self, keys: np.ndarray, bits: np.ndarray) -> np.ndarray:
        """Excess log-loss (bits) per step, shape (n,): 0 iff the key is among the top m and seen."""
        return (~top_keys_seen(keys, self.memory)).astype(np.float64)
