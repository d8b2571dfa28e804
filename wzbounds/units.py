"""Divergence units. A profile, a target distortion and a result always carry one of these."""

from __future__ import annotations

import math

from ._validation import choice

#: KL divergence in nats, KL in bits, total variation (a probability, in [0, 1]) and ``tv2``,
#: the second moment E[TV^2] of the total variation (dimensionless, in [0, 1]): a profile in
#: ``tv2`` bounds E[TV(p_t, p~_t)^2] at each window, which E[TV] alone does not control.
DIVERGENCES = ("kl_nats", "kl_bits", "tv", "tv2")
#: The KL units among them.
KL_UNITS = ("kl_nats", "kl_bits")

NATS_PER_BIT = math.log(2.0)


def check_divergence(divergence: str, name: str = "divergence") -> str:
    return choice(name, divergence, DIVERGENCES)


def check_kl_unit(divergence: str, name: str = "divergence") -> str:
    return choice(name, divergence, KL_UNITS)


def divergence_family(divergence: str) -> str:
    """``"kl"`` for both KL units, else the unit itself (``"tv"``, ``"tv2"``): the name that
    assumption keys such as ``PTS-lower-kl`` carry."""
    check_divergence(divergence)
    return "kl" if divergence in KL_UNITS else divergence


def kl_scale(from_unit: str, to_unit: str) -> float:
    """Factor turning a KL value in ``from_unit`` into ``to_unit`` (both KL units)."""
    check_divergence(from_unit, "from_unit")
    check_divergence(to_unit, "to_unit")
    if from_unit not in KL_UNITS or to_unit not in KL_UNITS:
        raise ValueError("`kl_scale` converts between KL units only; use wzbounds.divergences for TV")
    if from_unit == to_unit:
        return 1.0
    return 1.0 / NATS_PER_BIT if from_unit == "kl_nats" else NATS_PER_BIT
