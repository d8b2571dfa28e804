"""Tabulated sensitivity: a measured, non-increasing curve ``values`` at integer ``windows``.

Rules (the ``tabulated-envelope`` assumption):

- **Upper envelope** ``U``: at the tabulated windows, the tabulated values; between them,
  log-log (piecewise power-law) interpolation; beyond the last window, with
  ``extrapolate="power_law"`` (default) the power law through the last two points, with
  ``extrapolate="none"`` nothing — a target below the last value then raises ``ValueError``.
  Below the first window nothing is claimed (``w0 = windows[0]``).
- **Lower envelope** ``L`` (optional ``lower_values``, a measured lower bound on the Bayes
  risk ``I_w``): since ``I_w`` is non-increasing, ``I_w >= lower_values[i]`` for every
  ``w <= windows[i]``, so ``L(w) = lower_values[i]`` on ``(windows[i-1], windows[i]]`` and 0
  beyond the last window (no claim there). This step rule is proved, not interpolated.
- Values must be finite, positive and non-increasing (else ``ValueError`` naming
  ``values``); ``Tabulated.envelope`` builds the smallest non-increasing envelope of a noisy
  measured curve.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import mpmath
import numpy as np

from .._validation import choice, real_array
from ..units import check_divergence
from ._common import log_windows, provenance_dict

_ULP = np.finfo(np.float64).eps
EXTRAPOLATIONS = ("power_law", "none")


@dataclass(frozen=True, eq=False)
class LogLogEnvelope:
    """Piecewise power-law curve through ``(windows, values)`` (see ``wzbounds._inversion``)."""

    windows: np.ndarray
    values_: np.ndarray
    extrapolate: str

    def __post_init__(self):
        object.__setattr__(self, "_lw", np.log(self.windows.astype(np.float64)))
        object.__setattr__(self, "_lv", np.log(self.values_))

    def values(self, w) -> np.ndarray:
        lw, lv = self._lw, self._lv
        x = log_windows(w)
        out = np.interp(x, lw, lv)
        beyond = x > lw[-1]
        if np.any(beyond):
            if self.extrapolate == "none":
                raise ValueError(f"`w` must be <= the last tabulated window {int(self.windows[-1])} "
                                 "(extrapolate='none')")
            slope = (lv[-1] - lv[-2]) / (lw[-1] - lw[-2])
            out = np.where(beyond, lv[-1] + slope * (x - lw[-1]), out)
        return np.exp(out)

    def value_mp(self, w):
        W = self.windows
        j = int(np.searchsorted(W, w, side="right")) - 1
        j = min(max(j, 0), len(W) - 2)
        lw0, lw1 = mpmath.log(int(W[j])), mpmath.log(int(W[j + 1]))
        lv0, lv1 = mpmath.log(mpmath.mpf(self.values_[j])), mpmath.log(mpmath.mpf(self.values_[j + 1]))
        if w <= int(W[0]):
            return mpmath.exp(lv0)
        return mpmath.exp(lv0 + (mpmath.log(w) - lw0) * (lv1 - lv0) / (lw1 - lw0))

    def _segment(self, eps):
        """Index ``i`` of the first tabulated value ``<= eps`` (``n`` if none)."""
        return np.searchsorted(-self.values_, -np.asarray(eps), side="left")

    def _check_reachable(self, eps):
        last = self.values_[-1]
        if np.any(np.asarray(eps) < last):
            if self.extrapolate == "none":
                raise ValueError(f"`eps` must be >= the last tabulated value {last:g} "
                                 "(extrapolate='none' makes no claim beyond the last window)")
            if self.values_[-2] == last:
                raise ValueError(f"`eps` must be >= {last:g}: the last two tabulated values are equal, "
                                 "so the power-law extrapolation never decreases")

    def inverse(self, eps, dtype=np.float64):
        self._check_reachable(eps)
        lw, lv, n = self._lw.astype(dtype), self._lv.astype(dtype), len(self._lw)
        i = self._segment(eps)
        j = np.clip(i - 1, 0, n - 2)  # segment (j, j+1) holds the crossing
        log_eps = np.log(np.asarray(eps, dtype=dtype))
        ratio = (lw[j + 1] - lw[j]) / (lv[j + 1] - lv[j])
        lx = lw[j] + (log_eps - lv[j]) * ratio
        lx = np.where(i == 0, -np.inf, lx)  # U(W0) <= eps: any admissible window works
        x = np.exp(lx)
        # the table logs were rounded in float64, so float64's ulp bounds the error whatever
        # ``dtype``; 64 ulp of each term is generous
        rel = 64 * _ULP * (1.0 + np.abs(lx) + (np.abs(log_eps) + np.max(np.abs(lv))) * np.abs(ratio))
        return x, rel * x

    def inverse_mp(self, eps):
        self._check_reachable(float(eps))
        i = int(self._segment(float(eps)))
        if i == 0:
            return mpmath.mpf(0)
        j = min(i - 1, len(self.windows) - 2)
        lw0, lw1 = mpmath.log(int(self.windows[j])), mpmath.log(int(self.windows[j + 1]))
        lv0, lv1 = mpmath.log(mpmath.mpf(self.values_[j])), mpmath.log(mpmath.mpf(self.values_[j + 1]))
        return mpmath.exp(lw0 + (mpmath.log(eps) - lv0) * (lw1 - lw0) / (lv1 - lv0))


@dataclass(frozen=True, eq=False)
class Tabulated:
    """Measured sensitivity profile (see the module docstring for the rules).

    Parameters
    ----------
    windows : strictly increasing integers >= 1, at least two.
    values : finite, positive, non-increasing upper values at ``windows`` (divergence units).
    divergence : ``"kl_nats"``, ``"kl_bits"`` or ``"tv"``.
    lower_values : optional lower bounds on the Bayes risk at ``windows`` (positive,
        non-increasing, ``<= values``).
    extrapolate : ``"power_law"`` or ``"none"`` (beyond the last window).
    provenance : free-form dict.
    """

    kind: ClassVar[str] = "tabulated"
    achievability_theorem: ClassVar[str] = "achievability_tabulated"
    upper_assumption: ClassVar[str] = "tabulated-envelope"
    lower_assumption: ClassVar[str] = "tabulated-envelope"

    windows: tuple
    values: tuple
    divergence: str = "kl_nats"
    lower_values: tuple | None = None
    extrapolate: str = "power_law"
    provenance: dict = field(default=None, compare=False)

    def __post_init__(self):
        _tabulated_iv(self)

    @classmethod
    def envelope(cls, windows, values, divergence="kl_nats", lower_values=None, **kwargs) -> "Tabulated":
        """Smallest non-increasing envelope of a noisy measured curve: ``values[i]`` becomes
        ``max(values[i:])`` (and likewise ``lower_values``, which stays a valid lower bound
        because the Bayes risk is non-increasing)."""
        up = np.maximum.accumulate(np.asarray(values, dtype=np.float64)[::-1])[::-1]
        lo = None
        if lower_values is not None:
            lo = np.maximum.accumulate(np.asarray(lower_values, dtype=np.float64)[::-1])[::-1]
        return cls(windows, up, divergence=divergence, lower_values=lo, **kwargs)

    @property
    def w0(self) -> int:
        return int(self.windows[0])

    @property
    def upper_envelope(self) -> LogLogEnvelope:
        return self._upper_env

    @property
    def lower_envelope(self):
        return None if self.lower_values is None else self._lower_arr

    def upper(self, w) -> np.ndarray:
        """Upper envelope (log-log interpolated, extrapolated per ``extrapolate``)."""
        return self._upper_env.values(w)

    def lower(self, w):
        """Step lower envelope ``L(max(w, w0))`` (0 beyond the last window), or None."""
        if self.lower_values is None:
            return None
        W = np.asarray(self.windows)
        w = np.asarray(w)
        idx = np.searchsorted(W, w.astype(np.float64) if w.dtype != object else
                              np.array([float(min(v, 2 ** 1000)) for v in w.ravel()]).reshape(w.shape),
                              side="left")
        padded = np.append(self._lower_arr, 0.0)
        return padded[idx]

    def converse_window(self, eps: np.ndarray) -> np.ndarray:
        """Smallest ``w >= 1`` with ``L(max(w, w0)) <= eps`` (exact: a table look-up)."""
        W = np.asarray(self.windows, dtype=np.int64)
        i = np.searchsorted(-self._lower_arr, -np.asarray(eps), side="left")
        return np.where(i == 0, 1, W[np.maximum(i - 1, 0)] + 1).astype(np.int64)

    def ci_profiles(self) -> tuple:
        return ()

    def to_dict(self) -> dict:
        return {"kind": self.kind, "divergence": self.divergence, "windows": list(self.windows),
                "values": list(self.values),
                "lower_values": None if self.lower_values is None else list(self.lower_values),
                "extrapolate": self.extrapolate, "provenance": dict(self.provenance)}

    @classmethod
    def from_dict(cls, d: dict) -> "Tabulated":
        return cls(**{k: v for k, v in d.items() if k not in ("kind", "schema_version")})

    def describe(self) -> str:
        lower = "" if self.lower_values is None else " with lower values"
        return (f"Tabulated {len(self.windows)} points, windows {self.windows[0]}..{self.windows[-1]}"
                f"{lower}, extrapolate={self.extrapolate} [{self.divergence}]")


def _tabulated_iv(p: Tabulated) -> None:
    set_ = object.__setattr__
    W = np.asarray(p.windows)
    if W.ndim != 1 or W.size < 2:
        raise ValueError("`windows` must be a 1-D sequence of at least two integers >= 1")
    if not (np.issubdtype(W.dtype, np.integer) or np.all(np.mod(W.astype(np.float64), 1) == 0)):
        raise ValueError(f"`windows` must be integers >= 1, got {p.windows!r}")
    W = W.astype(np.int64)
    if W[0] < 1 or np.any(np.diff(W) <= 0):
        raise ValueError("`windows` must be strictly increasing integers >= 1")
    V = real_array("values", p.values, low=0.0)
    if V.shape != W.shape:
        raise ValueError(f"`values` must have the length of `windows` ({W.size}), got {V.size}")
    if np.any(np.diff(V) > 0):
        raise ValueError("`values` must be non-increasing in the window (an upper envelope); "
                         "use Tabulated.envelope(windows, values) for a noisy measured curve")
    set_(p, "windows", tuple(int(v) for v in W))
    set_(p, "values", tuple(float(v) for v in V))
    set_(p, "divergence", check_divergence(p.divergence))
    set_(p, "extrapolate", choice("extrapolate", p.extrapolate, EXTRAPOLATIONS))
    if p.lower_values is not None:
        L = real_array("lower_values", p.lower_values, low=0.0)
        if L.shape != W.shape:
            raise ValueError(f"`lower_values` must have the length of `windows` ({W.size})")
        if np.any(np.diff(L) > 0):
            raise ValueError("`lower_values` must be non-increasing in the window")
        if np.any(L > V):
            raise ValueError("`lower_values` must be <= `values` at every window")
        set_(p, "lower_values", tuple(float(v) for v in L))
        set_(p, "_lower_arr", L)
    set_(p, "provenance", provenance_dict(p.provenance))
    set_(p, "_upper_env", LogLogEnvelope(W, V, p.extrapolate))
