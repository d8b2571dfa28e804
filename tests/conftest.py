"""Hypothesis settings profiles, chosen by the WZBOUNDS_PROFILE environment variable:
``fast`` (default, the CI run), ``thorough`` (nightly: many more examples, no deadline)."""
import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("fast", max_examples=25, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=500, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("WZBOUNDS_PROFILE", "fast"))


@pytest.fixture
def meta_device(monkeypatch):
    """Run transformers models on torch's ``meta`` device (shapes and dtypes, no values), for the
    device-hygiene tests. Two accommodations of code that is not ours: transformers' rotary
    embedding asks ``torch.is_autocast_enabled("meta")``, which torch does not answer for meta
    (answered False, as for the CPU); and its SDPA mask asks whether an all-ones padding mask is
    all ones, to drop the mask for the fused causal kernel — a value meta cannot give (answered
    "keep the mask": the explicit causal mask, the same attention)."""
    torch = pytest.importorskip("torch")
    masking = pytest.importorskip("transformers.masking_utils")
    autocast = torch.is_autocast_enabled
    monkeypatch.setattr(torch, "is_autocast_enabled",
                        lambda *args: False if args and args[0] == "meta" else autocast(*args))
    skip = masking._ignore_causal_mask_sdpa

    def ignore_causal_mask_sdpa(padding_mask, *args, **kwargs):
        if padding_mask is not None and padding_mask.device.type == "meta":
            return False
        return skip(padding_mask, *args, **kwargs)

    monkeypatch.setattr(masking, "_ignore_causal_mask_sdpa", ignore_causal_mask_sdpa)
