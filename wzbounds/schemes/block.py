"""Block-Markov scheme (theorem ``block_markov``).

Tokens are grouped in blocks of ``b``; while decoding the current block the cache holds the
previous complete block plus the current block so far, so at offset ``j in {0..b-1}`` the
window is ``b + j``: it cycles through ``[b, 2b)``. Memory: peak ``2b - 1``, average
``(3b - 1)/2`` tokens. Distortion: worst case ``U(b)``; long-run time average
``A(b) = (1/b) sum_{j<b} U(b + j)``, for a power law ``(C/b)[zeta(alpha, b) - zeta(alpha, 2b)]``
(Hurwitz zeta; for ``alpha < 1`` the analytic continuation, the difference identity still
holds) and ``(C/b)[psi(2b) - psi(b)]`` at ``alpha = 1``. The sums are the envelopes' own
(``Envelope.range_sum_mp``), exact in mpmath at any block size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import mpmath
import numpy as np

from .._block_average import smallest_block as _smallest_block_fast
from .._inversion import MIN_DIGITS, _at_most
from .._validation import choice, positive_int, real_array, real_scalar
from ..profiles.envelopes import PowerEnvelope
from ..windows import achievability_window
from ._exact import exact, half_integers

CRITERIA = ("worst_case", "time_average")


def block_average_distortion_mp(b: int, alpha, C):
    """``(C/b) sum_{j=0}^{b-1} (b + j)^-alpha`` in the current mpmath precision (mpf)."""
    return PowerEnvelope(C, alpha).block_average_mp(int(b))


def block_average_distortion(b, alpha, C):
    """Time-averaged block-Markov distortion of the power law ``C w^-alpha``.

    ``b``: int or array of ints >= 1 (block sizes in tokens). Returns float (scalar ``b``)
    or float64 array, each entry computed in mpmath with the digits the closed form needs.
    """
    alpha = real_scalar("alpha", alpha, low=0.0)
    C = real_scalar("C", C, low=0.0)
    arr = np.asarray(b)
    for v in arr.ravel():
        positive_int("b", v)
    res = PowerEnvelope(C, alpha).block_average(arr)
    return float(res) if res.ndim == 0 else res


def profile_block_average(b, profile):
    """Time-averaged distortion bound ``A(b)`` for any profile (float64, shape of ``b``)."""
    return profile.block_average(b)


def _interpolated(a, b, va, vb, target) -> int:
    """Integer in ``(a, b)`` where the log-log line through ``(a, va)`` and ``(b, vb)`` meets
    ``target`` (``va > target >= vb``): exact for a power law, close for the block averages."""
    la, lb = mpmath.log(a), mpmath.log(b)
    t = (mpmath.log(va) - mpmath.log(target)) / (mpmath.log(va) - mpmath.log(vb))
    guess = int(mpmath.ceil(mpmath.exp(la + t * (lb - la))))
    return min(max(guess, a + 1), b - 1)


def smallest_block(eps: float, envelope, lo: int, hi: int) -> int:
    """Smallest integer ``b`` in ``[lo, hi]`` with ``envelope.block_average_mp(b) <= eps``,
    given that ``hi`` qualifies and the average is non-increasing (``block_markov`` part 4).

    Decided in mpmath with enough digits to separate neighbouring blocks. Log-log
    interpolation steps alternate with bisection whenever a step fails to halve the bracket,
    so the loop is bounded by ``2 bit_length(hi - lo) + 4`` evaluations (and a power-law-like
    average takes a handful)."""
    digits = int(int(hi).bit_length() * 0.30103) + 1
    with mpmath.workdps(max(MIN_DIGITS, digits + 30) + envelope.guard_digits):
        target = mpmath.mpf(eps)
        value = envelope.block_average_mp
        va = value(lo)
        if _at_most(va, target):
            return lo
        a, b, vb = lo, hi, value(hi)
        bisect = False
        for _ in range(2 * (hi - lo).bit_length() + 4):
            if b - a <= 1:
                break
            width = b - a
            m = (a + b) // 2 if bisect else _interpolated(a, b, va, vb, target)
            vm = value(m)
            if _at_most(vm, target):
                b, vb = m, vm
            else:
                a, va = m, vm
            bisect = (b - a) > width // 2
    return b


def block_size_time_average(eps, profile) -> int:
    """Smallest block ``b >= w0`` whose time-averaged distortion ``A(b) <= eps`` (exact): for a
    float64 ``eps`` through ``block_sizes_time_average``, else ``_exact_block``."""
    if isinstance(eps, float):
        return int(block_sizes_time_average(np.array([eps]), profile)[0])
    return _exact_block(eps, profile)


def _exact_block(eps, profile) -> int:
    """The exact search: ``U(2b-1) <= A(b) <= U(b)`` (``block_markov`` part 3), so ``b`` lies in
    ``[ceil((w_ach+1)/2), w_ach]`` with ``w_ach`` the exact achievability window, searched in
    mpmath (``smallest_block``). ``eps`` may be an mpmath number finer than float64: the bracket
    is then taken at its float neighbours below and above, which still contain the answer."""
    e = float(eps)
    below, above = (e, e) if isinstance(eps, float) else (np.nextafter(e, 0.0), np.nextafter(e, np.inf))
    hi = int(achievability_window(below, profile))
    lo = max(profile.w0, (int(achievability_window(above, profile)) + 2) // 2)
    return smallest_block(eps, profile.upper_envelope, lo, hi)


def block_sizes_time_average(eps, profile):
    """``block_size_time_average`` for an array of targets (float64, validated): the vectorised
    tiers of ``wzbounds._block_average`` where they decide, the exact search for the rest.
    Exact ints of ``eps``'s shape (int64, or Python ints past int64)."""
    arr = np.asarray(eps, dtype=np.float64)
    flat = arr.ravel()
    env = profile.upper_envelope
    if env._block_fast():
        sizes, undecided = _smallest_block_fast(flat, env, profile.w0)
        sizes = sizes.astype(object) if np.any(undecided) else sizes
    else:
        sizes, undecided = np.zeros(flat.shape, dtype=object), np.ones(flat.shape, dtype=bool)
    for i in np.flatnonzero(undecided):
        sizes[i] = _exact_block(float(flat[i]), profile)
    return exact(sizes.reshape(arr.shape), lambda b: b)


