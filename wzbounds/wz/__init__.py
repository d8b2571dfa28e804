"""Sequential Wyner–Ziv view of KV-cache compression: the finite setup and the Bayes-risk
identity (:mod:`.setup`, :mod:`.bayes_risk`), one-shot Wyner–Ziv rate–distortion
(:mod:`.rate_distortion`), the cache rate–distortion function — the least cache in bits for a
target distortion — with its laws from the project's sources (:mod:`.cache_rd`,
:mod:`.cache_laws`), and error propagation / rate allocation across layers (:mod:`.layers`)."""

from .bayes_risk import BayesRiskDecomposition, bayes_risk_decomposition, truncation_risk_profile
from .cache_laws import (
    CacheLaw,
    WindowComparison,
    dsbs_cache_curve,
    dsbs_cache_law,
    hmm_cache_law,
    markov_cache_law,
    mixture_cache_law,
    santa_fe_cache_curve,
    santa_fe_cache_law,
    side_information_cache_law,
    window_cache,
    window_comparison,
)
from .cache_rd import CachePoint, CacheRateDistortionResult, cache_rate_distortion, evaluate_cache, query_withheld_law
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
    "BayesRiskDecomposition",
    "CacheLaw",
    "CachePoint",
    "CacheRateDistortionResult",
    "FiniteSequenceSource",
    "RateDistortionResult",
    "SlidingWindowEncoder",
    "SuffixDecoder",
    "WindowComparison",
    "allocate_rate",
    "bayes_risk_decomposition",
    "cache_rate_distortion",
    "conditional_rate_distortion",
    "dsbs_cache_curve",
    "dsbs_cache_law",
    "dsbs_wyner_ziv_rd",
    "evaluate_cache",
    "hmm_cache_law",
    "layer_sensitivity",
    "markov_cache_law",
    "mixture_cache_law",
    "query_withheld_law",
    "rate_distortion",
    "santa_fe_cache_curve",
    "santa_fe_cache_law",
    "side_information_cache_law",
    "truncation_risk_profile",
    "window_cache",
    "window_comparison",
    "wyner_ziv_rd",
]
