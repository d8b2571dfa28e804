"""Santa Fe process (Debowski): X_t = (K_t, Z_{K_t}) with K_t i.i.d. Zipf(beta) and fixed fair bits Z_k.

Truncation risk (proofs/santa_fe.md): I_w = sum_k p_k (1 - p_k)^w bits, p_k = k^-beta / zeta(beta),
with I_w ~ A w^-(1-1/beta), A = Gamma(1-1/beta) zeta(beta)^(-1/beta) / beta, and the proved
two-sided envelope c(w0) w^-(1-1/beta) <= I_w <= C(w0) w^-(1-1/beta) for every w >= w0.

Evaluator: exact summation of the head k < K plus Euler-Maclaurin on the tail with the integral in
closed form (an incomplete beta function) and 2m derivative terms from an exact Taylor series of
f(x) = p(x)(1 - p(x))^w at K. K is chosen so that f is smooth on a scale of >= 8 units beyond K
(that is, K / (2 beta (1 + w p(K))) >= 8); everything before K, including the steep rise before
the peak at k ~ (w / zeta)^(1/beta), is summed term by term. Verified against independent
evaluations to a relative error < 1e-12 for beta in [1.05, 5] and w up to 1e9 (tests/, notes).
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
from scipy import special

from .._validation import positive_int, real_scalar
from ..units import check_divergence
from .base import Source, generator_iv, windows_iv

#: Keys >= KEY_CAP cannot be stored as int64 keys; see ``SantaFe.sample``.
KEY_CAP = 2**62

# Euler-Maclaurin settings: smoothness scale (in units of the lattice step) at the head cut, and
# the number of Bernoulli correction terms; remainder ~ (2m)! / (2 pi S)^(2m) ~ 1e-14 relative.
_SMOOTHNESS = 8.0
_EM_TERMS = 8
_BERNOULLI = special.bernoulli(2 * _EM_TERMS)


class SantaFe(Source):
    """Santa Fe process with Zipf exponent ``beta > 1``.

    The risk is naturally in bits (one fair bit is lost per key missing from the window);
    ``bayes_risk(w, unit="bits")`` returns it as is, ``unit="nats"`` multiplies by ln 2.
    """

    theorem_id = "santa_fe"
    divergence = "kl_bits"
    #: The evaluator is verified to 1e-12 relative up to here (module docstring).
    max_exact_window = 10**9

    def __init__(self, beta: float):
        self.beta = real_scalar("beta", beta, low=1.0, high=50.0)
        self._zeta = float(special.zeta(self.beta))

    def __repr__(self):
        return f"SantaFe(beta={self.beta!r})"

    # ---- the law -------------------------------------------------------------------------
    @property
    def exponent(self) -> float:
        """alpha = 1 - 1/beta, the power-law exponent of I_w."""
        return 1.0 - 1.0 / self.beta

    @property
    def asymptotic_constant_bits(self) -> float:
        """A = Gamma(1 - 1/beta) zeta(beta)^(-1/beta) / beta: I_w ~ A w^-alpha bits."""
        b = self.beta
        return math.gamma(1.0 - 1.0 / b) * self._zeta ** (-1.0 / b) / b

    def key_probabilities(self, k):
        """p_k = k^-beta / zeta(beta) for integer keys ``k >= 1`` (scalar or array, same shape)."""
        arr = np.asarray(k)
        if not np.issubdtype(arr.dtype, np.integer) or (arr.size and np.min(arr) < 1):
            raise ValueError(f"`k` must be integer keys >= 1, got {k!r}")
        p = np.exp(-self.beta * np.log(arr.astype(np.float64))) / self._zeta
        return float(p) if arr.ndim == 0 else p

    def tail_mass(self, m: int) -> float:
        """sum_{k > m} p_k = zeta(beta, m + 1) / zeta(beta) (the distortion floor of an m-key cache)."""
        m = positive_int("m", m, minimum=0)
        return float(special.zeta(self.beta, m + 1)) / self._zeta

    # ---- the risk ------------------------------------------------------------------------
    def _bayes_risk_nats(self, w):
        return self._bayes_risk_bits(w) * math.log(2.0)

    def _bayes_risk_bits(self, w: np.ndarray) -> np.ndarray:
        flat = w.ravel()
        uniq, inverse = np.unique(flat, return_inverse=True)
        values = np.array([self._risk_bits_one(int(v)) for v in uniq], dtype=np.float64)
        return values[inverse].reshape(w.shape)

    def _head_cut(self, w: int) -> int:
        # f is smooth on the scale K / (2 beta (1 + w p(K))) near and beyond K; require >= S.
        b, s = self.beta, _SMOOTHNESS
        k_rough = (2.0 * s * b * max(w, 1) / self._zeta) ** (1.0 / (1.0 + b))
        return math.ceil(max(2.0 * s * b, k_rough)) + 1

    def _risk_bits_one(self, w: int) -> float:
        b, z = self.beta, self._zeta
        K = self._head_cut(w)
        k = np.arange(1, K, dtype=np.float64)
        p = np.exp(-b * np.log(k)) / z
        head = math.fsum(p * np.exp(w * np.log1p(-p)))
        a = 1.0 - 1.0 / b
        p_cut = math.exp(-b * math.log(K)) / z
        # int_K^inf f = zeta^(-1/b)/b * int_0^{p(K)} u^(-1/b) (1-u)^w du  (u = p(x)).
        complete = float(mpmath.beta(a, w + 1))
        integral = z ** (-1.0 / b) / b * complete * float(special.betainc(a, w + 1.0, p_cut))
        coeffs = _taylor_f(K, w, b, p_cut, 2 * _EM_TERMS)
        correction = coeffs[0] / 2.0 - sum(
            _BERNOULLI[2 * j] / (2 * j) * coeffs[2 * j - 1] for j in range(1, _EM_TERMS + 1)
        )
        return head + integral + correction

    def tv_sensitivity(self, w):
        """E TV(p_t, pbar_w) = I_w[bits] / 2, which is also the least expected TV of any
        suffix-measurable decoder (proofs/santa_fe.md, part 4). Same shapes as ``bayes_risk``."""
        arr, is_scalar = windows_iv(w)
        values = self._bayes_risk_bits(arr) / 2.0
        return float(values) if is_scalar else values

    # ---- envelope ------------------------------------------------------------------------
    def envelope_constants(self, w0: int = 1) -> tuple[float, float]:
        """Proved (c, C) in bits with c w^-alpha <= I_w <= C w^-alpha for all integers w >= w0.

        C = A + w0^(-1/beta)/e. c = lam^-alpha [A - B (lam p2 w0)^(alpha-1) exp(-lam p2 w0)]
        - w0^(-1/beta)/(e lam), with p2 = 2^-beta/zeta, lam = 1/(1 - p2), B = zeta^(-1/beta)/beta;
        c may be <= 0 for small w0 (then no lower envelope holds from that w0: ValueError from
        ``profile``). See proofs/santa_fe.md, parts 2-3.
        """
        w0 = positive_int("w0", w0, minimum=1)
        b, z = self.beta, self._zeta
        alpha, A = self.exponent, self.asymptotic_constant_bits
        upper = A + w0 ** (-1.0 / b) / math.e
        p2 = 2.0 ** (-b) / z
        lam = 1.0 / (1.0 - p2)
        y0 = lam * p2 * w0
        lower = lam ** (-alpha) * (A - z ** (-1.0 / b) / b * y0 ** (alpha - 1.0) * math.exp(-y0)) - w0 ** (-1.0 / b) / (
            math.e * lam
        )
        return lower, upper

    def smallest_valid_w0(self) -> int:
        """Smallest w0 (searched over powers of 2, then bisected) with a positive proved c(w0)."""
        hi = 1
        while self.envelope_constants(hi)[0] <= 0:
            hi *= 2
        lo = hi // 2
        while hi - lo > 1 and lo >= 1:
            mid = (lo + hi) // 2
            if self.envelope_constants(mid)[0] > 0:
                hi = mid
            else:
                lo = mid
        return hi

    def profile(self, divergence: str = "kl_bits", w0: int | None = None):
        """PowerLaw profile with the proved two-sided constants (see ``envelope_constants``).

        ``divergence``: "kl_bits", "kl_nats" (x ln 2) or "tv" (halved: E TV = I_w[bits]/2, which is
        also the suffix-only TV lower bound). ``w0``: default ``4 * smallest_valid_w0()``.
        """
        from ..profiles import PowerLaw

        check_divergence(divergence)
        if divergence == "tv2":
            raise ValueError("`divergence` must be 'kl_bits', 'kl_nats' or 'tv' for SantaFe (no tv2 envelope)")
        w0 = 4 * self.smallest_valid_w0() if w0 is None else positive_int("w0", w0)
        c, C = self.envelope_constants(w0)
        if c <= 0:
            raise ValueError(
                f"`w0` must be >= {self.smallest_valid_w0()} for a positive proved "
                f"lower constant at beta={self.beta}, got {w0}"
            )
        scale = {"kl_bits": 1.0, "kl_nats": math.log(2.0), "tv": 0.5}[divergence]
        return PowerLaw(
            alpha=self.exponent,
            C=C * scale,
            c=c * scale,
            w0=w0,
            divergence=divergence,
            provenance={
                "source": repr(self),
                "theorem": self.theorem_id,
                "asymptotic_constant": self.asymptotic_constant_bits * scale,
            },
        )

    # ---- sampling ------------------------------------------------------------------------
    def sample(self, n: int, rng: np.random.Generator):
        """Draw X_1..X_n: returns ``(keys, bits)``, int64 and uint8 arrays of shape (n,).

        Keys are exact Zipf(beta) draws (Devroye's rejection sampler); a key's bit is drawn once
        per call (fixed along the path). A key >= 2^62 cannot be stored as int64: each such draw
        gets a fresh distinct label in [2^62, 2^63) (the path's law is unchanged except on the
        event that two such draws coincide, of probability <= n^2 sum_{k >= 2^62} p_k^2). For
        beta <= 1.3 such draws are not negligible (about e^{-43(beta-1)} per draw).
        """
        n = positive_int("n", n, minimum=0)
        rng = generator_iv(rng)
        keys = _zipf(self.beta, n, rng)
        uniq, inverse = np.unique(keys, return_inverse=True)
        bits = rng.integers(0, 2, size=uniq.size, dtype=np.uint8)
        return keys, bits[inverse].reshape(keys.shape)


def _taylor_f(K: int, w: int, beta: float, p0: float, order: int) -> np.ndarray:
    """Taylor coefficients a_n = f^(n)(K)/n!, n < order, of f(x) = p(x)(1 - p(x))^w, p(x) = p0 (x/K)^-beta.

    Power-series arithmetic in r = (x - K)/K: p = p0 (1 + r)^-beta, log(1 - p) by d/dr log q = q'/q,
    exp by the recurrence n E_n = sum_j j g_j E_{n-j}; coefficients then rescaled by K^-n.
    """
    n = np.arange(order)
    binom = np.ones(order)
    for i in range(1, order):
        binom[i] = binom[i - 1] * (-beta - i + 1) / i
    ps = p0 * binom
    q = -ps
    q[0] = 1.0 - p0
    dq = q[1:] * n[1:]  # coefficients of q'(r), length order - 1
    ratio = np.zeros(order - 1)
    for i in range(order - 1):
        ratio[i] = (dq[i] - np.dot(q[1 : i + 1], ratio[i - 1 :: -1][:i])) / q[0]
    g = np.zeros(order)
    g[1:] = w * ratio / n[1:]
    e = np.zeros(order)
    e[0] = 1.0
    for i in range(1, order):
        e[i] = np.dot(n[1 : i + 1] * g[1 : i + 1], e[i - 1 :: -1][:i]) / i
    f0 = p0 * math.exp(w * math.log1p(-p0))
    f = f0 * np.convolve(binom, e)[:order]
    return f / float(K) ** n


def _zipf(beta: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """Exact Zipf(beta) keys (Devroye 1986, X.6.1), vectorised rejection; labels beyond KEY_CAP."""
    am1 = beta - 1.0
    b = 2.0**am1
    out = np.empty(n, dtype=np.int64)
    todo = np.arange(n)
    while todo.size:
        u = 1.0 - rng.random(todo.size)
        v = rng.random(todo.size)
        log_x = -np.log(u) / am1  # log of the continuous Pareto draw U^(-1/(beta-1))
        big = log_x >= math.log(KEY_CAP)
        x = np.floor(np.exp(np.minimum(log_x, math.log(KEY_CAP))))
        # T = (1 + 1/X)^(beta-1); for X >= KEY_CAP use X -> inf limits (error O(1/X) < 1e-18).
        t = np.where(big, 1.0, np.exp(am1 * np.log1p(1.0 / x)))
        lhs = np.where(big, v * am1, v * x * (t - 1.0)) / (b - 1.0)
        accept = lhs <= t / b
        idx = todo[accept]
        vals = x[accept].astype(np.int64)
        huge = big[accept]
        vals[huge] = rng.integers(KEY_CAP, 2**63 - 1, size=int(huge.sum()), dtype=np.int64)
        out[idx] = vals
        todo = todo[~accept]
    return out
