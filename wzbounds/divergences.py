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
  TV(p, q_μ) ≤ (1 − μ)TV(p, q) + μ(1 − 1/V), hence (reverse Pinsker)
  KL(p‖q_μ) ≤ log(1 + 2V·((1 − μ)TV(p, q) + μ(1 − 1/V))² / μ).
- ``smoothing_convexity`` (the sharper route, log-sum inequality): with τ = TV(p, q),
  KL(p‖q_μ) ≤ (1 − τ)·log(1/(1 − μ)) + τ·log(Vτ/μ). Linear in τ up to τ log τ ≤ 0, so a *mean*
  TV envelope U keeps its exponent up to a log factor: E KL ≤ U(1 + log(V/U)) with μ = U.
  :func:`smoothing_bound` and :func:`optimal_smoothing` report the smaller of the two proved
  bounds (and which route gave it); :func:`smoothed_kl_profile` turns a TV envelope into a KL
  envelope by the convexity route.
- ``tv_converse``: E TV(p, q) ≥ ½·E TV(p, p̄_w) for every suffix-measurable q, and
  E KL ≥ 2·E TV² ≥ 2·(E TV)² (Pinsker): TV lower envelopes from the Bayes predictor, and KL
  lower envelopes from TV ones (:func:`tv_converse_profile`, :func:`kl_lower_from_tv`); from the
  Bayes predictor's own TV envelope c directly, I_w ≥ 2c²·w^-2α (not the chain's c²/2).

:func:`locally_quadratic_kl_profile` (KL ≈ κ·TV² pointwise, so E KL ≈ κ·E[TV²]) is an
**empirical assumption** (``wzbounds.theorems.ASSUMPTIONS["locally-quadratic"]``), never a
theorem, and takes a second-moment (``tv2``) profile: a mean-TV envelope does not bound
E[TV²] ≥ (E TV)². Its result says so in its provenance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import mpmath
import numpy as np
from scipy.special import rel_entr

from ._validation import choice, positive_int, real_array, real_scalar
from .units import KL_UNITS, NATS_PER_BIT

#: Largest |Σ p − 1| accepted for a distribution: admits float32 softmax outputs cast to
#: float64 over vocabularies up to ~1e5 (rounding ~1e-7 per entry, partly cancelling),
#: while rejecting anything that is not a probability vector.
SUM_TOLERANCE = 1e-6

#: What a TV envelope U bounds: the mean E TV(p_t, q_t), or TV(p_t, q_t) at every step.
TV_ENVELOPES = ("mean", "almost_sure")
#: The two proved KL bounds for a smoothed reconstruction, with their theorem ids.
SMOOTHING_ROUTES = {"convexity": "smoothing_convexity", "reverse_pinsker": "smoothing"}


# --------------------------------------------------------------------------- validation
def _distribution(name: str, value) -> np.ndarray:
    arr = real_array(name, value, low=0.0, low_open=False)
    if arr.ndim == 0 or arr.shape[-1] == 0:
        raise ValueError(f"`{name}` must have a non-empty last axis holding a distribution, got shape {arr.shape}")
    gap = np.abs(arr.sum(axis=-1) - 1.0)
    if np.any(gap > SUM_TOLERANCE):
        raise ValueError(
            f"`{name}` must sum to 1 along its last axis (within {SUM_TOLERANCE}), "
            f"got sums off by up to {float(gap.max()):.3g}"
        )
    return arr


def _pair_iv(p, q):
    p = _distribution("p", p)
    q = _distribution("q", q)
    if p.shape[-1] != q.shape[-1]:
        raise ValueError(
            f"`p` and `q` must have the same alphabet size (last axis), got {p.shape[-1]} and {q.shape[-1]}"
        )
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


def _vocab_terms(v: int):
    """(V as a float, inf past float range; a = 1 − 1/V; log V): a Python int of any size (V = 10**400
    too) enters the bounds only through these, each computed from the exact int."""
    v_float = float(v) if v.bit_length() <= 1000 else math.inf
    return v_float, 1.0 - 1 / v, math.log(v)


