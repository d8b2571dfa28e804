"""Sink-plus-recent (StreamingLLM-style): keep the first ``s`` tokens and the last ``w``.

Memory ``s + w`` tokens. Distortion ``<= U(w)`` under the ``sink-monotone`` assumption
(adding sink tokens to a ``w``-suffix does not increase distortion): ``sink_recent``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .._validation import positive_int
from ..windows import achievability_window
from ._exact import exact


@dataclass(frozen=True)
class Sink:
    """Sink-plus-recent scheme with ``sinks`` (int >= 0) sink tokens; size parameter ``w``."""

    name: ClassVar[str] = "sink"
    sinks: int = 4

    def __post_init__(self):
        object.__setattr__(self, "sinks", positive_int("sinks", self.sinks, minimum=0))

    def size_for_epsilon(self, eps, profile):
        """Recent window ``w`` (the sinks come on top), exact ints of ``eps``'s shape."""
        return achievability_window(eps, profile)

    def window_tokens(self, size):
        return size

    def peak_memory_tokens(self, size):
        return exact(size, lambda w: w + self.sinks)

    def average_memory_tokens(self, size):
        return self.peak_memory_tokens(size)

    def distortion(self, size, profile):
        u = profile.upper(size)
        return u, u

    def theorem_ids(self, profile) -> tuple:
        return ("sink_recent", profile.achievability_theorem)

    def assumptions(self, profile) -> tuple:
        return (profile.upper_assumption, "sink-monotone")
