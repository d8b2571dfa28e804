"""Summary cache: an M-bit recurrent state C_t = f(C_{t-1}, X_{t-1}) holding the bits of keys 1..M."""

from __future__ import annotations

import math

import numpy as np

from .protocol import memory_iv, top_keys_seen


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
        # filled slots only (key -> bit): storage grows with the keys seen, not with M
        self._slots: dict[int, int] = {}

    def observe(self, key: int, bit: int) -> None:
        # the update reads only the previous state and the newest token: a recurrent summary
        if key <= self.memory:
            self._slots[int(key)] = int(bit)

    def prob_bit_one(self, key: int) -> float:
        bit = self._slots.get(int(key))
        return 0.5 if bit is None else float(bit)

    def batch_losses(self, keys: np.ndarray, bits: np.ndarray) -> np.ndarray:
        """Excess log-loss (bits) per step, shape (n,): 0 iff key ≤ M and already seen."""
        return (~top_keys_seen(keys, self.memory)).astype(np.float64)
