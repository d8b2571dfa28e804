"""Polynomial truncation sensitivity: ``delta(w) <= C w^-alpha`` (and optionally a lower
envelope ``c w^-alpha`` on the suffix-only risk, the two-sided condition) for ``w >= w0``."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import ClassVar

from .._inversion import smallest_window
from .._validation import real_array, real_scalar
from ..units import check_divergence
from ._common import int_w0, interval
from .base import Profile, provenance_iv
from .envelopes import PowerEnvelope

__all__ = ["PowerLaw", "PowerEnvelope", "power_law_window"]


def power_law_window(eps, alpha, C, w0=1):
    """Smallest integer ``w >= w0`` with ``C w^-alpha <= eps`` (exact; see ``_inversion``).

    ``eps``: scalar or array (> 0). Returns a Python int for scalar ``eps``, else an int64
    array (object array of Python ints when a window exceeds int64).
    """
    eps_arr = real_array("eps", eps, low=0.0)
    alpha = real_scalar("alpha", alpha, low=0.0)
    C = real_scalar("C", C, low=0.0)
    out = smallest_window(eps_arr, PowerEnvelope(C, alpha), int_w0(w0))
    return int(out) if out.ndim == 0 else out


@dataclass(frozen=True)
class PowerLaw(Profile):
    """Power-law sensitivity profile.

    Parameters
    ----------
    alpha : decay exponent, > 0.
    C : upper constant, > 0: ``delta(w) <= C w^-alpha`` for integer ``w >= w0``.
    c : optional lower constant in ``(0, C]``: the least distortion of a suffix-only decoder
        is ``>= c w^-alpha`` for ``w >= w0`` (for KL: ``I_w >= c w^-alpha``); enables the converse.
    w0 : smallest window at which the envelopes hold (int >= 1).
    divergence : ``"kl_nats"``, ``"kl_bits"``, ``"tv"`` or ``"tv2"`` (E[TV^2]).
    alpha_ci, C_ci : optional ``(low, high)`` confidence intervals, each containing its
        estimate; the window interval is the range of achievability windows over the corners
        of the box (the window is monotone in each parameter, so the corners give its exact
        range over the box).
    provenance : dict saying where the numbers come from (see ``base.PROVENANCE_TYPES``).
    """

    kind: ClassVar[str] = "power_law"
    achievability_theorem: ClassVar[str] = "achievability_sliding"
    upper_assumption: ClassVar[str] = "PTS-upper"
    lower_prefix: ClassVar[str] = "PTS"

    alpha: float
    C: float
    c: float | None = None
    w0: int = 1
    divergence: str = "kl_nats"
    alpha_ci: tuple | None = None
    C_ci: tuple | None = None
    provenance: dict | None = field(default=None, compare=False, hash=False)

    def __post_init__(self):
        _power_law_iv(self)

    @property
    def upper_envelope(self) -> PowerEnvelope:
        return PowerEnvelope(self.C, self.alpha)

    @property
    def lower_envelope(self) -> PowerEnvelope | None:
        return None if self.c is None else PowerEnvelope(self.c, self.alpha)

    def ci_profiles(self) -> tuple:
        """Profiles at the corners of the ``alpha_ci x C_ci`` box (empty without CIs)."""
        if self.alpha_ci is None and self.C_ci is None:
            return ()
        alphas = self.alpha_ci or (self.alpha,)
        Cs = self.C_ci or (self.C,)
        return tuple(PowerLaw(a, k, w0=self.w0, divergence=self.divergence) for a, k in itertools.product(alphas, Cs))

    def describe(self) -> str:
        lower = "" if self.c is None else f", lower {self.c:g}*w^-{self.alpha:g}"
        return f"PowerLaw upper {self.C:g}*w^-{self.alpha:g}{lower} for w >= {self.w0} [{self.divergence}]"


def _power_law_iv(p: PowerLaw) -> None:
    set_ = object.__setattr__
    set_(p, "alpha", real_scalar("alpha", p.alpha, low=0.0))
    set_(p, "C", real_scalar("C", p.C, low=0.0))
    if p.c is not None:
        set_(p, "c", real_scalar("c", p.c, low=0.0, high=p.C))
    set_(p, "w0", int_w0(p.w0))
    set_(p, "divergence", check_divergence(p.divergence))
    set_(p, "alpha_ci", interval("alpha_ci", p.alpha_ci, estimate=p.alpha))
    set_(p, "C_ci", interval("C_ci", p.C_ci, estimate=p.C))
    set_(p, "provenance", provenance_iv(p.provenance))
