"""One-shot rate–distortion functions in bits for finite sources (``proofs/wyner_ziv.md``).

- :func:`rate_distortion`: R_X(D) = min_{p(x̂|x): E d ≤ D} I(X; X̂) (Blahut–Arimoto).
- :func:`conditional_rate_distortion`: R_{X|Y}(D) = min_{p(x̂|x,y): E d ≤ D} I(X; X̂ | Y)
  (side information at both ends; Blahut–Arimoto per y with a common slope).
- :func:`wyner_ziv_rd`: R_WZ(D) = min I(X; U | Y) over p(u|x) with |U| = |X| + 1 (U − X − Y)
  and decoders x̂ = f(u, y) with E d(X, f(U, Y)) ≤ D (side information at the decoder only;
  Wyner & Ziv 1976).
- :func:`dsbs_wyner_ziv_rd`, :func:`dsbs_conditional_rd`: closed forms for the doubly
  symmetric binary source (X ~ Bern(1/2), Y = X ⊕ Bern(p0), Hamming distortion).

Shapes: ``p_x`` (X,), ``p_xy`` (X, Y) with entry [x, y] = P(X = x, Y = y), ``distortion``
(X, X̂) with entry [x, x̂] = d(x, x̂) ≥ 0 in arbitrary distortion units; ``D`` in the same units.

Method. For a slope β ≥ 0 (nats per distortion unit) an alternating minimisation of the
Lagrangian rate + β·distortion returns a test channel; every channel evaluated is an
**achievable** (distortion, rate) pair. A geometric sweep of β, two anchors (the zero-rate
point and the minimal-distortion point) and bisection of β around the requested D give a
point set whose lower convex envelope, evaluated at D, is the reported rate. For R_X and
R_{X|Y} the Lagrangian is convex and the alternating minimisation converges to the curve.
**For R_WZ it is not convex**: the descent can stop in a local minimum, so every slope is
run from ``n_inits`` random test channels drawn with ``rng`` and the envelope keeps the best
achievable pairs (plus the points of the classic solution used with the side information,
which guarantee the computed R_WZ ≤ computed R_X). The reported R_WZ is therefore always an
upper bound on the true R_WZ(D); it is exact only when some start reached the global optimum.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq
from scipy.special import rel_entr, softmax

from .._validation import positive_int, real_array, real_scalar
from ..units import NATS_PER_BIT

THEOREM_ID = "wyner_ziv"
#: |Σ p − 1| accepted for an input law.
SUM_TOLERANCE = 1e-9
#: Largest change of any test-channel entry at which the alternating minimisation stops.
CHANNEL_TOLERANCE = 1e-10
#: Log-probability used for exactly-zero masses, so 0·log 0 terms stay finite.
_LOG_FLOOR = -700.0
_TINY = float(np.exp(_LOG_FLOOR))

KINDS = ("classic", "conditional", "wyner_ziv")


@dataclass(frozen=True)
class RateDistortionResult:
    """Rate in bits at distortion ``D`` for ``kind`` in {"classic", "conditional", "wyner_ziv"}.

    ``rate_bits`` is the lower convex envelope, at D, of the achievable pairs
    (``points_distortion``, ``points_rate_bits``, the envelope's vertices); ``min_distortion``
    and ``zero_rate_distortion`` bound the non-trivial range (rate 0 for D ≥ the latter).
    ``converged`` is False if some descent hit ``max_iter`` (points stay achievable);
    ``n_inits`` > 1 only for the non-convex Wyner–Ziv problem.
    """

    kind: str
    D: float
    rate_bits: float
    min_distortion: float
    zero_rate_distortion: float
    points_distortion: np.ndarray
    points_rate_bits: np.ndarray
    n_inits: int
    converged: bool
    theorem_id: str = THEOREM_ID


# --------------------------------------------------------------------------- validation
def _law_iv(name, value, ndim):
    arr = real_array(name, value, low=0.0, high=1.0, low_open=False)
    if arr.ndim != ndim or 0 in arr.shape:
        raise ValueError(f"`{name}` must be a non-empty {ndim}-D array, got shape {arr.shape}")
    if abs(arr.sum() - 1.0) > SUM_TOLERANCE:
        raise ValueError(f"`{name}` must sum to 1 (within {SUM_TOLERANCE}), got {arr.sum()!r}")
    return arr


def _distortion_iv(distortion, n_source):
    d = real_array("distortion", distortion, low=0.0, low_open=False)
    if d.ndim != 2 or d.shape[0] != n_source or d.shape[1] == 0:
        raise ValueError(f"`distortion` must have shape ({n_source}, n_reconstruction), got {d.shape}")
    return d


def _options_iv(D, n_betas, max_iter, refine_steps):
    return (
        real_scalar("D", D, low=0.0, low_open=False),
        positive_int("n_betas", n_betas, minimum=2),
        positive_int("max_iter", max_iter),
        positive_int("refine_steps", refine_steps, minimum=0),
    )


def _rate_distortion_iv(p_x, distortion, D, n_betas, max_iter, refine_steps):
    p_x = _law_iv("p_x", p_x, 1)
    return (p_x[:, None], _distortion_iv(distortion, p_x.size), *_options_iv(D, n_betas, max_iter, refine_steps))


def _joint_iv(p_xy, distortion, D, n_betas, max_iter, refine_steps):
    p_xy = _law_iv("p_xy", p_xy, 2)
    return (p_xy, _distortion_iv(distortion, p_xy.shape[0]), *_options_iv(D, n_betas, max_iter, refine_steps))


# --------------------------------------------------------------------------- information measures
def _log(p):
    return np.log(np.where(p > 0, p, 1.0)) + np.where(p > 0, 0.0, _LOG_FLOOR)


def _conditional_mi_nats(p_xy, channel):
    """I(X; U | Y) in nats for channels p(u|x) of shape (N, X, U), U − X − Y (batched, (N,))."""
    p_y = p_xy.sum(axis=0)
    p_u_y = np.einsum("xy,nxu->nyu", p_xy, channel) / np.where(p_y > 0, p_y, 1.0)[None, :, None]
    # Σ p(x,y) p(u|x) log p(u|x)/p(u|y); rel_entr gives 0 for p(u|x) = 0, and p(u|y) > 0
    # wherever p(x,y) p(u|x) > 0, so masking p(x,y) = 0 cells leaves every term finite.
    terms = rel_entr(channel[:, :, None, :], p_u_y[:, None, :, :])  # (N, X, Y, U)
    terms = np.where(p_xy[None, :, :, None] > 0, terms, 0.0)
    return np.einsum("xy,nxyu->n", p_xy, terms)


def _best_decoder(p_xy, distortion, channel):
    """Optimal reconstruction f(u, y) = argmin_x̂ E[d(X, x̂) | u, y] and its distortion per x.

    Returns the expected distortion (N,) and the matrix d(x, f(u, y)) of shape (N, X, U, Y)."""
    cost = np.einsum("xy,nxu,xh->nuyh", p_xy, channel, distortion)
    f = np.argmin(cost, axis=-1)  # (N, U, Y)
    d_f = distortion[:, f]  # (X, N, U, Y)
    d_f = np.moveaxis(d_f, 0, 1)  # (N, X, U, Y)
    expected = np.einsum("xy,nxu,nxuy->n", p_xy, channel, d_f)
    return expected, d_f


def _conditional_point(p_xy, distortion, channel):
    """(distortion, I(X; X̂ | Y) nats) of channels p(x̂|x,y) of shape (N, Y, X, X̂)."""
    p_y = p_xy.sum(axis=0)
    p_x_y = p_xy / np.where(p_y > 0, p_y, 1.0)  # p(x|y), (X, Y)
    r = np.einsum("xy,nyxh->nyh", p_x_y, channel)
    terms = np.where(p_xy.T[None, :, :, None] > 0, rel_entr(channel, r[:, :, None, :]), 0.0)
    rate = np.einsum("xy,nyxh->n", p_xy, terms)
    dist = np.einsum("xy,nyxh,xh->n", p_xy, channel, distortion)
    return dist, rate


# --------------------------------------------------------------------------- alternating minimisation
def _ba_conditional(p_xy, distortion, betas, max_iter):
    """Blahut–Arimoto per side-information value with a common slope β, batched over ``betas``;
    runs that have converged leave the batch. With a single column of ``p_xy`` this is the
    classic algorithm. Returns (D, R nats, converged, channels (B, Y, X, X̂))."""
    p_y = p_xy.sum(axis=0)
    p_x_y = p_xy / np.where(p_y > 0, p_y, 1.0)
    n_h = distortion.shape[1]
    r = np.full((betas.size, p_xy.shape[1], n_h), 1.0 / n_h)
    exponent = -betas[:, None, None, None] * distortion[None, None, :, :]  # (B, 1, X, H)
    active = np.arange(betas.size)
    for _ in range(max_iter):
        channel = softmax(_log(r[active])[:, :, None, :] + exponent[active], axis=-1)  # (n, Y, X, H)
        r_new = np.einsum("xy,nyxh->nyh", p_x_y, channel)
        moving = np.max(np.abs(r_new - r[active]), axis=(1, 2)) >= CHANNEL_TOLERANCE
        r[active] = r_new
        active = active[moving]
        if active.size == 0:
            break
    channel = softmax(_log(r)[:, :, None, :] + exponent, axis=-1)
    dist, rate = _conditional_point(p_xy, distortion, channel)
    return dist, rate, active.size == 0, channel


def _ba_wyner_ziv(p_xy, distortion, betas, channel, max_iter):
    """Alternating minimisation of J = Σ p(x,y) p(u|x) [log p(u|x)/r(u|y) + β d(x, f(u,y))]
    over r (→ p(u|y)), f (→ argmin_x̂ E[d | u, y]) and p(u|x) (Gibbs form), batched; each
    step minimises J over one block, so J never increases. Runs that have converged leave the
    batch. ``betas`` (N,), ``channel`` (N, X, U) the starts. Returns (D, R nats, converged)."""
    p_y = p_xy.sum(axis=0)
    p_x = p_xy.sum(axis=1)
    p_y_x = p_xy / np.where(p_x > 0, p_x, 1.0)[:, None]  # p(y|x), (X, Y)
    p_x_y = p_xy / np.where(p_y > 0, p_y, 1.0)
    weighted = p_xy[:, :, None] * distortion[:, None, :]  # (X, Y, X̂)
    channel = channel.copy()
    active = np.arange(betas.size)
    for _ in range(max_iter):
        current = channel[active]
        log_r = np.log(np.maximum(np.einsum("xy,nxu->nyu", p_x_y, current), _TINY))  # log p(u|y)
        decoder = np.argmin(np.einsum("xyh,nxu->nuyh", weighted, current), axis=-1)  # f(u, y)
        d_f = np.einsum("xy,xnuy->nxu", p_y_x, distortion[:, decoder])
        score = np.einsum("xy,nyu->nxu", p_y_x, log_r) - betas[active, None, None] * d_f
        new = np.exp(score - score.max(axis=-1, keepdims=True))
        new /= new.sum(axis=-1, keepdims=True)
        moving = np.abs(new - current).max(axis=(1, 2)) >= CHANNEL_TOLERANCE
        channel[active] = new
        active = active[moving]
        if active.size == 0:
            break
    dist, _ = _best_decoder(p_xy, distortion, channel)
    return dist, _conditional_mi_nats(p_xy, channel), active.size == 0


# --------------------------------------------------------------------------- envelope
def _lower_envelope(dist, rate, zero_rate_distortion):
    """Vertices (K, 2) of the non-increasing lower convex envelope of achievable pairs (D ≤ D_0)."""
    keep = dist <= zero_rate_distortion
    order = np.lexsort((rate[keep], dist[keep]))
    pts = np.stack([dist[keep][order], np.maximum(rate[keep][order], 0.0)], axis=1)
    hull: list[np.ndarray] = []
    for p in pts:
        if hull and p[0] == hull[-1][0]:
            continue  # same distortion, larger rate
        while len(hull) >= 2:
            (x1, y1), (x2, y2) = hull[-2], hull[-1]
            # drop the last vertex unless it lies strictly below the chord to p
            if (x2 - x1) * (p[1] - y1) - (y2 - y1) * (p[0] - x1) <= 0:
                hull.pop()
            else:
                break
        hull.append(p)
    vertices = np.array(hull)
    return vertices[: int(np.argmin(vertices[:, 1])) + 1]


def _envelope_rate(solve, D, betas, anchors, zero_rate_distortion, refine_steps):
    """Evaluate the envelope at ``D``. Refinement: with the envelope segment holding D of slope
    −β, the Lagrangian minimiser at that β lies on the curve between the segment's ends (if
    the curve is not linear there), so adding it splits the segment; stop when it no longer
    lowers the value at D.

    ``solve(betas) -> (dist, rate nats, converged)``; ``anchors`` = (dist, rate) arrays."""
    dist, rate, converged = solve(betas)
    dist, rate = np.concatenate([anchors[0], dist]), np.concatenate([anchors[1], rate])
    hull = _lower_envelope(dist, rate, zero_rate_distortion)
    value = float(np.interp(D, hull[:, 0], hull[:, 1]))
    failures = 0
    for _ in range(refine_steps):
        i = int(np.searchsorted(hull[:, 0], D, side="right")) - 1
        if i < 0 or i >= len(hull) - 1 or hull[i, 0] == D:
            break
        beta = (hull[i, 1] - hull[i + 1, 1]) / (hull[i + 1, 0] - hull[i, 0])
        d_new, r_new, c_new = solve(np.array([beta]))
        dist, rate = np.concatenate([dist, d_new]), np.concatenate([rate, r_new])
        converged = converged and c_new
        hull = _lower_envelope(dist, rate, zero_rate_distortion)
        new_value = float(np.interp(D, hull[:, 0], hull[:, 1]))
        failures = 0 if new_value < value else failures + 1
        if failures == 2:  # twice no split: the curve is linear here (or the descent is stuck)
            break
        value = new_value
    return (value if D < zero_rate_distortion else 0.0), hull, converged


def _beta_grid(distortion, n_betas):
    """Slopes from 10^-2 to 10^3 per unit of the distortion spread (covers the curve's range)."""
    spread = float(np.ptp(distortion))
    return np.geomspace(1e-2, 1e3, n_betas) / (spread if spread > 0 else 1.0)


def _extremes(p_xy, distortion):
    """(D_min, zero-rate distortion, deterministic argmin channel x → x̂) for side info at the decoder."""
    p_x = p_xy.sum(axis=1)
    d_min = float(p_x @ distortion.min(axis=1))
    d_zero = float(np.einsum("xy,xh->yh", p_xy, distortion).min(axis=1).sum())
    best = np.eye(distortion.shape[1])[np.argmin(distortion, axis=1)]  # (X, X̂)
    return d_min, d_zero, best


def _finish(kind, D, d_min, d_zero, rate_nats, hull, n_inits, converged):
    if D < d_min - 1e-12:
        raise ValueError(f"`D` must be at least the minimal achievable distortion {d_min!r}, got {D!r}")
    return RateDistortionResult(
        kind=kind,
        D=D,
        rate_bits=rate_nats / NATS_PER_BIT,
        min_distortion=d_min,
        zero_rate_distortion=d_zero,
        points_distortion=hull[:, 0].copy(),
        points_rate_bits=hull[:, 1] / NATS_PER_BIT,
        n_inits=n_inits,
        converged=bool(converged),
    )


# --------------------------------------------------------------------------- public API
def _conditional_curve(kind, p_xy, distortion, D, n_betas, max_iter, refine_steps):
    d_min, d_zero, best = _extremes(p_xy, distortion)
    if D < d_min - 1e-12:
        raise ValueError(f"`D` must be at least the minimal achievable distortion {d_min!r}, got {D!r}")
    best_channel = np.broadcast_to(best, (1, p_xy.shape[1], *best.shape))
    d_best, r_best = _conditional_point(p_xy, distortion, best_channel)
    anchors = (np.array([d_best[0], d_zero]), np.array([r_best[0], 0.0]))

    def solve(betas):
        dist, rate, converged, _ = _ba_conditional(p_xy, distortion, betas, max_iter)
        return dist, rate, converged

    value, hull, converged = _envelope_rate(solve, D, _beta_grid(distortion, n_betas), anchors, d_zero, refine_steps)
    return _finish(kind, D, d_min, d_zero, value, hull, 1, converged)


def rate_distortion(p_x, distortion, D, *, n_betas=40, max_iter=2000, refine_steps=30) -> RateDistortionResult:
    """Classic R_X(D) in bits (Blahut–Arimoto; convex, so the descent reaches the curve).

    ``p_x`` (X,), ``distortion`` (X, X̂) ≥ 0, ``D`` ≥ min achievable distortion."""
    p_xy, distortion, D, n_betas, max_iter, refine_steps = _rate_distortion_iv(
        p_x, distortion, D, n_betas, max_iter, refine_steps
    )
    return _conditional_curve("classic", p_xy, distortion, D, n_betas, max_iter, refine_steps)


def conditional_rate_distortion(
    p_xy, distortion, D, *, n_betas=40, max_iter=2000, refine_steps=30
) -> RateDistortionResult:
    """Conditional R_{X|Y}(D) in bits: Y known to encoder and decoder.

    ``p_xy`` (X, Y) joint law, ``distortion`` (X, X̂) ≥ 0, ``D`` ≥ min achievable distortion."""
    p_xy, distortion, D, n_betas, max_iter, refine_steps = _joint_iv(
        p_xy, distortion, D, n_betas, max_iter, refine_steps
    )
    return _conditional_curve("conditional", p_xy, distortion, D, n_betas, max_iter, refine_steps)


def wyner_ziv_rd(
    p_xy, distortion, D, *, rng=None, n_inits=4, n_betas=24, max_iter=500, refine_steps=30
) -> RateDistortionResult:
    """Wyner–Ziv R_WZ(D) in bits: Y known to the decoder only.

    ``p_xy`` (X, Y) joint law, ``distortion`` (X, X̂) ≥ 0, ``D`` ≥ min achievable distortion,
    ``rng`` a ``numpy.random.Generator`` drawing the ``n_inits`` random starts per slope
    (default ``numpy.random.default_rng()``). The problem is non-convex: the result is the
    envelope of the best achievable pairs found, an upper bound on the true R_WZ(D)."""
    p_xy, distortion, D, n_betas, max_iter, refine_steps = _joint_iv(
        p_xy, distortion, D, n_betas, max_iter, refine_steps
    )
    n_inits = positive_int("n_inits", n_inits)
    if rng is None:
        rng = np.random.default_rng()
    elif not isinstance(rng, np.random.Generator):
        raise ValueError(f"`rng` must be a numpy.random.Generator, got {type(rng).__name__}")
    d_min, d_zero, best = _extremes(p_xy, distortion)
    if D < d_min - 1e-12:
        raise ValueError(f"`D` must be at least the minimal achievable distortion {d_min!r}, got {D!r}")
    d_best, r_best = _best_decoder(p_xy, distortion, best[None])[0], _conditional_mi_nats(p_xy, best[None])
    anchors = (np.array([d_best[0], d_zero]), np.array([r_best[0], 0.0]))
    n_x = p_xy.shape[0]
    p_x = p_xy.sum(axis=1, keepdims=True).T

    n_h = distortion.shape[1]
    # A start near "U = X" (each x mostly to its own u), reaching the low-distortion branch.
    near_identity = 0.9 * np.eye(n_x, n_x + 1) + 0.1 / (n_x + 1)

    def solve(betas):
        # The classic solution used with the side information: rate I(X;X̂|Y) ≤ I(X;X̂) at no
        # more distortion, so the computed R_WZ never exceeds the computed R_X.
        *_, classic = _ba_conditional(p_x, distortion, betas, max_iter)
        classic = classic[:, 0]  # (B, X, X̂)
        d_c, _ = _best_decoder(p_xy, distortion, classic)
        r_c = _conditional_mi_nats(p_xy, classic)
        start_sets = [
            rng.dirichlet(np.ones(n_x + 1), size=(betas.size, n_inits, n_x)),
            np.broadcast_to(near_identity, (betas.size, 1, n_x, n_x + 1)),
        ]
        if n_h <= n_x + 1:  # the classic channel, padded with a little mass on unused labels
            padded = np.concatenate([classic, np.zeros((betas.size, n_x, n_x + 1 - n_h))], axis=-1)
            start_sets.append((0.95 * padded + 0.05 / (n_x + 1))[:, None])
        starts = np.concatenate(start_sets, axis=1)
        dist, rate, converged = _ba_wyner_ziv(
            p_xy, distortion, np.repeat(betas, starts.shape[1]), starts.reshape(-1, n_x, n_x + 1), max_iter
        )
        return np.concatenate([dist, d_c]), np.concatenate([rate, r_c]), converged

    value, hull, converged = _envelope_rate(solve, D, _beta_grid(distortion, n_betas), anchors, d_zero, refine_steps)
    return _finish("wyner_ziv", D, d_min, d_zero, value, hull, n_inits, converged)


# --------------------------------------------------------------------------- DSBS closed forms
def binary_entropy_bits(p):
    """h(p) = −p log2 p − (1 − p) log2(1 − p), elementwise, h(0) = h(1) = 0."""
    p = np.asarray(p, dtype=np.float64)
    return (rel_entr(p, 1.0) + rel_entr(1.0 - p, 1.0)) / -NATS_PER_BIT


def _dsbs_iv(p0, D):
    return real_scalar("p0", p0, low=0.0, high=0.5, high_open=False), real_scalar("D", D, low=0.0, low_open=False)


def dsbs_conditional_rd(p0, D) -> float:
    """R_{X|Y}(D) = h(p0) − h(D) for D < p0, else 0 (bits), doubly symmetric binary source."""
    p0, D = _dsbs_iv(p0, D)
    return float(binary_entropy_bits(p0) - binary_entropy_bits(D)) if D < p0 else 0.0


def _dsbs_g(p0, D):
    return binary_entropy_bits(p0 * (1 - D) + D * (1 - p0)) - binary_entropy_bits(D)


def dsbs_tangent_point(p0) -> float:
    """β_c ∈ (0, p0) (β_c = p0 = 1/2 when Y is independent of X): the point where the line
    through (p0, 0) touches g(D) = h(p0 ∗ D) − h(D)."""
    p0 = real_scalar("p0", p0, low=0.0, high=0.5, high_open=False)
    if p0 == 0.5:  # Y independent of X: g = 1 − h is already convex down to g(1/2) = 0
        return 0.5

    def slope(b):  # g'(b) in bits
        conv = p0 * (1 - b) + b * (1 - p0)
        return (1 - 2 * p0) * np.log2((1 - conv) / conv) - np.log2((1 - b) / b)

    return float(
        brentq(
            lambda b: slope(b) * (b - p0) - _dsbs_g(p0, b),
            1e-300**0.5,
            p0 * (1 - 1e-12),
            xtol=1e-15,
            rtol=4 * np.finfo(float).eps,
        )
    )


def dsbs_wyner_ziv_rd(p0, D) -> float:
    """Wyner & Ziv (1976) closed form (bits): g*(D), the lower convex envelope of
    g(D) = h(p0 ∗ D) − h(D) on [0, p0) and g(p0) = 0: g(D) for D ≤ β_c, the tangent line
    g(β_c)(p0 − D)/(p0 − β_c) for β_c < D < p0, 0 for D ≥ p0."""
    p0, D = _dsbs_iv(p0, D)
    if D >= p0:
        return 0.0
    b = dsbs_tangent_point(p0)
    if D <= b:
        return float(_dsbs_g(p0, D))
    return float(_dsbs_g(p0, b) * (p0 - D) / (p0 - b))


def dsbs_joint(p0) -> np.ndarray:
    """p_xy of the doubly symmetric binary source, shape (2, 2)."""
    p0 = real_scalar("p0", p0, low=0.0, high=0.5, high_open=False)
    return np.array([[1 - p0, p0], [p0, 1 - p0]]) / 2
