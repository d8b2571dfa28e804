"""Laws p(s, q, x) for :func:`~wzbounds.wz.cache_rd.cache_rate_distortion` built from the
project's sources, the closed-form cases, and the comparison with suffix windows.

Sequential reading (``proofs/CONVENTIONS.md``): at step t the cache is written from the past
S = X_{t-n-1}^{t-2} (n tokens), the query is the last token Q = X_{t-1} (``query="last_token"``)
and X = X_t. The reference predictor p(x | s, q) is then the (n+1)-token window predictor, so
the distortion of any cache against the **infinite** past is ``floor_bits`` + I(X; S | U, Q) with
floor = I_{n+1} (the Bayes-risk identity; ``bayes_risk_identity.md``). With ``query="none"`` the
past is the last n tokens X_{t-n}^{t-1}, Q is trivial and the floor is I_n.

A suffix window of w tokens (query included, as in CONVENTIONS) is the cache U = the w − 1
tokens before the query (w tokens with ``query="none"``): :func:`window_cache` builds it, its
distortion is I_w − I_{n+1}, and :func:`window_comparison` sets its bits (H of the cached tokens,
or their count times log2 V) against the least cache at the same distortion.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from scipy import special

from .._validation import choice, positive_int, real_array, real_scalar
from ..sources import HMM, BayesMixture, MarkovChain, SantaFe
from ..sources.markov import stationary_law
from .cache_rd import THEOREM_ID, CacheRateDistortionResult, cache_rate_distortion, evaluate_cache
from .rate_distortion import binary_entropy_bits

#: Queries the token builders accept.
QUERIES = ("last_token", "none")
#: Beliefs (predictive hidden-state laws) equal to this many decimals are merged by ``statistic="belief"``.
BELIEF_DECIMALS = 12
#: Largest number of token strings a builder enumerates (V^(n+2) for the joint).
MAX_STRINGS = 2**22


@dataclass(frozen=True)
class CacheLaw:
    """A law p(s, q, x) (``p_sqx``, shape (S, Q, X)) and what it models.

    ``past_tokens`` (S, n) holds the token string of each past (oldest first) when the pasts are
    strings, else None (counts, beliefs, bits). ``floor_bits``: distortion of the reference
    predictor p(x|s,q) against the infinite past, known to ± ``floor_error_bits``.
    """

    p_sqx: np.ndarray
    source: str
    statistic: str
    query: str
    n_past: int
    alphabet_size: int | None
    past_tokens: np.ndarray | None
    floor_bits: float
    floor_error_bits: float
    theorem_id: str = THEOREM_ID


# --------------------------------------------------------------------------- token sources
def _string_law(transition, emission, stationary, length):
    """P(x_1..x_L) of a stationary HMM, shape (V,)*L, by the forward recursion over strings."""
    n_states, V = emission.shape
    if V**length > MAX_STRINGS:
        raise ValueError(f"`n_past` is too large: {V}^{length} strings exceed {MAX_STRINGS}")
    alpha = stationary[None, :]  # P(string so far, next hidden state)
    for _ in range(length):
        alpha = ((alpha[:, None, :] * emission.T[None, :, :]) @ transition).reshape(-1, n_states)
    return alpha.sum(axis=1).reshape((V,) * length), alpha


def _token_law(probs, V, n_past, query):
    """Split the law of n + 2 (or n + 1) consecutive tokens into (past, query, next)."""
    n_q = V if query == "last_token" else 1
    return probs.reshape(V**n_past, n_q, V)


def _past_strings(V, n_past):
    return np.array(list(itertools.product(range(V), repeat=n_past)), dtype=np.int64).reshape(V**n_past, n_past)


def _hmm_iv(hmm, n_past, statistic, query):
    if not isinstance(hmm, HMM):
        raise ValueError(f"`hmm` must be a wzbounds.sources.HMM, got {type(hmm).__name__}")
    return (
        positive_int("n_past", n_past, minimum=0),
        choice("statistic", statistic, ("tokens", "belief")),
        choice("query", query, QUERIES),
    )


def hmm_cache_law(hmm, n_past, *, statistic="tokens", query="last_token") -> CacheLaw:
    """Law of (past, query, next) for a stationary ``HMM``: pasts are the V^n strings of
    ``n_past`` tokens (``statistic="tokens"``), or their beliefs P(hidden state | past) with equal
    beliefs (to BELIEF_DECIMALS) merged (``"belief"``: the exact law of that statistic, which is
    sufficient up to 1e-12). Floor I_{n+1} (or I_n) from ``hmm.bayes_risk`` (± its bracket)."""
    n_past, statistic, query = _hmm_iv(hmm, n_past, statistic, query)
    window = n_past + (1 if query == "last_token" else 0)
    if window > hmm.max_exact_window:
        raise ValueError(f"`n_past` is too large for an exact floor: window {window} > {hmm.max_exact_window}")
    p_sqx, tokens = _hidden_chain_law(hmm.transition, hmm.emission, hmm.stationary, n_past, statistic, query)
    return CacheLaw(
        p_sqx=p_sqx,
        source=repr(hmm),
        statistic=statistic,
        query=query,
        n_past=n_past,
        alphabet_size=hmm.alphabet_size,
        past_tokens=tokens,
        floor_bits=float(hmm.bayes_risk(window, unit="bits")),
        floor_error_bits=hmm.risk_error_nats() / math.log(2.0),
    )


def _hidden_chain_law(transition, emission, stationary, n_past, statistic, query):
    """(p_sqx, past strings or None) of a stationary hidden chain (see :func:`hmm_cache_law`)."""
    V = emission.shape[1]
    probs, _ = _string_law(transition, emission, stationary, n_past + (2 if query == "last_token" else 1))
    p_sqx = _token_law(probs, V, n_past, query)
    if statistic == "tokens":
        return p_sqx, _past_strings(V, n_past)
    _, alpha = _string_law(transition, emission, stationary, n_past)
    mass = alpha.sum(axis=1, keepdims=True)
    belief = np.round(np.divide(alpha, mass, out=np.zeros_like(alpha), where=mass > 0), BELIEF_DECIMALS)
    group = np.unique(belief, axis=0, return_inverse=True)[1].ravel()
    merged = np.zeros((group.max() + 1, *p_sqx.shape[1:]))
    np.add.at(merged, group, p_sqx)
    return merged, None


def markov_cache_law(chain, n_past, *, query="last_token") -> CacheLaw:
    """Law of (past of ``n_past`` tokens, query, next) for a stationary order-k ``MarkovChain``,
    computed as the hidden chain whose state is the last k symbols. Floor I_{n+1} (0 once n+1 ≥ k)."""
    if not isinstance(chain, MarkovChain):
        raise ValueError(f"`chain` must be a wzbounds.sources.MarkovChain, got {type(chain).__name__}")
    n_past = positive_int("n_past", n_past, minimum=0)
    query = choice("query", query, QUERIES)
    V, k = chain.alphabet_size, chain.order
    tuples = np.arange(V**k)
    lifted = np.zeros((V**k, V**k))
    # state (x_1..x_k) -> (x_2..x_k, x) with probability P(x | x_1..x_k); it emits its newest symbol
    lifted[np.repeat(tuples, V), (tuples[:, None] * V % V**k + np.arange(V)).ravel()] = chain.transition.reshape(
        V**k, V
    ).ravel()
    p_sqx, tokens = _hidden_chain_law(lifted, np.eye(V)[tuples % V], stationary_law(lifted), n_past, "tokens", query)
    window = n_past + (1 if query == "last_token" else 0)
    return CacheLaw(
        p_sqx=p_sqx,
        source=repr(chain),
        statistic="tokens",
        query=query,
        n_past=n_past,
        alphabet_size=V,
        past_tokens=tokens,
        floor_bits=float(chain.bayes_risk(window, unit="bits")),
        floor_error_bits=0.0,
    )


def mixture_cache_law(mixture, n_past, *, statistic="counts", query="last_token") -> CacheLaw:
    """Law of (past, query, next) for the Dirichlet ``BayesMixture``: pasts are the count vectors
    of ``n_past`` tokens (``"counts"``, sufficient for the Pólya predictive) or the V^n strings
    (``"tokens"``). Floor I_{n+1} (or I_n), exact."""
    if not isinstance(mixture, BayesMixture):
        raise ValueError(f"`mixture` must be a wzbounds.sources.BayesMixture, got {type(mixture).__name__}")
    n_past = positive_int("n_past", n_past, minimum=0)
    statistic = choice("statistic", statistic, ("counts", "tokens"))
    query = choice("query", query, QUERIES)
    V, a = mixture.alphabet_size, mixture.concentration
    if statistic == "tokens":
        tokens = _past_strings(V, n_past)
        counts = np.stack([(tokens == v).sum(axis=1) for v in range(V)], axis=1)
        multiplicity = np.ones(len(counts))
    else:
        tokens = None
        counts = np.array([c for c in itertools.product(range(n_past + 1), repeat=V) if sum(c) == n_past])
        multiplicity = np.exp(special.gammaln(n_past + 1) - special.gammaln(counts + 1).sum(axis=1))
    if len(counts) * V * V > MAX_STRINGS:
        raise ValueError(f"`n_past` is too large: {len(counts)} pasts exceed the enumeration budget")
    # P(one string with these counts) = Γ(Va)/Γ(n+Va) Π_v Γ(c_v+a)/Γ(a) (Pólya urn)
    log_string = (
        special.gammaln(V * a)
        - special.gammaln(n_past + V * a)
        + (special.gammaln(counts + a) - special.gammaln(a)).sum(axis=1)
    )
    p_s = multiplicity * np.exp(log_string)
    first = (counts + a) / (n_past + V * a)  # p(q | past)
    if query == "none":
        p_sqx = (p_s[:, None] * first)[:, None, :]
    else:
        second = (counts[:, None, :] + a + np.eye(V)[None]) / (n_past + 1 + V * a)  # p(x | past, q)
        p_sqx = p_s[:, None, None] * first[:, :, None] * second
    window = n_past + (1 if query == "last_token" else 0)
    return CacheLaw(
        p_sqx=p_sqx / p_sqx.sum(),
        source=repr(mixture),
        statistic=statistic,
        query=query,
        n_past=n_past,
        alphabet_size=V,
        past_tokens=tokens,
        floor_bits=float(mixture.bayes_risk(window, unit="bits")),
        floor_error_bits=0.0,
    )


# --------------------------------------------------------------------------- Santa Fe
def santa_fe_cache_law(source, n_keys, *, query="none") -> CacheLaw:
    """Stationary Santa Fe truncated to the ``n_keys`` most probable keys: the past is the bit
    vector S = (Z_1..Z_K) (2^K values, uniform; s holds Z_k in bit k − 1), X = (key, bit) with the
    keys > K pooled into one "other" key whose bit the cache cannot hold, index 2j + z for key
    j + 1 ≤ K and 2K + z for "other". ``query="key"`` gives the decoder the key K_t (independent of
    S: it changes nothing). Floor Σ_{k>K} p_k = ``source.tail_mass(K)`` bits (``summary_cache``)."""
    if not isinstance(source, SantaFe):
        raise ValueError(f"`source` must be a wzbounds.sources.SantaFe, got {type(source).__name__}")
    K = positive_int("n_keys", n_keys, minimum=1)
    if K > 11:
        raise ValueError(f"`n_keys` must be at most 11 (2^K pasts), got {K}")
    query = choice("query", query, ("none", "key"))
    p_key = np.append(source.key_probabilities(np.arange(1, K + 1)), source.tail_mass(K))
    bits = (np.arange(2**K)[:, None] >> np.arange(K)) & 1  # (S, K)
    p_x_given_s = np.zeros((2**K, K + 1, 2))  # [s, key, z]
    p_x_given_s[np.arange(2**K)[:, None], np.arange(K)[None, :], bits] = 1.0
    p_x_given_s[:, K, :] = 0.5
    p_x_given_s *= p_key[None, :, None]
    if query == "none":
        p_sqx = p_x_given_s.reshape(2**K, 1, 2 * (K + 1)) / 2**K
    else:
        p_sqx = np.zeros((2**K, K + 1, 2 * (K + 1)))
        for j in range(K + 1):
            p_sqx[:, j, 2 * j : 2 * j + 2] = p_x_given_s[:, j, :] / 2**K
    return CacheLaw(
        p_sqx=p_sqx / p_sqx.sum(),
        source=repr(source),
        statistic="bits",
        query=query,
        n_past=K,
        alphabet_size=None,
        past_tokens=None,
        floor_bits=float(source.tail_mass(K)),
        floor_error_bits=0.0,
    )


def santa_fe_cache_curve(source, n_keys, D_bits):
    """Exact R_cache(D) in bits on :func:`santa_fe_cache_law` (D excludes the floor): the
    fractional knapsack inverse R = M + θ at D = Σ_{M<k≤K} p_k − θ p_{M+1} (``summary_cache``,
    part 1; proofs/cache_rate_distortion.md, part 8). Same shape as ``D_bits``."""
    K = positive_int("n_keys", n_keys, minimum=1)
    D = real_array("D_bits", D_bits, low=0.0, low_open=False)
    p = source.key_probabilities(np.arange(1, K + 1))
    # remaining distortion after storing the first m keys: Σ_{m<k≤K} p_k, m = 0..K (decreasing)
    remaining = np.concatenate([np.cumsum(p[::-1])[::-1], [0.0]])
    rate = np.interp(-D, -remaining, np.arange(K + 1, dtype=np.float64))
    return float(rate) if D.ndim == 0 else rate


# --------------------------------------------------------------------------- closed forms
def dsbs_cache_law(p0) -> CacheLaw:
    """S a fair bit, X = S ⊕ Z with Z ~ Bernoulli(p0), Q trivial: p_sqx of shape (2, 1, 2)."""
    p0 = real_scalar("p0", p0, low=0.0, high=0.5, low_open=False, high_open=False)
    p_sqx = (np.array([[1 - p0, p0], [p0, 1 - p0]]) / 2)[:, None, :]
    return CacheLaw(
        p_sqx=p_sqx,
        source=f"DSBS(p0={p0!r})",
        statistic="bits",
        query="none",
        n_past=1,
        alphabet_size=2,
        past_tokens=None,
        floor_bits=0.0,
        floor_error_bits=0.0,
    )


def side_information_cache_law(p0) -> CacheLaw:
    """S = (A, B) two fair bits (s = 2a + b), Q = A, X = A ⊕ B ⊕ Z with Z ~ Bernoulli(p0): given
    the query only B matters. p_sqx of shape (4, 2, 2)."""
    p0 = real_scalar("p0", p0, low=0.0, high=0.5, low_open=False, high_open=False)
    p_sqx = np.zeros((4, 2, 2))
    for a, b, x in itertools.product(range(2), repeat=3):
        p_sqx[2 * a + b, a, x] = 0.25 * ((1 - p0) if x == a ^ b else p0)
    return CacheLaw(
        p_sqx=p_sqx,
        source=f"side information (p0={p0!r})",
        statistic="bits",
        query="last_token",
        n_past=2,
        alphabet_size=2,
        past_tokens=None,
        floor_bits=0.0,
        floor_error_bits=0.0,
    )


def dsbs_cache_curve(p0, delta):
    """Mrs. Gerber's lemma curve of :func:`dsbs_cache_law` (and of the side-information law):
    (R, D) = (1 − h(δ), h(p0 ∗ δ) − h(p0)) bits for δ ∈ [0, 1/2], p0 ∗ δ = p0(1−δ) + δ(1−p0)."""
    p0 = real_scalar("p0", p0, low=0.0, high=0.5, low_open=False, high_open=False)
    delta = real_array("delta", delta, low=0.0, high=0.5, low_open=False)
    rate = 1.0 - binary_entropy_bits(delta)
    distortion = binary_entropy_bits(p0 * (1 - delta) + delta * (1 - p0)) - binary_entropy_bits(p0)
    return (float(rate), float(distortion)) if delta.ndim == 0 else (rate, distortion)


# --------------------------------------------------------------------------- windows
def _cached_tokens(law, window_tokens):
    if law.past_tokens is None:
        raise ValueError(f"`law` must have token pasts (statistic 'tokens'), got statistic {law.statistic!r}")
    w = positive_int("window_tokens", window_tokens, minimum=1 if law.query == "last_token" else 0)
    cached = w - 1 if law.query == "last_token" else w
    if cached > law.n_past:
        raise ValueError(f"`window_tokens` must be at most {law.n_past + (law.query == 'last_token')}, got {w}")
    return cached


def window_cache(law, window_tokens) -> np.ndarray:
    """The suffix window of ``window_tokens`` tokens (query included) as a deterministic cache
    p(u | s), shape (S, V^c) with c = the number of tokens it holds besides the query."""
    cached = _cached_tokens(law, window_tokens)
    V = law.alphabet_size
    held = law.past_tokens[:, law.n_past - cached :]
    index = held @ (V ** np.arange(cached - 1, -1, -1)) if cached else np.zeros(len(held), dtype=np.int64)
    return np.eye(V**cached)[index]


@dataclass(frozen=True)
class WindowComparison:
    """Windows against the least cache at equal distortion, all in bits (arrays over windows).

    ``distortion_bits``: I(X; S | window, Q) (against the law's reference; add ``floor_bits`` for
    the infinite past: ``total_distortion_bits`` = I_w). Window bits: ``window_entropy_bits``
    = H(cached tokens) (what storing the window losslessly costs at best), ``window_raw_bits`` =
    their count × log2 V, ``window_rate_bits`` = I(S; window | Q). Cache at the same distortion:
    ``cache.rate_bits`` (upper bound on R_cache), ``cache.rate_without_side_info_bits``,
    ``cache.lower_bound_bits`` (certified)."""

    window_tokens: np.ndarray
    cached_tokens: np.ndarray
    distortion_bits: np.ndarray
    total_distortion_bits: np.ndarray
    window_entropy_bits: np.ndarray
    window_raw_bits: np.ndarray
    window_rate_bits: np.ndarray
    floor_bits: float
    cache: CacheRateDistortionResult
    theorem_id: str = THEOREM_ID


def window_comparison(law, *, rng, windows=None, **solver_options) -> WindowComparison:
    """Every window (default 1..n+1 tokens) of a token ``law`` against the least cache at its
    distortion (one :func:`cache_rate_distortion` call over all of them; ``solver_options`` are
    passed on). ``rng`` drives the solver's restarts."""
    first = 1 if law.query == "last_token" else 0
    windows = np.arange(first, law.n_past + first + 1) if windows is None else np.asarray(windows, dtype=np.int64)
    cached = np.array([_cached_tokens(law, int(w)) for w in windows])
    evaluated = [evaluate_cache(law.p_sqx, window_cache(law, int(w))) for w in windows]
    distortion = np.array([e.distortion_bits for e in evaluated])
    cache = cache_rate_distortion(law.p_sqx, distortion, rng=rng, **solver_options)
    return WindowComparison(
        window_tokens=windows,
        cached_tokens=cached,
        distortion_bits=distortion,
        total_distortion_bits=distortion + law.floor_bits,
        window_entropy_bits=np.array([e.entropy_bits for e in evaluated]),
        window_raw_bits=cached * math.log2(law.alphabet_size),
        window_rate_bits=np.array([e.rate_bits for e in evaluated]),
        floor_bits=law.floor_bits,
        cache=cache,
    )