def _log1p_big(x, log_x):
    """log(1 + x) from ``x`` where it is a normal float, else from ``log_x`` (computed by the caller
    from logs of the factors): x overflows to inf (2τ²/q_min at q_min = 5e-324), or underflows
    below the normal range and loses its digits."""
    with np.errstate(divide="ignore", over="ignore", under="ignore", invalid="ignore"):
        normal = np.isfinite(x) & (x >= np.finfo(np.float64).tiny)
        from_log = np.where(log_x > 0, log_x + np.log1p(np.exp(-np.abs(log_x))), np.log1p(np.exp(np.minimum(log_x, 0))))
        return np.where(normal, np.log1p(np.where(normal, x, 0.0)), from_log)


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
    with np.errstate(divide="ignore", over="ignore", under="ignore"):
        # 2(t/sqrt(m))^2, not 2t^2/m: t^2 may underflow where the quotient is a normal number
        x, log_x = 2.0 * (t / np.sqrt(m)) ** 2, math.log(2.0) + 2.0 * np.log(t) - np.log(m)
    return ReversePinskerBound(tv=_out(t), q_min=_out(m), kl_upper_nats=_out(_log1p_big(x, log_x)))


# --------------------------------------------------------------------------- smoothing
@dataclass(frozen=True)
class SmoothingBound:
    """What smoothing q ← (1 − μ)q + μ/V buys and costs, for pairs with TV(p, q) ≤ ``tv``
    (``tv_envelope="almost_sure"``) or E TV(p, q) ≤ ``tv`` (``"mean"``).

    ``tv_bias_max`` = μ(1 − 1/V) ≥ TV(q_μ, q); ``q_min_floor`` = μ/V ≤ min q_μ;
    ``tv_after`` = (1 − μ)·tv + μ(1 − 1/V) ≥ TV(p, q_μ) (its mean, for ``"mean"``);
    ``kl_upper_convexity_nats``: theorem ``smoothing_convexity`` (log V at μ = 1);
    ``kl_upper_reverse_pinsker_nats``: theorem ``smoothing`` part 4 (part 6b for ``"mean"``);
    ``kl_upper_nats``: the smaller, from ``route`` (``theorem`` names its theorem).
    """

    tv: float | np.ndarray
    mu: float | np.ndarray
    vocab_size: int
    tv_envelope: str
    tv_bias_max: float | np.ndarray
    q_min_floor: float | np.ndarray
    tv_after: float | np.ndarray
    kl_upper_convexity_nats: float | np.ndarray
    kl_upper_reverse_pinsker_nats: float | np.ndarray
    kl_upper_nats: float | np.ndarray
    route: str | np.ndarray
    theorem: str | np.ndarray


def _smoothing_bound_iv(tv_value, mu, vocab_size, tv_envelope):
    return (
        _tv_value("tv_value", tv_value),
        _mu_iv(mu),
        _vocab_iv(vocab_size),
        choice("tv_envelope", tv_envelope, TV_ENVELOPES),
    )


def _convexity_bound(t, m, v, tv_envelope):
    """``smoothing_convexity`` parts 1-2 (almost sure: every pair with TV ≤ t) and 4 (mean):
    max(L, (1 − t)L + t·log(V·s/μ)) with L = log(1/(1 − μ)), s = t (almost sure) or 1 (mean);
    log V at μ = 1 (q_μ is uniform)."""
    log_v = _vocab_terms(v)[2]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        L = -np.log1p(-m)
        s = t if tv_envelope == "almost_sure" else np.ones_like(t)
        spike = np.where(t > 0, t * (log_v + np.log(np.where(s > 0, s, 1.0)) - np.log(m)), 0.0)
        bound = np.maximum(L, np.where(t < 1, (1 - t) * L, 0.0) + spike)
    return np.where(m == 1.0, log_v, bound)


def _reverse_pinsker_bound(t, m, v, tv_envelope):
    """``smoothing`` part 4 (almost sure) and part 6b (mean, any μ): log(1 + 2V·x/μ) with
    x = ((1 − μ)t + μa)² resp. t + μ²a² (a = 1 − 1/V); finite wherever its log is (μ down to
    5e-324, V beyond float range)."""
    v_float, a, log_v = _vocab_terms(v)
    with np.errstate(divide="ignore", over="ignore", under="ignore", invalid="ignore"):
        # y = x/μ, and log y from the logs of its terms (each may underflow or overflow alone)
        log_m, log_t, log_a = np.log(m), np.log(t), math.log(a)
        if tv_envelope == "almost_sure":
            s = (1.0 - m) * t + m * a
            y = (s / np.sqrt(m)) ** 2
            log_y = 2.0 * np.logaddexp(np.log1p(-m) + log_t, log_m + log_a) - log_m
        else:
            y, log_y = t / m + m * a * a, np.logaddexp(log_t - log_m, log_m + 2.0 * log_a)
        return _log1p_big(2.0 * v_float * y, math.log(2.0) + log_v + log_y)


