"""wzbounds: memory-distortion limits of KV-cache compression, with proofs.

Core API (numpy/scipy/mpmath only; sympy is imported lazily by the modules that need it)::

    from wzbounds import PowerLaw, window_for_epsilon
    window_for_epsilon(1e-3, PowerLaw(alpha=0.44, C=1.0, c=0.5, divergence="tv"))
"""
from .bounds import DistortionResult, WindowResult, distortion_at_window, memory_for_epsilon, window_for_epsilon
from .memory import KVMemorySpec
from .profiles import (DEFAULT_PROFILE, Exponential, LogPowerLaw, PowerLaw, Profile, Tabulated, builtin_profiles,
                       load_profile, save_profile)
from .schemes import BlockMarkovRate, block_markov_rate
from .theorems import THEOREMS

__version__ = "0.1.0"

__all__ = ["Profile", "PowerLaw", "LogPowerLaw", "Exponential", "Tabulated", "load_profile", "save_profile",
           "builtin_profiles", "DEFAULT_PROFILE", "window_for_epsilon", "distortion_at_window", "memory_for_epsilon",
           "block_markov_rate", "BlockMarkovRate", "KVMemorySpec", "WindowResult", "DistortionResult", "THEOREMS",
           "__version__"]
