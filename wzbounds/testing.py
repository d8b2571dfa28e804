"""Hypothesis strategies for wzbounds objects, shipped for users writing their own property
tests (like ``dit.utils.testing``). Each section belongs to one module; append, do not reorder."""


# ----------------------------------------------------------------------------- fitting
# Strategies for wzbounds.fitting: exact and noisy decay curves with known parameters.

import numpy as _np
from hypothesis import strategies as _st


@_st.composite
def window_grids(draw, min_size=4, max_size=12):
    """Strictly increasing integer windows (tokens) on a roughly geometric grid, as float64."""
    w_min = draw(_st.integers(1, 16))
    growth = draw(_st.floats(1.3, 3.0))
    n = draw(_st.integers(min_size, max_size))
    # 4n grid points always leave >= n distinct integers after rounding, since growth >= 1.3
    grid = _np.unique(_np.round(w_min * growth ** _np.arange(4 * n)))
    return grid[:n].astype(_np.float64)


@_st.composite
def power_law_curves(draw):
    """``(windows, values, alpha, C)`` with ``values = C * windows**-alpha`` exactly."""
    windows = draw(window_grids())
    alpha = draw(_st.floats(0.1, 3.0))
    C = draw(_st.floats(1e-3, 1e3))
    return windows, C * windows**-alpha, alpha, C


@_st.composite
def exponential_curves(draw):
    """``(windows, values, rho, C)`` with ``values = C * rho**windows`` exactly.

    Windows are an arithmetic integer grid short enough that ``rho**w`` stays far from
    float64 underflow.
    """
    rho = draw(_st.floats(0.5, 0.97))
    n = draw(_st.integers(4, 12))
    step = draw(_st.integers(1, 8))
    start = draw(_st.integers(1, 16))
    windows = (start + step * _np.arange(n)).astype(_np.float64)
    C = draw(_st.floats(1e-3, 1e3))
    return windows, C * rho**windows, rho, C


@_st.composite
def per_prefix_tables(draw, max_prefixes=60):
    """``(per_prefix_values, windows, alpha, C)``: a noisy per-prefix sensitivity table.

    Row i is ``a_i * C * w**-alpha * exp(sigma z_ij - sigma**2 / 2)`` with a per-prefix scale
    ``a_i`` (log-normal, mean 1) and independent log-normal noise (mean 1), so the expected
    mean curve is exactly ``C w^-alpha``. Shape (n_prefixes, n_windows).
    """
    windows = draw(window_grids())
    alpha = draw(_st.floats(0.2, 2.0))
    C = draw(_st.floats(1e-2, 1e2))
    n_prefixes = draw(_st.integers(5, max_prefixes))
    sigma = draw(_st.floats(0.0, 0.6))
    rng = _np.random.default_rng(draw(_st.integers(0, 2**32 - 1)))
    scale = _np.exp(sigma * rng.standard_normal((n_prefixes, 1)) - sigma**2 / 2)
    noise = _np.exp(sigma * rng.standard_normal((n_prefixes, windows.size)) - sigma**2 / 2)
    return scale * noise * C * windows**-alpha, windows, alpha, C


# ----------------------------------------------------------------------------- divergences
# Strategies for wzbounds.divergences: next-token laws on a finite vocabulary.


def _normalised(weights):
    w = _np.asarray(weights, dtype=_np.float64)
    return w / w.sum()


@_st.composite
def distributions(draw, size=None, *, min_size=2, max_size=20, positive=False):
    """A law on ``size`` symbols (drawn in [min_size, max_size] if None): a float64 array of
    shape (size,) summing to 1 up to rounding. Weights span 1e-9..1 (so some entries are tiny,
    as in a softmax); unless ``positive``, some entries may be exactly 0."""
    n = draw(_st.integers(min_size, max_size)) if size is None else size
    low = 1e-9 if positive else 0.0
    weights = draw(
        _st.lists(_st.one_of(_st.just(low), _st.floats(1e-9, 1.0)), min_size=n, max_size=n).filter(
            lambda ws: sum(ws) > 0
        )
    )
    return _normalised(weights)


@_st.composite
def distribution_pairs(draw, *, min_size=2, max_size=20, q_positive=True):
    """``(p, q)``: two laws on the same alphabet. With ``q_positive`` (default) every q_i > 0,
    so KL(p‖q) is finite and q_min > 0 (reverse Pinsker applies); p may have zeros."""
    n = draw(_st.integers(min_size, max_size))
    return draw(distributions(n)), draw(distributions(n, positive=q_positive))


# ----------------------------------------------------------------------------- wz
# Strategies for wzbounds.wz: finite sequence sources, joint laws and distortion matrices.


