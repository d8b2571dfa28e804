"""Sequential Wyner–Ziv view of KV-cache compression: the finite setup and the Bayes-risk
identity (:mod:`.setup`, :mod:`.bayes_risk`), one-shot Wyner–Ziv rate–distortion
(:mod:`.rate_distortion`) and error propagation / rate allocation across layers (:mod:`.layers`)."""

from .bayes_risk import BayesRiskDecomposition, bayes_risk_decomposition, truncation_risk_profile
from .layers import allocate_rate, layer_sensitivity
from .rate_distortion import (
    RateDistortionResult,
    conditional_rate_distortion,
    dsbs_wyner_ziv_rd,
    rate_distortion,
    wyner_ziv_rd,
)
from .setup import FiniteSequenceSource, SlidingWindowEncoder, SuffixDecoder

__all__ = [
    "BayesRiskDecomposition", "FiniteSequenceSource", "RateDistortionResult", "SlidingWindowEncoder",
    "SuffixDecoder", "allocate_rate", "bayes_risk_decomposition", "conditional_rate_distortion",
    "dsbs_wyner_ziv_rd", "layer_sensitivity", "rate_distortion", "truncation_risk_profile", "wyner_ziv_rd",
]
