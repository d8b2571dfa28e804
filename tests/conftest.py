"""Hypothesis settings profiles, chosen by the WZBOUNDS_PROFILE environment variable:
``fast`` (default, the CI run), ``thorough`` (nightly: many more examples, no deadline)."""
import os

from hypothesis import HealthCheck, settings

settings.register_profile("fast", max_examples=25, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=500, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("WZBOUNDS_PROFILE", "fast"))