@_st.composite
def _laws(draw, size, min_mass=0.0):
    """A probability vector of ``size`` entries drawn from integer weights (some may be 0)."""
    weights = _np.array(
        draw(_st.lists(_st.integers(0 if min_mass == 0 else 1, 20), min_size=size, max_size=size)), dtype=_np.float64
    )
    if weights.sum() == 0:
        weights[draw(_st.integers(0, size - 1))] = 1.0
    return weights / weights.sum()


@_st.composite
def finite_sources(draw, max_alphabet=3, max_length=4):
    """A ``wzbounds.wz.setup.FiniteSequenceSource`` with V ≤ ``max_alphabet`` symbols and
    2 ≤ T ≤ ``max_length`` tokens; the joint law may have zeros (impossible sequences)."""
    from wzbounds.wz.setup import FiniteSequenceSource

    V = draw(_st.integers(2, max_alphabet))
    T = draw(_st.integers(2, max_length))
    return FiniteSequenceSource(draw(_laws(V**T)).reshape((V,) * T))


@_st.composite
def joint_distributions(draw, max_x=3, max_y=3):
    """``p_xy`` of shape (X, Y), 2 ≤ X ≤ ``max_x``, 1 ≤ Y ≤ ``max_y``, every x with positive mass."""
    X = draw(_st.integers(2, max_x))
    Y = draw(_st.integers(1, max_y))
    p = draw(_laws(X * Y)).reshape(X, Y)
    while _np.any(p.sum(axis=1) == 0):  # keep every source letter possible
        p = (p + draw(_laws(X * Y, min_mass=1)).reshape(X, Y)) / 2
    return p


@_st.composite
def distortion_matrices(draw, n_source, max_reconstruction=3):
    """``d`` of shape (n_source, X̂) with integer entries in [0, 4], X̂ ≤ ``max_reconstruction``."""
    n_h = draw(_st.integers(2, max_reconstruction))
    entries = draw(_st.lists(_st.integers(0, 4), min_size=n_source * n_h, max_size=n_source * n_h))
    return _np.array(entries, dtype=_np.float64).reshape(n_source, n_h)


# ----------------------------------------------------------------------------- sources
# Strategies for wzbounds.sources: synthetic sources with exactly known truncation risk.


@_st.composite
def santa_fe_sources(draw, min_beta=1.05, max_beta=5.0):
    """A ``SantaFe(beta)`` with beta in [min_beta, max_beta] (the range the evaluator is verified on)."""
    from wzbounds.sources import SantaFe

    return SantaFe(draw(_st.floats(min_beta, max_beta)))


@_st.composite
def bayes_mixtures(draw, max_alphabet=6):
    """A ``BayesMixture(V, a)`` with V in [2, max_alphabet] and concentration a in [0.1, 5]."""
    from wzbounds.sources import BayesMixture

    return BayesMixture(draw(_st.integers(2, max_alphabet)), draw(_st.floats(0.1, 5.0)))


def _stochastic(draw, shape, floor=0.0):
    """Row-stochastic float64 array of ``shape`` (last axis sums to 1), entries >= floor / V."""
    rows = int(_np.prod(shape[:-1]))
    seed = draw(_st.integers(0, 2**32 - 1))
    conc = draw(_st.sampled_from([0.3, 1.0, 5.0]))
    raw = _np.random.default_rng(seed).dirichlet(_np.full(shape[-1], conc), size=rows)
    raw = (1.0 - floor) * raw + floor / shape[-1]
    return raw.reshape(shape)


@_st.composite
def markov_chains(draw, max_order=3, max_alphabet=3):
    """A ``MarkovChain`` of order k in [1, max_order] on V in [2, max_alphabet] symbols, with every
    transition probability >= 0.01 / V (so the stationary law is unique)."""
    from wzbounds.sources import MarkovChain

    k, V = draw(_st.integers(1, max_order)), draw(_st.integers(2, max_alphabet))
    return MarkovChain(_stochastic(draw, (V,) * (k + 1), floor=0.01))


@_st.composite
def hmms(draw, max_states=3, max_alphabet=3):
    """An ``HMM`` with S in [2, max_states] states and V in [2, max_alphabet] symbols; the
    transition matrix is entrywise >= 0.05 / S (so the Birkhoff envelope applies)."""
    from wzbounds.sources import HMM

    S, V = draw(_st.integers(2, max_states)), draw(_st.integers(2, max_alphabet))
    return HMM(_stochastic(draw, (S, S), floor=0.05), _stochastic(draw, (S, V)))


# ----------------------------------------------------------------------------- caches
# Strategies for wzbounds.caches: memory grids and seeds for the beyond-suffix simulations.
# Santa Fe sources themselves come from ``santa_fe_sources`` above.


@_st.composite
def cache_memory_grids(draw, min_size=3, max_size=5, max_memory=256):
    """Strictly increasing cache memories (tokens or bits), roughly geometric, as a tuple of ints ≥ 1."""
    start = draw(_st.integers(1, 4))
    growth = draw(_st.integers(2, 4))
    n = draw(_st.integers(min_size, max_size))
    grid = [start * growth**i for i in range(n)]
    return tuple(m for m in grid if m <= max_memory) or (start,)


