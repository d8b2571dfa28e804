"""Common base of the synthetic sources.

A source is a stationary process over a finite (or countable) alphabet with a known
**Bayes truncation risk** I_w = E KL(p_t || pbar_w) = I(X_t ; X_{<t-w} | X_{t-w}^{t-1})
(proofs/CONVENTIONS.md). Every source exposes ``sample(n, rng)``, ``bayes_risk(w, unit)``
and ``profile(divergence)``; the window validation and unit conversion live here once.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import numpy as np

from .._inversion import smallest_true
from .._validation import choice, real_scalar

#: Units accepted by ``bayes_risk``.
RISK_UNITS = ("nats", "bits")


def windows_iv(w) -> tuple[np.ndarray, bool]:
    """Validate window sizes: integers >= 0 (int or integral float), scalar or array.

    Returns ``(int64 array, is_scalar)``; raises ``ValueError`` naming ``w`` otherwise.
    """
    arr = np.asarray(w)
    if arr.dtype == object and arr.size and all(isinstance(v, int) and not isinstance(v, bool) for v in arr.ravel()):
        if min(arr.ravel()) >= 0:  # Python ints beyond int64: the size, not the type, is wrong
            raise ValueError(f"`w` must be < 2**62, got {max(arr.ravel())!r}")
    if (
        arr.dtype == bool
        or arr.dtype == object
        or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating))
    ):
        raise ValueError(f"`w` must be integer window sizes >= 0, got {w!r}")
    if np.issubdtype(arr.dtype, np.floating):
        if arr.size and not (np.all(np.isfinite(arr)) and np.all(arr == np.floor(arr))):
            raise ValueError(f"`w` must be integer window sizes >= 0, got {w!r}")
        if arr.size and np.max(arr) >= 2.0**62:
            raise ValueError(f"`w` must be < 2**62, got {w!r}")
    arr = arr.astype(np.int64)
    if arr.size and np.max(arr) >= 2**62:
        raise ValueError(f"`w` must be < 2**62, got {w!r}")
    if arr.size and np.min(arr) < 0:
        raise ValueError(f"`w` must be integer window sizes >= 0, got {w!r}")
    return arr, arr.ndim == 0


def nats_to(values: np.ndarray, unit: str) -> np.ndarray:
    """Convert a risk in nats to ``unit`` ("nats" or "bits")."""
    choice("unit", unit, RISK_UNITS)
    return values if unit == "nats" else values / math.log(2.0)


def shaped(values: np.ndarray, is_scalar: bool):
    """Return a Python float for scalar input, else the array."""
    return float(values) if is_scalar else values


class Source(ABC):
    """A stationary source with an exactly known truncation risk.

    Subclasses implement ``_bayes_risk_nats(w)`` for an int64 array ``w >= 0`` (same shape out,
    float64 nats), ``sample(n, rng)`` and ``profile(divergence)``; ``theorem_id`` names the proof.
    ``risk_is_exact`` says whether ``bayes_risk`` is the exact I_w (to float rounding) up to
    ``max_exact_window``; ``divergence`` is the unit its profile and exact windows default to.
    """

    theorem_id: str = ""

    # read-only: a subclass overrides these with a class attribute or a property
    @property
    def risk_is_exact(self) -> bool:
        return True

    @property
    def max_exact_window(self) -> int:
        return 2**53

    @property
    def divergence(self) -> str:
        return "kl_nats"

    def bayes_risk(self, w, unit: str = "nats"):
        """I_w = I(X_t ; X_{<t-w} | X_{t-w}^{t-1}) for integer windows ``w >= 0``.

        ``w``: scalar or array of shape S; returns a float (scalar input) or float64 array of
        shape S in ``unit`` ("nats" or "bits").
        """
        choice("unit", unit, RISK_UNITS)
        arr, is_scalar = windows_iv(w)
        values = np.asarray(self._bayes_risk_nats(arr), dtype=np.float64).reshape(arr.shape)
        if values.size and not np.all(np.isfinite(values)):
            raise FloatingPointError(f"{type(self).__name__}.bayes_risk produced a non-finite value")
        return shaped(nats_to(values, unit), is_scalar)

    def exact_window(self, eps, unit: str = "nats") -> int:
        """Smallest integer window ``w >= 1`` with I_w <= ``eps`` (in ``unit``): the exact
        optimal suffix-only window, since the Bayes window predictor attains I_w
        (``bayes_risk_identity``) and I_w is non-increasing (bisection on the monotone risk).

        The bracket comes from the source's proved profile when it has one (the window lies
        between its converse and achievability windows), else it is [1, ``max_exact_window``];
        the search gallops up from its low end and bisects (O(log w) risk evaluations, none
        beyond the bracket).
        ``ValueError`` when the risk is not exact or the window exceeds ``max_exact_window``.
        """
        eps = real_scalar("eps", eps, low=0.0)
        choice("unit", unit, RISK_UNITS)
        if not self.risk_is_exact:
            raise ValueError(f"`source` {self!r} has no exact Bayes risk (use its profile's envelope band)")
        lo, hi = self._window_bracket(eps, unit)
        top = self.max_exact_window if hi is None else min(hi, self.max_exact_window)
        top_checked = hi is not None and hi <= top  # the bracket's top is proved to qualify

        def reaches(w: int) -> bool:
            nonlocal top_checked
            if w < top:
                return self.bayes_risk(w, unit=unit) <= eps
            if not top_checked:  # evaluated only if the gallop gets there (it can cost O(top))
                if not self.bayes_risk(top, unit=unit) <= eps:
                    raise ValueError(
                        f"`eps` = {eps!r} needs a window beyond {self.max_exact_window} tokens, "
                        f"the range where {type(self).__name__}.bayes_risk is exact"
                    )
                top_checked = True
            return True

        # gallop up from the bracket's low end: the risk is cheapest to evaluate at small windows
        return smallest_true(reaches, lo, lo)

    def _window_bracket(self, eps: float, unit: str):
        """(lo, hi) with the exact window in [lo, hi] (hi None: unknown): the converse and
        achievability windows of the source's proved profile, when it has one."""
        from ..windows import achievability_window, converse_window

        try:
            profile = self.profile("kl_nats" if unit == "nats" else "kl_bits")
        except ValueError:  # no proved profile (e.g. Product): bracket from scratch
            return 1, None
        conv = converse_window(eps, profile)
        return (1 if conv is None else int(conv)), int(achievability_window(eps, profile))

    @abstractmethod
    def _bayes_risk_nats(self, w: np.ndarray) -> np.ndarray:
        """Risk in nats for an int64 array of windows (any shape)."""

    @abstractmethod
    def sample(self, n: int, rng: np.random.Generator):
        """Draw a length-``n`` sample path from the stationary law using ``rng``."""

    @abstractmethod
    def profile(self, divergence: str = "kl_nats"):
        """A calculator profile (``wzbounds.profiles``) with proved constants for this source."""


def generator_iv(rng) -> np.random.Generator:
    """Validate that ``rng`` is a ``numpy.random.Generator``."""
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"`rng` must be a numpy.random.Generator, got {type(rng).__name__}")
    return rng
