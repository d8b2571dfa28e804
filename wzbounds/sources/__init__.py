"""Synthetic sources with exactly known truncation sensitivity (proofs: santa_fe, bayes_mixture,
hmm_geometric). Each exposes ``sample(n, rng)``, ``bayes_risk(w, unit)`` and ``profile(divergence)``."""

from .base import Source
from .hmm import HMM, MonteCarloRisk
from .markov import MarkovChain
from .mixture import BayesMixture
from .product import Product
from .santa_fe import SantaFe

__all__ = ["Source", "SantaFe", "BayesMixture", "MarkovChain", "HMM", "MonteCarloRisk", "Product"]
