"""Power law with a logarithmic factor: ``delta(w) <= (C + D log w) w^-alpha`` for ``w >= w0``.

This is the shape of the KL envelope the smoothing route gives from a *mean* TV envelope
(``smoothing_convexity`` part 4): the exponent is kept, up to the log factor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

from .._validation import real_scalar
from ..units import check_divergence
from ._common import int_w0
from .base import Profile, provenance_iv
from .envelopes import LogPowerEnvelope


@dataclass(frozen=True)
class LogPowerLaw(Profile):
    """Upper envelope ``(C + D log w) w^-alpha`` (``alpha > 0``, ``C > 0``, ``D >= 0``) for
    integer ``w >= w0``, which must lie on its non-increasing range
    (``C + D log w0 >= D / alpha``). No lower envelope, no CIs."""

    kind: ClassVar[str] = "log_power_law"
    achievability_theorem: ClassVar[str] = "achievability_sliding"
    upper_assumption: ClassVar[str] = "PTS-upper"
    lower_prefix: ClassVar[str] = "PTS"

    alpha: float
    C: float
    D: float = 0.0
    w0: int = 1
    divergence: str = "kl_nats"
    provenance: dict | None = field(default=None, compare=False, hash=False)

    def __post_init__(self):
        set_ = object.__setattr__
        set_(self, "alpha", real_scalar("alpha", self.alpha, low=0.0))
        set_(self, "C", real_scalar("C", self.C, low=0.0))
        set_(self, "D", real_scalar("D", self.D, low=0.0, low_open=False))
        set_(self, "w0", int_w0(self.w0))
        if self.C + self.D * math.log(self.w0) < self.D / self.alpha:
            raise ValueError(
                f"`w0` = {self.w0} must lie where the envelope decreases "
                f"(C + D log w0 >= D/alpha = {self.D / self.alpha:g})"
            )
        set_(self, "divergence", check_divergence(self.divergence))
        set_(self, "provenance", provenance_iv(self.provenance))

    @property
    def upper_envelope(self) -> LogPowerEnvelope:
        return LogPowerEnvelope(self.C, self.D, self.alpha)

    @property
    def lower_envelope(self):
        return None

    def describe(self) -> str:
        return (
            f"LogPowerLaw upper ({self.C:g} + {self.D:g}*log w)*w^-{self.alpha:g} for w >= {self.w0} "
            f"[{self.divergence}]"
        )
