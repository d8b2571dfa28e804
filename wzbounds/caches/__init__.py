"""Beyond suffix-only caches on the Santa Fe source (GitHub issue 6).

Exact memory-distortion limits of suffix-only windows, value-oblivious selective caches and M-bit
summaries (``theory``), the three policies as streaming caches (``sliding``, ``selective``,
``summary``), and a simulation comparing them with the theorems (``simulate``).
"""

from .protocol import CachePolicy
from .selective import TopKeysCache
from .simulate import POLICIES, SimulationResult, simulate
from .sliding import SlidingWindow
from .summary import BitSummary
from .theory import (
    MEMORY_UNITS,
    POLICY_CLASSES,
    THEOREM_IDS,
    asymptotic_constants,
    memory_ratio,
    min_distortion,
    window_for_epsilon_by_class,
)

__all__ = [
    "CachePolicy",
    "SlidingWindow",
    "TopKeysCache",
    "BitSummary",
    "POLICIES",
    "simulate",
    "SimulationResult",
    "POLICY_CLASSES",
    "MEMORY_UNITS",
    "THEOREM_IDS",
    "asymptotic_constants",
    "window_for_epsilon_by_class",
    "memory_ratio",
    "min_distortion",
]
