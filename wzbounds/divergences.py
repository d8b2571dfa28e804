"""Divergences between next-token laws and the conversions between KL and TV.

Distributions live on the **last axis** of an array (shape ``(..., V)``); leading axes
broadcast. TV is ``½‖p − q‖₁`` (a probability in [0, 1]); KL is in nats or bits
(``wzbounds.units.DIVERGENCES``).

Conversions, each resting on a proved theorem (``proofs/<id>.md``):

- ``pinsker``: TV(p, q) ≤ sqrt(KL_nats(p‖q) / 2); in profile form a KL envelope C·w^-α
  gives a TV envelope sqrt(C/2)·w^-α/2 (:func:`kl_profile_to_tv`).
- ``reverse_pinsker``: on a finite alphabet with q_min = min_i q_i > 0,
  KL(p‖q) ≤ log(1 + 2·TV(p, q)² / q_min).
- ``smoothing``: q_μ = (1 − μ)q + μ/V has q_μ,min ≥ μ/V, TV(q_μ, q) = μ·TV(q, u) ≤ μ(1 − 1/V),
  TV(p, q_μ) ≤ (1 − μ)TV(p, q) + μ(1 − 1/V), hence
  KL(p‖q_μ) ≤ log(1 + 2V·((1 − μ)TV(p, q) + μ(1 − 1/V))² / μ); :func:`optimal_smoothing`
  minimises it in closed form and :func:`smoothed_kl_profile` turns a TV envelope into a
  KL envelope.

:func:`locally_quadratic_kl_profile` (KL ≈ κ·TV², so α_KL = 2·α_TV) is an **empirical
assumption** (``wzbounds.theorems.ASSUMPTIONS["locally-quadratic"]``), never a theorem; its
result says so in its provenance.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import rel_entr

from ._validation import choice, positive_int, real_array, real_scalar
from .units import DIVERGENCES, NATS_PER_BIT

#: Largest |Σ p − 1| accepted for a distribution: admits float32 softmax outputs cast to
#: float64 over vocabularies up to ~1e5 (rounding ~1e-7 per entry, partly cancelling),
#: while rejecting anything that is not a probability vector.
SUM_TOLERANCE = 1e-6

KL_UNITS = tuple(d for d in DIVERGENCES if d != "tv")
TV_ENVELOPES = ("mean", "almost_sure")


# --------------------------------------------------------------------------- validation
def _distribution(name: str, value) -> np.ndarray:
    arr = real_array(name, value, low=0.0, low_open=False)
    if arr.ndim == 0 or arr.shape[-1] == 0:
        raise ValueError(f"`{name}` must have a non-empty last axis holding a distribution, got shape {arr.shape}")
    gap = np.abs(arr.sum(axis=-1) - 1.0)
    if np.any(gap > SUM_TOLERANCE):
        raise ValueError(f"`{name}` must sum to 1 along its last axis (within {SUM_TOLERANCE}), "
                         f"got sums off by up to {float(gap.max()):.3g}")
    return arr


def _pair_iv(p, q):
    p = _distribution("p", p)
    q = _distribution("q", q)
    if p.shape[-1] != q.shape[-1]:
        raise ValueError(f"`p` and `q` must have the same alphabet size (last axis), got {p.shape[-1]} and {q.shape[-1]}")
    try:
        np.broadcast_shapes(p.shape, q.shape)
    except ValueError as exc:
        raise ValueError(f"`p` and `q` must broadcast, got shapes {p.shape} and {q.shape}") from exc
    return p, q


def _kl_iv(p, q, unit):
    p, q = _pair_iv(p, q)
    choice("unit", unit, KL_UNITS)
    if np.any((q == 0) & (p > 0)):
        raise ValueError("`q` must be positive wherever `p` is (otherwise KL(p‖q) is infinite)")
    return p, q


def _tv_value(name, value):
    return real_array(name, value, low=0.0, high=1.0, low_open=False)


def _kl_value(name, value, unit):
    choice("unit", unit, KL_UNITS)
    kl = real_array(name, value, low=0.0, low_open=False)
    return kl if unit == "kl_nats" else kl * NATS_PER_BIT


def _vocab_iv(vocab_size) -> int:
    return positive_int("vocab_size", vocab_size, minimum=2)


def _mu_iv(mu):
    return real_array("mu", mu, low=0.0, high=1.0)


def _out(x):
    """Python float for a 0-d result, the array otherwise."""
    x = np.asarray(x, dtype=np.float64)
    return float(x) if x.ndim == 0 else x


# --------------------------------------------------------------------------- divergences
def kl(p, q, unit: str = "kl_nats"):
    """KL(p‖q) along the last axis, in ``unit`` ("kl_nats" or "kl_bits").

    p, q: arrays of shape (..., V) (broadcasting), each row a distribution.
    Returns a float (one pair) or an array of the broadcast leading shape.
    Raises ``ValueError`` if q vanishes where p does not (KL would be infinite).
    """
    p, q = _kl_iv(p, q, unit)
    # rel_entr handles 0·log 0 = 0 exactly; clip the tiny negative sums float rounding
    # produces when p ≈ q (KL ≥ 0 is a theorem).
    nats = np.maximum(rel_entr(p, q).sum(axis=-1), 0.0)
    return _out(nats if unit == "kl_nats" else nats / NATS_PER_BIT)


def tv(p, q):
    """Total variation ½‖p − q‖₁ ∈ [0, 1] along the last axis (shapes as :func:`kl`)."""
    p, q = _pair_iv(p, q)
    return _out(np.minimum(0.5 * np.abs(p - q).sum(axis=-1), 1.0))


def smooth(q, mu):
    """The smoothed law q_μ = (1 − μ)·q + μ/V, V = ``q.shape[-1]``; μ ∈ (0, 1] (array, broadcasts
    against the leading axes of q)."""
    q = _distribution("q", q)
    _vocab_iv(q.shape[-1])
    mu = _mu_iv(mu)[..., None]
    return (1.0 - mu) * q + mu / q.shape[-1]


# --------------------------------------------------------------------------- Pinsker
@dataclass(frozen=True)
class PinskerBound:
    """TV ≤ sqrt(KL_nats / 2). Fields are floats or arrays of the input's shape."""

    kl_nats: float | np.ndarray
    tv_upper: float | np.ndarray
    theorem: str = "pinsker"


