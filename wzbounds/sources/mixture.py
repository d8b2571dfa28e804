"""Bayesian mixture source: theta ~ Dirichlet(a, ..., a) on V symbols, then X_t i.i.d. theta.

The infinite past reveals theta, so p_t = theta; the window predictor is the Dirichlet posterior
predictive q_v = (n_v + a)/(w + V a). Exactly (proofs/bayes_mixture.md)

    I_w = V sum_{n=0}^{w} P(n_1 = n) q_n [phi(n + a) - phi(w + V a)]  nats,

with n_1 ~ BetaBinomial(w, a, (V-1) a), q_n = (n + a)/(w + V a) and phi(x) = psi(x + 1) - log x
(every summand is >= 0: no cancellation), and
(V-1)/(2N) - V/(12N) E[1/(n_1 + a)] <= I_w <= (V-1)/(2N) + 1/(12 N^2), N = w + V a,
so w I_w -> (V-1)/2 (Rissanen's (V-1)/2 log w regret, per step).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from .._validation import positive_int, real_scalar
from ..units import check_kl_unit
from .base import Source, generator_iv

#: Largest window evaluated exactly (the sum has w + 1 terms).
MAX_EXACT_WINDOW = 10**7
_CHUNK = 2**20
#: Largest default ``w0`` the profile searches (the search sums O(w0) terms per candidate).
MAX_DEFAULT_W0 = 2**20


def _phi(x: np.ndarray) -> np.ndarray:
    """phi(x) = psi(x + 1) - log x > 0, accurate for all x > 0 (asymptotic series for x >= 32)."""
    x = np.asarray(x, dtype=np.float64)
    out = np.empty_like(x)
    small = x < 32.0
    out[small] = special.psi(x[small] + 1.0) - np.log(x[small])
    inv2 = 1.0 / x[~small] ** 2
    # psi(x) ~ log x - 1/(2x) - sum_k B_2k/(2k x^2k); next term 691/(32760 x^12): < 1e-17 relative to phi for x >= 32
    series = inv2 * (1 / 12 - inv2 * (1 / 120 - inv2 * (1 / 252 - inv2 * (1 / 240 - inv2 * (1 / 132)))))
    out[~small] = 0.5 / x[~small] - series
    return out


class BayesMixture(Source):
    """I.i.d. categorical source on ``alphabet_size`` symbols with a Dirichlet(concentration) prior.

    ``sample(n, rng)`` returns an int64 array of symbols in [0, V); ``bayes_risk`` is exact for
    w <= MAX_EXACT_WINDOW. No TV sensitivity is provided (no closed form; not needed).
    """

    theorem_id = "bayes_mixture"
    max_exact_window = MAX_EXACT_WINDOW

    def __init__(self, alphabet_size: int, concentration: float):
        self.alphabet_size = positive_int("alphabet_size", alphabet_size, minimum=2)
        self.concentration = real_scalar("concentration", concentration, low=0.0, high=1e6)

    def __repr__(self):
        return f"BayesMixture(alphabet_size={self.alphabet_size}, concentration={self.concentration!r})"

    def _log_pmf(self, w: int, n: np.ndarray) -> np.ndarray:
        """log P(n_1 = n) for n_1 ~ BetaBinomial(w, a, (V-1) a)."""
        a, b = self.concentration, (self.alphabet_size - 1) * self.concentration
        log_binom = special.gammaln(w + 1.0) - special.gammaln(n + 1.0) - special.gammaln(w - n + 1.0)
        return log_binom + special.betaln(n + a, w - n + b) - special.betaln(a, b)

    def _expect(self, w: int, g) -> float:
        """E g(n_1) by exact summation over n = 0..w (pmf renormalised: removes gammaln drift)."""
        num, den = [], []
        for start in range(0, w + 1, _CHUNK):
            n = np.arange(start, min(w, start + _CHUNK - 1) + 1, dtype=np.float64)
            pmf = np.exp(self._log_pmf(w, n))
            num.append(math.fsum(pmf * g(n)))
            den.append(math.fsum(pmf))
        return math.fsum(num) / math.fsum(den)

    def _risk_one(self, w: int) -> float:
        if w > MAX_EXACT_WINDOW:
            raise ValueError(f"`w` must be <= {MAX_EXACT_WINDOW} for the exact mixture risk, got {w}")
        a, V = self.concentration, self.alphabet_size
        N = w + V * a
        phi_N = float(_phi(np.array([N]))[0])
        return V * self._expect(w, lambda n: (n + a) / N * (_phi(n + a) - phi_N))

    def _bayes_risk_nats(self, w):
        uniq, inverse = np.unique(w.ravel(), return_inverse=True)
        vals = np.array([self._risk_one(int(v)) for v in uniq], dtype=np.float64)
        return vals[inverse].reshape(w.shape)

    def inverse_count_moment(self, w: int) -> float:
        """E[1/(n_1 + a)] at window ``w`` (non-increasing in w; enters the lower constant)."""
        w = positive_int("w", w, minimum=0)
        a = self.concentration
        return self._expect(w, lambda n: 1.0 / (n + a))

    def envelope_constants(self, w0: int = 1) -> tuple[float, float]:
        """(c, C) in nats with c/w <= I_w <= C/w for all w >= w0 (proofs/bayes_mixture.md, part 3).

        C = (V-1)/2 + 1/(12 w0); c = (V-1) w0 / (2 (w0 + V a)) - (V/12) E_{w0}[1/(n_1 + a)]
        (c may be <= 0 for small w0; E_{w0} is the exact 1-D sum, evaluated in float64).
        """
        w0 = positive_int("w0", w0, minimum=1)
        V, a = self.alphabet_size, self.concentration
        upper = (V - 1) / 2 + 1 / (12 * w0)
        lower = (V - 1) * w0 / (2 * (w0 + V * a)) - V / 12 * self.inverse_count_moment(w0)
        return lower, upper

    def _default_w0(self) -> int:
        """Smallest power of 2 up to ``MAX_DEFAULT_W0`` with c(w0) >= C(w0)/2, else ``ValueError``
        naming ``w0`` (small concentrations: P(n_1 = 0) decays like w^-a, so c(w0) stays negative
        at every window that can be evaluated). Since c(w0) <= (V-1) w0 / (2 (w0 + V a)) and
        C(w0) >= (V-1)/2, no w0 < V a qualifies: the search starts there."""
        w0 = 1 << max(0, math.ceil(math.log2(max(1.0, self.alphabet_size * self.concentration))))
        while w0 <= MAX_DEFAULT_W0:  # at most 21 doublings, each an O(w0) sum
            c, C = self.envelope_constants(w0)
            if c >= C / 2:
                return w0
            w0 *= 2
        raise ValueError(
            f"`w0`: no power of 2 up to {MAX_DEFAULT_W0} has a proved lower constant >= half the "
            f"upper one for {self!r}; give `w0` explicitly"
        )

    def profile(self, divergence: str = "kl_nats", w0: int | None = None):
        """PowerLaw(alpha=1) with the proved constants; ``w0`` default: the smallest power of 2 with
        c(w0) >= C(w0)/2. KL units only (``divergence`` "kl_nats" or "kl_bits")."""
        from ..profiles import PowerLaw

        check_kl_unit(divergence)  # no TV envelope for the mixture
        if w0 is None:
            w0 = self._default_w0()
        c, C = self.envelope_constants(w0)
        if c <= 0:
            raise ValueError(f"`w0` is too small for a positive proved lower constant, got {w0}")
        scale = 1.0 if divergence == "kl_nats" else 1 / math.log(2.0)
        return PowerLaw(
            alpha=1.0,
            C=C * scale,
            c=c * scale,
            w0=w0,
            divergence=divergence,
            provenance={
                "source": repr(self),
                "theorem": self.theorem_id,
                "asymptotic_constant": (self.alphabet_size - 1) / 2 * scale,
            },
        )

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """theta ~ Dirichlet(a), then n i.i.d. symbols: int64 array of shape (n,)."""
        n = positive_int("n", n, minimum=0)
        rng = generator_iv(rng)
        theta = rng.dirichlet(np.full(self.alphabet_size, self.concentration))
        return rng.choice(self.alphabet_size, size=n, p=theta).astype(np.int64)