def seeds():
    """Seeds for ``numpy.random.default_rng``."""
    return _st.integers(0, 2**32 - 1)


# ----------------------------------------------------------------------------- profiles / calculator
# Strategies for wzbounds.profiles and wzbounds.bounds: sensitivity profiles and targets.


@_st.composite
def power_law_profiles(draw, *, lower=None, cis=False, divergence="kl_nats"):
    """A ``PowerLaw`` with alpha in [0.05, 3], C in [1e-2, 1e2], w0 in [1, 64]; with a lower
    constant ``c = C * u`` (u in [0.01, 1]) when ``lower`` is True (drawn when None); with
    alpha/C confidence intervals around the point estimates when ``cis``."""
    from wzbounds.profiles import PowerLaw

    alpha = draw(_st.floats(0.05, 3.0))
    C = draw(_st.floats(1e-2, 1e2))
    has_lower = draw(_st.booleans()) if lower is None else lower
    c = C * draw(_st.floats(0.01, 1.0)) if has_lower else None
    alpha_ci = C_ci = None
    if cis:
        alpha_ci = (alpha * draw(_st.floats(0.5, 1.0)), alpha * draw(_st.floats(1.0, 1.5)))
        C_ci = (C * draw(_st.floats(0.5, 1.0)), C * draw(_st.floats(1.0, 2.0)))
    return PowerLaw(alpha, C, c=c, w0=draw(_st.integers(1, 64)), divergence=divergence, alpha_ci=alpha_ci, C_ci=C_ci)


@_st.composite
def exponential_profiles(draw, *, lower=None):
    """An ``Exponential`` with rho in [0.05, 0.999], C in [1e-2, 1e2], w0 in [1, 64], optional
    lower constant ``c <= C``."""
    from wzbounds.profiles import Exponential

    C = draw(_st.floats(1e-2, 1e2))
    has_lower = draw(_st.booleans()) if lower is None else lower
    return Exponential(
        draw(_st.floats(0.05, 0.999)),
        C,
        c=C * draw(_st.floats(0.01, 1.0)) if has_lower else None,
        w0=draw(_st.integers(1, 64)),
    )


@_st.composite
def tabulated_profiles(draw, *, lower=None):
    """A ``Tabulated`` profile: 2-10 strictly increasing windows, strictly decreasing values
    (so the power-law extrapolation beyond the last window decreases), optional lower values
    ``<=`` the upper ones, and sometimes a ``tail_alpha`` beyond the last window."""
    from wzbounds.profiles import Tabulated

    n = draw(_st.integers(2, 10))
    steps = draw(_st.lists(_st.integers(1, 200), min_size=n, max_size=n))
    windows = _np.cumsum(steps)
    drops = _np.array(draw(_st.lists(_st.floats(0.05, 2.0), min_size=n, max_size=n)))
    values = draw(_st.floats(1e-2, 1e2)) * _np.exp(-_np.cumsum(drops))
    lower_values = None
    if draw(_st.booleans()) if lower is None else lower:
        lower_values = values * draw(_st.floats(0.01, 1.0))
    tail_alpha = draw(_st.one_of(_st.none(), _st.floats(0.1, 3.0)))
    return Tabulated(windows, values, lower_values=lower_values, tail_alpha=tail_alpha)


def targets(min_eps=1e-8, max_eps=10.0):
    """Target distortions eps (floats, > 0), log-uniformly spread over [min_eps, max_eps]."""
    lo, hi = _np.log10(min_eps), _np.log10(max_eps)
    return _st.floats(lo, hi).map(lambda e: float(10.0**e))


# ----------------------------------------------------------------------------- wz cache rate-distortion
# Strategies for wzbounds.wz.cache_rd: small laws p(s, q, x) and relabellings of their axes.


@_st.composite
def cache_laws(draw, max_pasts=4, max_queries=3, max_tokens=3):
    """``p_sqx`` of shape (S, Q, X): 1 ≤ S ≤ ``max_pasts``, 1 ≤ Q ≤ ``max_queries``,
    2 ≤ X ≤ ``max_tokens``, from integer weights (so some cells, rows or whole pasts may have
    probability 0, and pasts may coincide: the solver must merge and skip them)."""
    shape = (draw(_st.integers(1, max_pasts)), draw(_st.integers(1, max_queries)), draw(_st.integers(2, max_tokens)))
    return draw(_laws(int(_np.prod(shape)))).reshape(shape)


@_st.composite
def relabellings(draw, shape):
    """``(perm_s, perm_q, perm_x)``: one permutation per axis of a law of ``shape`` (S, Q, X);
    ``p_sqx[perm_s][:, perm_q][:, :, perm_x]`` is the same law with its labels renamed."""
    return tuple(_np.array(draw(_st.permutations(range(n)))) for n in shape)
