"""Polynomial truncation sensitivity: ``delta(w) <= C w^-alpha`` (and optionally
``I_w >= c w^-alpha``, the two-sided Bayes-risk condition) for integer ``w >= w0``."""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import ClassVar

import mpmath
import numpy as np

from .._inversion import smallest_window
from .._validation import real_array, real_scalar
from ..units import check_divergence
from ._common import int_w0, interval, log_windows, provenance_dict



@dataclass(frozen=True)
class PowerEnvelope:
    """The curve ``K w^-alpha`` as an invertible envelope (see ``wzbounds._inversion``)."""

    K: float
    alpha: float

    def values(self, w) -> np.ndarray:
        """``K w^-alpha`` for window sizes ``w`` (any shape), float64."""
        return np.exp(np.log(self.K) - self.alpha * log_windows(w))

    def value_mp(self, w):
        return mpmath.mpf(self.K) * mpmath.power(mpmath.mpf(w), -mpmath.mpf(self.alpha))

    def inverse(self, eps, dtype=np.float64):
        alpha = dtype(self.alpha)
        log_k, log_eps = np.log(dtype(self.K)), np.log(np.asarray(eps, dtype=dtype))
        log_x = (log_k - log_eps) / alpha
        x = np.exp(log_x)
        # rounding of exp((ln K - ln eps)/alpha): each log, the subtraction and the division
        # add about one ulp of their magnitude (amplified by 1/alpha), exp one more; 8 ulp of
        # each term is a comfortable bound.
        rel = 8 * np.finfo(dtype).eps * (1 + (abs(log_k) + np.abs(log_eps)) / alpha + np.abs(log_x))
        return x, rel * x

    def inverse_mp(self, eps):
        return mpmath.power(mpmath.mpf(self.K) / eps, 1 / mpmath.mpf(self.alpha))


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
class PowerLaw:
    """Power-law sensitivity profile.

    Parameters
    ----------
    alpha : decay exponent, > 0.
    C : upper constant, > 0: ``delta(w) <= C w^-alpha`` for integer ``w >= w0``.
    c : optional lower constant in ``(0, C]``: ``I_w >= c w^-alpha`` for ``w >= w0``
        (enables the converse).
    w0 : smallest window at which the envelopes hold (int >= 1).
    divergence : ``"kl_nats"``, ``"kl_bits"`` or ``"tv"``.
    alpha_ci, C_ci : optional ``(low, high)`` confidence intervals; the window interval is
        the range of achievability windows over the corners of the box (the window is
        monotone in each parameter, so the corners give its exact range over the box).
    provenance : free-form dict saying where the numbers come from.
    """

    kind: ClassVar[str] = "power_law"
    achievability_theorem: ClassVar[str] = "achievability_sliding"
    upper_assumption: ClassVar[str] = "PTS-upper"
    lower_assumption: ClassVar[str] = "PTS-lower"

    alpha: float
    C: float
    c: float | None = None
    w0: int = 1
    divergence: str = "kl_nats"
    alpha_ci: tuple | None = None
    C_ci: tuple | None = None
    provenance: dict = field(default=None, compare=False, hash=False)

    def __post_init__(self):
        _power_law_iv(self)

    # --- envelopes -------------------------------------------------------------------
    @property
    def upper_envelope(self) -> PowerEnvelope:
        return PowerEnvelope(self.C, self.alpha)

    @property
    def lower_envelope(self) -> PowerEnvelope | None:
        return None if self.c is None else PowerEnvelope(self.c, self.alpha)

    def upper(self, w) -> np.ndarray:
        """Upper envelope ``C w^-alpha`` (float64, shape of ``w``)."""
        return self.upper_envelope.values(w)

    def lower(self, w):
        """Lower envelope ``c max(w, w0)^-alpha`` (float64), or None without ``c``."""
        if self.c is None:
            return None
        w = np.asarray(w)
        w = np.where(w < self.w0, self.w0, w) if w.dtype != object else np.array(
            [max(v, self.w0) for v in w.ravel()], dtype=object).reshape(w.shape)
        return self.lower_envelope.values(w)

    def ci_profiles(self) -> tuple:
        """Profiles at the corners of the ``alpha_ci x C_ci`` box (empty without CIs)."""
        if self.alpha_ci is None and self.C_ci is None:
            return ()
        alphas = self.alpha_ci or (self.alpha,)
        Cs = self.C_ci or (self.C,)
        return tuple(PowerLaw(a, k, w0=self.w0, divergence=self.divergence)
                     for a, k in itertools.product(alphas, Cs))

    # --- serialisation ---------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"kind": self.kind, "divergence": self.divergence, "alpha": self.alpha, "C": self.C,
                "c": self.c, "w0": self.w0,
                "alpha_ci": None if self.alpha_ci is None else list(self.alpha_ci),
                "C_ci": None if self.C_ci is None else list(self.C_ci),
                "provenance": dict(self.provenance)}

    @classmethod
    def from_dict(cls, d: dict) -> "PowerLaw":
        return cls(**{k: v for k, v in d.items() if k not in ("kind", "schema_version")})

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
    set_(p, "alpha_ci", interval("alpha_ci", p.alpha_ci))
    set_(p, "C_ci", interval("C_ci", p.C_ci))
    set_(p, "provenance", provenance_dict(p.provenance))