def _pinsker_iv(kl_value, unit):
    return _kl_value("kl_value", kl_value, unit)


def pinsker(kl_value, unit: str = "kl_nats") -> PinskerBound:
    """Pinsker's inequality: the largest TV compatible with KL(p‖q) = ``kl_value`` (in ``unit``).

    Holds for any two laws on any alphabet (theorem ``pinsker``). ``tv_upper`` is capped at 1,
    the largest possible TV.
    """
    nats = _pinsker_iv(kl_value, unit)
    return PinskerBound(kl_nats=_out(nats), tv_upper=_out(np.minimum(np.sqrt(nats / 2.0), 1.0)))


def pinsker_kl_lower(tv_value):
    """Pinsker read backwards: KL_nats(p‖q) ≥ 2·TV(p, q)² (theorem ``pinsker``)."""
    return _out(2.0 * _tv_value("tv_value", tv_value) ** 2)


# --------------------------------------------------------------------------- reverse Pinsker
@dataclass(frozen=True)
class ReversePinskerBound:
    """KL(p‖q) ≤ log(1 + 2·TV² / q_min) on a finite alphabet (theorem ``reverse_pinsker``)."""

    tv: float | np.ndarray
    q_min: float | np.ndarray
    kl_upper_nats: float | np.ndarray
    theorem: str = "reverse_pinsker"

    @property
    def kl_upper_bits(self):
        return _out(np.asarray(self.kl_upper_nats) / NATS_PER_BIT)


def _reverse_pinsker_iv(tv_value, q_min):
    t = _tv_value("tv_value", tv_value)
    # q_min ≤ 1/2 whenever V ≥ 2 (the smallest of V ≥ 2 probabilities is ≤ 1/V).
    m = real_array("q_min", q_min, low=0.0, high=0.5)
    return t, m


def reverse_pinsker(tv_value, q_min) -> ReversePinskerBound:
    """Reverse Pinsker: if TV(p, q) = ``tv_value`` and every q_i ≥ ``q_min`` > 0, then
    KL(p‖q) ≤ log(1 + 2·tv²/q_min) nats. Arrays broadcast."""
    t, m = _reverse_pinsker_iv(tv_value, q_min)
    return ReversePinskerBound(tv=_out(t), q_min=_out(m), kl_upper_nats=_out(np.log1p(2.0 * t**2 / m)))


# --------------------------------------------------------------------------- smoothing
@dataclass(frozen=True)
class SmoothingBound:
    """What smoothing q ← (1 − μ)q + μ/V buys and costs, for a pair with TV(p, q) = ``tv``.

    ``tv_bias_max`` = μ(1 − 1/V) ≥ TV(q_μ, q); ``q_min_floor`` = μ/V ≤ min q_μ;
    ``tv_after`` = (1 − μ)·tv + μ(1 − 1/V) ≥ TV(p, q_μ);
    ``kl_upper_nats`` = log(1 + 2·tv_after²/q_min_floor) ≥ KL(p‖q_μ).
    """

    tv: float | np.ndarray
    mu: float | np.ndarray
    vocab_size: int
    tv_bias_max: float | np.ndarray
    q_min_floor: float | np.ndarray
    tv_after: float | np.ndarray
    kl_upper_nats: float | np.ndarray
    theorem: str = "smoothing"


