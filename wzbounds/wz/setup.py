"""The sequential Wyner–Ziv setup of online KV-cache compression, made concrete on a finite source.

At step t the **encoder** has seen the context X_1..X_{t-1} and keeps a **cache state**; the
**decoder** sees only the cache and the **side information** (the next query, which the model
computes from the cache and the position t) and outputs a next-token law p̃_t. The
**distortion** is KL(p_t ‖ p̃_t) with p_t = P(X_t | X_1^{t-1}) (``proofs/CONVENTIONS.md``).

A **suffix-only policy** with window w keeps the last w tokens; its side information is a
function of those w tokens and of t, so the decoder's output is a function of the window
contents alone: a table ``q`` of shape ``(V,)*w + (V,)`` whose last axis is a law on V.

:class:`FiniteSequenceSource` holds a joint law of T tokens over a vocabulary of size V as an
array of shape ``(V,)*T`` and computes, by exact enumeration, p_t, the Bayes window predictor
p̄_w = P(X_t | X_{t-w}^{t-1}), the truncation risk I_w = E KL(p_t ‖ p̄_w) and E KL(p_t ‖ q) for
any suffix-measurable decoder ``q``. Enumeration costs V^T, so keep V^T ≲ 10^6.

Contexts of probability zero carry no weight in any expectation; there the conditional laws
returned are uniform so that every returned array is a proper law (never NaN).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from scipy.special import rel_entr

from .._validation import positive_int, real_array

#: Largest |Σ p − 1| accepted for a joint law or a decoder row (float64 round-off on ≤10^6 cells).
SUM_TOLERANCE = 1e-9


# --------------------------------------------------------------------------- protocols
@dataclass(frozen=True)
class CacheState:
    """What the encoder keeps after reading ``position - 1`` tokens: the cached ``tokens``
    (oldest first) and the ``position`` t of the token to be predicted (1-based)."""

    tokens: tuple[int, ...]
    position: int


class Encoder(Protocol):
    """Cache-update rule: reads one token and returns the next cache state."""

    def initial_state(self) -> CacheState: ...

    def update(self, state: CacheState, token: int) -> CacheState: ...


class Decoder(Protocol):
    """Predicts the next-token law (shape ``(V,)``) from the cache and the side information."""

    def predict(self, state: CacheState, side_information) -> np.ndarray: ...


@dataclass(frozen=True)
class SlidingWindowEncoder:
    """Suffix-only encoder: the cache is the last ``window_tokens`` tokens."""

    window_tokens: int

    def __post_init__(self):
        positive_int("window_tokens", self.window_tokens, minimum=0)

    def initial_state(self) -> CacheState:
        return CacheState(tokens=(), position=1)

    def update(self, state: CacheState, token: int) -> CacheState:
        kept = (*state.tokens, int(token))[-self.window_tokens :] if self.window_tokens else ()
        return CacheState(tokens=kept, position=state.position + 1)


def next_query(state: CacheState) -> tuple[tuple[int, ...], int]:
    """Side information of a suffix-only decoder: the next query is computed from the cached
    tokens and the position, so the most it can carry is the pair (tokens, position)."""
    return state.tokens, state.position


@dataclass(frozen=True)
class SuffixDecoder:
    """Suffix-measurable decoder: ``table[window]`` is the law output for that window.

    ``table`` has shape ``(V,)*w + (V,)`` (w = ``window_tokens``); every last-axis row is a law.
    The side information is a function of the window and t (:func:`next_query`), so the
    table already covers every decoder of the suffix-only class at a fixed position.
    """

    table: np.ndarray

    def __post_init__(self):
        object.__setattr__(self, "table", _decoder_table_iv("table", self.table))

    @property
    def window_tokens(self) -> int:
        return self.table.ndim - 1

    def predict(self, state: CacheState, side_information=None) -> np.ndarray:
        window = state.tokens[len(state.tokens) - self.window_tokens :] if self.window_tokens else ()
        if len(window) != self.window_tokens:
            raise ValueError(f"`state` must hold at least {self.window_tokens} tokens, got {len(state.tokens)}")
        return self.table[tuple(window)]


def kl_nats(p, q) -> np.ndarray:
    """KL(p ‖ q) in nats along the last axis (shapes ``(..., V)``, broadcast).

    Raises ``ValueError`` where q = 0 < p (the divergence would be infinite)."""
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    if np.any((q <= 0) & (p > 0)):
        raise ValueError("`q` must be positive wherever `p` is: the KL divergence would be infinite")
    return rel_entr(p, q).sum(axis=-1)


# --------------------------------------------------------------------------- the source
def _decoder_table_iv(name, table) -> np.ndarray:
    arr = real_array(name, table, low=0.0, high=1.0, low_open=False)
    if arr.ndim < 1 or len(set(arr.shape)) != 1:
        raise ValueError(f"`{name}` must have shape (V,)*w + (V,), got {arr.shape}")
    gap = np.abs(arr.sum(axis=-1) - 1.0)
    if np.any(gap > SUM_TOLERANCE):
        raise ValueError(f"`{name}` rows must sum to 1 (within {SUM_TOLERANCE}), off by up to {gap.max():.3g}")
    return arr


def _conditional_last(joint: np.ndarray) -> np.ndarray:
    """P(last axis | leading axes); uniform where the leading context has probability zero."""
    mass = joint.sum(axis=-1, keepdims=True)
    uniform = np.full_like(joint, 1.0 / joint.shape[-1])
    return np.divide(joint, mass, out=uniform, where=mass > 0)


@dataclass(frozen=True)
class FiniteSequenceSource:
    """Joint law of T tokens X_1..X_T over V symbols: ``joint_prob`` of shape ``(V,)*T``,
    entry ``[x_1, ..., x_T]`` = P(X_1 = x_1, ..., X_T = x_T).

    Positions ``t`` are 1-based, 1 ≤ t ≤ T (default T); windows satisfy 0 ≤ w ≤ t − 1.
    """

    joint_prob: np.ndarray

    def __post_init__(self):
        object.__setattr__(self, "joint_prob", self._joint_iv(self.joint_prob))

    @staticmethod
    def _joint_iv(joint_prob) -> np.ndarray:
        arr = real_array("joint_prob", joint_prob, low=0.0, high=1.0, low_open=False)
        if arr.ndim < 1 or len(set(arr.shape)) != 1 or arr.shape[0] < 1:
            raise ValueError(f"`joint_prob` must have shape (V,)*T with V, T >= 1, got {arr.shape}")
        if abs(arr.sum() - 1.0) > SUM_TOLERANCE:
            raise ValueError(f"`joint_prob` must sum to 1 (within {SUM_TOLERANCE}), got {arr.sum()!r}")
        arr = arr.copy()
        arr.flags.writeable = False
        return arr

    @property
    def alphabet_size(self) -> int:
        return self.joint_prob.shape[0]

    @property
    def length(self) -> int:
        return self.joint_prob.ndim

    # -- validation shared by the methods
    def _position_iv(self, t) -> int:
        if t is None:
            return self.length
        t = positive_int("t", t, minimum=1)
        if t > self.length:
            raise ValueError(f"`t` must lie in [1, {self.length}], got {t}")
        return t

    def _window_iv(self, w, t) -> int:
        w = positive_int("window_tokens", w, minimum=0)
        if w > t - 1:
            raise ValueError(f"`window_tokens` must lie in [0, t - 1] = [0, {t - 1}], got {w}")
        return w

    # -- laws
    def marginal(self, t=None) -> np.ndarray:
        """Law of X_1..X_t, shape ``(V,)*t``."""
        t = self._position_iv(t)
        return self.joint_prob.sum(axis=tuple(range(t, self.length)))

    def next_token_law(self, t=None) -> np.ndarray:
        """p_t = P(X_t | X_1^{t-1}), shape ``(V,)*(t-1) + (V,)``."""
        return _conditional_last(self.marginal(t))

    def window_marginal(self, window_tokens, t=None) -> np.ndarray:
        """Law of (X_{t-w}..X_{t-1}, X_t), shape ``(V,)*w + (V,)``."""
        t = self._position_iv(t)
        w = self._window_iv(window_tokens, t)
        return self.marginal(t).sum(axis=tuple(range(t - 1 - w)))

    def window_predictor(self, window_tokens, t=None) -> np.ndarray:
        """Bayes window predictor p̄_w = P(X_t | X_{t-w}^{t-1}), shape ``(V,)*w + (V,)``."""
        return _conditional_last(self.window_marginal(window_tokens, t))

    # -- risks (nats)
    def expected_kl(self, q, window_tokens, t=None) -> float:
        """E KL(p_t ‖ q(X_{t-w}^{t-1})) in nats for a suffix decoder table ``q`` of shape
        ``(V,)*w + (V,)``; computed over the full context, not through the identity."""
        t = self._position_iv(t)
        w = self._window_iv(window_tokens, t)
        q = _decoder_table_iv("q", q)
        if q.shape != (self.alphabet_size,) * (w + 1):
            raise ValueError(f"`q` must have shape {(self.alphabet_size,) * (w + 1)}, got {q.shape}")
        joint = self.marginal(t)
        p_t = _conditional_last(joint)
        # q indexed by the window broadcasts against the full context (leading axes of size 1).
        q_full = q.reshape((1,) * (t - 1 - w) + q.shape)
        if np.any((q_full <= 0) & (joint > 0)):
            raise ValueError("`q` must be positive wherever X_t has positive probability: E KL would be infinite")
        context_prob = joint.sum(axis=-1)
        return float(np.sum(context_prob * kl_nats(np.where(joint > 0, p_t, 0.0), q_full)))

    def truncation_risk(self, window_tokens, t=None) -> float:
        """I_w = E KL(p_t ‖ p̄_w) in nats."""
        t = self._position_iv(t)
        w = self._window_iv(window_tokens, t)
        joint = self.marginal(t)
        p_bar = self.window_predictor(w, t).reshape((1,) * (t - 1 - w) + (self.alphabet_size,) * (w + 1))
        return float(np.sum(rel_entr(joint, joint.sum(axis=-1, keepdims=True) * p_bar)))

    def conditional_mutual_information(self, window_tokens, t=None) -> float:
        """I(X_t ; X_{<t-w} | X_{t-w}^{t-1}) = H(X_t | window) − H(X_t | X_{<t}) in nats,
        computed from entropies (an independent route to I_w)."""
        t = self._position_iv(t)
        w = self._window_iv(window_tokens, t)
        return _conditional_entropy(self.window_marginal(w, t)) - _conditional_entropy(self.marginal(t))

    def excess_risk(self, q, window_tokens, t=None) -> float:
        """E KL(p̄_w ‖ q) in nats over the window law (the decoder's excess over Bayes)."""
        t = self._position_iv(t)
        w = self._window_iv(window_tokens, t)
        q = _decoder_table_iv("q", q)
        window_joint = self.window_marginal(w, t)
        if np.any((q <= 0) & (window_joint > 0)):
            raise ValueError("`q` must be positive wherever the Bayes predictor is: E KL would be infinite")
        p_bar = _conditional_last(window_joint)
        return float(np.sum(window_joint.sum(axis=-1) * kl_nats(np.where(window_joint > 0, p_bar, 0.0), q)))


def _conditional_entropy(joint: np.ndarray) -> float:
    """H(last axis | leading axes) in nats of a joint law array."""
    context = joint.sum(axis=-1, keepdims=True)
    ratio = np.divide(joint, context, out=np.ones_like(joint), where=joint > 0)
    return float(-np.sum(joint * np.log(ratio)))