def _pick(conv, rp):
    use_conv = conv <= rp
    route = np.where(use_conv, "convexity", "reverse_pinsker")
    theorem = np.where(use_conv, SMOOTHING_ROUTES["convexity"], SMOOTHING_ROUTES["reverse_pinsker"])
    return np.minimum(conv, rp), _out_str(route), _out_str(theorem)


def _out_str(x):
    x = np.asarray(x)
    return str(x) if x.ndim == 0 else x


def smoothing_bound(tv_value, mu, vocab_size, *, tv_envelope: str = "almost_sure") -> SmoothingBound:
    """Bounds for the smoothed reconstruction q_μ given TV(p, q) ≤ ``tv_value`` (or its mean,
    ``tv_envelope="mean"``): theorems ``smoothing`` and ``smoothing_convexity``.

    tv_value ∈ [0, 1], mu ∈ (0, 1] (arrays broadcast), vocab_size V ≥ 2.
    """
    t, m, v, env = _smoothing_bound_iv(tv_value, mu, vocab_size, tv_envelope)
    t, m = np.broadcast_arrays(t, m)
    v_float, a, _ = _vocab_terms(v)
    bias = m * a
    conv = _convexity_bound(t, m, v, env)
    rp = _reverse_pinsker_bound(t, m, v, env)
    best, route, theorem = _pick(conv, rp)
    return SmoothingBound(
        tv=_out(t),
        mu=_out(m),
        vocab_size=v,
        tv_envelope=env,
        tv_bias_max=_out(bias),
        q_min_floor=_out(m / v_float),
        tv_after=_out((1.0 - m) * t + bias),
        kl_upper_convexity_nats=_out(conv),
        kl_upper_reverse_pinsker_nats=_out(rp),
        kl_upper_nats=_out(best),
        route=route,
        theorem=theorem,
    )


@dataclass(frozen=True)
class OptimalSmoothing:
    """The μ minimising the proved KL bound for pairs with TV(p, q) ≤ ``tv`` (or E TV ≤ ``tv``
    for ``tv_envelope="mean"``), over both routes; ``route``/``theorem`` say which won."""

    tv: float | np.ndarray
    vocab_size: int
    tv_envelope: str
    mu: float | np.ndarray
    kl_bound_nats: float | np.ndarray
    route: str | np.ndarray
    theorem: str | np.ndarray


def _optimal_smoothing_iv(tv_value, vocab_size, tv_envelope):
    # tv = 0 has no minimiser in (0, 1] (the bound tends to 0 as μ → 0): exclude it.
    return (
        real_array("tv_value", tv_value, low=0.0, high=1.0),
        _vocab_iv(vocab_size),
        choice("tv_envelope", tv_envelope, TV_ENVELOPES),
    )


def optimal_smoothing(tv_value, vocab_size, *, tv_envelope: str = "almost_sure") -> OptimalSmoothing:
    """Closed-form best μ ∈ (0, 1] for the proved KL bounds, τ = ``tv_value`` ∈ (0, 1], V ≥ 2.

    Convexity route (``smoothing_convexity`` part 3): for τ ≤ a = 1 − 1/V, μ* = τ and
    KL ≤ −(1 − τ)log(1 − τ) + τ·log V (almost sure) or + τ·log(V/τ) (mean); μ = 1 gives log V.
    Reverse-Pinsker route (``smoothing`` parts 5, 6b): μ* = τ/(a − τ) for τ < a/2, giving
    log(1 + 8Vτ(a − τ)) (almost sure); μ = min(1, sqrt(τ)/a), giving log(1 + 4Va·sqrt(τ)) (mean).
    The smaller bound is reported. ``optimal_smoothing(0.01, 49152)`` is 0.118 nats (convexity;
    the reverse-Pinsker route alone gives 8.27).
    """
    t, v, env = _optimal_smoothing_iv(tv_value, vocab_size, tv_envelope)
    _, a, log_v = _vocab_terms(v)
    small = t <= a
    with np.errstate(divide="ignore", invalid="ignore"):
        tail = np.where(small, -(1 - t) * np.log1p(-np.where(small, t, 0.0)), 0.0)
        conv_val = tail + t * (log_v - (np.log(t) if env == "mean" else 0.0))
    conv_mu = np.where(small & (conv_val < log_v), t, 1.0)
    conv = np.where(conv_mu < 1, conv_val, log_v)
    if env == "almost_sure":
        interior = t < a / 2.0
        rp_mu = np.where(interior, t / np.where(interior, a - t, 1.0), 1.0)
    else:
        rp_mu = np.minimum(1.0, np.sqrt(t) / a)
    rp = _reverse_pinsker_bound(t, rp_mu, v, env)
    best, route, theorem = _pick(conv, rp)
    mu = np.where(conv <= rp, conv_mu, rp_mu)
    return OptimalSmoothing(
        tv=_out(t), vocab_size=v, tv_envelope=env, mu=_out(mu), kl_bound_nats=_out(best), route=route, theorem=theorem
    )


