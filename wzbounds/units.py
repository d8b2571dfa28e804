"""Divergence units. A profile, a target distortion and a result always carry one of these."""
from __future__ import annotations

import math

from ._validation import choice

#: KL divergence in nats, KL in bits, total variation (a probability, in [0, 1]).
DIVERGENCES = ("kl_nats", "kl_bits", "tv")

NATS_PER_BIT = math.log(2.0)


def check_divergence(divergence: str, name: str = "divergence") -> str:
    return choice(name, divergence, DIVERGENCES)


def kl_scale(from_unit: str, to_unit: str) -> float:
    """Factor turning a KL value in ``from_unit`` into ``to_unit`` (both KL units)."""
    check_divergence(from_unit, "from_unit")
    check_divergence(to_unit, "to_unit")
    if "tv" in (from_unit, to_unit):
        raise ValueError("`kl_scale` converts between KL units only; use wzbounds.divergences for TV")
    if from_unit == to_unit:
        return 1.0
    return 1.0 / NATS_PER_BIT if from_unit == "kl_nats" else NATS_PER_BIT