@dataclass(frozen=True)
class BlockMarkov:
    """Block-Markov scheme; size parameter the block ``b``. ``criterion`` chooses which
    distortion must reach ``eps``: ``"worst_case"`` (``U(b) <= eps``) or ``"time_average"``."""

    name: ClassVar[str] = "block"
    criterion: str = "worst_case"

    def __post_init__(self):
        choice("criterion", self.criterion, CRITERIA)

    def size_for_epsilon(self, eps, profile):
        if self.criterion == "worst_case":
            return achievability_window(eps, profile)
        arr = real_array("eps", eps, low=0.0)
        return block_sizes_time_average(arr, profile)

    def window_tokens(self, size):
        """The smallest window in the cycle, ``b``."""
        return size

    def peak_memory_tokens(self, size):
        return exact(size, lambda b: 2 * b - 1)

    def average_memory_tokens(self, size):
        return half_integers(exact(size, lambda b: 3 * b - 1))

    def distortion(self, size, profile):
        """``(worst_case, time_average)``: ``U(b)`` and ``A(b)``."""
        return profile.upper(size), profile.block_average(size)

    def theorem_ids(self, profile) -> tuple:
        return ("block_markov", profile.achievability_theorem)

    def assumptions(self, profile) -> tuple:
        return (profile.upper_assumption,)


@dataclass(frozen=True)
class BlockSlidingComparison:
    """Block-Markov with block ``b`` against a sliding window of equal peak memory ``2b-1``
    and of equal average memory ``floor((3b-1)/2)`` (distortion bounds in ``divergence``)."""

    block_tokens: int
    peak_memory_tokens: int
    divergence: str
    block_worst_case_distortion: float
    block_time_average_distortion: float
    sliding_equal_peak_window_tokens: int
    sliding_equal_peak_distortion: float
    sliding_equal_average_window_tokens: int
    sliding_equal_average_distortion: float
    theorem_ids: tuple = ("block_markov", "achievability_sliding")


def compare_block_with_sliding(b, profile) -> BlockSlidingComparison:
    """Compare the block-Markov bounds at block ``b >= w0`` with sliding windows of equal
    peak (``2b - 1``) and equal average (``floor((3b - 1)/2)``) memory."""
    b = positive_int("b", b, minimum=profile.w0)
    peak, avg = 2 * b - 1, (3 * b - 1) // 2
    worst, average = BlockMarkov().distortion(b, profile)
    return BlockSlidingComparison(
        block_tokens=b,
        peak_memory_tokens=peak,
        divergence=profile.divergence,
        block_worst_case_distortion=float(worst),
        block_time_average_distortion=float(average),
        sliding_equal_peak_window_tokens=peak,
        sliding_equal_peak_distortion=float(profile.upper(peak)),
        sliding_equal_average_window_tokens=avg,
        sliding_equal_average_distortion=float(profile.upper(avg)),
        theorem_ids=("block_markov", profile.achievability_theorem),
    )
