"""Sliding window (the suffix-only class): keep the last w tokens."""

from __future__ import annotations

from collections import deque

import numpy as np

from .protocol import memory_iv, previous_occurrence


class SlidingWindow:
    """Keeps tokens X_{t-w}, ..., X_{t-1}; the decoder is the Bayes predictor from that window
    (bit known if the query key occurs in the window, uniform otherwise). Memory: w tokens."""

    name = "sliding"
    policy_class = "suffix"
    memory_unit = "tokens"

    def __init__(self, window_tokens: int):
        self.memory = memory_iv("window_tokens", window_tokens)
        self.reset()

    def reset(self) -> None:
        self._window: deque[tuple[int, int]] | None = deque(maxlen=self.memory) if self.memory else None

    def observe(self, key: int, bit: int) -> None:
        if self._window is not None:
            self._window.append((int(key), int(bit)))

    def prob_bit_one(self, key: int) -> float:
        for k, z in reversed(self._window or ()):
            if k == key:
                return float(z)
        return 0.5

    def batch_losses(self, keys: np.ndarray, bits: np.ndarray) -> np.ndarray:
        """Excess log-loss (bits) per step, shape (n,): 1 unless the key recurs within w steps."""
        t = np.arange(np.shape(keys)[0])
        prev = previous_occurrence(keys)
        hit = (prev >= 0) & (t - prev <= self.memory)
        return (~hit).astype(np.float64)
