"""wzbounds: memory-distortion limits of KV-cache compression, with proofs.

Core API (numpy/scipy/mpmath only; sympy is imported lazily by the modules that need it)::

    from wzbounds import PowerLaw, window_for_epsilon
    window_for_epsilon(1e-3, PowerLaw(alpha=0.44, C=1.0, c=0.5, divergence="tv"))

The names below are imported on first use (PEP 562), so ``import wzbounds.cli`` costs milliseconds:
the command line handles Ctrl-C and bad options before scipy and friends load.
"""

import importlib

__version__ = "0.1.0"

#: Public name -> submodule that defines it.
_EXPORTS = {
    "window_for_epsilon": "bounds",
    "distortion_at_window": "bounds",
    "memory_for_epsilon": "bounds",
    "WindowResult": "bounds",
    "DistortionResult": "bounds",
    "KVMemorySpec": "memory",
    "Profile": "profiles",
    "PowerLaw": "profiles",
    "LogPowerLaw": "profiles",
    "Exponential": "profiles",
    "Tabulated": "profiles",
    "PolicyProfile": "profiles",
    "load_profile": "profiles",
    "save_profile": "profiles",
    "builtin_profiles": "profiles",
    "DEFAULT_PROFILE": "profiles",
    "block_markov_rate": "schemes",
    "BlockMarkovRate": "schemes",
    "THEOREMS": "theorems",
    "budget_for_epsilon": "budget",
    "BudgetResult": "budget",
}

__all__ = [
    "Profile",
    "PowerLaw",
    "LogPowerLaw",
    "Exponential",
    "Tabulated",
    "load_profile",
    "save_profile",
    "builtin_profiles",
    "DEFAULT_PROFILE",
    "window_for_epsilon",
    "distortion_at_window",
    "memory_for_epsilon",
    "block_markov_rate",
    "BlockMarkovRate",
    "KVMemorySpec",
    "WindowResult",
    "DistortionResult",
    "THEOREMS",
    "PolicyProfile",
    "budget_for_epsilon",
    "BudgetResult",
    "__version__",
]


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'wzbounds' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
