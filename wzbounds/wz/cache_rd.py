"""The cache rate–distortion function: the least cache, in bits, for a target distortion
(``proofs/cache_rate_distortion.md``).

Setup. A finite joint law p(s, q, x) of the past S (or a statistic of it), the query Q the
decoder receives together with the cache, and the next token X. A **cache** is a channel
p(u | s), written before the query arrives, so U − S − (Q, X). The best decoder given (U, Q)
outputs p(x | u, q); its **distortion** is its expected excess log-loss over the predictor
p(x | s, q) that sees the whole past, in bits:

    E KL(p(·|S,Q) ‖ p(·|U,Q)) = H(X | U, Q) − H(X | S, Q) = I(X; S | U, Q).

    R_cache(D) = min_{p(u|s)} I(S; U | Q)  s.t.  I(X; S | U, Q) ≤ D    (Wyner–Ziv, query at the decoder)
    R_nobin(D) = min_{p(u|s)} I(S; U)      s.t.  I(X; S | U, Q) ≤ D    (no binning)

R_cache is the rate per instance when many independent instances are cached jointly (binning
exploits the query); R_nobin is, up to log2(R + 1) + 5 bits, the least expected length of a
one-shot cache (with a seed shared by encoder and decoder), and every one-shot cache C with
H(C) ≤ M bits and distortion ≤ D has M ≥ R_nobin(D) ≥ R_cache(D). Both are convex and
non-increasing, 0 for D ≥ I(X; S | Q), and R_cache(0) ≤ H(S | Q), R_nobin(0) ≤ H(S).

Cardinality. U takes |T| values, T the minimal sufficient statistic of S for (Q, X) (pasts with
equal p(q, x | s) merged, exactly): a cache may depend on S through T alone at no cost, and by
the support lemma every minimiser of the Lagrangian I + β·distortion needs at most |T| letters,
so |U| = |T| is no restriction for the points the solver computes; a point between two of them
is their time sharing (at most 2|T| letters; |T| + 1 suffice).

Method. For a slope β (bits of rate per bit of distortion) the alternating minimisation of the
Lagrangian, in the information-bottleneck form with the query as decoder side information,

    decoder  p(x | u, q) = Σ_s p(s, q, x) p(u|s) / Σ_s p(s, q) p(u|s)
    marginal r(u | q) = p(u | q)          (r(u) = p(u) without binning)
    cache    p(u | s) ∝ exp( Σ_q p(q|s) log r(u|q) − β Σ_q p(q|s) KL(p(·|s,q) ‖ p(·|u,q)) ),

minimises it over one block at a time (so it never increases; SQUAREM extrapolation is kept only
when it does not increase it either); the cache update averages over the query, because p(u|s)
cannot depend on q. The problem is **not convex** in p(u|s). Slopes from 10^4 down to 1 are
swept, each warm-started from the previous slope's cache (the first from U = T) and from
``n_restarts`` random starts drawn with ``rng``; every channel run is evaluated exactly (an
**achievable** point) and the value at D is the lower convex envelope of all points (time
sharing), refined at the slope of the envelope segment holding D, warm from its vertices.
``rate_bits`` is therefore an **upper bound** on R_cache(D) (and ``rate_without_side_info_bits``
on R_nobin(D)). ``lower_bound_bits`` is a certified lower bound (strong data processing with the
Dobrushin coefficient η_q of s → x under each query: D ≥ I(X;S|Q) − Σ_q p(q) min(η_q r_q,
I(X;S|Q=q)) with Σ_q p(q) r_q = R), so each answer is a band. ``gap_bits`` is the duality gap of
the envelope against the lines G(β) − βD of the slopes run: it bounds the error **only if** each
descent reached its slope's global minimum (not proved); refinement stops when it is below
``tol_bits``, after re-running each target's slope from fresh starts.

BLAS threads: the descent is many small matrix products; on a machine whose cores are busy,
multi-threaded OpenBLAS slows it down by an order of magnitude (set OPENBLAS_NUM_THREADS=1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import xlogy

from .._validation import positive_int, real_array, real_scalar
from ..sources.base import generator_iv
from ..units import NATS_PER_BIT
from .rate_distortion import _law_iv, _lower_envelope

THEOREM_ID = "cache_rate_distortion"
#: Relative decrease of the Lagrangian (nats) below which a descent stops.
LAGRANGIAN_TOLERANCE = 1e-13
#: Largest number of sufficient pasts (|T|) the solver accepts (channels are |T| x |U| per run).
MAX_PASTS = 2048
#: Rounds that re-run every target's segment slope from fresh starts once the gaps are small.
VERIFICATION_ROUNDS = 1
#: Extra random starts (and twice the spare letters) in a verification round.
VERIFY_RESTARTS = 3
#: Cycles over which the geometric rate of an unfinished descent is measured.
RATE_WINDOW = 5
#: Cycle cap of a random start (warm starts get max_iter).
RANDOM_CYCLES = 100
#: Relative distance from a too-slow slope at which refinement tries slopes instead.
SLOW_OFFSET = 0.01
#: Refinement gives up on a target after this many slopes that did not converge within max_iter.
MAX_FAILURES = 3
#: Points higher than this (nats) above both envelopes drop their channels (they cannot return).
KEEP_HEIGHT = 1e-9
#: Points with a rate below this (nats) are the zero-rate anchor up to round-off.
TRIVIAL_RATE = 1e-12
#: Warm starts: posteriors p(t|u) closer than this (max abs) count as one letter ...
MERGE_TOLERANCE = 1e-9
#: ... letters of smaller mass are dropped, and this many spare letters are added.
MASS_FLOOR = 1e-12
SPARE_LETTERS = 2
#: Weights of the previous solution in the warm starts (the rest is a random channel); weight 1
#: continues an unconverged descent where it stopped.
WARM_WEIGHTS = (1.0, 0.9)
#: Floor for probabilities inside logarithms of the updates (exp(-700) > 0 in float64); the
#: reported points are evaluated without it.
_TINY = float(np.exp(-700.0))
KINDS = ("binned", "nobin")
#: A solver request: (kind, slope, the warm-start vertices, the targets it serves).
_Request = tuple[str, float, tuple[int, ...], list[int]]


@dataclass(frozen=True)
class CachePoint:
    """One cache p(u|s) evaluated exactly: rates, distortion and entropy of U, in bits."""

    rate_bits: float  # I(S; U | Q)
    rate_without_side_info_bits: float  # I(S; U)
    distortion_bits: float  # I(X; S | U, Q)
    entropy_bits: float  # H(U)
    theorem_id: str = THEOREM_ID


@dataclass(frozen=True)
class CacheRateDistortionResult:
    """R_cache and R_nobin in bits at the targets ``D_bits`` (scalar or 1-D, echoed).

    ``rate_bits`` ≥ R_cache(D) and ``rate_without_side_info_bits`` ≥ R_nobin(D) are upper bounds
    (achieved by explicit caches, in general two different ones: the time sharing of the two
    envelope vertices around D, whose channels are in ``points_channels`` and
    ``nobin_points_channels``); ``lower_bound_bits`` ≤ R_cache(D) ≤ R_nobin(D) is
    certified. ``distortion_bits`` = min(D, I(X;S|Q)) is what the reported cache achieves.
    ``gap_bits`` (``nobin_gap_bits``): duality gap of ``rate_bits``
    (``rate_without_side_info_bits``) assuming every descent reached the global minimum of its
    Lagrangian (not proved). ``max_rate_bits`` = H(T|Q) ≥ R_cache(0) and
    ``max_rate_without_side_info_bits`` = H(T) ≥ R_nobin(0), T the sufficient statistic.
    Envelope vertices: ``points_*`` (binned rate) and ``nobin_points_*``; ``points_channels[k]``
    is p(u|s) over the original pasts (rows of pasts with p(s) = 0 are uniform; |T| letters,
    unused ones with zero mass).
    ``descents_converged``: every descent met LAGRANGIAN_TOLERANCE within its cycle cap (an
    unconverged descent still gives an achievable point, and supports a line only at the limit
    its geometric decrease extrapolates to); ``converged``: every gap ≤ ``tol_bits``.
    """

    D_bits: float | np.ndarray
    rate_bits: float | np.ndarray
    rate_without_side_info_bits: float | np.ndarray
    lower_bound_bits: float | np.ndarray
    distortion_bits: float | np.ndarray
    gap_bits: float | np.ndarray
    nobin_gap_bits: float | np.ndarray
    zero_rate_distortion_bits: float
    max_rate_bits: float
    max_rate_without_side_info_bits: float
    points_distortion_bits: np.ndarray
    points_rate_bits: np.ndarray
    points_channels: np.ndarray
    nobin_points_distortion_bits: np.ndarray
    nobin_points_rate_bits: np.ndarray
    nobin_points_channels: np.ndarray
    shape: tuple[int, int, int]
    n_sufficient_pasts: int
    n_restarts: int
    n_betas: int
    tol_bits: float
    n_descents: int
    max_iterations_used: int
    descents_converged: bool
    converged: bool
    theorem_id: str = THEOREM_ID


# --------------------------------------------------------------------------- the law
@dataclass(frozen=True)
class _Law:
    """p(t, q, x) on the minimal sufficient statistic T of S (zero-mass q, x dropped)."""

    joint: np.ndarray  # (T, Q, X)
    cond: np.ndarray  # (T, Q*X): p(q, x | t)
    q_given_t: np.ndarray  # (T, Q)
    p_t: np.ndarray  # (T,)
    p_q: np.ndarray  # (Q,)
    classes: np.ndarray  # (S,): class of each original past, -1 where p(s) = 0


def _sufficient(p_sqx) -> _Law:
    """Merge pasts with bitwise-equal p(q, x | s): exact, and no loss (proofs, part 3)."""
    p_sqx = p_sqx[:, p_sqx.sum(axis=(0, 2)) > 0][:, :, p_sqx.sum(axis=(0, 1)) > 0]
    p_s = p_sqx.sum(axis=(1, 2))
    live = np.flatnonzero(p_s > 0)
    rows = (p_sqx[live] / p_s[live, None, None]).reshape(live.size, -1)
    # np.unique sorts the rows: the merged order does not depend on how S is labelled.
    uniq, inverse = np.unique(rows, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    classes = np.full(p_s.size, -1)
    classes[live] = inverse
    p_t = np.bincount(inverse, weights=p_s[live], minlength=uniq.shape[0])
    joint = (p_t[:, None] * uniq).reshape((uniq.shape[0], *p_sqx.shape[1:]))
    p_tq = joint.sum(axis=2)
    return _Law(joint=joint, cond=uniq, q_given_t=p_tq / p_t[:, None], p_t=p_t, p_q=p_tq.sum(axis=0), classes=classes)


def _entropy(p, axis=None):
    """Shannon entropy in nats of the (unnormalised-sum) array ``p`` summed over ``axis``."""
    return -np.sum(xlogy(p, p), axis=axis)


def _law_information(law: _Law):
    """(I(X;T|Q), H(T|Q), H(T), H(X|T,Q)) in nats."""
    h_q, h_tq = _entropy(law.p_q), _entropy(law.joint.sum(axis=2))
    h_qx, h_tqx = _entropy(law.joint.sum(axis=0)), _entropy(law.joint)
    h_x_given_tq = h_tqx - h_tq
    return max(h_qx - h_q - h_x_given_tq, 0.0), max(h_tq - h_q, 0.0), _entropy(law.p_t), h_x_given_tq


def _evaluate(law: _Law, channels, h_x_given_tq):
    """Exact (distortion, binned rate, rate without binning, H(U)) in nats of channels (N, T, U).

    Rates and distortion are mutual informations; round-off below zero is clipped to 0."""
    p_tu = law.p_t[None, :, None] * channels
    h_u_given_t = -np.sum(xlogy(p_tu, channels), axis=(1, 2))
    p_u = p_tu.sum(axis=1)
    p_qu = np.einsum("tq,ntu->nqu", law.joint.sum(axis=2), channels)
    p_kqu = np.einsum("tk,ntu->nku", law.cond * law.p_t[:, None], channels)  # k = (q, x)
    h_u, h_qu = _entropy(p_u, axis=1), _entropy(p_qu, axis=(1, 2))
    h_q = _entropy(law.p_q)
    distortion = _entropy(p_kqu, axis=(1, 2)) - h_qu - h_x_given_tq
    binned = h_qu - h_q - h_u_given_t  # I(S;U|Q) = H(U|Q) − H(U|S), as H(U|S,Q) = H(U|S)
    nobin = h_u - h_u_given_t
    return np.maximum(distortion, 0.0), np.maximum(binned, 0.0), np.maximum(nobin, 0.0), h_u


# --------------------------------------------------------------------------- alternating minimisation
def _update(law: _Law, channels, betas, binned, h_x_given_tq):
    """One block-coordinate cycle (decoder, marginal, cache) for channels (m, T, U) at slopes
    ``betas`` (m,), ``binned`` (m,) selecting log r(u|q) or log r(u). Returns the new channels
    and the value of J after the cache step, −Σ_t p(t) log Σ_u exp score(t, u) − β H(X|T,Q):
    the Gibbs minimum, an upper bound on the Lagrangian at the new channels and at most the
    Lagrangian at the old ones."""
    m, T, U = channels.shape
    n_q, n_x = law.joint.shape[1:]
    stacked = channels.transpose(1, 0, 2).reshape(T, m * U)
    joint = (law.cond * law.p_t[:, None]).T @ stacked  # p(q, x, u), (Q*X, m*U)
    p_qu = joint.reshape(n_q, n_x, m * U).sum(axis=1)  # p(q, u)
    log_p_qu = np.log(np.maximum(p_qu, _TINY))
    log_decoder = np.log(np.maximum(joint, _TINY)).reshape(n_q, n_x, -1) - log_p_qu[:, None, :]
    fit = law.cond @ log_decoder.reshape(n_q * n_x, -1)  # Σ_{q,x} p(q,x|t) log p(x|u,q)
    # log r(u|q) averaged over p(q|t) (binned) or log r(u) (no binning): the cache sees no q.
    if binned.any():
        prior = law.q_given_t @ (log_p_qu - np.log(law.p_q)[:, None])
    if not binned.all():
        nobin = np.log(np.maximum(p_qu.sum(axis=0), _TINY))[None, :]
        prior = np.where(np.repeat(binned, U)[None, :], prior, nobin) if binned.any() else nobin
    score = (prior + np.repeat(betas, U)[None, :] * fit).reshape(T, m, U)
    top = score.max(axis=2, keepdims=True)
    new = np.exp(score - top)
    total = new.sum(axis=2, keepdims=True)
    value = -law.p_t @ (top + np.log(total))[:, :, 0] - betas * h_x_given_tq
    return (new / total).transpose(1, 0, 2), value


def _descend(law: _Law, betas, binned, starts, max_iter, h_x_given_tq):
    """Monotone descent of the Lagrangian J = rate + β·distortion (nats) from ``starts``
    (N, T, U), batched: the block-coordinate cycle of :func:`_update`, accelerated by SQUAREM
    (Varadhan & Roland 2008): from c0 take c1 = F(c0), c2 = F(c1), extrapolate
    c' = c0 − 2a r + a² v (r = c1 − c0, v = c2 − 2c1 + c0, a = −‖r‖/‖v‖ ≤ −1, kept positive),
    and keep F(c') only if its value is at most that of c2 — so J never increases. A run leaves
    the batch once J falls by less than LAGRANGIAN_TOLERANCE·max(1, J) in a cycle (converged) or
    after ``max_iter`` cycles (an int, or one cap per run). Returns (channels, cycles (N,),
    remaining (N,)): 0 for a converged run, else the decrease still to come if J keeps falling
    geometrically at the rate of its last RATE_WINDOW cycles (inf when that rate is not below 1)."""
    channels = starts.copy()
    n = channels.shape[0]
    caps = np.broadcast_to(np.asarray(max_iter, dtype=np.int64), (n,))
    active = np.arange(n)
    cycles = np.zeros(n, dtype=np.int64)
    previous = np.full(n, np.inf)
    decreases = np.full((n, RATE_WINDOW + 1), np.inf)  # the last decreases of J, newest last
    converged = np.zeros(n, dtype=bool)
    for _ in range(int(caps.max(initial=0))):
        c0, b, kind = channels[active], betas[active], binned[active]
        c1, _ = _update(law, c0, b, kind, h_x_given_tq)
        c2, j2 = _update(law, c1, b, kind, h_x_given_tq)
        r, v = c1 - c0, c2 - 2 * c1 + c0
        norm_r, norm_v = np.sqrt((r**2).sum(axis=(1, 2))), np.sqrt((v**2).sum(axis=(1, 2)))
        a = np.minimum(-np.divide(norm_r, norm_v, out=np.ones_like(norm_r), where=norm_v > 0), -1.0)[:, None, None]
        jump = np.maximum(c0 - 2 * a * r + a**2 * v, 1e-3 * c2)  # never below a thousandth of c2
        c3, j3 = _update(law, jump / jump.sum(axis=2, keepdims=True), b, kind, h_x_given_tq)
        better = j3 <= j2
        channels[active] = np.where(better[:, None, None], c3, c2)
        value = np.where(better, j3, j2)
        cycles[active] += 1
        drop = previous[active] - value
        still = drop > LAGRANGIAN_TOLERANCE * np.maximum(1.0, np.abs(value))
        previous[active] = value
        decreases[active] = np.concatenate([decreases[active, 1:], drop[:, None]], axis=1)
        converged[active[~still]] = True
        active = active[still & (cycles[active] < caps[active])]
        if active.size == 0:
            break
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = (decreases[:, -1] / decreases[:, 0]) ** (1.0 / RATE_WINDOW)
        remaining = np.where((rate >= 0) & (rate < 1), decreases[:, -1] * rate / (1 - rate), np.inf)
    return channels, cycles, np.where(converged, 0.0, remaining)


# --------------------------------------------------------------------------- certified lower bound
def _sdpi_lower_bound(law: _Law, D_nats, zero_rate_nats):
    """Certified R_cache(D) lower bound in nats (proofs, part 4): per query q, I(X;U|Q=q) ≤
    min(η_q I(S;U|Q=q), I(X;S|Q=q)) with η_q the Dobrushin coefficient of s → x on the support
    of p(s|q); the least rate buying the reduction I(X;S|Q) − D is a fractional knapsack
    (queries by decreasing η_q)."""
    n_q, n_x = law.joint.shape[1:]
    cond = law.cond.reshape(-1, n_q, n_x)  # p(q, x | t)
    p_tq = law.joint.sum(axis=2)
    eta = np.zeros(n_q)
    info = np.zeros(n_q)
    for q in range(n_q):
        support = p_tq[:, q] > 0
        rows = cond[support, q, :] / law.q_given_t[support, q][:, None]  # p(x | t, q)
        eta[q] = 0.5 * np.abs(rows[:, None, :] - rows[None, :, :]).sum(axis=2).max()
        weights = p_tq[support, q] / law.p_q[q]
        mix = weights @ rows
        info[q] = max(float(np.sum(weights[:, None] * (xlogy(rows, rows) - xlogy(rows, mix[None, :])))), 0.0)
    useful = (eta > 0) & (info > 0)
    order = np.argsort(-eta[useful], kind="stable")
    capacity = (law.p_q * info)[useful][order]  # distortion each q can remove
    cost = capacity / eta[useful][order]  # rate it costs
    removed = np.concatenate([[0.0], np.cumsum(capacity)])
    spent = np.concatenate([[0.0], np.cumsum(cost)])
    need = np.clip(zero_rate_nats - D_nats, 0.0, removed[-1])
    return np.interp(need, removed, spent) if capacity.size else np.zeros_like(need)


# --------------------------------------------------------------------------- validation
def _options_iv(n_restarts, n_betas, max_iter, tol_bits, refine_steps):
    return (
        positive_int("n_restarts", n_restarts, minimum=0),
        positive_int("n_betas", n_betas, minimum=2),
        positive_int("max_iter", max_iter),
        real_scalar("tol_bits", tol_bits, low=0.0),
        positive_int("refine_steps", refine_steps, minimum=0),
    )


def _targets_iv(D):
    arr = real_array("D", D, low=0.0, low_open=False)
    if arr.ndim > 1 or arr.size == 0:
        raise ValueError(f"`D` must be a non-negative number or a non-empty 1-D array, got shape {arr.shape}")
    return arr


def _cache_law_iv(p_sqx):
    return _law_iv("p_sqx", p_sqx, 3)


# --------------------------------------------------------------------------- the solver
class _PointSet:
    """Every evaluated cache: distortion and both rates (nats), the slope it was descended at
    (NaN for the anchors) and, while it lies on an envelope, its channel."""

    def __init__(self, law, zero_rate, tol_nats):
        self.law, self.zero_rate, self.tol_nats = law, zero_rate, tol_nats
        self.dist: list[float] = []
        self.rates: dict[str, list[float]] = {k: [] for k in KINDS}
        self.found_at: list[float] = []
        self.channels: list[np.ndarray | None] = []
        # per kind: (slope, least limit of its descents); the slopes run; those whose best descent hit max_iter
        self.lines: dict[str, list[tuple[float, float]]] = {k: [] for k in KINDS}
        self.tried: dict[str, set[float]] = {k: set() for k in KINDS}
        self.slow: dict[str, list[float]] = {k: [] for k in KINDS}

    def add(self, dist, binned, nobin, channels, found_at):
        self.dist.extend(dist)
        self.rates["binned"].extend(binned)
        self.rates["nobin"].extend(nobin)
        self.found_at.extend(found_at)
        self.channels.extend(channels)
        # a point clearly above both lower envelopes never returns to them (points are only
        # added); one within round-off of an envelope may become a vertex, so it keeps its channel
        dist = np.array(self.dist)
        near = np.zeros(dist.size, dtype=bool)
        for kind in KINDS:
            vertices = self.envelope(kind)
            height = np.array(self.rates[kind]) - np.interp(dist, dist[vertices], np.array(self.rates[kind])[vertices])
            near |= (height <= KEEP_HEIGHT) & (dist <= self.zero_rate)
        self.channels = [c if keep else None for c, keep in zip(self.channels, near, strict=True)]

    def envelope(self, kind):
        """Vertex indices of the lower convex envelope of (distortion, rate of ``kind``)."""
        dist, rate = np.array(self.dist), np.array(self.rates[kind])
        hull = _lower_envelope(dist, rate, self.zero_rate)
        index = {(d, r): i for i, (d, r) in enumerate(zip(dist, rate, strict=True))}
        return np.array([index[(d, r)] for d, r in hull])

    def value(self, kind, D):
        """Envelope at D (nats), and for each D the vertices (left, right) of the segment holding
        it and the vertex before ``left`` (a cache with more letters, found at a larger slope)."""
        vertices = self.envelope(kind)
        d, r = np.array(self.dist)[vertices], np.array(self.rates[kind])[vertices]
        i = np.clip(np.searchsorted(d, D, side="right") - 1, 0, max(d.size - 2, 0))
        segment = np.stack(
            [vertices[i], vertices[np.minimum(i + 1, d.size - 1)], vertices[np.maximum(i - 1, 0)]], axis=1
        )
        return np.where(D < self.zero_rate, np.interp(D, d, r), 0.0), segment

    def gap(self, kind, D, value):
        """Envelope value minus the best supporting line among the slopes run (nats, ≥ 0)."""
        if not self.lines[kind]:
            return np.where(D < self.zero_rate, value, 0.0)
        slopes, floors = np.array(self.lines[kind]).T
        dist, rate = np.array(self.dist), np.array(self.rates[kind])
        # G(β) if global: the least value found, or less if a descent was still falling
        lagrangian = np.minimum((rate[:, None] + slopes[None, :] * dist[:, None]).min(axis=0), floors)
        lines = lagrangian[None, :] - slopes[None, :] * D[:, None]
        return np.maximum(value - np.maximum(lines.max(axis=1), 0.0), 0.0)

    def run(self, slopes, kinds, batch, h_x_given_tq):
        """Descend from ``batch`` = (starts (B, k, T, U), cycle caps (B, k)) at ``slopes`` (B,) of
        ``kinds`` (B,) and record every point. Returns (best channel per slope, whether that best
        descent converged (B,), (largest cycle count, every descent converged, descents))."""
        starts, caps = batch
        B, k = starts.shape[:2]
        channels, cycles, remaining = _descend(
            self.law,
            np.repeat(slopes, k),
            np.repeat(kinds == "binned", k),
            starts.reshape((B * k, *starts.shape[2:])),
            caps.ravel(),
            h_x_given_tq,
        )
        dist, binned, nobin, _ = _evaluate(self.law, channels, h_x_given_tq)
        # I(S;U|Q) ≥ I(X;U|Q) = I(X;S|Q) − distortion; a point closer to the zero-rate anchor
        # than round-off is that anchor (its slope to it would be noise), and is not added.
        binned = np.maximum(binned, self.zero_rate - dist)
        nobin = np.maximum(nobin, binned)
        real = binned > TRIVIAL_RATE
        self.add(dist[real], binned[real], nobin[real], list(channels[real]), np.repeat(slopes, k)[real])
        rate = np.where(np.repeat(kinds == "binned", k), binned, nobin)
        lagrangian = (rate + np.repeat(slopes, k) * dist).reshape(B, k)
        best = np.argmin(lagrangian, axis=1)
        # the limit each descent is heading to (its value minus the decrease still expected); a
        # slope supports the line G(β) − βD at the least such limit, if finite (and if global)
        limit = (lagrangian - remaining.reshape(B, k)).min(axis=1)
        settled = remaining.reshape(B, k)[np.arange(B), best] <= self.tol_nats
        for kind, slope, floor, ok in zip(kinds, slopes, limit, settled, strict=True):
            self.tried[kind].add(round(float(slope), 12))
            if np.isfinite(floor):
                self.lines[kind].append((float(slope), float(floor)))
            if not ok:
                self.slow[kind].append(float(slope))
        return (
            channels.reshape((B, k, *channels.shape[1:]))[np.arange(B), best],
            settled,
            (int(cycles.max(initial=0)), bool(np.all(remaining == 0)), B * k),
        )


def _compress(channel, p_t):
    """Warm-start form of a solution: letters of equal posterior p(t|u) (to MERGE_TOLERANCE)
    merged, letters of mass < MASS_FLOOR dropped, rows renormalised."""
    p_u = p_t @ channel
    used = p_u > MASS_FLOOR
    kept = channel[:, used]
    posterior = p_t[:, None] * kept / p_u[used]
    distance = np.abs(posterior[:, :, None] - posterior[:, None, :]).max(axis=0)
    label = np.full(kept.shape[1], -1)
    for j in range(kept.shape[1]):
        if label[j] < 0:
            label[(label < 0) & (distance[j] <= MERGE_TOLERANCE)] = label.max() + 1
    merged = np.zeros((kept.shape[0], label.max() + 1))
    np.add.at(merged.T, label, kept.T)
    mass = merged.sum(axis=1, keepdims=True)
    return np.divide(merged, mass, out=np.full_like(merged, 1.0 / merged.shape[1]), where=mass > 0)


def _warm(channel, U, weight, rng):
    """``channel`` padded to U letters, mixed with a random channel at weight 1 − ``weight``
    (breaks the symmetry of the spare letters, so that a letter can split, and moves the start
    off the previous fixed point)."""
    padded = np.zeros((channel.shape[0], U))
    padded[:, : channel.shape[1]] = channel
    return weight * padded + (1 - weight) * rng.dirichlet(np.ones(U), size=channel.shape[0])


def _batch(warm_channels, n_restarts, T, max_iter, rng, spare=SPARE_LETTERS):
    """Starts (B, k, T, U) and cycle caps (B, k): each row's warm channels at every weight of
    WARM_WEIGHTS (cap ``max_iter``), then random channels up to k = WARM_WEIGHTS × (most warm
    channels in a row) + ``n_restarts`` (cap min(max_iter, RANDOM_CYCLES): a random start that
    has not settled by then is crawling on a plateau), all with U = min(T, largest warm size +
    ``spare``) letters."""
    U = min(T, max(c.shape[1] for row in warm_channels for c in row) + spare)
    k = len(WARM_WEIGHTS) * max(len(row) for row in warm_channels) + n_restarts
    rows, caps = [], []
    for row in warm_channels:
        warm = [_warm(c, U, weight, rng) for c in row for weight in WARM_WEIGHTS]
        rows.append(np.concatenate([np.stack(warm), rng.dirichlet(np.ones(U), size=(k - len(warm), T))]))
        caps.append([max_iter] * len(warm) + [min(max_iter, RANDOM_CYCLES)] * (k - len(warm)))
    return np.stack(rows), np.array(caps)


def cache_rate_distortion(
    p_sqx, D, *, rng, n_restarts=1, n_betas=24, max_iter=2000, tol_bits=1e-6, refine_steps=40
) -> CacheRateDistortionResult:
    """Band [``lower_bound_bits``, ``rate_bits``] on R_cache(D) (bits), and an upper bound on the
    rate without binning, for the law ``p_sqx`` (shape (S, Q, X), entry [s, q, x] = p(s, q, x))
    at ``D`` bits (≥ 0; scalar or 1-D array, all solved together).

    Sweep: ``n_betas`` slopes from 10^4 down to 1 (every slope of the curve is ≥ 1, as
    R_cache(D) ≥ I(X;S|Q) − D), each warm-started from the previous slope's best cache (starting
    with U = T) plus ``n_restarts`` random starts drawn with ``rng`` (a ``numpy.random.Generator``).
    Then up to ``refine_steps`` rounds: every target whose ``gap_bits`` exceeds ``tol_bits`` asks
    for the slope between its segment's vertices, run warm from both (and from the vertex before
    them) and from ``n_restarts`` random starts. ``max_iter`` caps every descent. U never exceeds
    ``|T|`` letters (sufficient)."""
    p_sqx = _cache_law_iv(p_sqx)
    targets = _targets_iv(D)
    rng = generator_iv(rng)
    n_restarts, n_betas, max_iter, tol_bits, refine_steps = _options_iv(
        n_restarts, n_betas, max_iter, tol_bits, refine_steps
    )
    law = _sufficient(p_sqx)
    T = law.p_t.size
    if T > MAX_PASTS:
        raise ValueError(f"`p_sqx` must have at most {MAX_PASTS} pasts with distinct p(q, x | s), got {T}")
    zero_rate, h_t_given_q, h_t, h_x_given_tq = _law_information(law)
    D_nats = targets.ravel() * NATS_PER_BIT
    points = _PointSet(law, zero_rate, tol_bits * NATS_PER_BIT)
    # Exact anchors: U = T (distortion exactly 0) and U constant (rate 0, distortion I(X;T|Q)).
    identity = np.eye(T)
    _, b_id, n_id, _ = _evaluate(law, identity[None], h_x_given_tq)
    points.add([0.0, zero_rate], [b_id[0], 0.0], [n_id[0], 0.0], [identity, np.ones((T, 1))], [np.nan, np.nan])
    stats = [(0, True, 0)]
    if zero_rate > 0:
        kinds = np.array(KINDS)
        chain = [identity, identity]
        for slope in np.geomspace(1e4, 1.0, n_betas):
            batch = _batch([[_compress(c, law.p_t)] for c in chain], n_restarts, T, max_iter, rng)
            best, _, stat = points.run(np.array([slope, slope]), kinds, batch, h_x_given_tq)
            chain = list(best)
            stats.append(stat)
        failures: dict[tuple[str, int], int] = {}  # (kind, target) -> slopes not solved
        checks = 0
        for _ in range(refine_steps):
            stalled = {key for key, count in failures.items() if count >= MAX_FAILURES}
            requests = _refinement_requests(points, D_nats, tol_bits * NATS_PER_BIT, stalled)
            restarts, spare = n_restarts, SPARE_LETTERS
            if not requests and checks < VERIFICATION_ROUNDS:
                # the gap is small only if the slopes run were solved globally: run each
                # target's segment slope once more from fresh starts before believing it
                checks += 1
                requests = _verification_requests(points, D_nats, stalled)
                restarts, spare = n_restarts + VERIFY_RESTARTS, 2 * SPARE_LETTERS
            if not requests:
                break
            # the constant anchor is a fixed point of every update: it cannot seed anything
            warm = [
                [_compress(points.channels[i], law.p_t) for i in r[2] if points.channels[i].shape[1] > 1]
                or [np.full((T, 1), 1.0)]
                for r in requests
            ]
            # requests of similar size share a batch (a batch is padded to its largest U)
            size = np.array([max(c.shape[1] for c in row) for row in warm])
            ok = np.zeros(len(requests), dtype=bool)
            for bucket in np.unique(np.ceil(np.log2(size))):
                group = np.flatnonzero(np.ceil(np.log2(size)) == bucket)
                _, ok[group], stat = points.run(
                    np.array([requests[g][1] for g in group]),
                    np.array([requests[g][0] for g in group]),
                    _batch([warm[g] for g in group], restarts, T, max_iter, rng, spare),
                    h_x_given_tq,
                )
                stats.append(stat)
            # a target whose slopes could not be solved within max_iter MAX_FAILURES times is
            # given up (each retry continues from the best channel found, which is recorded)
            for r, good in zip(requests, ok, strict=True):
                for j in r[3] if not good else ():
                    failures[(r[0], j)] = failures.get((r[0], j), 0) + 1
    return _result(p_sqx, targets, law, points, h_t_given_q, h_t, D_nats, stats, n_restarts, n_betas, tol_bits)


def _refinement_requests(points, D_nats, tol_nats, stalled):
    """(kind, slope, (vertex, vertex), targets) for the targets (not ``stalled``) whose envelope
    segment still has a gap above ``tol_nats``; targets sharing a slope share the request."""
    requests: dict[tuple[str, float], _Request] = {}
    for kind in KINDS:
        value, segment = points.value(kind, D_nats)
        gap = points.gap(kind, D_nats, value)
        for j, (D, g, (left, right, before)) in enumerate(zip(D_nats, gap, segment, strict=True)):
            if (
                g <= tol_nats
                or (kind, j) in stalled
                or D >= points.zero_rate
                or left == right
                or points.dist[left] == D
            ):
                continue
            chord = (points.rates[kind][left] - points.rates[kind][right]) / (points.dist[right] - points.dist[left])
            for slope in _candidate_slopes(points, kind, left, right, D, float(chord)):
                # a slope already run gave no split there: the curve is linear (or the descent
                # is stuck); running it again would repeat the same work.
                if round(slope, 12) not in points.tried[kind]:
                    key = (kind, round(slope, 12))
                    requests.setdefault(key, (kind, slope, _seeds(left, right, before), []))[3].append(j)
                    break
    return list(requests.values())


def _candidate_slopes(points, kind, left, right, D, chord):
    """Slopes to try for a target, best first: the secant guess, then the chord. Near a slope
    whose descent was too slow (typically where the minimiser changes structure and the curve is
    nearly linear) the slopes SLOW_OFFSET above and below it are tried instead: their descents
    converge and their lines nearly support the curve there."""
    out = []
    for slope in (_secant_slope(points, left, right, D), chord):
        if slope is None:
            continue
        slow = [b for b in points.slow[kind] if abs(slope / b - 1) < SLOW_OFFSET]
        out.extend([slow[0] * (1 - SLOW_OFFSET), slow[0] * (1 + SLOW_OFFSET)] if slow else [slope])
    return out


def _verification_requests(points, D_nats, stalled):
    """One request per target (not ``stalled``) below the zero-rate distortion: the slope of the
    envelope segment holding it, warm from its vertices (fresh random starts do the checking)."""
    requests: dict[tuple[str, float], _Request] = {}
    for kind in KINDS:
        _, segment = points.value(kind, D_nats)
        for j, (D, (left, right, before)) in enumerate(zip(D_nats, segment, strict=True)):
            if (kind, j) in stalled or D >= points.zero_rate or left == right:
                continue
            chord = (points.rates[kind][left] - points.rates[kind][right]) / (points.dist[right] - points.dist[left])
            requests.setdefault((kind, round(float(chord), 12)), (kind, float(chord), _seeds(left, right, before), []))[
                3
            ].append(j)
    return list(requests.values())


def _seeds(left, right, before):
    """Warm starts of a request: the segment's vertices and, when distinct, the vertex before it
    (more letters: a descent that merged two letters too early cannot split them back)."""
    return (left, right) if before == left else (left, right, before)


def _secant_slope(points, left, right, D):
    """Slope whose Lagrangian minimiser should land near D: log-linear interpolation between the
    slopes at which the two vertices were found (None for an anchor). The minimiser's distortion
    is non-increasing in the slope, so the guess lies between the vertices'."""
    b_left, b_right = points.found_at[left], points.found_at[right]
    if not (np.isfinite(b_left) and np.isfinite(b_right)) or b_left <= b_right:
        return None
    d_left, d_right = points.dist[left], points.dist[right]
    weight = (D - d_left) / (d_right - d_left)
    return float(np.exp((1 - weight) * np.log(b_left) + weight * np.log(b_right)))


