"""Cache schemes: each maps a target distortion to its size parameter and memory.

Common interface (every scheme is a frozen dataclass): ``name``, ``size_for_epsilon(eps,
profile)``, ``window_tokens(size)``, ``peak_memory_tokens(size)``,
``average_memory_tokens(size)``, ``distortion(size, profile) -> (worst_case, time_average)``,
``theorem_ids(profile)``, ``assumptions(profile)``.

``block_rate.block_markov_rate`` is not a scheme of this kind: it answers how fast the
block-Markov KL distortion can fall from TV information (theorem ``block_markov_rate``).
"""

from __future__ import annotations

from .block import (
    BlockMarkov,
    BlockSlidingComparison,
    block_average_distortion,
    block_average_distortion_mp,
    block_size_time_average,
    compare_block_with_sliding,
    profile_block_average,
)
from .block_rate import BlockMarkovRate, block_markov_rate
from .sink import Sink
from .sliding import Sliding

#: ``scheme=`` strings accepted by the calculator and the CLI.
SCHEME_NAMES = ("sliding", "sink", "block", "block-average")


def get_scheme(scheme="sliding", *, sinks: int | None = None):
    """Turn a scheme name (or a scheme object, returned as is) into a scheme object.

    ``"block"`` sizes the block by its worst case, ``"block-average"`` by its time average.
    ``sinks`` (int >= 0) is only meaningful with ``"sink"``; None means ``Sink``'s default (4),
    the same as the CLI.
    """
    if not isinstance(scheme, str):
        if not hasattr(scheme, "size_for_epsilon"):
            raise ValueError(f"`scheme` must be one of {list(SCHEME_NAMES)} or a scheme object, got {scheme!r}")
        return scheme
    if scheme not in SCHEME_NAMES:
        raise ValueError(f"`scheme` must be one of {list(SCHEME_NAMES)}, got {scheme!r}")
    if scheme == "sink":
        return Sink() if sinks is None else Sink(sinks)
    if sinks:
        raise ValueError(f"`sinks` must be 0 unless scheme='sink', got {sinks!r}")
    if scheme == "sliding":
        return Sliding()
    return BlockMarkov("worst_case" if scheme == "block" else "time_average")


__all__ = [
    "Sliding",
    "Sink",
    "BlockMarkov",
    "BlockSlidingComparison",
    "BlockMarkovRate",
    "get_scheme",
    "SCHEME_NAMES",
    "block_average_distortion",
    "block_average_distortion_mp",
    "block_size_time_average",
    "block_markov_rate",
    "compare_block_with_sliding",
    "profile_block_average",
]