# --------------------------------------------------------------------------- profile forms
def _profile_iv(name, profile, divergences, classes=None):
    from .profiles import PowerLaw  # lazy: profiles sit above divergences in the layering

    classes = classes or (PowerLaw,)
    if not isinstance(profile, classes):
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
    PowerLaw = _profile_iv("profile", profile, KL_UNITS)
    to_nats = 1.0 if profile.divergence == "kl_nats" else NATS_PER_BIT
    c_tv = lambda C: math.sqrt(C * to_nats / 2.0)  # noqa: E731 - one formula, used three times
    return PowerLaw(
        alpha=profile.alpha / 2.0,
        C=c_tv(profile.C),
        c=None,
        w0=profile.w0,
        divergence="tv",
        alpha_ci=_scaled_ci(profile.alpha_ci, lambda a: a / 2.0),
        C_ci=_scaled_ci(profile.C_ci, c_tv),
        provenance={
            "derived_by": "wzbounds.divergences.kl_profile_to_tv",
            "theorem": "pinsker",
            "derived_from": profile.to_dict(),
        },
    )


def smoothed_kl_profile(tv_profile, vocab_size, *, tv_envelope: str = "mean"):
    """KL envelope attained by smoothing the reconstruction with μ(w) = U(w), from a TV
    envelope U(w) = C·w^-β (theorem ``smoothing_convexity`` parts 4-5; needs a finite
    vocabulary of size V ≥ 2).

    tv_envelope="mean" (the profile bounds E TV, the usual meaning):
    E KL ≤ U(w)·(1 + log(V/U(w))) = (K0 + K1·log w)·w^-β with K0 = C(1 + log(V/C)), K1 = Cβ: a
    ``LogPowerLaw`` — the exponent is kept up to the log factor.

    tv_envelope="almost_sure" (TV(p_t, q_t) ≤ U(w) at every step): KL ≤ U(w)(1 + log V) at
    every step: a ``PowerLaw`` with alpha = β, C = C_tv(1 + log V).

    Both need U(w) ≤ 1 − 1/V, so the result's ``w0`` is the smallest w ≥ w0 where that holds.
    The result is in "kl_nats" and has no lower envelope; the mean form drops the CIs (its
    constants are not monotone in the TV parameters). The mean form needs C < e·V (else K0 ≤ 0,
    which a ``LogPowerLaw`` cannot hold: a ``ValueError`` naming ``tv_profile.C``).
    """
    from .profiles import LogPowerLaw, power_law_window

    PowerLaw = _profile_iv("tv_profile", tv_profile, ("tv",))
    v = _vocab_iv(vocab_size)
    choice("tv_envelope", tv_envelope, TV_ENVELOPES)
    beta, C = tv_profile.alpha, tv_profile.C
    _, a, log_v = _vocab_terms(v)
    k0 = C * (1.0 + log_v - math.log(C))
    if tv_envelope == "mean" and not k0 > 0:
        raise ValueError(
            f"`tv_profile.C` must be below e·vocab_size = e^{1 + log_v:.6g} for the smoothed mean "
            f"envelope (its constant C(1 + log(V/C)) is then positive), got {C!r}"
        )
    w0 = power_law_window(a, beta, C, tv_profile.w0)
    provenance = {
        "derived_by": "wzbounds.divergences.smoothed_kl_profile",
        "theorem": "smoothing_convexity",
        "vocab_size": v,
        "tv_envelope": tv_envelope,
        "smoothing_rule": "mu(w) = U(w)",
        "derived_from": tv_profile.to_dict(),
    }
    if tv_envelope == "mean":
        return LogPowerLaw(alpha=beta, C=k0, D=C * beta, w0=w0, divergence="kl_nats", provenance=provenance)
    k = 1.0 + log_v
    if not math.isfinite(C * k):
        raise ValueError(f"`tv_profile.C` = {C!r} times 1 + log V = {k:.6g} exceeds float range")
    return PowerLaw(
        alpha=beta,
        C=C * k,
        c=None,
        w0=w0,
        divergence="kl_nats",
        alpha_ci=tv_profile.alpha_ci,
        C_ci=_scaled_ci(tv_profile.C_ci, lambda x: x * k),
        provenance=provenance,
    )


