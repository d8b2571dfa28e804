"""Sensitivity profiles: the envelopes of truncation sensitivity delta(w) a bound rests on.

Every profile is a ``Profile`` (``base.py``) holding ``Envelope`` objects (``envelopes.py``)."""

from .base import Profile
from .envelopes import Envelope, GeometricEnvelope, LogLogEnvelope, LogPowerEnvelope, PowerEnvelope, StepEnvelope
from .exponential import Exponential, geometric_window
from .io import (
    DEFAULT_POWER_LAW_PROFILE,
    DEFAULT_PROFILE,
    builtin_profiles,
    default_power_law_profile,
    default_profile,
    load_profile,
    profile_from_dict,
    profile_to_dict,
    save_profile,
)
from .log_power_law import LogPowerLaw
from .policy import PolicyCurve, PolicyProfile
from .power_law import PowerLaw, power_law_window
from .tabulated import Tabulated

__all__ = [
    "Profile",
    "PowerLaw",
    "LogPowerLaw",
    "Exponential",
    "Tabulated",
    "PolicyProfile",
    "PolicyCurve",
    "Envelope",
    "PowerEnvelope",
    "LogPowerEnvelope",
    "GeometricEnvelope",
    "LogLogEnvelope",
    "StepEnvelope",
    "power_law_window",
    "geometric_window",
    "load_profile",
    "save_profile",
    "builtin_profiles",
    "default_profile",
    "default_power_law_profile",
    "DEFAULT_PROFILE",
    "DEFAULT_POWER_LAW_PROFILE",
    "profile_to_dict",
    "profile_from_dict",
]
