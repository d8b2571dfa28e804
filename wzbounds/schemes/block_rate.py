"""How fast the block-Markov KL distortion falls when only TV is known (theorem
``block_markov_rate``).

With block b the windows cycle through [b, 2b); D_b is the block average of E KL(p_t ‖ q_t)
in nats and γ = liminf log(1/D_b)/log b its rate exponent. From a TV profile E TV ≤ C·w^-β:

- **converse** (a lower envelope c on the TV risk gives I_w ≥ 2c²·w^-2β, ``tv_converse``):
  every suffix-only policy has D_b ≥ 2c²·A_{2β}(b), so γ ≤ α := 2β;
- **unconditional** (finite vocabulary V, smoothing with μ_b = the block average of the TV
  envelope, ``smoothing_convexity``): D_b = O(b^-β log b), so γ ≥ β = α/2 — the factor of two;
- **forward decay + regularity** (E TV² ≤ C₂·w^-α₂ and p̃ ≥ η): D_b ≤ (2C₂/η)·A_{α₂}(b)
  (reverse Pinsker), so γ ≥ α₂; with α₂ = α the exponent matches the converse. With V known
  the unconditional bound is proved too, and the block is the smaller of the two.

Constants enter in mpmath (C², 2c², 2C₂/η may lie beyond float range), blocks are exact ints.

A KL profile needs none of this: it bounds D_b directly (``block_markov``), γ = its α.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import mpmath
import numpy as np

from .. import _dd
from .._block_average import _td_log_of
from .._block_average import smallest_block as _smallest_blocks_fast
from .._inversion import MIN_DIGITS, _at_most, smallest_true, window_digits_iv
from .._validation import positive_int, real_array, real_scalar
from ..profiles.envelopes import PowerEnvelope
from ..units import KL_UNITS, kl_scale
from ._exact import exact, half_integers
from .block import block_size_time_average, block_sizes_time_average, smallest_block

REGIMES = ("unconditional", "forward-decay+regularity", "kl-envelope")
#: Bisection steps for the inverse of the smoothing bound G (each halves a log-bracket that
#: starts at most 800 nats wide, so 200 steps pass any float precision).
_G_INVERSE_STEPS = 200
_NEWTON_STEPS = 8


@dataclass(frozen=True)
class BlockMarkovRate:
    """The block-Markov rate exponent under stated hypotheses, and the block for ``eps``.

    Attributes
    ----------
    profile, forward_decay, regularity_eta, vocab_size, eps : inputs echoed (``eps`` in nats).
    regime : ``"unconditional"``, ``"forward-decay+regularity"`` or ``"kl-envelope"``.
    gamma : the proved lower bound on the rate exponent γ in this regime.
    gamma_converse : the upper bound α on γ of every suffix-only scheme (None without a lower
        envelope); ``gamma_converse / gamma`` is 2 in the unconditional regime.
    hypotheses : assumption keys (``wzbounds.theorems.ASSUMPTIONS``) the regime rests on.
    block_tokens : smallest block b >= w0 whose proved bound is <= eps (None without eps).
    converse_block_tokens : every suffix-only policy whose windows cycle through [b, 2b) with
        b below this has D_b > eps (None without eps or lower envelope).
    peak_memory_tokens, average_memory_tokens : 2b - 1 and (3b - 1)/2 at ``block_tokens``.
    memory, memory_unit : the peak memory and ``"tokens"`` (the calculator's vocabulary).
    distortion_bound_nats : the regime's bound on D_b at ``block_tokens``.
    smoothing_mu : the smoothing weight μ_b used at ``block_tokens`` (0.0: no smoothing, where
        the reverse-Pinsker bound gave the block; None without a vocabulary or for a KL profile).
    block_theorem : the theorem whose bound gave ``block_tokens``: ``"smoothing_convexity"``
        (part 2), ``"reverse_pinsker"`` (part 3) or ``"block_markov"`` (a KL profile); in the
        forward-decay regime with V known, the one with the smaller block.
    theorem_ids : theorems the numbers rest on.
    """

    profile: object
    forward_decay: object
    regularity_eta: float | None
    vocab_size: int | None
    eps: object
    regime: str
    gamma: float
    gamma_converse: float | None
    hypotheses: tuple
    block_tokens: object
    converse_block_tokens: object
    peak_memory_tokens: object
    average_memory_tokens: object
    memory: object
    memory_unit: str
    distortion_bound_nats: object
    smoothing_mu: object
    block_theorem: object
    theorem_ids: tuple
    divergence: str = "kl_nats"


def _tv_parts(profile, forward_decay):
    """(beta, C_S, fd) from a "tv" or "tv2" PowerLaw: the mean-TV envelope C_S w^-beta and the
    second-moment envelope fd = (alpha2, C2, w0) or None; C2 an exact mpmath number (C² of a
    float C has 106 bits and may exceed float range)."""
    from ..profiles import PowerLaw

    if profile.divergence == "tv2":  # (S) by Jensen, E TV <= sqrt(E TV^2); (FD) is the profile
        if forward_decay is not False:
            raise ValueError("`forward_decay` must be False with a tv2 profile (it is the forward-decay envelope)")
        return profile.alpha / 2, math.sqrt(profile.C), (profile.alpha, mpmath.mpf(profile.C), profile.w0)
    if forward_decay is False:
        return profile.alpha, profile.C, None
    if forward_decay is True:  # the TV envelope holds at every step: E TV^2 <= U^2
        if not math.isfinite(2 * profile.alpha):
            raise ValueError(
                f"`profile.alpha` = {profile.alpha!r}: the second-moment exponent 2·alpha exceeds float range"
            )
        with mpmath.workprec(128):
            return profile.alpha, profile.C, (2 * profile.alpha, mpmath.mpf(profile.C) ** 2, profile.w0)
    if not isinstance(forward_decay, PowerLaw) or forward_decay.divergence != "tv2":
        raise ValueError(
            "`forward_decay` must be False, True (the TV envelope holds almost surely) or a "
            f"PowerLaw in 'tv2', got {forward_decay!r}"
        )
    return profile.alpha, profile.C, (forward_decay.alpha, mpmath.mpf(forward_decay.C), forward_decay.w0)


def regime_exponents(profile, forward_decay=True) -> dict:
    """The exponents of ``block_markov_rate`` without sizing a block: ``"unconditional"`` (β),
    ``"forward-decay+regularity"`` (max(β, α₂), α₂ the second-moment exponent of
    ``forward_decay``; default True: the almost-sure case, α₂ = 2β) and ``"converse"`` (the
    Bayes-risk exponent of the profile's lower envelope, or None). For a TV or tv2 PowerLaw."""
    from ..profiles import PowerLaw

    if not isinstance(profile, PowerLaw) or profile.divergence not in ("tv", "tv2"):
        raise ValueError("`profile` must be a PowerLaw in 'tv' or 'tv2'")
    beta, _, fd = _tv_parts(profile, False if profile.divergence == "tv2" else forward_decay)
    lower = _lower_kl(profile)
    return {
        "unconditional": beta,
        "forward-decay+regularity": max(beta, fd[0]),
        "converse": None if lower is None else lower[0],
    }


def _lower_kl(profile):
    """(alpha_B, c_KL) with I_w >= c_KL w^-alpha_B (nats), c_KL in mpmath, or None
    (``tv_converse`` part 2; the direct route for a profile derived from the Bayes predictor's)."""
    from ..divergences import _kl_lower_terms

    if profile.c is None:
        return None
    if profile.divergence in ("tv", "tv2"):
        return _kl_lower_terms(profile)[:2]
    return profile.alpha, mpmath.mpf(profile.c) * kl_scale(profile.divergence, "kl_nats")


def _g(x, log_v):
    """``smoothing_convexity`` part 4 with μ = x: −(1 − x)log(1 − x) + x(log V − log x)."""
    return -(1 - x) * mpmath.log1p(-x) + x * (log_v - mpmath.log(x))


def _g_inverse(eps: float, v: int, digits: int = 40):
    """Largest x in (0, a] with G(x) <= eps (G increases there, part 4): bisection in log x to
    40 digits, then Newton steps (G' = log(V(1 - x)/x)) at ``digits`` digits, the precision the
    block search needs. Both loops are bounded."""
    with mpmath.workdps(40):
        a, log_v, target = 1 - mpmath.mpf(1) / v, mpmath.log(v), mpmath.mpf(eps)
        if _g(a, log_v) <= target:
            return a
        lo, hi = mpmath.log(mpmath.mpf(10) ** -300), mpmath.log(a)
        if _g(mpmath.exp(lo), log_v) > target:
            raise ValueError(f"`eps` = {eps!r} is below 1e-290 nats: beyond the calculator's range")
        for _ in range(_G_INVERSE_STEPS):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if _g(mpmath.exp(mid), log_v) <= target else (lo, mid)
    with mpmath.workdps(max(40, digits)):
        a, log_v, target = 1 - mpmath.mpf(1) / v, mpmath.log(v), mpmath.mpf(eps)
        x = mpmath.exp(mpmath.mpf(lo))
        for _ in range(_NEWTON_STEPS):  # quadratic convergence from 40 digits: 2**6 * 40 > any precision used
            x = min(x - (_g(x, log_v) - target) / mpmath.log(v * (1 - x) / x), a)
        for _ in range(64):  # land on the admissible side (Newton ends within a few ulps)
            if _g(x, log_v) <= target:
                return x
            x -= x * mpmath.mpf(10) ** (2 - mpmath.mp.dps)
        raise ValueError(f"`eps` = {eps!r}: the smoothing bound could not be inverted")


def _clamped_average_mp(b: int, c, alpha: float, w0: int):
    """(1/b) sum_{k=b}^{2b-1} c max(k, w0)^-alpha: the lower envelope extended below w0."""
    env = PowerEnvelope(c, alpha)
    flat = max(0, min(2 * b, w0) - b) * env.value_mp(w0)
    return (flat + env.range_sum_mp(max(b, w0), 2 * b)) / b


def _power_block(eps: float, k_of, alpha: float, w0: int) -> int:
    """Smallest b >= w0 with K·A_alpha(b) <= eps, K = ``k_of()`` in the current mpmath precision
    (any size, beyond float range too; evaluated at the digits the block needs). A(b) lies
    between U(2b - 1) and U(b), U = K w^-alpha (``block_markov`` part 3), so b lies in
    [(x + 1)/2, x + 1], x the real root of U(x) = eps: ``smallest_block`` searches that bracket
    exactly."""
    with mpmath.workdps(30):
        digits = window_digits_iv(mpmath.power(k_of() / mpmath.mpf(eps), 1 / mpmath.mpf(alpha)), eps)
    with mpmath.workdps(max(MIN_DIGITS, digits + 30) + PowerEnvelope(1.0, alpha).guard_digits):
        env = PowerEnvelope(k_of(), alpha)
        x = env.inverse_mp(mpmath.mpf(eps))
        slack = mpmath.mpf(10) ** (10 - mpmath.mp.dps)  # the root's rounding, far below one unit of x
        hi = max(w0, int(mpmath.floor(x * (1 + slack))) + 1)
        lo = min(hi, max(w0, int(mpmath.floor((x * (1 - slack) + 1) / 2))))
    return smallest_block(eps, env, lo, hi)


def _converse_block(eps: float, alpha: float, c, w0: int) -> int:
    """Smallest b >= 1 whose lower bound (1/b) sum_j c max(b + j, w0)^-alpha is <= eps (c in
    mpmath); the clamped average is non-increasing in b, so past w0 it is ``_power_block``."""
    above = _power_block(eps, lambda: c, alpha, w0)
    if above > w0:
        return above
    digits = int(w0.bit_length() * 0.30103) + 1
    with mpmath.workdps(max(MIN_DIGITS, digits + 30)):
        target = mpmath.mpf(eps)
        return smallest_true(lambda b: _at_most(_clamped_average_mp(b, c, alpha, w0), target), w0, 1)


def _converse_blocks(eps_arr, alpha: float, c, w0: int):
    """``_converse_block`` for every target at once: past w0 the clamped lower average is the block
    average of the lower envelope as a profile (c a float: the vectorised search of float
    targets; else ``_power_blocks``, c entering through its logarithm)."""
    from ..profiles import PowerLaw

    c_float = float(c)
    if math.isfinite(c_float) and c_float > 0 and mpmath.mpf(c_float) == c:
        blocks = block_sizes_time_average(eps_arr, PowerLaw(alpha, c_float, w0=w0, divergence="kl_nats"))
    else:
        blocks = _power_blocks(eps_arr.ravel(), lambda: c, alpha, w0)[0]
    flat, targets = np.asarray(blocks, dtype=object).ravel(), eps_arr.ravel()
    for i in np.flatnonzero(flat == w0):  # the smallest b >= w0 is w0: a smaller b may do too
        flat[i] = _converse_block(float(targets[i]), alpha, c, w0)
    return exact(flat.reshape(eps_arr.shape), lambda b: b)


def _unconditional_block(eps: float, tv_env_profile, v: int):
    """(block, bound, mu, theorem) for the unconditional regime: smallest b >= w0 with
    G(Abar(b)) <= eps, Abar the block average of the mean-TV envelope (``block_markov_rate``
    part 2)."""
    if eps >= math.log(v):  # mu = 1: KL(p || u) <= log V for every pair
        return tv_env_profile.w0, math.log(v), 1.0, "smoothing_convexity"
    x_eps = _g_inverse(eps, v)
    # the block is about (C / x_eps)^(1/beta): its digits set the precision of the search
    with mpmath.workdps(30):
        digits = window_digits_iv(mpmath.power(tv_env_profile.C / x_eps, 1 / mpmath.mpf(tv_env_profile.alpha)), eps)
    b = block_size_time_average(_g_inverse(eps, v, digits + 40), tv_env_profile)
    with mpmath.workdps(40):
        abar = min(tv_env_profile.upper_envelope.block_average_mp(b), 1 - mpmath.mpf(1) / v)
        return b, float(_g(abar, mpmath.log(v))), float(abar), "smoothing_convexity"


def _h_td(x, one_minus: _dd.TD, log_1mx: _dd.TD) -> _dd.TD:
    """``h(x) = -(1 - x) log(1 - x)`` in triple-double, to ~2**-140 of h (not of 1): below
    x = 2**-30, where log(1 - x) ~ -x has lost that to td_log's absolute error, from the series
    ``h = x - x^2/2 - x^3/6 - x^4/12 - x^5/20 - ...`` (x^2 exact by two_prod, x^3/6 in
    double-double, the next two in float64, the tail below 2 x^6/30 charged)."""
    zero = np.zeros_like(x)
    p, pe = _dd.two_prod(x, x)
    c, ce = _dd.two_prod(x, p)
    x3 = _dd.div(_dd.DD(c, ce + x * pe, _dd.U * np.abs(x * pe)), _dd.exact(np.full_like(x, 6.0)))
    rest = x**4 / 12 + x**5 / 20
    tail = 2 * x**6 / 30 + 4 * _dd.U * rest
    series = _dd.td_add(_dd.TD(x, -p / 2, -pe / 2, zero), _dd.TD(-x3.hi, -x3.lo, -rest, x3.err + tail))
    direct = _dd.td_neg(_dd.td_mul(one_minus, log_1mx))
    small = x < 2.0**-30
    return _dd.TD(
        *(
            np.where(small, s, d)
            for s, d in zip(
                (series.a0, series.a1, series.a2, series.err),
                (direct.a0, direct.a1, direct.a2, direct.err),
                strict=True,
            )
        )
    )


def _log_g_inverse(eps: np.ndarray, v: int):
    """``log x*``, ``x* = _g_inverse(eps, v)``, for float64 targets at once: a TD with its error
    bound, and the mask of the targets it certifies (the others go to ``_g_inverse``).

    A float64 Newton iteration in ``y = log x`` gives ``x0``; the residual ``R = G(x0) - eps`` in
    triple-double (logs of ``x0`` and of ``1 - x0 = s + r``, exact by two_sum) gives the relative
    step ``t1 = -R / (x0 G'(x0))``, ``G' = log(V(1 - x)/x)`` in triple-double too. Since
    ``G'' = -1/(x(1 - x))`` and ``|G'''| x^2 <= 2/(1 - x)^2`` near x0, the root's relative offset is
    ``t = t1 + k t1^2 + E`` with ``k = 1/(2(1 - x0) G')`` and ``|E| <= (6k^2 + 8r)|t1|^3``,
    ``r = 1/(3(1 - x0)^2 G')``; so ``log x* = log x0 + t1 + (k - 1/2) t1^2`` within that, plus
    ``log1p``'s cube (``4|t1|^3``), ``3k|t1|^3`` for ``t^2 - t1^2`` and ``t1``'s own error. Certified
    where ``|t1|`` and ``k|t1|`` are small (not near ``x = 1 - 1/V``, where G' vanishes) and the
    target is in float range."""
    eps = np.asarray(eps, dtype=np.float64).ravel()
    log_v, a = math.log(v), 1 - 1 / v
    g_a = -(1 - a) * math.log1p(-a) + a * (log_v - math.log(a))
    ok = (eps > 1e-280) & (eps < g_a * (1 - 1e-6)) & (v < 2**53)
    e = np.where(ok, eps, 0.5 * g_a)
    with np.errstate(all="ignore"):
        y = np.log(e) - np.log1p(log_v - np.log(e))  # G(x) ~ x (1 + log V - log x) for small x
        for _ in range(60):  # Newton on G(e^y) = eps: a handful of steps; unconverged ones fail below
            x = np.minimum(np.exp(y), a)
            step = (-(1 - x) * np.log1p(-x) + x * (log_v - np.log(x)) - e) / (x * np.log(v * (1 - x) / x))
            y = np.minimum(y - step, math.log(a))
            if not np.any(np.abs(step) > 1e-15 * np.maximum(1.0, np.abs(y))):
                break
        x0 = np.exp(y)
    ok &= np.isfinite(x0) & (x0 > 0) & (x0 < a)
    x0 = np.where(ok, x0, 0.5)
    zero = np.zeros_like(x0)
    s, r = _dd.two_sum(np.ones_like(x0), -x0)
    one_minus = _dd.TD(s, r, zero, zero)
    log_x0, log_1mx = _dd.td_log(x0), _td_log_of(one_minus)
    log_vt = _dd.td_log(np.full_like(x0, float(v)))
    log_ratio = _dd.td_add(log_vt, _dd.td_neg(log_x0))  # log(V/x0)
    g_prime = _dd.td_add(log_ratio, log_1mx).dd
    g0 = _dd.td_add(_h_td(x0, one_minus, log_1mx), _dd._td_mul_exact(log_ratio, x0))
    resid = _dd.td_add(g0, _dd.TD(-e, zero, zero, zero)).dd
    t1 = _dd.div(_dd.neg(resid), _dd.mul(_dd.exact(x0), g_prime))
    with np.errstate(all="ignore"):
        k = 1 / (2 * s * g_prime.hi)
        rho = 1 / (3 * s * s * g_prime.hi)
        at = np.abs(t1.hi) + np.abs(t1.lo)
        quad = (k - 0.5) * t1.hi * t1.hi
        err = (
            log_x0.err
            + t1.err * (1 + 2 * (k + 1) * at)
            + (6 * k * k + 8 * rho + 3 * k + 4) * at**3 * 1.01
            + 8 * _dd.U * (np.abs(quad) + k * at * at)
        )
    ok &= (g_prime.hi > 0) & np.isfinite(err) & (at < 1e-10) & (k * at < 1e-6)
    out = _dd.td_add(log_x0, _dd.TD(t1.hi, t1.lo, quad, err))
    return _dd.TD(out.a0, out.a1, out.a2, np.where(ok, out.err, np.inf)), ok


def _blocks_at(log_target: _dd.TD, ok, env_profile, per_target):
    """Smallest blocks ``b >= w0`` of ``env_profile`` with ``A(b) <= T`` for real targets ``T``
    given by their logs (``smallest_block``'s ``log_target``), vectorised where its tiers decide;
    the rest, and the targets not ``ok``, through ``per_target(i)``. An object array of ints."""
    env = env_profile.upper_envelope
    blocks = np.zeros(ok.shape, dtype=object)
    undecided = ~ok
    if env._block_fast() and np.any(ok):
        with np.errstate(all="ignore"):
            start = np.where(ok, np.exp(log_target.a0), 0.5)
        sizes, left = _smallest_blocks_fast(start, env, env_profile.w0, log_target)
        undecided = undecided | left
        blocks[~undecided] = sizes[~undecided]
    else:
        undecided[:] = True
    for i in np.flatnonzero(undecided):
        blocks[i] = per_target(int(i))
    return blocks


def _unconditional_blocks(eps: np.ndarray, tv_env, v: int):
    """``_unconditional_block`` of every target at once: (blocks, bounds, mus)."""
    log_x, ok = _log_g_inverse(eps, v)
    whole = eps >= math.log(v)  # mu = 1: the block is w0 (``_unconditional_block``)
    blocks = _blocks_at(log_x, ok & ~whole, tv_env, lambda i: _unconditional_block(float(eps[i]), tv_env, v)[0])
    abar = np.minimum(np.asarray(tv_env.block_average(blocks), dtype=np.float64), 1 - 1 / v)
    with np.errstate(all="ignore"):
        bounds = -(1 - abar) * np.log1p(-abar) + abar * (math.log(v) - np.log(abar))
    return blocks, np.where(whole, math.log(v), bounds), np.where(whole, 1.0, abar)


def _power_blocks(eps: np.ndarray, k_of, alpha: float, w0: int):
    """``_power_block(eps, k_of, alpha, w0)`` of every target at once: ``K A(b) <= eps`` is
    ``A_1(b) <= eps/K`` for the unit power law, whose log target ``log eps - log K`` is a TD
    (``log K`` rounded from 250 bits; K may lie beyond float range). Returns the blocks (object
    array of ints) and ``log K`` (float)."""
    from ..profiles import PowerLaw

    with mpmath.workprec(250):
        log_k = _dd.td_const(mpmath.log(k_of()))
    ok = eps > 1e-300  # td_log takes normal floats
    log_eps = _dd.td_log(np.where(ok, eps, 1.0))
    minus_k = _dd.td_neg(_dd.TD(*(np.full(eps.shape, c) for c in (log_k.a0, log_k.a1, log_k.a2, log_k.err))))
    unit = PowerLaw(alpha, 1.0, w0=w0, divergence="kl_nats")
    blocks = _blocks_at(_dd.td_add(log_eps, minus_k), ok, unit, lambda i: _power_block(float(eps[i]), k_of, alpha, w0))
    return blocks, float(log_k.a0)


def _forward_decay_blocks(eps: np.ndarray, k_of, alpha2: float, w0: int):
    """The forward-decay block of every target (``_power_blocks``, K = 2 C2/eta) and its bound
    K·A_alpha2(b) (``block_markov_rate`` part 3)."""
    blocks, log_k = _power_blocks(eps, k_of, alpha2, w0)
    if abs(log_k) < 700:
        return blocks, math.exp(log_k) * np.asarray(PowerEnvelope(1.0, alpha2).block_average(blocks), dtype=np.float64)
    with mpmath.workdps(60):  # K beyond float range
        env = PowerEnvelope(k_of(), alpha2)
        return blocks, np.array([float(env.block_average(b)) for b in blocks])


def _rate_iv(profile, forward_decay, regularity, vocab_size, eps):
    from ..profiles import PowerLaw

    if not isinstance(profile, PowerLaw):
        raise ValueError(f"`profile` must be a PowerLaw, got {type(profile).__name__}")
    if regularity is not None:
        regularity = real_scalar("regularity", regularity, low=0.0, high=1.0)
    if vocab_size is not None:
        vocab_size = positive_int("vocab_size", vocab_size, minimum=2)
        if regularity is not None and regularity > 1.0 / vocab_size:
            raise ValueError(f"`regularity` must be <= 1/vocab_size = {1 / vocab_size:g} (q >= eta on V symbols)")
    if profile.divergence in KL_UNITS and (forward_decay is not False or regularity is not None):
        raise ValueError("`forward_decay` and `regularity` apply to TV profiles; a KL profile bounds D_b directly")
    eps_arr = None if eps is None else real_array("eps", eps, low=0.0)
    return regularity, vocab_size, eps_arr


def block_markov_rate(profile, *, forward_decay=False, regularity=None, eps=None, vocab_size=None) -> BlockMarkovRate:
    """Rate exponent of the block-Markov KL distortion (theorem ``block_markov_rate``).

    Parameters
    ----------
    profile : PowerLaw in ``"tv"`` (E TV ≤ C w^-β of the decoder), ``"tv2"`` (E TV² ≤ C₂ w^-α,
        which is forward decay by itself) or a KL unit (``"kl-envelope"`` regime). Its lower
        constant ``c``, if any, gives the converse (for TV via ``tv_converse``: I_w ≥ 2c² w^-2β).
    forward_decay : False; True (the TV envelope holds at every step, so E TV² ≤ C² w^-2β); or
        a PowerLaw in ``"tv2"`` (a measured second-moment envelope).
    regularity : η in (0, 1/V]: the decoder's output is ≥ η on every symbol (None: not assumed).
    eps : optional KL target(s) in nats: the block and its memory in this regime.
    vocab_size : V, needed for the unconditional block (``log(V/μ)`` enters the bound).

    The regime is "forward-decay+regularity" when both are given (γ ≥ the second-moment
    exponent, = α = 2β when it is the square of the TV envelope), else "unconditional" (γ ≥ β).
    """
    from ..profiles import PowerLaw

    regularity, vocab_size, eps_arr = _rate_iv(profile, forward_decay, regularity, vocab_size, eps)
    lower = _lower_kl(profile)
    theorem_ids = ["block_markov_rate", "block_markov"]
    if profile.divergence in KL_UNITS:
        regime, gamma, hypotheses = "kl-envelope", profile.alpha, [profile.upper_assumption]
        to_unit = kl_scale("kl_nats", profile.divergence)

        def blocks_of(e):
            # D_b is the profile's own block average: the vectorised block-average search
            blocks = block_sizes_time_average(e * to_unit, profile)
            bounds = np.asarray(profile.block_average(blocks), dtype=np.float64) / to_unit
            return blocks, bounds, None, np.full(e.shape, "block_markov")
    else:
        beta, c_s, fd = _tv_parts(profile, forward_decay)
        tv_env = PowerLaw(beta, c_s, w0=profile.w0, divergence="tv")
        hypotheses = [tv_env.upper_assumption, "finite-alphabet"]
        if fd is not None and lower is not None and fd[0] > lower[0]:
            raise ValueError(
                f"`forward_decay` exponent {fd[0]:g} exceeds the converse exponent {lower[0]:g}: "
                "the second-moment envelope and the lower envelope contradict each other"
            )
        if fd is not None and regularity is not None:
            regime, gamma = "forward-decay+regularity", max(beta, fd[0])
            hypotheses += ["forward-decay", "regularity"]
            theorem_ids += ["reverse_pinsker"] + ([] if vocab_size is None else ["smoothing_convexity"])
            C2 = fd[1]
            k_of = lambda: 2 * C2 / mpmath.mpf(regularity)  # noqa: E731 - at each search's precision

            def blocks_of(e):
                # K·A_alpha2(b) <= eps (part 3); with V known part 2 holds too: the smaller block
                blocks, bounds = _forward_decay_blocks(e, k_of, fd[0], max(profile.w0, fd[2]))
                routes = np.full(e.shape, "reverse_pinsker")
                if vocab_size is None:
                    return blocks, bounds, None, routes
                u_blocks, u_bounds, u_mus = _unconditional_blocks(e, tv_env, vocab_size)
                smaller = np.array([u < b for u, b in zip(u_blocks, blocks, strict=True)], dtype=bool)
                return (
                    np.where(smaller, u_blocks, blocks),
                    np.where(smaller, u_bounds, bounds),
                    np.where(smaller, u_mus, 0.0),
                    np.where(smaller, "smoothing_convexity", routes),
                )
        else:
            regime, gamma = "unconditional", beta
            theorem_ids.append("smoothing_convexity")

            def blocks_of(e):
                if vocab_size is None:
                    raise ValueError("`vocab_size` is needed for the unconditional block (the bound has log(V/mu))")
                blocks, bounds, mus = _unconditional_blocks(e, tv_env, vocab_size)
                return blocks, bounds, mus, np.full(e.shape, "smoothing_convexity")

    if lower is not None:
        hypotheses.append(profile.lower_assumption)
        theorem_ids += ["converse_suffix"] + (["tv_converse"] if profile.divergence not in KL_UNITS else [])
    blocks = bounds = mus = routes = conv = None
    if eps_arr is not None:  # every target at once: exact ints, as the per-target searches
        flat_blocks, flat_bounds, flat_mus, flat_routes = blocks_of(eps_arr.ravel())
        blocks = exact(np.asarray(flat_blocks, dtype=object).reshape(eps_arr.shape), lambda b: b)
        bounds = np.asarray(flat_bounds, dtype=np.float64).reshape(eps_arr.shape)
        mus = None if flat_mus is None else np.asarray(flat_mus, dtype=np.float64).reshape(eps_arr.shape)
        routes = np.asarray(flat_routes).reshape(eps_arr.shape)
    if eps_arr is not None and lower is not None:
        conv = _converse_blocks(eps_arr, lower[0], lower[1], profile.w0)
    peak = None if blocks is None else exact(blocks, lambda b: 2 * b - 1)
    return BlockMarkovRate(
        profile=profile,
        forward_decay=forward_decay,
        regularity_eta=regularity,
        vocab_size=vocab_size,
        eps=_scalar(eps_arr),
        regime=regime,
        gamma=float(gamma),
        gamma_converse=None if lower is None else float(lower[0]),
        hypotheses=tuple(dict.fromkeys(hypotheses)),
        block_tokens=_scalar(blocks),
        converse_block_tokens=_scalar(conv),
        peak_memory_tokens=_scalar(peak),
        average_memory_tokens=None if blocks is None else _scalar(half_integers(exact(blocks, lambda b: 3 * b - 1))),
        memory=_scalar(peak),
        memory_unit="tokens",
        distortion_bound_nats=_scalar(bounds),
        smoothing_mu=_scalar(mus),
        block_theorem=None if routes is None else (str(routes) if routes.ndim == 0 else routes),
        theorem_ids=tuple(theorem_ids),
    )


def _scalar(v):
    if isinstance(v, np.ndarray) and v.ndim == 0:
        return v.item()
    return v
