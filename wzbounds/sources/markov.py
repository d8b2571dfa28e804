"""Stationary Markov chain of order k: I_w = 0 for w >= k, exact by enumeration for w < k.

``transition`` has shape (V,)*k + (V,): transition[x_{t-k}, ..., x_{t-1}, x_t] = P(x_t | last k).
The chain is started from the stationary law of its k-tuples (required unique).
"""

from __future__ import annotations

import math

import numpy as np

from .._validation import positive_int
from ..units import check_kl_unit
from .base import Source, generator_iv


def _kl_terms(joint: np.ndarray, p_full: np.ndarray, p_window: np.ndarray) -> float:
    """sum joint * log(p_full / p_window) over cells with joint > 0 (nats)."""
    mask = joint > 0
    return float(np.sum(joint[mask] * (np.log(p_full[mask]) - np.log(p_window[mask]))))


def stochastic_iv(name: str, value, ndim_min: int = 1) -> np.ndarray:
    """A float64 array whose last axis sums to 1 with entries >= 0 (tolerance 1e-9: float input)."""
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim < ndim_min or arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ValueError(f"`{name}` must be a finite non-negative array with >= {ndim_min} axes")
    if not np.allclose(arr.sum(axis=-1), 1.0, atol=1e-9, rtol=0):
        raise ValueError(f"`{name}` rows (last axis) must sum to 1")
    return arr / arr.sum(axis=-1, keepdims=True)


def stationary_law(matrix: np.ndarray) -> np.ndarray:
    """The unique stationary law of a row-stochastic matrix; ValueError if not unique."""
    n = matrix.shape[0]
    # pi (P - I) = 0 and sum pi = 1 as an overdetermined least-squares system
    lhs = np.vstack([matrix.T - np.eye(n), np.ones((1, n))])
    rhs = np.concatenate([np.zeros(n), [1.0]])
    if np.linalg.matrix_rank(lhs[:-1]) < n - 1:
        raise ValueError("the chain must have a unique stationary law (one closed class)")
    pi = np.linalg.lstsq(lhs, rhs, rcond=None)[0]
    pi = np.clip(pi, 0.0, None)
    return pi / pi.sum()


class MarkovChain(Source):
    """Order-k Markov chain on V symbols (k = transition.ndim - 1 >= 1)."""

    theorem_id = "hmm_geometric"

    def __init__(self, transition):
        self.transition = stochastic_iv("transition", transition, ndim_min=2)
        V = self.transition.shape[-1]
        if any(s != V for s in self.transition.shape):
            raise ValueError(f"`transition` must have shape (V,)*(k+1), got {self.transition.shape}")
        self.alphabet_size, self.order = V, self.transition.ndim - 1
        k = self.order
        # lift to the chain on k-tuples: (x_1..x_k) -> (x_2..x_{k+1})
        flat = self.transition.reshape(V**k, V)
        lifted = np.zeros((V**k, V**k))
        for s in range(V**k):
            nxt = (s * V) % (V**k) + np.arange(V)
            lifted[s, nxt] += flat[s]
        self._tuple_law = stationary_law(lifted)
        # stationary law of k+1 consecutive symbols, shape (V,)*(k+1)
        self._joint = (self._tuple_law[:, None] * flat).reshape(self.transition.shape)

    def __repr__(self):
        return f"MarkovChain(order={self.order}, alphabet_size={self.alphabet_size})"

    def _risk_one(self, w: int) -> float:
        if w >= self.order:
            return 0.0
        k = self.order
        # P(x_t | last w) from the marginal over the last w + 1 symbols
        marg = self._joint.sum(axis=tuple(range(k - w))) if k - w > 0 else self._joint
        cond = marg / np.where(marg.sum(axis=-1, keepdims=True) > 0, marg.sum(axis=-1, keepdims=True), 1.0)
        window_pred = np.broadcast_to(cond.reshape((1,) * (k - w) + cond.shape), self._joint.shape)
        return max(_kl_terms(self._joint, self.transition, window_pred), 0.0)

    def _bayes_risk_nats(self, w):
        uniq, inverse = np.unique(w.ravel(), return_inverse=True)
        vals = np.array([self._risk_one(int(v)) for v in uniq])
        return vals[inverse].reshape(w.shape)

    def profile(self, divergence: str = "kl_nats"):
        """Exponential(rho=1/2, C = max_{1<=w<k} I_w 2^w, w0=1): exact since I_w = 0 for w >= k.

        For k = 1 every I_w (w >= 1) is 0 and C is the smallest positive normal float (the
        profile class needs C > 0). KL units only.
        """
        from ..profiles import Exponential

        check_kl_unit(divergence)
        w = np.arange(1, self.order)
        risks = self.bayes_risk(w) * 2.0**w if w.size else np.zeros(0)
        C = max(float(np.max(risks, initial=0.0)), np.finfo(np.float64).tiny)
        scale = 1.0 if divergence == "kl_nats" else 1 / math.log(2.0)
        return Exponential(
            rho=0.5,
            C=C * scale,
            w0=1,
            divergence=divergence,
            provenance={"source": repr(self), "theorem": self.theorem_id},
        )

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """n symbols from the stationary chain: int64 array of shape (n,)."""
        n = positive_int("n", n, minimum=0)
        rng = generator_iv(rng)
        V, k = self.alphabet_size, self.order
        state = int(rng.choice(V**k, p=self._tuple_law))
        flat = self.transition.reshape(V**k, V)
        cum = np.cumsum(flat, axis=1)
        u = rng.random(n)
        out = np.empty(n, dtype=np.int64)
        for t in range(n):
            x = min(int(np.searchsorted(cum[state], u[t], side="right")), V - 1)
            out[t] = x
            state = (state * V) % (V**k) + x
        return out
