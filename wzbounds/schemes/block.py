"""Block-Markov scheme (theorem ``block_markov``).

Tokens are grouped in blocks of ``b``; while decoding the current block the cache holds the
previous complete block plus the current block so far, so at offset ``j in {0..b-1}`` the
window is ``b + j``: it cycles through ``[b, 2b)``. Memory: peak ``2b - 1``, average
``(3b - 1)/2`` tokens. Distortion: worst case ``U(b)``; long-run time average
``A(b) = (1/b) sum_{j<b} U(b + j)``, for a power law ``(C/b)[zeta(alpha, b) - zeta(alpha, 2b)]``
(Hurwitz zeta; for ``alpha < 1`` the analytic continuation, the difference identity still
holds) and ``(C/b)[psi(2b) - psi(b)]`` at ``alpha = 1``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import ClassVar

import mpmath
import numpy as np

from .._validation import choice, positive_int, real_scalar
from ..windows import achievability_window

CRITERIA = ("worst_case", "time_average")


def block_average_distortion_mp(b: int, alpha, C):
    """``(C/b) sum_{j=0}^{b-1} (b + j)^-alpha`` in the current mpmath precision (mpf),
    by the Hurwitz-zeta difference (digamma difference at ``alpha = 1``)."""
    b, alpha, C = int(b), mpmath.mpf(alpha), mpmath.mpf(C)
    if alpha == 1:
        return C / b * (mpmath.digamma(2 * b) - mpmath.digamma(b))
    return C / b * (mpmath.zeta(alpha, b) - mpmath.zeta(alpha, 2 * b))


def block_average_distortion(b, alpha, C):
    """Time-averaged block-Markov distortion of the power law ``C w^-alpha``.

    ``b``: int or array of ints >= 1 (block sizes in tokens). Returns float (scalar ``b``)
    or float64 array, each entry computed in mpmath with enough digits to absorb the
    cancellation of the two zeta values (about ``log10 b + log10(1/|alpha - 1|)``).
    """
    alpha = real_scalar("alpha", alpha, low=0.0)
    C = real_scalar("C", C, low=0.0)
    arr = np.asarray(b)
    guard = 0 if alpha == 1 else max(0, int(-math.log10(abs(alpha - 1))))
    out = []
    for v in arr.ravel():
        v = positive_int("b", v)
        with mpmath.workdps(30 + guard + int(v.bit_length() * 0.30103) + 1):
            out.append(float(block_average_distortion_mp(v, alpha, C)))
    res = np.array(out, dtype=np.float64).reshape(arr.shape)
    return float(res) if res.ndim == 0 else res


def geometric_block_average(b, rho, C):
    """``(C/b) sum_{j<b} rho^(b+j) = (C/b) rho^b (1 - rho^b)/(1 - rho)`` (float64, shape of ``b``)."""
    b = np.asarray(b, dtype=np.float64)
    return C / b * np.power(rho, b) * -np.expm1(b * np.log(rho)) / (1 - rho)


def tabulated_block_average(b, profile):
    """``(1/b) sum_{j<b} U(b + j)`` for a ``Tabulated`` profile: direct float sum over the
    tabulated range, Hurwitz zeta over the power-law extrapolated tail (float64, shape of ``b``)."""
    arr = np.asarray(b)
    last = profile.windows[-1]
    out = []
    for v in arr.ravel():
        v = int(v)
        total = 0.0
        if v <= last:  # tabulated part: at most `last` terms
            total = float(np.sum(profile.upper(np.arange(v, min(2 * v, last + 1), dtype=np.float64))))
        start = max(v, last + 1)
        if start < 2 * v:  # extrapolated tail K w^-s, summed in closed form
            W, V = profile.windows, profile.values
            s = math.log(V[-2] / V[-1]) / math.log(W[-1] / W[-2])
            with mpmath.workdps(30 + int(v.bit_length() * 0.30103) + 1):
                K = mpmath.mpf(V[-1]) * mpmath.power(W[-1], s)  # may exceed float range
                total += float(K * (mpmath.zeta(s, start) - mpmath.zeta(s, 2 * v)) if s != 1
                               else K * (mpmath.digamma(2 * v) - mpmath.digamma(start)))
        out.append(total / v)
    return np.array(out, dtype=np.float64).reshape(arr.shape)


def profile_block_average(b, profile):
    """Time-averaged distortion bound ``A(b)`` for any profile (float64, shape of ``b``)."""
    kind = profile.kind
    if kind == "power_law":
        return np.asarray(block_average_distortion(b, profile.alpha, profile.C), dtype=np.float64)
    if kind == "exponential":
        return geometric_block_average(b, profile.rho, profile.C)
    return tabulated_block_average(b, profile)


def block_size_time_average(eps: float, profile) -> int:
    """Smallest block ``b >= w0`` whose time-averaged distortion ``A(b) <= eps``.

    ``A`` is non-increasing in ``b`` (``block_markov.md``), and ``U(2b-1) <= A(b) <= U(b)``,
    so ``b`` lies in ``[ceil((w_ach+1)/2), w_ach]``; integer bisection on that bracket."""
    w_ach = int(achievability_window(eps, profile))
    lo, hi = max(profile.w0, (w_ach + 2) // 2), w_ach  # A(hi) <= U(hi) <= eps
    while lo < hi:
        mid = (lo + hi) // 2
        if float(profile_block_average(mid, profile)) <= eps:
            hi = mid
        else:
            lo = mid + 1
    return hi


def half_integers(values):
    """``values / 2`` exactly: float64 while exact (< 2**52), else Fractions in an object array."""
    arr = np.asarray(values)
    if arr.dtype != object:
        return arr / 2.0
    return np.array([Fraction(int(v), 2) for v in arr.ravel()], dtype=object).reshape(arr.shape)


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
        arr = np.asarray(eps, dtype=np.float64)
        achievability_window(arr, profile)  # validates eps
        out = [block_size_time_average(float(e), profile) for e in arr.ravel()]
        dtype = object if max(out, default=0) > np.iinfo(np.int64).max else np.int64
        return np.array(out, dtype=dtype).reshape(arr.shape)

    def window_tokens(self, size):
        """The smallest window in the cycle, ``b``."""
        return size

    def peak_memory_tokens(self, size):
        return 2 * np.asarray(size) - 1

    def average_memory_tokens(self, size):
        return half_integers(3 * np.asarray(size) - 1)

    def distortion(self, size, profile):
        """``(worst_case, time_average)``: ``U(b)`` and ``A(b)``."""
        return profile.upper(size), profile_block_average(size, profile)

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
        block_tokens=b, peak_memory_tokens=peak, divergence=profile.divergence,
        block_worst_case_distortion=float(worst), block_time_average_distortion=float(average),
        sliding_equal_peak_window_tokens=peak, sliding_equal_peak_distortion=float(profile.upper(peak)),
        sliding_equal_average_window_tokens=avg, sliding_equal_average_distortion=float(profile.upper(avg)),
        theorem_ids=("block_markov", profile.achievability_theorem))
