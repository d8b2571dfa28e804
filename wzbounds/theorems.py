"""Registry of the theorems results rest on. Each id names ``proofs/<id>.md`` (statement,
assumptions, proof) and its machine check ``proofs/checks/<id>.py``; the test suite verifies
that every id here resolves to both and that the check passes."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Theorem:
    id: str
    title: str
    assumptions: tuple[str, ...] = ()

    @property
    def proof_file(self) -> str:
        return f"proofs/{self.id}.md"

    @property
    def check_file(self) -> str:
        return f"proofs/checks/{self.id}.py"


#: Named assumptions, referred to by key in theorem statements and results.
ASSUMPTIONS = {
    "PTS-upper": "polynomial truncation sensitivity, upper envelope: delta(w) <= C w^-alpha for w >= w0 "
    "(in the profile's divergence: mean KL, mean TV, or E[TV^2] for tv2)",
    "PTS-lower-kl": "two-sided Bayes-risk condition in KL: I_w >= c w^-alpha for w >= w0",
    "PTS-lower-tv": "lower envelope in TV: every suffix-only decoder has E TV(p_t, q_t) >= c w^-alpha for w >= w0 "
    "(derivable from the Bayes predictor's TV: tv_converse)",
    "PTS-lower-tv2": "lower envelope in E[TV^2]: every suffix-only decoder has E TV(p_t, q_t)^2 >= c w^-alpha",
    "GTS-upper": "geometric truncation sensitivity: delta(w) <= C rho^w for w >= w0",
    "GTS-lower-kl": "geometric Bayes-risk lower envelope: I_w >= c rho^w for w >= w0",
    "GTS-lower-tv": "geometric TV lower envelope: every suffix-only decoder has E TV >= c rho^w for w >= w0",
    "GTS-lower-tv2": "geometric E[TV^2] lower envelope for every suffix-only decoder: >= c rho^w for w >= w0",
    "tabulated-envelope": "the curve, replaced by its non-increasing upper envelope, bounds delta(w) at the "
    "tabulated windows; between them log-log interpolation, beyond them the stated extrapolation",
    "tabulated-lower-kl": "lower_values[i] <= I_(windows[i]), known from a proof or an exact computation "
    "(measuring a decoder only upper-bounds the risk)",
    "tabulated-lower-tv": "lower_values[i] <= the least mean TV of a suffix-only decoder at windows[i], known "
    "from a proof or an exact computation (a measurement only upper-bounds it)",
    "tabulated-lower-tv2": "lower_values[i] <= the least E[TV^2] of a suffix-only decoder at windows[i], known "
    "from a proof or an exact computation",
    "sink-monotone": "adding sink tokens to a w-suffix does not increase distortion (true for the Bayes "
    "predictor by the Bayes-risk identity; an empirical assumption for a real model)",
    "finite-alphabet": "finite vocabulary of size V and a reconstruction with q_min > 0",
    "forward-decay": "forward decay: E TV(p_t, q_t^(w))^2 <= C2 w^-alpha2 for w >= w0 (e.g. from an almost-sure "
    "TV envelope)",
    "regularity": "regularity: the decoder's output q_t^(w) is >= eta > 0 on every symbol",
    "locally-quadratic": "EMPIRICAL, not a theorem: KL ~ kappa * TV^2 in the small-distortion regime",
    "measured-policy-envelope": "a cache policy's mean distortion at context T, on the user's text, is <= the "
    "profile's curve U_T(k): the upper bootstrap limit of the mean measured at each budget, log-log between them "
    "(measured on one corpus, assumed elsewhere)",
    "context-interpolation": "at a fixed budget, log U_T is affine in log T between two measured context lengths "
    "(beyond them only when extrapolation is asked for)",
}

_T = Theorem
THEOREMS = {
    t.id: t
    for t in [
        _T(
            "achievability_sliding",
            "Sliding window attains distortion eps with w = ceil((C/eps)^(1/alpha))",
            ("PTS-upper",),
        ),
        _T(
            "achievability_geometric",
            "Sliding window under geometric sensitivity: w = ceil(log(C/eps)/log(1/rho))",
            ("GTS-upper",),
        ),
        _T("achievability_tabulated", "Sliding window from a measured monotone envelope", ("tabulated-envelope",)),
        _T(
            "measured_policy_envelope",
            "Cache budget of a measured policy: the smallest k with U_T(k) <= eps, exact; "
            "log-T interpolation keeps the budget between the measured ones; the kvpress ratio keeps k - 1 entries",
            ("measured-policy-envelope", "context-interpolation"),
        ),
        _T("converse_suffix", "Any suffix-only policy needs w >= (c/eps)^(1/alpha)", ("PTS-lower-kl",)),
        _T(
            "theta_band",
            "Achievability/converse ratio tends to (C/c)^(1/alpha), for eps < c w0^-alpha",
            ("PTS-upper", "PTS-lower-kl"),
        ),
        _T(
            "sink_recent",
            "Sink-plus-recent: s sinks + last w achieve the sliding bound",
            ("PTS-upper", "sink-monotone"),
        ),
        _T("block_markov", "Block-Markov scheme: worst-case and Hurwitz-zeta time-averaged distortion", ("PTS-upper",)),
        _T(
            "block_markov_rate",
            "Block-Markov KL rate exponent from TV: gamma <= alpha (converse), >= alpha/2 "
            "on V symbols (attained on a countable alphabet; on a finite one UNPROVED), = alpha under forward "
            "decay and regularity",
            ("PTS-upper", "PTS-lower-kl", "finite-alphabet", "forward-decay", "regularity"),
        ),
        _T("bayes_risk_identity", "E KL(p || q) = I_w + E KL(pbar_w || q) for suffix-measurable q", ()),
        _T("pinsker", "Pinsker: TV <= sqrt(KL_nats / 2)", ()),
        _T(
            "reverse_pinsker",
            "Reverse Pinsker on a finite alphabet: KL <= log(1 + 2 TV^2 / q_min)",
            ("finite-alphabet",),
        ),
        _T(
            "smoothing",
            "Smoothing q <- (1-mu) q + mu/V: bias, q_min and the reverse-Pinsker KL bound",
            ("finite-alphabet",),
        ),
        _T(
            "smoothing_convexity",
            "Smoothed KL by the log-sum inequality: KL <= (1-tau) log 1/(1-mu) + tau log(V tau/mu); "
            "mean TV U gives E KL <= U (1 + log(V/U))",
            ("finite-alphabet",),
        ),
        _T(
            "tv_converse",
            "E TV(p, q) >= E TV(p, pbar_w)/2 for suffix-measurable q; E KL >= 2 E TV^2 >= 2 (E TV)^2; "
            "I_w >= 2 (E TV(p, pbar_w))^2 directly from the Bayes predictor",
            (),
        ),
        _T("santa_fe", "Santa Fe process: exact truncation risk, exponent 1-1/beta and constant", ()),
        _T("bayes_mixture", "Dirichlet mixture source: exact risk and (V-1)/(2w) asymptotics", ()),
        _T("hmm_geometric", "Markov chains: I_w = 0 for w >= k; HMMs: geometric decay", ()),
        _T("wyner_ziv", "Wyner-Ziv rate-distortion: BA computation, DSBS closed form, orderings", ()),
        _T(
            "cache_rate_distortion",
            "Cache rate-distortion R_cache(D) = min I(S;U|Q) s.t. I(X;S|U,Q) <= D: "
            "properties, certified lower bound, closed forms; solver values are upper bounds",
            (),
        ),
        _T("layer_propagation", "Error propagation through L attention layers and rate allocation", ()),
        _T("selective_cache", "Selective caches on Santa Fe: min distortion sum_{k>m} p_k", ()),
        _T("summary_cache", "M-bit summary caches on Santa Fe: min distortion sum_{k>M} p_k", ()),
    ]
}


def theorem(theorem_id: str) -> Theorem:
    try:
        return THEOREMS[theorem_id]
    except KeyError:
        raise ValueError(f"`theorem_id` must be one of {sorted(THEOREMS)}, got {theorem_id!r}") from None