def _smoothing_bound_iv(tv_value, mu, vocab_size):
    return _tv_value("tv_value", tv_value), _mu_iv(mu), _vocab_iv(vocab_size)


def smoothing_bound(tv_value, mu, vocab_size) -> SmoothingBound:
    """Bounds for the smoothed reconstruction q_μ given TV(p, q) ≤ ``tv_value`` (theorem ``smoothing``).

    tv_value ∈ [0, 1], mu ∈ (0, 1] (arrays broadcast), vocab_size V ≥ 2.
    """
    t, m, v = _smoothing_bound_iv(tv_value, mu, vocab_size)
    a = 1.0 - 1.0 / v
    bias = m * a
    floor = m / v
    after = (1.0 - m) * t + bias
    return SmoothingBound(tv=_out(t), mu=_out(m), vocab_size=v, tv_bias_max=_out(bias),
                          q_min_floor=_out(floor), tv_after=_out(after),
                          kl_upper_nats=_out(np.log1p(2.0 * after**2 / floor)))


@dataclass(frozen=True)
class OptimalSmoothing:
    """The μ minimising the smoothing KL bound for a pair with TV(p, q) ≤ ``tv``."""

    tv: float | np.ndarray
    vocab_size: int
    mu: float | np.ndarray
    kl_bound_nats: float | np.ndarray
    theorem: str = "smoothing"


def _optimal_smoothing_iv(tv_value, vocab_size):
    # tv = 0 has no minimiser in (0, 1] (the bound tends to 0 as μ → 0): exclude it.
    return real_array("tv_value", tv_value, low=0.0, high=1.0), _vocab_iv(vocab_size)


def optimal_smoothing(tv_value, vocab_size) -> OptimalSmoothing:
    """Closed-form minimiser of log(1 + 2V·((1 − μ)τ + μa)²/μ) over μ ∈ (0, 1], a = 1 − 1/V.

    μ* = τ/(a − τ) when τ < a/2, giving KL ≤ log(1 + 8V·τ(a − τ)); otherwise μ* = 1 and
    KL ≤ log(1 + 2V·a²). ``tv_value`` τ ∈ (0, 1] (array or scalar), ``vocab_size`` V ≥ 2.
    Theorem ``smoothing``.
    """
    t, v = _optimal_smoothing_iv(tv_value, vocab_size)
    a = 1.0 - 1.0 / v
    interior = t < a / 2.0
    # where() evaluates both branches; keep the unused one finite.
    mu = np.where(interior, t / np.where(interior, a - t, 1.0), 1.0)
    bound = np.log1p(np.where(interior, 8.0 * v * t * (a - t), 2.0 * v * a * a))
    return OptimalSmoothing(tv=_out(t), vocab_size=v, mu=_out(mu), kl_bound_nats=_out(bound))


# --------------------------------------------------------------------------- profile forms
def _power_law_iv(name, profile, divergences):
    from .profiles.power_law import PowerLaw  # lazy: profiles sit above divergences in the layering

    if not isinstance(profile, PowerLaw):
        raise ValueError(f"`{name}` must be a wzbounds.profiles.PowerLaw, got {type(profile).__name__}")
    choice(f"{name}.divergence", profile.divergence, divergences)
    return PowerLaw


def _scaled_ci(ci, f):
    return None if ci is None else tuple(float(f(x)) for x in ci)


def kl_profile_to_tv(profile):
    """Pinsker in profile form: a KL envelope E KL ≤ C·w^-α (w ≥ w0) gives
    E TV ≤ sqrt(E KL / 2) ≤ sqrt(C/2)·w^(-α/2) (Jensen on the concave sqrt; theorem ``pinsker``).

    ``profile``: a PowerLaw in "kl_nats" or "kl_bits". Returns a PowerLaw in "tv" with
    alpha/2, C_tv = sqrt(C_nats/2) (confidence intervals mapped the same way; both maps are
    increasing). The lower envelope is dropped (``c=None``): Pinsker bounds TV from above only.
    """
    PowerLaw = _power_law_iv("profile", profile, KL_UNITS)
    to_nats = 1.0 if profile.divergence == "kl_nats" else NATS_PER_BIT
    c_tv = lambda C: math.sqrt(C * to_nats / 2.0)  # noqa: E731 - one formula, used three times
    return PowerLaw(alpha=profile.alpha / 2.0, C=c_tv(profile.C), c=None, w0=profile.w0, divergence="tv",
                    alpha_ci=_scaled_ci(profile.alpha_ci, lambda a: a / 2.0),
                    C_ci=_scaled_ci(profile.C_ci, c_tv),
                    provenance={"derived_by": "wzbounds.divergences.kl_profile_to_tv", "theorem": "pinsker",
                                "source": profile.to_dict()})


