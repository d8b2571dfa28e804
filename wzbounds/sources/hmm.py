"""Hidden Markov source: hidden chain S_t (transition A, S x S), observations X_t ~ E[S_t] (S x V).

Truncation risk I_w = h_w - h_inf, where h_w = H(X_t | X_{t-w}^{t-1}) (forward filter from the
stationary law w steps back) and h_inf is the entropy rate. ``bayes_risk`` enumerates all V^w
window strings (w <= ``max_exact_window``) and brackets h_inf by the Cover-Thomas sandwich
H(X_t | X_{t-L}^{t-1}, S_{t-L}) <= h_inf <= h_L at the largest affordable L (proofs/hmm_geometric.md,
part 2); ``monte_carlo_risk`` estimates I_w for large w. With A > 0 entrywise the risk decays
geometrically: I_w <= Delta(A) tau(A)^(w-1) nats (Birkhoff contraction, part 3).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special

from .._validation import positive_int, real_scalar
from ..units import KL_UNITS, check_divergence
from .base import Source, generator_iv
from .markov import stationary_law, stochastic_iv

#: Enumeration budget: number of window strings times states (V^w * S).
_ENUM_BUDGET = 2**18


@dataclass(frozen=True)
class MonteCarloRisk:
    """Monte Carlo estimate of E KL(p^(L) || p^(w)) = I_w - I_L (nats), with a normal-theory CI.

    The full-context predictor is the filter over ``burn_in_tokens`` = L tokens (started from the
    stationary law), so the estimate targets I_w - I_L; the bias I_L <= ``bias_bound_nats``
    (Birkhoff bound, None if A has a zero entry).
    """

    window_tokens: int
    estimate_nats: float
    ci_low_nats: float
    ci_high_nats: float
    confidence_level: float
    n_samples: int
    burn_in_tokens: int
    bias_bound_nats: float | None
    theorem_id: str = "hmm_geometric"


class HMM(Source):
    """Stationary HMM with ``transition`` (S, S) and ``emission`` (S, V), both row-stochastic.

    No ``tv_sensitivity``: no exact expression for the HMM's TV sensitivity is implemented.
    """

    theorem_id = "hmm_geometric"
    risk_is_exact = False  # h_inf is bracketed, not known: I_w is exact only to risk_error_nats()

    def __init__(self, transition, emission):
        self.transition = stochastic_iv("transition", transition, ndim_min=2)
        self.emission = stochastic_iv("emission", emission, ndim_min=2)
        S = self.transition.shape[0]
        if self.transition.shape != (S, S) or self.emission.ndim != 2 or self.emission.shape[0] != S:
            raise ValueError("`transition` must be (S, S) and `emission` (S, V) with the same S")
        self.n_states, self.alphabet_size = S, self.emission.shape[1]
        self.stationary = stationary_law(self.transition)
        self._bracket = None  # cached entropy_rate_bracket() at the default L

    def __repr__(self):
        return f"HMM(n_states={self.n_states}, alphabet_size={self.alphabet_size})"

    # ---- exact enumeration ------------------------------------------------------------------
    @property
    def max_exact_window(self) -> int:
        """Largest w with V^w * S <= 2^18 (enumeration budget)."""
        V = self.alphabet_size
        return math.floor(math.log(_ENUM_BUDGET / self.n_states) / math.log(V)) if V > 1 else 64

    def _conditional_entropy(self, w: int, start: np.ndarray) -> float:
        """H(X_t | X_{t-w}^{t-1} [, S_{t-w}]) in nats: ``start`` (m, S) are unnormalised
        predictive state weights at time t-w for m conditioning branches (summing to 1 in total)."""
        A, E = self.transition, self.emission
        alpha = start  # (m, S) joint weights of (branch, window-so-far, state) = P(..., S_j)
        for _ in range(w):
            # extend every string by each symbol: (m, V, S) -> (m*V, S)
            alpha = ((alpha[:, None, :] * E.T[None, :, :]) @ A).reshape(-1, self.n_states)
            alpha = alpha[alpha.sum(axis=1) > 0]
        joint = alpha @ E  # (m', V): P(string, X_t = x)
        mass = joint.sum(axis=1, keepdims=True)
        return float(-np.sum(special.xlogy(joint, joint / mass)))

    def conditional_entropy(self, w: int) -> float:
        """h_w = H(X_t | X_{t-w}^{t-1}) in nats, exact by enumeration (w <= max_exact_window)."""
        w = self._exact_iv(w)
        return self._conditional_entropy(w, self.stationary[None, :])

    def entropy_rate_bracket(self, L: int | None = None) -> tuple[float, float]:
        """(low, high) nats with low <= h_inf <= high: H(X_t | X^{t-1}_{t-L}, S_{t-L}) and h_L.
        Default L = max_exact_window - 1."""
        if L is None:
            if self._bracket is None:
                self._bracket = self.entropy_rate_bracket(self.max_exact_window - 1)
            return self._bracket
        L = self._exact_iv(L)
        low = self._conditional_entropy(L, np.diag(self.stationary))
        return low, self._conditional_entropy(L, self.stationary[None, :])

    def _exact_iv(self, w) -> int:
        w = positive_int("w", w, minimum=0)
        if w > self.max_exact_window:
            raise ValueError(f"`w` must be <= {self.max_exact_window} for exact enumeration, got {w}")
        return w

    def _bayes_risk_nats(self, w):
        low, high = self.entropy_rate_bracket()
        h_inf = 0.5 * (low + high)
        uniq, inverse = np.unique(w.ravel(), return_inverse=True)
        vals = np.array([max(self.conditional_entropy(int(v)) - h_inf, 0.0) for v in uniq])
        return vals[inverse].reshape(w.shape)

    def bayes_risk(self, w, unit: str = "nats"):
        """I_w = h_w - h_inf, h_inf taken as the midpoint of ``entropy_rate_bracket()`` (error at
        most half its width, reported by ``risk_error_nats``). w <= max_exact_window."""
        return super().bayes_risk(w, unit)

    def risk_error_nats(self) -> float:
        """Half-width of the entropy-rate bracket: the worst-case error of ``bayes_risk``."""
        low, high = self.entropy_rate_bracket()
        return 0.5 * (high - low)

    # ---- geometric envelope -----------------------------------------------------------------
    def birkhoff_constants(self) -> tuple[float, float] | None:
        """(Delta, tau): projective diameter and Birkhoff contraction of A, or None if A has a zero.

        Delta = log max_{i,j,k,l} A_ik A_jl / (A_jk A_il), tau = tanh(Delta / 4).
        """
        A = self.transition
        if np.any(A <= 0):
            return None
        logA = np.log(A)
        # cross ratios over pairs of rows (i, j) and columns (k, l)
        d = logA[:, None, :, None] + logA[None, :, None, :] - logA[None, :, :, None] - logA[:, None, None, :]
        delta = float(np.max(d))
        return delta, math.tanh(delta / 4.0)

    def profile(self, divergence: str = "kl_nats"):
        """Exponential(rho=tau, C=Delta/tau, w0=1): the proved Birkhoff upper envelope
        I_w <= Delta tau^(w-1); no lower envelope. Needs A > 0 entrywise. KL units only."""
        from ..profiles import Exponential

        check_divergence(divergence)
        consts = self.birkhoff_constants()
        if divergence not in KL_UNITS or consts is None:
            raise ValueError(
                "HMM.profile needs `divergence` in ('kl_nats', 'kl_bits') and a transition matrix with all entries > 0"
            )
        delta, tau = consts
        scale = 1.0 if divergence == "kl_nats" else 1 / math.log(2.0)
        # tau = 0 means A has identical rows: I_w = 0 for w >= 1; keep rho in (0, 1).
        rho = max(tau, 1e-300)
        return Exponential(
            rho=rho,
            C=max(delta / rho, np.finfo(np.float64).tiny) * scale,
            w0=1,
            divergence=divergence,
            provenance={"source": repr(self), "theorem": self.theorem_id},
        )

    # ---- sampling and Monte Carlo -----------------------------------------------------------
    def _sample_paths(self, m: int, n: int, rng) -> np.ndarray:
        """m independent stationary paths of length n: int64 (m, n)."""
        S, V = self.n_states, self.alphabet_size
        cumA, cumE = np.cumsum(self.transition, axis=1), np.cumsum(self.emission, axis=1)
        state = np.minimum(np.searchsorted(np.cumsum(self.stationary), rng.random(m), side="right"), S - 1)
        out = np.empty((m, n), dtype=np.int64)
        for t in range(n):
            u = rng.random(m)
            out[:, t] = np.minimum((cumE[state] < u[:, None]).sum(axis=1), V - 1)
            u = rng.random(m)
            state = np.minimum((cumA[state] < u[:, None]).sum(axis=1), S - 1)
        return out

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """n observations from the stationary HMM: int64 array of shape (n,)."""
        n = positive_int("n", n, minimum=0)
        return self._sample_paths(1, n, generator_iv(rng))[0]

    def _predict(self, paths: np.ndarray) -> np.ndarray:
        """Next-symbol law after filtering each row of ``paths`` from the stationary law: (m, V)."""
        A, E = self.transition, self.emission
        pred = np.broadcast_to(self.stationary, (paths.shape[0], self.n_states))
        for t in range(paths.shape[1]):
            post = pred * E[:, paths[:, t]].T
            pred = (post / post.sum(axis=1, keepdims=True)) @ A
        return pred @ E

    def monte_carlo_risk(
        self,
        w: int,
        rng: np.random.Generator,
        n_samples: int = 4000,
        burn_in: int | None = None,
        confidence_level: float = 0.95,
    ) -> MonteCarloRisk:
        """Estimate I_w (any w >= 0) from ``n_samples`` independent stationary paths.

        Each path has ``burn_in`` = L >= w tokens (default max(4w, w + 200)); the sample is
        KL(filter over L tokens || filter over the last w tokens) of the next symbol, whose mean
        is I_w - I_L exactly. CI: mean +- z sd/sqrt(n).
        """
        w = positive_int("w", w, minimum=0)
        rng = generator_iv(rng)
        n_samples = positive_int("n_samples", n_samples, minimum=2)
        L = max(4 * w, w + 200) if burn_in is None else positive_int("burn_in", burn_in, minimum=w)
        level = real_scalar("confidence_level", confidence_level, low=0.0, high=1.0, high_open=True)
        paths = self._sample_paths(n_samples, L, rng)
        p_full = self._predict(paths)
        p_win = self._predict(paths[:, L - w :])
        kl = np.sum(special.rel_entr(p_full, p_win), axis=1)
        mean, half = float(kl.mean()), float(special.ndtri(0.5 + level / 2) * kl.std(ddof=1) / math.sqrt(n_samples))
        consts = self.birkhoff_constants()
        bias = None if consts is None else consts[0] * consts[1] ** max(L - 1, 0)
        return MonteCarloRisk(w, mean, mean - half, mean + half, level, n_samples, L, bias)
