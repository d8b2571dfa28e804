"""Exact memory-distortion limits of three cache classes on the Santa Fe source.

Santa Fe(β): keys K_t i.i.d. with P(K = k) = p_k = k^-β / ζ(β) (β > 1), one fixed uniform bit
Z_k per key, tokens X_t = (K_t, Z_{K_t}). Distortion is the stationary (infinite-past) excess
log-loss per step in **bits** (`kl_bits`): with the infinite past every bit is known, so a
decoder holding cache C loses Σ_k p_k H(Z_k | C) bits per step.

Policy classes, their memory measure and the theorem each rests on:

=============  ===========  ===============================  =================
class          memory unit  minimum distortion at memory x   theorem id
=============  ===========  ===============================  =================
``suffix``     tokens (w)   I_w = Σ_k p_k (1 - p_k)^w         ``santa_fe``
``selective``  tokens (m)   Σ_{k>m} p_k                       ``selective_cache``
``summary``    bits (M)     Σ_{k>M} p_k                       ``summary_cache``
=============  ===========  ===============================  =================

``selective`` is the class of value-oblivious selective caches (which tokens are kept may depend on
the keys and on time, not on the bits; see ``proofs/selective_cache.md`` for why the restriction is
needed). ``summary`` is any state of at most M bits (H(C) ≤ M) computed from the past.

Asymptotics (``asymptotic_constants``): I_w ~ A w^-(1-1/β) with A = Γ(1-1/β)/(β ζ(β)^{1/β});
Σ_{k>m} p_k ~ B m^-(β-1) with B = 1/((β-1) ζ(β)); hence w(ε)/m(ε) ~ K(β)/ε with
K(β) = (Γ(1-1/β)^β (β-1)/β^β)^{1/(β-1)} (ζ(β) cancels).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import mpmath
from scipy import special

from .._inversion import MAX_WINDOW_DIGITS
from .._validation import choice, positive_int, real_scalar
from ..units import kl_scale

#: Cache classes with exact limits on Santa Fe.
POLICY_CLASSES = ("suffix", "selective", "summary")
#: What "memory" counts in each class.
MEMORY_UNITS = {"suffix": "tokens", "selective": "tokens", "summary": "bits"}
#: Proof file stem of the exact minimum for each class.
THEOREM_IDS = {"suffix": "santa_fe", "selective": "selective_cache", "summary": "summary_cache"}

# float64 bisection on the suffix window is exact only while windows are exactly representable.
_MAX_FLOAT_WINDOW = 2**53


@dataclass(frozen=True)
class ClassDistortion:
    """Minimum stationary distortion of a cache class at a given memory."""

    policy_class: str
    memory: int
    memory_unit: str
    beta: float
    distortion_kl_bits: float
    theorem_id: str


@dataclass(frozen=True)
class ClassMemoryResult:
    """Smallest memory at which a cache class reaches distortion ``eps_kl_bits``.

    ``memory`` is exact: the class minimum at ``memory`` is ≤ eps and at ``memory - 1`` it is > eps.
    ``asymptotic_memory`` is the leading-order formula (A/ε)^{β/(β-1)} or (B/ε)^{1/(β-1)}.
    """

    eps_kl_bits: float
    policy_class: str
    beta: float
    memory: int
    memory_unit: str
    distortion_kl_bits: float
    asymptotic_memory: float
    theorem_id: str


@dataclass(frozen=True)
class AsymptoticConstants:
    """Leading-order constants: suffix I_w ~ A w^-a, selective/summary tail ~ B m^-b, ratio ~ K/ε."""

    beta: float
    suffix_exponent: float
    suffix_constant: float
    selective_exponent: float
    selective_constant: float
    ratio_constant: float
    theorem_ids: tuple[str, ...] = ("santa_fe", "selective_cache", "summary_cache")


@dataclass(frozen=True)
class MemoryRatio:
    """Suffix-only window versus selective-cache tokens (and summary bits) at the same ε."""

    eps_kl_bits: float
    beta: float
    suffix_window_tokens: int
    selective_memory_tokens: int
    summary_memory_bits: int
    ratio: float
    asymptotic_ratio: float
    theorem_ids: tuple[str, ...] = ("santa_fe", "selective_cache", "summary_cache")


def _beta_iv(source) -> float:
    beta = getattr(source, "beta", None)
    if beta is None:
        raise ValueError(f"`source` must be a Santa Fe source with a `beta` attribute, got {source!r}")
    return real_scalar("source.beta", beta, low=1.0)


def _eps_iv(eps, divergence) -> float:
    choice("divergence", divergence, ("kl_bits", "kl_nats"))
    eps = real_scalar("eps", eps, low=0.0)
    return eps * kl_scale(divergence, "kl_bits")


def _tail_mp(m: int, beta: float):
    return mpmath.zeta(beta, m + 1) / mpmath.zeta(beta)


def min_distortion(memory, source, policy_class: str) -> ClassDistortion:
    """Exact minimum stationary distortion (bits/step) of ``policy_class`` at ``memory``.

    ``memory`` is tokens for "suffix"/"selective" and bits for "summary" (integer ≥ 0).
    """
    policy_class = choice("policy_class", policy_class, POLICY_CLASSES)
    memory = positive_int("memory", memory, minimum=0)
    beta = _beta_iv(source)
    if policy_class == "suffix":
        value = float(source.bayes_risk(memory, unit="bits"))
    else:
        value = float(source.tail_mass(memory))
    return ClassDistortion(policy_class, memory, MEMORY_UNITS[policy_class], beta, value, THEOREM_IDS[policy_class])


def asymptotic_constants(source) -> AsymptoticConstants:
    """Constants of the leading-order laws (see module docstring) for a Santa Fe source."""
    beta = _beta_iv(source)
    zeta = float(special.zeta(beta))
    a_const = float(source.asymptotic_constant_bits)
    b_const = 1.0 / ((beta - 1.0) * zeta)
    # log form: the power 1/(β-1) overflows floats for β near 1 otherwise.
    log_k = (beta * math.lgamma(1.0 - 1.0 / beta) + math.log(beta - 1.0) - beta * math.log(beta)) / (beta - 1.0)
    return AsymptoticConstants(beta, 1.0 - 1.0 / beta, a_const, beta - 1.0, b_const, math.exp(log_k))


def _smallest_int(pred, guess: int) -> int:
    """Smallest integer n ≥ 0 with pred(n), for monotone pred (false … false true … true).

    Brackets outward from ``guess`` in doubling steps starting at 1, then bisects: a guess off by
    d costs O(log d) evaluations.
    """
    if pred(0):
        return 0
    guess = max(int(guess), 1)
    step = 1
    if pred(guess):
        hi, lo = guess, guess - step
        while lo > 0 and pred(lo):
            hi, step = lo, 2 * step
            lo = hi - step
        lo = max(lo, 0)
    else:
        lo, hi = guess, guess + step
        while not pred(hi):
            lo, step = hi, 2 * step
            hi = lo + step
    # invariant: pred(lo) false (lo == 0 included, pred(0) is false), pred(hi) true
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if pred(mid):
            hi = mid
        else:
            lo = mid
    return hi


def _suffix_guess(eps_bits: float, source, start: float, exponent: float) -> int:
    """Refine the asymptotic window by local power-law steps w <- w (I_w/eps)^(1/a) (few evaluations)."""
    w = max(start, 1.0)
    for _ in range(6):
        new = w * (float(source.bayes_risk(round(w), unit="bits")) / eps_bits) ** (1.0 / exponent)
        if abs(new - w) < 1.0 or new > _MAX_FLOAT_WINDOW:
            break
        w = new
    return round(w)


def window_for_epsilon_by_class(eps, source, policy_class: str, *, divergence: str = "kl_bits") -> ClassMemoryResult:
    """Smallest memory (tokens or bits, see ``MEMORY_UNITS``) at which ``policy_class`` reaches ``eps``.

    Selective/summary memories are exact integers of any size (mpmath, precision grown with the
    answer's digits). Suffix windows use ``source.bayes_risk`` in float64 and raise ``ValueError``
    beyond 2**53 tokens rather than return an inexact window.
    """
    policy_class = choice("policy_class", policy_class, POLICY_CLASSES)
    eps_bits = _eps_iv(eps, divergence)
    beta = _beta_iv(source)
    consts = asymptotic_constants(source)
    if policy_class == "suffix":
        log_asym = (math.log(consts.suffix_constant) - math.log(eps_bits)) / consts.suffix_exponent
        if log_asym > math.log(_MAX_FLOAT_WINDOW) - 1.0:
            raise ValueError(
                f"`eps` = {eps} is too small: the suffix window exceeds 2**53 tokens "
                "(beyond exact float64 evaluation of I_w)"
            )
        guess = _suffix_guess(eps_bits, source, math.exp(log_asym), consts.suffix_exponent)
        memory = _smallest_int(lambda w: float(source.bayes_risk(w, unit="bits")) <= eps_bits, guess)
        value = float(source.bayes_risk(memory, unit="bits"))
    else:
        log_asym = (math.log(consts.selective_constant) - math.log(eps_bits)) / consts.selective_exponent
        digits = int(max(log_asym, 0.0) / math.log(10.0))
        if digits >= MAX_WINDOW_DIGITS:  # the calculator's cap: the zeta sums would take hours
            raise ValueError(
                f"`eps` = {eps!r} needs a memory of about 10^{digits} {MEMORY_UNITS[policy_class]}; "
                f"the calculator evaluates sizes of up to {MAX_WINDOW_DIGITS} digits"
            )
        with mpmath.workdps(30 + 2 * digits):
            # selective_cache.md part 5: m(eps) lies in [x - 1, ceil(x)], x = (B/eps)^(1/(beta-1))
            b_exact = 1 / ((mpmath.mpf(beta) - 1) * mpmath.zeta(beta))
            x = (b_exact / mpmath.mpf(eps_bits)) ** (1 / (mpmath.mpf(beta) - 1))
            memory = _smallest_int(lambda m: _tail_mp(m, beta) <= eps_bits, int(mpmath.ceil(x)))
            value = float(_tail_mp(memory, beta))
        log_asym = min(log_asym, 700.0)  # the float echo saturates; `memory` itself stays exact
    return ClassMemoryResult(
        eps_bits,
        policy_class,
        beta,
        memory,
        MEMORY_UNITS[policy_class],
        value,
        math.exp(log_asym),
        THEOREM_IDS[policy_class],
    )


def memory_ratio(eps, source, *, divergence: str = "kl_bits") -> MemoryRatio:
    """Exact suffix window / selective tokens at distortion ``eps``, with the asymptote K(β)/ε.

    The summary memory in bits equals the selective memory in tokens (same tail Σ_{k>x} p_k).
    """
    suffix = window_for_epsilon_by_class(eps, source, "suffix", divergence=divergence)
    selective = window_for_epsilon_by_class(eps, source, "selective", divergence=divergence)
    if selective.memory == 0:
        raise ValueError(f"`eps` = {eps} is at least 1 bit: no memory is needed and the ratio is undefined")
    consts = asymptotic_constants(source)
    return MemoryRatio(
        suffix.eps_kl_bits,
        suffix.beta,
        suffix.memory,
        selective.memory,
        selective.memory,
        suffix.memory / selective.memory,
        consts.ratio_constant / suffix.eps_kl_bits,
    )