def locally_quadratic_kl_profile(tv2_profile, kappa):
    """EMPIRICAL ASSUMPTION, not a theorem: if KL ≈ κ·TV² pointwise in the small-distortion
    regime (assumption ``locally-quadratic``), then E KL ≈ κ·E[TV²], so a *second-moment*
    envelope E[TV²] ≤ C₂·w^-α (a ``"tv2"`` profile) becomes the KL envelope κC₂·w^-α. A mean
    TV envelope would not do: E[TV²] ≥ (E TV)², so κ·(E TV)² is not an upper bound.

    The lower constant, if any, is the *proved* one: E KL ≥ 2·E[TV²] ≥ 2c₂·w^-α (Pinsker,
    ``tv_converse``), so ``c = 2c₂``. ``kappa`` ≥ 2 (Pinsker: KL ≥ 2 TV², so a smaller κ
    contradicts a theorem). Returns a PowerLaw in "kl_nats" whose provenance carries
    ``"assumption": "locally-quadratic"`` and ``"theorem": None``.
    """
    PowerLaw = _profile_iv("tv2_profile", tv2_profile, ("tv2",))
    k = real_scalar("kappa", kappa, low=2.0, low_open=False)
    return PowerLaw(
        alpha=tv2_profile.alpha,
        C=k * tv2_profile.C,
        c=None if tv2_profile.c is None else 2.0 * tv2_profile.c,
        w0=tv2_profile.w0,
        divergence="kl_nats",
        alpha_ci=tv2_profile.alpha_ci,
        C_ci=_scaled_ci(tv2_profile.C_ci, lambda x: k * x),
        provenance={
            "derived_by": "wzbounds.divergences.locally_quadratic_kl_profile",
            "assumption": "locally-quadratic",
            "theorem": None,
            "lower_theorem": None if tv2_profile.c is None else "tv_converse",
            "status": "EMPIRICAL ASSUMPTION, not a theorem",
            "kappa": k,
            "derived_from": tv2_profile.to_dict(),
        },
    )


# --------------------------------------------------------------------------- converses from TV
def tv_converse_profile(bayes_tv_profile):
    """TV lower envelope of *every* suffix-only decoder from the Bayes window predictor's:
    if c·w^-α ≤ E TV(p_t, p̄_w) ≤ C·w^-α, then every suffix-measurable q has
    E TV(p_t, q) ≥ (c/2)·w^-α (theorem ``tv_converse`` part 1). Returns the PowerLaw in "tv"
    with the same upper envelope (p̄_w itself is a suffix-only decoder) and c/2."""
    PowerLaw = _profile_iv("bayes_tv_profile", bayes_tv_profile, ("tv",))
    if bayes_tv_profile.c is None:
        raise ValueError("`bayes_tv_profile.c` must be given: the Bayes predictor's lower TV constant")
    p = bayes_tv_profile
    return PowerLaw(
        alpha=p.alpha,
        C=p.C,
        c=p.c / 2.0,
        w0=p.w0,
        divergence="tv",
        alpha_ci=p.alpha_ci,
        C_ci=p.C_ci,
        provenance={
            "derived_by": "wzbounds.divergences.tv_converse_profile",
            "theorem": "tv_converse",
            "derived_from": p.to_dict(),
        },
    )


