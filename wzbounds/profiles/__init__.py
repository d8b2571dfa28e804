"""Sensitivity profiles: the envelopes of truncation sensitivity delta(w) a bound rests on."""
from .exponential import Exponential, geometric_window
from .io import (DEFAULT_PROFILE, builtin_profiles, default_profile, load_profile, profile_from_dict,
                 profile_to_dict, save_profile)
from .power_law import PowerLaw, power_law_window
from .tabulated import Tabulated

__all__ = ["PowerLaw", "Exponential", "Tabulated", "power_law_window", "geometric_window",
           "load_profile", "save_profile", "builtin_profiles", "default_profile", "DEFAULT_PROFILE",
           "profile_to_dict", "profile_from_dict"]
