"""Geometric truncation sensitivity: ``delta(w) <= C rho^w`` (optionally ``I_w >= c rho^w``)
for integer ``w >= w0`` — e.g. hidden Markov sources."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import mpmath
import numpy as np

from .._inversion import smallest_window
from .._validation import real_array, real_scalar
from ..units import check_divergence
from ._common import int_w0, provenance_dict



@dataclass(frozen=True)
class GeometricEnvelope:
    """The curve ``K rho^w`` as an invertible envelope (see ``wzbounds._inversion``)."""

    K: float
    rho: float

    def values(self, w) -> np.ndarray:
        w = np.asarray(w)
        w = w.astype(np.float64) if w.dtype != object else np.array(
            [float(min(v, 2 ** 1000)) for v in w.ravel()]).reshape(w.shape)
        return self.K * np.power(self.rho, w)

    def value_mp(self, w):
        return mpmath.mpf(self.K) * mpmath.power(mpmath.mpf(self.rho), w)

    def inverse(self, eps, dtype=np.float64):
        log_k, log_rho = np.log(dtype(self.K)), np.log(dtype(self.rho))
        log_eps = np.log(np.asarray(eps, dtype=dtype))
        x = (log_k - log_eps) / -log_rho
        # about one ulp in each log, the subtraction and the division; 8 ulp bounds it
        err = 8 * np.finfo(dtype).eps * (1 + (abs(log_k) + np.abs(log_eps)) / -log_rho + np.abs(x))
        return x, err

    def inverse_mp(self, eps):
        return mpmath.log(mpmath.mpf(self.K) / eps) / -mpmath.log(mpmath.mpf(self.rho))


def geometric_window(eps, rho, C, w0=1):
    """Smallest integer ``w >= w0`` with ``C rho^w <= eps`` (exact; shapes as ``power_law_window``)."""
    eps_arr = real_array("eps", eps, low=0.0)
    env = GeometricEnvelope(real_scalar("C", C, low=0.0),
                            real_scalar("rho", rho, low=0.0, high=1.0, high_open=True))
    out = smallest_window(eps_arr, env, int_w0(w0))
    return int(out) if out.ndim == 0 else out


@dataclass(frozen=True)
class Exponential:
    """Geometric sensitivity profile ``C rho^w`` (``0 < rho < 1``), optional lower
    ``c rho^w`` with ``0 < c <= C``, valid for integer ``w >= w0``."""

    kind: ClassVar[str] = "exponential"
    achievability_theorem: ClassVar[str] = "achievability_geometric"
    upper_assumption: ClassVar[str] = "GTS-upper"
    lower_assumption: ClassVar[str] = "GTS-lower"

    rho: float
    C: float
    c: float | None = None
    w0: int = 1
    divergence: str = "kl_nats"
    provenance: dict = field(default=None, compare=False, hash=False)

    def __post_init__(self):
        _exponential_iv(self)

    @property
    def upper_envelope(self) -> GeometricEnvelope:
        return GeometricEnvelope(self.C, self.rho)

    @property
    def lower_envelope(self) -> GeometricEnvelope | None:
        return None if self.c is None else GeometricEnvelope(self.c, self.rho)

    def upper(self, w) -> np.ndarray:
        """Upper envelope ``C rho^w`` (float64, shape of ``w``)."""
        return self.upper_envelope.values(w)

    def lower(self, w):
        """Lower envelope ``c rho^max(w, w0)`` or None without ``c``."""
        if self.c is None:
            return None
        return self.lower_envelope.values(np.maximum(np.asarray(w), self.w0))

    def ci_profiles(self) -> tuple:
        return ()

    def to_dict(self) -> dict:
        return {"kind": self.kind, "divergence": self.divergence, "rho": self.rho, "C": self.C,
                "c": self.c, "w0": self.w0, "provenance": dict(self.provenance)}

    @classmethod
    def from_dict(cls, d: dict) -> "Exponential":
        return cls(**{k: v for k, v in d.items() if k not in ("kind", "schema_version")})

    def describe(self) -> str:
        lower = "" if self.c is None else f", lower {self.c:g}*{self.rho:g}^w"
        return f"Exponential upper {self.C:g}*{self.rho:g}^w{lower} for w >= {self.w0} [{self.divergence}]"


def _exponential_iv(p: Exponential) -> None:
    set_ = object.__setattr__
    set_(p, "rho", real_scalar("rho", p.rho, low=0.0, high=1.0, high_open=True))
    set_(p, "C", real_scalar("C", p.C, low=0.0))
    if p.c is not None:
        set_(p, "c", real_scalar("c", p.c, low=0.0, high=p.C))
    set_(p, "w0", int_w0(p.w0))
    set_(p, "divergence", check_divergence(p.divergence))
    set_(p, "provenance", provenance_dict(p.provenance))
