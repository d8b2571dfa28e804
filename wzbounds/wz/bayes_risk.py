"""Bayes-risk identity for KL (``proofs/bayes_risk_identity.md``).

For every decoder q measurable with respect to the window X_{t-w}^{t-1} (the suffix-only
class, side information included):

    E KL(p_t ‖ q) = I_w + E KL(p̄_w ‖ q),      I_w = E KL(p_t ‖ p̄_w) = I(X_t ; X_{<t-w} | window),

so the Bayes predictor p̄_w is the best suffix-only decoder and I_w is the smallest
distortion any w-token suffix policy can reach. I_w is non-increasing in w.

:func:`bayes_risk_decomposition` computes the three terms **separately** on a
:class:`~wzbounds.wz.setup.FiniteSequenceSource` (the total over the full context, I_w from
the Bayes predictor, the excess over the window law), so the identity is checked, not assumed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validation import positive_int
from .setup import FiniteSequenceSource

THEOREM_ID = "bayes_risk_identity"


@dataclass(frozen=True)
class BayesRiskDecomposition:
    """E KL(p_t ‖ q) = I_w + E KL(p̄_w ‖ q), every term in nats, each computed independently.

    ``identity_gap_nats`` = total − (truncation + excess): zero up to float64 round-off."""

    window_tokens: int
    position: int
    expected_kl_nats: float
    truncation_risk_nats: float
    excess_risk_nats: float
    identity_gap_nats: float
    theorem_id: str = THEOREM_ID


@dataclass(frozen=True)
class TruncationRiskProfile:
    """I_w in nats for w = 0..t−1 at position t (``truncation_risk_nats[w]``); non-increasing."""

    position: int
    window_tokens: np.ndarray
    truncation_risk_nats: np.ndarray
    theorem_id: str = THEOREM_ID


def _source_iv(source):
    if not isinstance(source, FiniteSequenceSource):
        raise ValueError(f"`source` must be a FiniteSequenceSource, got {type(source).__name__}")
    return source


def bayes_risk_decomposition(source, q, window_tokens, *, t=None) -> BayesRiskDecomposition:
    """Decompose the expected KL of the suffix decoder ``q`` (shape ``(V,)*w + (V,)``, rows laws
    on V, positive where X_t can occur) at position ``t`` (1-based, default T) with window
    ``window_tokens`` = w (0 ≤ w ≤ t − 1)."""
    source = _source_iv(source)
    t = source.length if t is None else positive_int("t", t)
    total = source.expected_kl(q, window_tokens, t)
    truncation = source.truncation_risk(window_tokens, t)
    excess = source.excess_risk(q, window_tokens, t)
    return BayesRiskDecomposition(
        window_tokens=int(window_tokens),
        position=t,
        expected_kl_nats=total,
        truncation_risk_nats=truncation,
        excess_risk_nats=excess,
        identity_gap_nats=total - truncation - excess,
    )


def truncation_risk_profile(source, *, t=None) -> TruncationRiskProfile:
    """I_w for every window 0 ≤ w ≤ t − 1 at position ``t`` (default T), in nats."""
    source = _source_iv(source)
    t = source.length if t is None else positive_int("t", t)
    windows = np.arange(t)
    risks = np.array([source.truncation_risk(int(w), t) for w in windows])
    return TruncationRiskProfile(position=t, window_tokens=windows, truncation_risk_nats=risks)
