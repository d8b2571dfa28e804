"""Summary cache: an M-bit recurrent state C_t = f(C_{t-1}, X_{t-1}) holding the bits of keys 1..M."""
from __future__ import annotations

import math

import numpy as np

from .protocol import memory_iv, top_keys_seen

_UNSEEN = 2


class BitSummary:
    """Slot k ∈ {1..M} stores Z_k once key k has been seen. In the stationary regime (infinite past)
    every slot is filled, so the state is exactly M bits; a cold start also needs to mark unfilled
    slots, so until all fill the state takes 3^M values (``cold_start_state_bits``)."""

    name = "summary"
    policy_class = "summary"
    memory_unit = "bits"

    def __init__(self, memory_bits: int):
        self.memory = memory_iv("memory_bits", memory_bits)
        self.reset()

    @property
    def cold_start_state_bits(self) -> float:
        return self.memory * math.log2(3.0)

    def reset(self) -> None:
        self._slots = np.full(self.memory, _UNSEEN, dtype=np.uint8)

    def observe(self, key: int, bit: int) -> None:
        # the update reads only the previous state and the newest token: a recurrent summary
        if key <= self.memory:
            self._slots[key - 1] = bit

    def prob_bit_one(self, key: int) -> float:
        if key > self.memory or self._slots[key - 1] == _UNSEEN:
            return 0.5
        return float(self._slots[key - 1])

    def batch_losses(self, keys: np.ndarray, bits: np.ndarray) -> np.ndarray:
        """Excess log-loss (bits) per step, shape (n,): 0 iff key ≤ M and already seen."""
        return (~top_keys_seen(keys, self.memory)).astype(np.float64)