def _result(p_sqx, targets, law, points, h_t_given_q, h_t, D_nats, stats, n_restarts, n_betas, tol_bits):
    values, gaps, vertices = {}, {}, {}
    for kind in KINDS:
        vertices[kind] = points.envelope(kind)
        values[kind] = points.value(kind, D_nats)[0]
        gaps[kind] = points.gap(kind, D_nats, values[kind])
    lower = _sdpi_lower_bound(law, D_nats, points.zero_rate)
    T = law.p_t.size

    def shaped(nats):
        out = nats / NATS_PER_BIT
        return float(out[0]) if targets.ndim == 0 else out

    def expand(indices):
        """Vertex channels on the original pasts, padded to T letters (uniform where p(s) = 0)."""
        full = np.full((len(indices), law.classes.size, T), 1.0 / T)
        live = law.classes >= 0
        for row, i in zip(full, indices, strict=True):
            channel = np.zeros((T, T))
            channel[:, : points.channels[i].shape[1]] = points.channels[i]
            row[live] = channel[law.classes[live]]
        return full

    dist = np.array(points.dist)
    descents_converged = all(s[1] for s in stats)
    tol_nats = tol_bits * NATS_PER_BIT
    return CacheRateDistortionResult(
        D_bits=float(targets) if targets.ndim == 0 else targets.copy(),
        rate_bits=shaped(values["binned"]),
        rate_without_side_info_bits=shaped(values["nobin"]),
        lower_bound_bits=shaped(lower),
        distortion_bits=shaped(np.minimum(D_nats, points.zero_rate)),
        gap_bits=shaped(gaps["binned"]),
        nobin_gap_bits=shaped(gaps["nobin"]),
        zero_rate_distortion_bits=points.zero_rate / NATS_PER_BIT,
        max_rate_bits=h_t_given_q / NATS_PER_BIT,
        max_rate_without_side_info_bits=h_t / NATS_PER_BIT,
        points_distortion_bits=dist[vertices["binned"]] / NATS_PER_BIT,
        points_rate_bits=np.array(points.rates["binned"])[vertices["binned"]] / NATS_PER_BIT,
        points_channels=expand(vertices["binned"]),
        nobin_points_distortion_bits=dist[vertices["nobin"]] / NATS_PER_BIT,
        nobin_points_rate_bits=np.array(points.rates["nobin"])[vertices["nobin"]] / NATS_PER_BIT,
        nobin_points_channels=expand(vertices["nobin"]),
        shape=(int(p_sqx.shape[0]), int(p_sqx.shape[1]), int(p_sqx.shape[2])),
        n_sufficient_pasts=int(T),
        n_restarts=n_restarts,
        n_betas=n_betas,
        tol_bits=tol_bits,
        n_descents=int(sum(s[2] for s in stats)),
        max_iterations_used=max(s[0] for s in stats),
        descents_converged=descents_converged,
        converged=bool(np.all(gaps["binned"] <= tol_nats) and np.all(gaps["nobin"] <= tol_nats)),
    )