@dataclass(frozen=True)
class KLLowerBound:
    """I_w ≥ c·w^-α nats for w ≥ w0 — the least E KL of any suffix-only decoder — derived from
    a TV or tv2 lower envelope (theorem ``tv_converse`` part 2). ``route``: ``"suffix_risk"``
    (the envelope bounds every suffix-only decoder, parts 2a-2b) or ``"bayes_predictor"`` (it
    bounds the Bayes window predictor p̄_w, part 2c: I_w = E KL(p‖p̄_w) ≥ 2(E TV(p, p̄_w))²)."""

    alpha: float
    c: float
    w0: int
    derived_from: dict
    route: str = "suffix_risk"
    divergence: str = "kl_nats"
    theorem: str = "tv_converse"

    @property
    def envelope(self):
        from .profiles import PowerEnvelope

        return PowerEnvelope(self.c, self.alpha)

    def converse_window(self, eps):
        """Smallest w ≥ 1 with c·max(w, w0)^-α ≤ eps: every suffix-only policy with a shorter
        window has E KL > eps nats (exact ints, shape of ``eps``)."""
        out = self.envelope.converse_window(real_array("eps", eps, low=0.0), self.w0)
        return int(out) if out.ndim == 0 else out


def _bayes_constant(profile):
    """The Bayes predictor's lower TV constant of a profile that ``tv_converse_profile`` derived
    (its provenance holds the source profile, whose c is twice this one's), else None."""
    prov = profile.provenance if isinstance(profile.provenance, dict) else {}
    src = prov.get("derived_from")
    if prov.get("derived_by") != "wzbounds.divergences.tv_converse_profile" or not isinstance(src, dict):
        return None
    same = (
        src.get("divergence") == "tv"
        and src.get("alpha") == profile.alpha
        and src.get("w0") == profile.w0
        and isinstance(src.get("c"), (int, float))
        and src["c"] / 2.0 == profile.c
    )
    return float(src["c"]) if same else None


def _kl_lower_terms(profile, bayes_predictor: bool = False):
    """(α_KL, c_KL, route) with I_w ≥ c_KL·w^-α_KL nats (theorem ``tv_converse`` part 2); c_KL an
    exact mpmath number (2c² of a float c has 106 bits and may exceed float range: the block
    calculator sizes blocks from it in mpmath). See :func:`kl_lower_from_tv`."""
    _profile_iv("profile", profile, ("tv", "tv2"))
    if not isinstance(bayes_predictor, bool):
        raise ValueError(f"`bayes_predictor` must be True or False, got {bayes_predictor!r}")
    if profile.c is None:
        raise ValueError("`profile.c` must be given: a lower envelope to convert")
    c, route = profile.c, "bayes_predictor" if bayes_predictor else "suffix_risk"
    if profile.divergence == "tv" and _bayes_constant(profile) is not None:
        c, route = _bayes_constant(profile), "bayes_predictor"
    with mpmath.workprec(128):  # exact: c is a 53-bit float
        if profile.divergence == "tv2":
            return profile.alpha, 2 * mpmath.mpf(c), route
        alpha = 2.0 * profile.alpha
        if not math.isfinite(alpha):
            raise ValueError(f"`profile.alpha` = {profile.alpha!r}: the KL exponent 2·alpha exceeds float range")
        return alpha, 2 * mpmath.mpf(c) ** 2, route


def kl_lower_from_tv(profile, *, bayes_predictor: bool = False) -> KLLowerBound:
    """A Bayes-risk lower envelope from a TV or tv2 lower envelope (theorem ``tv_converse`` part 2).

    ``bayes_predictor=False``: the profile's ``c`` bounds every suffix-only decoder (its lower
    assumption, ``PTS-lower-tv``): E KL ≥ 2·E TV² ≥ 2·(E TV)² for the least one, so a TV lower
    envelope c·w^-α gives I_w ≥ 2c²·w^-2α and a tv2 one c₂·w^-α gives I_w ≥ 2c₂·w^-α (2a, 2b).
    ``bayes_predictor=True``: ``c`` bounds the Bayes window predictor's E TV(p_t, p̄_w) (what
    ``tv_converse_profile`` takes); I_w = E KL(p_t‖p̄_w) ≥ 2(E TV(p_t, p̄_w))² gives the same
    2c²·w^-2α directly (2c), four times the chain through ``tv_converse_profile`` (c/2, then
    2(c/2)²). A profile that ``tv_converse_profile`` derived takes this route from its source's
    constant. Raises ``ValueError`` naming ``profile.c`` (or ``profile.alpha``) where 2c² (or 2α)
    leaves float range."""
    alpha, c_kl, route = _kl_lower_terms(profile, bayes_predictor)
    c = float(c_kl)
    if not (math.isfinite(c) and c > 0):
        raise ValueError(
            f"`profile.c` = {profile.c!r}: the KL lower constant {mpmath.nstr(c_kl, 6)} lies beyond float range"
        )
    return KLLowerBound(alpha, c, profile.w0, profile.to_dict(), route)