def smoothed_kl_profile(tv_profile, vocab_size, *, tv_envelope: str = "mean"):
    """KL envelope attained by smoothing the reconstruction, from a TV envelope U(w) = C·w^-β
    (theorem ``smoothing``; needs a finite vocabulary of size V ≥ 2).

    tv_envelope="mean" (the profile bounds E TV, the usual meaning): with
    μ(w) = min(1, sqrt(U(w))/(1 − 1/V)), E KL(p‖q_μ) ≤ 4(V − 1)·sqrt(U(w)); the result is a
    PowerLaw with alpha = β/2, C = 4(V − 1)·sqrt(C_tv).

    tv_envelope="almost_sure" (TV(p_t, q_t) ≤ U(w) at every step): with μ(w) the
    :func:`optimal_smoothing` of U(w), KL(p‖q_μ) ≤ 8(V − 1)·U(w) at every step; the result has
    alpha = β, C = 8(V − 1)·C_tv.

    The result is in "kl_nats" and has no lower envelope.
    """
    PowerLaw = _power_law_iv("tv_profile", tv_profile, ("tv",))
    v = _vocab_iv(vocab_size)
    choice("tv_envelope", tv_envelope, TV_ENVELOPES)
    if tv_envelope == "mean":
        alpha_of, c_of, rule = (lambda b: b / 2.0), (lambda C: 4.0 * (v - 1) * math.sqrt(C)), \
            "mu(w) = min(1, sqrt(U(w)) / (1 - 1/V))"
    else:
        alpha_of, c_of, rule = (lambda b: b), (lambda C: 8.0 * (v - 1) * C), \
            "mu(w) = optimal_smoothing(U(w), V).mu"
    return PowerLaw(alpha=alpha_of(tv_profile.alpha), C=c_of(tv_profile.C), c=None, w0=tv_profile.w0,
                    divergence="kl_nats", alpha_ci=_scaled_ci(tv_profile.alpha_ci, alpha_of),
                    C_ci=_scaled_ci(tv_profile.C_ci, c_of),
                    provenance={"derived_by": "wzbounds.divergences.smoothed_kl_profile", "theorem": "smoothing",
                                "vocab_size": v, "tv_envelope": tv_envelope, "smoothing_rule": rule,
                                "source": tv_profile.to_dict()})


def locally_quadratic_kl_profile(tv_profile, kappa):
    """EMPIRICAL ASSUMPTION, not a theorem: if KL ≈ κ·TV² in the small-distortion regime
    (assumption ``locally-quadratic``), a TV envelope C·w^-β becomes a KL envelope κC²·w^(-2β)
    (so α_KL = 2·α_TV). Nothing proves this; it is a model of measured curves, and the result's
    provenance carries ``"assumption": "locally-quadratic"`` and ``"theorem": None``.

    ``tv_profile``: PowerLaw in "tv"; ``kappa`` > 0 in nats per unit TV² (Pinsker gives
    KL ≥ 2·TV², so a fitted κ is typically ≥ 2). Returns a PowerLaw in "kl_nats"; a lower
    envelope c_tv maps to κ·c_tv² the same way.
    """
    PowerLaw = _power_law_iv("tv_profile", tv_profile, ("tv",))
    k = real_scalar("kappa", kappa, low=0.0)
    quad = lambda x: k * x * x  # noqa: E731
    return PowerLaw(alpha=2.0 * tv_profile.alpha, C=quad(tv_profile.C),
                    c=None if tv_profile.c is None else quad(tv_profile.c), w0=tv_profile.w0,
                    divergence="kl_nats", alpha_ci=_scaled_ci(tv_profile.alpha_ci, lambda a: 2.0 * a),
                    C_ci=_scaled_ci(tv_profile.C_ci, quad),
                    provenance={"derived_by": "wzbounds.divergences.locally_quadratic_kl_profile",
                                "assumption": "locally-quadratic", "theorem": None,
                                "status": "EMPIRICAL ASSUMPTION, not a theorem", "kappa": k,
                                "source": tv_profile.to_dict()})
