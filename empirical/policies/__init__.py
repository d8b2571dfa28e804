"""Cache policies and their degradation under three eviction semantics (``wzbounds policies``).

A policy (:class:`~.base.CachePolicy`) scores cached positions; :mod:`.semantics` turns a keep-set
into logits under truncation, post-prefill eviction or streaming eviction; :mod:`.measure` runs
policies x budgets x semantics over prefixes; :mod:`.report` fits exponents and writes the plot
and report. torch is imported only inside functions.
"""
from .base import CachePolicy, LayerInput, ScoreContext, streaming_keep, top_k_mask
from .h2o import HeavyHitter
from .kvpress_press import KVPressPolicy
from .last_query import LastQuery
from .random_k import RandomK
from .registry import POLICIES, make_policy, parse_policies
from .sink import SinkRecent
from .sliding import Sliding

__all__ = ["CachePolicy", "ScoreContext", "LayerInput", "Sliding", "SinkRecent", "RandomK", "HeavyHitter",
           "LastQuery", "KVPressPolicy", "POLICIES", "make_policy", "parse_policies", "streaming_keep",
           "top_k_mask"]
