"""Sliding window: keep the last ``w`` tokens. Memory ``w`` tokens; distortion ``U(w)``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..windows import achievability_window


@dataclass(frozen=True)
class Sliding:
    """The sliding-window (recency) scheme. Its size parameter is the window ``w``."""

    name: ClassVar[str] = "sliding"

    def size_for_epsilon(self, eps, profile):
        """Smallest window ``w >= w0`` with ``U(w) <= eps`` (exact ints, shape of ``eps``)."""
        return achievability_window(eps, profile)

    def window_tokens(self, size):
        return size

    def peak_memory_tokens(self, size):
        return size

    def average_memory_tokens(self, size):
        return size

    def distortion(self, size, profile):
        """``(worst_case, time_average)`` upper bounds at window ``size``: both ``U(w)``."""
        u = profile.upper(size)
        return u, u

    def theorem_ids(self, profile) -> tuple:
        return (profile.achievability_theorem,)

    def assumptions(self, profile) -> tuple:
        return (profile.upper_assumption,)
