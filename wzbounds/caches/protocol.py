"""What every streaming cache policy on the Santa Fe source provides.

A token is a pair (key, bit): key k ≥ 1, bit Z_k ∈ {0, 1} fixed per key. A policy sees the tokens
one at a time (``observe``) and its decoder outputs P(Z_key = 1 | cache) for the next query key
(``prob_bit_one``). ``batch_losses`` is the same policy run over a whole sequence from an empty
cache, vectorised; ``tests/cover/test_caches.py`` checks it equals the streaming run step by step.

Loss convention: the per-step excess log-loss in bits against the infinite-past predictor, which
knows every bit, i.e. -log2 q(Z_{K_t}) where q is the decoder's bit law. The key part of the
prediction is p_{K_t} for every policy and cancels.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from .._validation import positive_int


@runtime_checkable
class CachePolicy(Protocol):
    #: short name ("sliding", "selective", "summary")
    name: str
    #: the theorem class the policy belongs to ("suffix", "selective", "summary")
    policy_class: str
    #: memory size and its unit ("tokens" or "bits")
    memory: int
    memory_unit: str

    def reset(self) -> None: ...

    def observe(self, key: int, bit: int) -> None: ...

    def prob_bit_one(self, key: int) -> float: ...

    def batch_losses(self, keys: np.ndarray, bits: np.ndarray) -> np.ndarray: ...


def previous_occurrence(keys: np.ndarray) -> np.ndarray:
    """prev[t] = largest s < t with keys[s] == keys[t], or -1; shape (n,) int64."""
    keys = np.asarray(keys)
    order = np.argsort(keys, kind="stable")  # stable: equal keys stay in time order
    prev = np.full(keys.shape[0], -1, dtype=np.int64)
    same = keys[order[1:]] == keys[order[:-1]]
    prev[order[1:][same]] = order[:-1][same]
    return prev


def top_keys_seen(keys: np.ndarray, m: int) -> np.ndarray:
    """True where the query key is one of keys 1..m and occurred before; shape (n,) bool."""
    return (np.asarray(keys) <= m) & (previous_occurrence(keys) >= 0)


def memory_iv(name: str, value) -> int:
    return positive_int(name, value, minimum=0)
