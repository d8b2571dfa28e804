"""Tabulated sensitivity: a non-increasing curve ``values`` at integer ``windows``.

Rules:

- **Upper envelope** ``U`` (the ``tabulated-envelope`` assumption): at the tabulated windows,
  the tabulated values; between them, log-log (piecewise power-law) interpolation; beyond the
  last window, with ``extrapolate="power_law"`` (default) the power law through the last two
  points, or, given ``tail_alpha`` = a, the power law ``V_last (w / W_last)^-a`` through the last
  point (e.g. the exponent fitted to the whole measured curve, steadier than the last two noisy
  points); with ``extrapolate="none"`` nothing — a target below the last value then raises
  ``ValueError``. Below the first window nothing is claimed (``w0 = windows[0]``). For a
  measured curve this is an assumption about the decoder between and beyond the measured
  points.
- **Lower envelope** ``L`` (optional ``lower_values``; assumption ``tabulated-lower-<family>``):
  lower bounds on the *suffix-only risk* R(w) (for KL the Bayes risk I_w) at the tabulated
  windows, known from a proof or an exact computation (for example a source's exact
  ``bayes_risk``). No measurement can supply them: measuring a decoder only *upper*-bounds
  R(w). Given them, since R is non-increasing, R(w) >= lower_values[i] for every
  w <= windows[i], so ``L(w) = lower_values[i]`` on ``(windows[i-1], windows[i]]`` and 0 beyond
  the last window (no claim there). This step rule is proved (``achievability_tabulated``
  part 4), not interpolated.
- Values must be finite, positive and non-increasing (else ``ValueError`` naming
  ``values``); ``Tabulated.envelope`` builds the smallest non-increasing envelope of a noisy
  measured curve.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from .._validation import choice, real_array, real_scalar
from ..units import check_divergence
from .base import Profile, provenance_iv
from .envelopes import LogLogEnvelope, StepEnvelope

EXTRAPOLATIONS = ("power_law", "none")
#: Tabulated windows must be exact int64 values with room for block arithmetic (2b).
MAX_TABULATED_WINDOW = 2**62


@dataclass(frozen=True, eq=False)
class Tabulated(Profile):
    """Tabulated sensitivity profile (see the module docstring for the rules).

    Parameters
    ----------
    windows : strictly increasing integers in [1, 2**62), at least two.
    values : finite, positive, non-increasing upper values at ``windows`` (divergence units).
    divergence : ``"kl_nats"``, ``"kl_bits"``, ``"tv"`` or ``"tv2"``.
    lower_values : optional *proved* lower bounds on the suffix-only risk at ``windows``
        (positive, non-increasing, ``<= values``); never a measurement.
    extrapolate : ``"power_law"`` or ``"none"`` (beyond the last window).
    tail_alpha : optional positive exponent of the power law beyond the last window, through the
        last point (``extrapolate="power_law"`` only); default: through the last two points.
    provenance : dict.
    """

    kind: ClassVar[str] = "tabulated"
    achievability_theorem: ClassVar[str] = "achievability_tabulated"
    upper_assumption: ClassVar[str] = "tabulated-envelope"
    lower_prefix: ClassVar[str] = "tabulated"

    # sequences or arrays in; __post_init__ stores tuples of int / float
    windows: Sequence[int] | np.ndarray
    values: Sequence[float] | np.ndarray
    divergence: str = "kl_nats"
    lower_values: Sequence[float] | np.ndarray | None = None
    extrapolate: str = "power_law"
    tail_alpha: float | None = None
    provenance: dict | None = field(default=None, compare=False)
    # built by __post_init__ from the validated table
    _upper_env: LogLogEnvelope = field(init=False, repr=False)
    _lower_env: StepEnvelope | None = field(init=False, repr=False)

    def __post_init__(self):
        _tabulated_iv(self)

    @classmethod
    def envelope(cls, windows, values, divergence="kl_nats", lower_values=None, **kwargs) -> Tabulated:
        """Smallest non-increasing envelope of a noisy curve: ``values[i]`` becomes
        ``max(values[i:])`` (and likewise ``lower_values``, which stays a valid lower bound
        because the risk is non-increasing)."""
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
    def lower_envelope(self) -> StepEnvelope | None:
        return self._lower_env

    def describe(self) -> str:
        lower = "" if self.lower_values is None else " with lower values"
        tail = "" if self.tail_alpha is None else f" (tail w^-{self.tail_alpha:.6g})"
        return (
            f"Tabulated {len(self.windows)} points, windows {self.windows[0]}..{self.windows[-1]}"
            f"{lower}, extrapolate={self.extrapolate}{tail} [{self.divergence}]"
        )


def _windows_iv(windows) -> np.ndarray:
    """Strictly increasing integers in [1, 2**62) (exact: big ints and floats are checked
    before any int64 cast, so 2**70 is refused rather than wrapped)."""
    try:
        items = np.asarray(windows, dtype=object)
    except (TypeError, ValueError):
        raise ValueError(f"`windows` must be integers >= 1, got {windows!r}") from None
    if items.ndim != 1 or items.size < 2:
        raise ValueError("`windows` must be a 1-D sequence of at least two integers >= 1")
    for v in items:
        integral = isinstance(v, (int, np.integer)) or (
            isinstance(v, (float, np.floating)) and np.isfinite(v) and float(v).is_integer()
        )
        if isinstance(v, bool) or not integral:
            raise ValueError(f"`windows` must be integers >= 1, got {windows!r}")
        if not 1 <= v < MAX_TABULATED_WINDOW:
            raise ValueError(f"`windows` must lie in [1, 2**62), got {v!r}")
    W = np.array([int(v) for v in items], dtype=np.int64)
    if np.any(np.diff(W) <= 0):
        raise ValueError("`windows` must be strictly increasing integers >= 1")
    return W


def _per_window(name: str, value, W: np.ndarray) -> np.ndarray:
    """Positive finite numbers, one per window (a 1-D sequence of the length of ``windows``)."""
    V = real_array(name, value, low=0.0)
    if V.shape != W.shape:
        raise ValueError(f"`{name}` must be a 1-D sequence of {W.size} numbers (one per window), got shape {V.shape}")
    return V


def _tabulated_iv(p: Tabulated) -> None:
    set_ = object.__setattr__
    W = _windows_iv(p.windows)
    V = _per_window("values", p.values, W)
    if np.any(np.diff(V) > 0):
        raise ValueError(
            "`values` must be non-increasing in the window (an upper envelope); "
            "use Tabulated.envelope(windows, values) for a noisy measured curve"
        )
    set_(p, "windows", tuple(int(v) for v in W))
    set_(p, "values", tuple(float(v) for v in V))
    set_(p, "divergence", check_divergence(p.divergence))
    set_(p, "extrapolate", choice("extrapolate", p.extrapolate, EXTRAPOLATIONS))
    if p.tail_alpha is not None:
        set_(p, "tail_alpha", real_scalar("tail_alpha", p.tail_alpha, low=0.0))
        if p.extrapolate != "power_law":
            raise ValueError("`tail_alpha` needs extrapolate='power_law' (with 'none' nothing lies beyond the table)")
    lower_env = None
    if p.lower_values is not None:
        L = _per_window("lower_values", p.lower_values, W)
        if np.any(np.diff(L) > 0):
            raise ValueError("`lower_values` must be non-increasing in the window")
        if np.any(L > V):
            raise ValueError("`lower_values` must be <= `values` at every window")
        set_(p, "lower_values", tuple(float(v) for v in L))
        lower_env = StepEnvelope(W, L)
    set_(p, "provenance", provenance_iv(p.provenance))
    set_(p, "_upper_env", LogLogEnvelope(W, V, p.extrapolate, p.tail_alpha))
    set_(p, "_lower_env", lower_env)