def evaluate_cache(p_sqx, channel) -> CachePoint:
    """Exact rates, distortion and H(U) in bits of the cache ``channel`` p(u|s), shape (S, U)
    (rows laws on U), for the law ``p_sqx`` (S, Q, X)."""
    p_sqx = _cache_law_iv(p_sqx)
    channel = real_array("channel", channel, low=0.0, high=1.0, low_open=False)
    if channel.ndim != 2 or channel.shape[0] != p_sqx.shape[0] or channel.shape[1] == 0:
        raise ValueError(f"`channel` must have shape ({p_sqx.shape[0]}, n_cache_values), got {channel.shape}")
    if np.any(np.abs(channel.sum(axis=1) - 1.0) > 1e-9):
        raise ValueError("`channel` rows must sum to 1 (within 1e-9)")
    p_sqx = p_sqx[:, p_sqx.sum(axis=(0, 2)) > 0][:, :, p_sqx.sum(axis=(0, 1)) > 0]
    p_s = p_sqx.sum(axis=(1, 2))
    live = p_s > 0
    # every past its own class: the exact evaluation needs no merging
    rows = (p_sqx[live] / p_s[live, None, None]).reshape(int(live.sum()), -1)
    p_tq = p_sqx[live].sum(axis=2)
    law = _Law(
        joint=p_sqx[live],
        cond=rows,
        q_given_t=p_tq / p_s[live, None],
        p_t=p_s[live],
        p_q=p_tq.sum(axis=0),
        classes=np.arange(live.sum()),
    )
    h_x_given_tq = _law_information(law)[3]
    dist, binned, nobin, h_u = _evaluate(law, channel[live][None], h_x_given_tq)
    return CachePoint(
        rate_bits=float(binned[0]) / NATS_PER_BIT,
        rate_without_side_info_bits=float(nobin[0]) / NATS_PER_BIT,
        distortion_bits=float(dist[0]) / NATS_PER_BIT,
        entropy_bits=float(h_u[0]) / NATS_PER_BIT,
    )


def query_withheld_law(p_sqx):
    """The law with the query withheld from the decoder, and the distortion it costs at once.

    Returns ``(p_s1x, offset_bits)``: p(s, x) as shape (S, 1, X) and I(X; Q | S) bits. A decoder
    without Q has distortion H(X|U) − H(X|S,Q) = I(X;Q|S) + I(X;S|U) against the same
    reference, so R_withheld(D) = R_cache[p_s1x](D − offset) (rate I(S;U), nothing to bin), and
    R_cache(D) ≤ R_nobin(D) ≤ R_withheld(D) (proofs/cache_rate_distortion.md, part 7)."""
    p_sqx = _cache_law_iv(p_sqx)
    h = _entropy
    offset = (h(p_sqx.sum(axis=1)) - h(p_sqx.sum(axis=(1, 2)))) - (h(p_sqx) - h(p_sqx.sum(axis=2)))
    return p_sqx.sum(axis=1, keepdims=True), max(float(offset), 0.0) / NATS_PER_BIT
