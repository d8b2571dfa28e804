"""Geometric truncation sensitivity: ``delta(w) <= C rho^w`` (optionally a lower envelope
``c rho^w``) for integer ``w >= w0`` — e.g. hidden Markov sources."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from .._inversion import smallest_window
from .._validation import real_array, real_scalar
from ..units import check_divergence
from ._common import int_w0
from .base import Profile, provenance_iv
from .envelopes import GeometricEnvelope

__all__ = ["Exponential", "GeometricEnvelope", "geometric_window"]


def geometric_window(eps, rho, C, w0=1):
    """Smallest integer ``w >= w0`` with ``C rho^w <= eps`` (exact; shapes as ``power_law_window``)."""
    eps_arr = real_array("eps", eps, low=0.0)
    env = GeometricEnvelope(real_scalar("C", C, low=0.0), real_scalar("rho", rho, low=0.0, high=1.0, high_open=True))
    out = smallest_window(eps_arr, env, int_w0(w0))
    return int(out) if out.ndim == 0 else out


@dataclass(frozen=True)
class Exponential(Profile):
    """Geometric sensitivity profile ``C rho^w`` (``0 < rho < 1``), optional lower
    ``c rho^w`` with ``0 < c <= C``, valid for integer ``w >= w0``."""

    kind: ClassVar[str] = "exponential"
    achievability_theorem: ClassVar[str] = "achievability_geometric"
    upper_assumption: ClassVar[str] = "GTS-upper"
    lower_prefix: ClassVar[str] = "GTS"

    rho: float
    C: float
    c: float | None = None
    w0: int = 1
    divergence: str = "kl_nats"
    provenance: dict | None = field(default=None, compare=False, hash=False)

    def __post_init__(self):
        set_ = object.__setattr__
        set_(self, "rho", real_scalar("rho", self.rho, low=0.0, high=1.0, high_open=True))
        set_(self, "C", real_scalar("C", self.C, low=0.0))
        if self.c is not None:
            set_(self, "c", real_scalar("c", self.c, low=0.0, high=self.C))
        set_(self, "w0", int_w0(self.w0))
        set_(self, "divergence", check_divergence(self.divergence))
        set_(self, "provenance", provenance_iv(self.provenance))

    @property
    def upper_envelope(self) -> GeometricEnvelope:
        return GeometricEnvelope(self.C, self.rho)

    @property
    def lower_envelope(self) -> GeometricEnvelope | None:
        return None if self.c is None else GeometricEnvelope(self.c, self.rho)

    def describe(self) -> str:
        lower = "" if self.c is None else f", lower {self.c:g}*{self.rho:g}^w"
        return f"Exponential upper {self.C:g}*{self.rho:g}^w{lower} for w >= {self.w0} [{self.divergence}]"
