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
    "PTS-upper": "polynomial truncation sensitivity, upper envelope: delta(w) <= C w^-alpha for w >= w0",
    "PTS-lower": "two-sided Bayes-risk condition, lower envelope: I_w >= c w^-alpha for w >= w0",
    "GTS-upper": "geometric truncation sensitivity: delta(w) <= C rho^w for w >= w0",
    "GTS-lower": "geometric Bayes-risk lower envelope: I_w >= c rho^w for w >= w0",
    "tabulated-envelope": "the measured curve, replaced by its non-increasing upper envelope, bounds delta(w) "
    "at the tabulated windows; between them log-log interpolation, beyond them the stated extrapolation",
    "sink-monotone": "adding sink tokens to a w-suffix does not increase distortion (true for the Bayes "
    "predictor by the Bayes-risk identity; an empirical assumption for a real model)",
    "finite-alphabet": "finite vocabulary of size V and a reconstruction with q_min > 0",
    "locally-quadratic": "EMPIRICAL, not a theorem: KL ~ kappa * TV^2 in the small-distortion regime",
}

_T = Theorem
THEOREMS = {t.id: t for t in [
    _T("achievability_sliding", "Sliding window attains distortion eps with w = ceil((C/eps)^(1/alpha))", ("PTS-upper",)),
    _T("achievability_geometric", "Sliding window under geometric sensitivity: w = ceil(log(C/eps)/log(1/rho))", ("GTS-upper",)),
    _T("achievability_tabulated", "Sliding window from a measured monotone envelope", ("tabulated-envelope",)),
    _T("converse_suffix", "Any suffix-only policy needs w >= (c/eps)^(1/alpha)", ("PTS-lower",)),
    _T("theta_band", "Achievability/converse ratio tends to (C/c)^(1/alpha)", ("PTS-upper", "PTS-lower")),
    _T("sink_recent", "Sink-plus-recent: s sinks + last w achieve the sliding bound", ("PTS-upper", "sink-monotone")),
    _T("block_markov", "Block-Markov scheme: worst-case and Hurwitz-zeta time-averaged distortion", ("PTS-upper",)),
    _T("bayes_risk_identity", "E KL(p || q) = I_w + E KL(pbar_w || q) for suffix-measurable q", ()),
    _T("pinsker", "Pinsker: TV <= sqrt(KL_nats / 2)", ()),
    _T("reverse_pinsker", "Reverse Pinsker on a finite alphabet: KL <= log(1 + 2 TV^2 / q_min)", ("finite-alphabet",)),
    _T("smoothing", "Smoothing q <- (1-mu) q + mu/V: bias, q_min and the optimal mu", ("finite-alphabet",)),
    _T("santa_fe", "Santa Fe process: exact truncation risk, exponent 1-1/beta and constant", ()),
    _T("bayes_mixture", "Dirichlet mixture source: exact risk and (V-1)/(2w) asymptotics", ()),
    _T("hmm_geometric", "Markov chains: I_w = 0 for w >= k; HMMs: geometric decay", ()),
    _T("wyner_ziv", "Wyner-Ziv rate-distortion: BA computation, DSBS closed form, orderings", ()),
    _T("layer_propagation", "Error propagation through L attention layers and rate allocation", ()),
    _T("selective_cache", "Selective caches on Santa Fe: min distortion sum_{k>m} p_k", ()),
    _T("summary_cache", "M-bit summary caches on Santa Fe: min distortion sum_{k>M} p_k", ()),
]}


def theorem(theorem_id: str) -> Theorem:
    try:
        return THEOREMS[theorem_id]
    except KeyError:
        raise ValueError(f"`theorem_id` must be one of {sorted(THEOREMS)}, got {theorem_id!r}") from None
