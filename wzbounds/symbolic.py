"""Every calculator formula as a sympy expression, for reading, differentiating and checking.

Each public function takes no arguments and returns a fresh sympy expression in the shared
symbols below (all positive reals except where noted). :data:`FORMULAS` maps a formula name to
its function and :func:`lambdify_formula` turns one into a numeric function whose keyword
arguments are the symbol names (``lambdify_formula("power_law_window")(eps=0.01, C=1.0,
alpha=0.5)``). The numeric code in ``wzbounds.windows``, ``wzbounds.schemes``,
``wzbounds.memory`` and ``wzbounds.divergences`` is tested against these expressions
(``tests/cover/test_symbolic.py``).

Continuous forms (``power_law_window``) are the real solutions of ``U(w) = eps``; the
calculator returns the integer forms (``power_law_window_int``: the smallest integer
``w >= w0`` with ``U(w) <= eps``, see ``proofs/CONVENTIONS.md``).
"""

from __future__ import annotations

import sympy as sp

_pos = {"positive": True}
eps, alpha, C, c, rho, w, w0, b = sp.symbols("eps alpha C c rho w w0 b", **_pos)
sinks = sp.Symbol("sinks", nonnegative=True)
j = sp.Symbol("j", integer=True, nonnegative=True)
tokens, layers, kv_heads, head_dim, dtype_bytes = sp.symbols("tokens layers kv_heads head_dim dtype_bytes", **_pos)
kl, tv, q_min, mu, V, kappa = sp.symbols("kl tv q_min mu V kappa", **_pos)
eta, C2, alpha2, A = sp.symbols("eta C2 alpha2 A", **_pos)


# --------------------------------------------------------------------------- windows
def power_law_window():
    """Real solution of C·w^-α = eps: (C/eps)^(1/α) tokens (theorem achievability_sliding)."""
    return (C / eps) ** (1 / alpha)


def power_law_window_int():
    """Achievability window: max(w0, ceil((C/eps)^(1/α))), an integer number of tokens."""
    return sp.Max(w0, sp.ceiling(power_law_window()))


def converse_window():
    """Real solution of c·w^-α = eps: (c/eps)^(1/α) tokens (theorem converse_suffix)."""
    return (c / eps) ** (1 / alpha)


def converse_window_int():
    """Converse window: smallest integer w >= 1 with c·max(w, w0)^-α <= eps."""
    return sp.Piecewise((1, c * w0**-alpha <= eps), (sp.ceiling(converse_window()), True))


def window_ratio():
    """Achievability over converse (continuous forms); independent of eps (theorem theta_band)."""
    return power_law_window() / converse_window()


def window_ratio_limit():
    """lim_{eps→0} of the integer-window ratio: (C/c)^(1/α) (theorem theta_band)."""
    return (C / c) ** (1 / alpha)


def geometric_window():
    """Real solution of C·ρ^w = eps: log(C/eps)/log(1/ρ) tokens (theorem achievability_geometric)."""
    return sp.log(C / eps) / sp.log(1 / rho)


def geometric_window_int():
    """Achievability window under geometric sensitivity: max(w0, ceil(log(C/eps)/log(1/ρ)))."""
    return sp.Max(w0, sp.ceiling(geometric_window()))


# --------------------------------------------------------------------------- memory
def memory_bytes():
    """Bytes of a KV cache holding ``tokens`` tokens: tokens·2·layers·kv_heads·head_dim·dtype_bytes."""
    return tokens * 2 * layers * kv_heads * head_dim * dtype_bytes


def sink_memory_tokens():
    """Sink-plus-recent cache: ``sinks`` + w tokens (theorem sink_recent)."""
    return sinks + w


def block_peak_memory_tokens():
    """Block-Markov with block b: peak 2b − 1 tokens."""
    return 2 * b - 1


def block_average_memory_tokens():
    """Block-Markov with block b: average over the cycle of the window b + j, (3b − 1)/2 tokens."""
    return (3 * b - 1) / sp.Integer(2)


# --------------------------------------------------------------------------- block-Markov distortion
def block_markov_worst():
    """Worst-case block-Markov distortion U(b) = C·b^-α (theorem block_markov)."""
    return C * b**-alpha


def block_markov_average_sum():
    """Time average (1/b)·Σ_{j=0}^{b−1} C·(b + j)^-α (b a positive integer)."""
    return C / b * sp.Sum((b + j) ** -alpha, (j, 0, b - 1))


def block_markov_average():
    """Time average in Hurwitz-zeta form (C/b)·[ζ(α, b) − ζ(α, 2b)], α ≠ 1 (theorem block_markov)."""
    return C / b * (sp.zeta(alpha, b) - sp.zeta(alpha, 2 * b))


def block_markov_average_alpha1():
    """Time average at α = 1: (C/b)·[ψ(2b) − ψ(b)]."""
    return C / b * (sp.digamma(2 * b) - sp.digamma(b))


# --------------------------------------------------------------------------- divergences
def pinsker():
    """TV upper bound from KL in nats: sqrt(kl/2) (theorem pinsker)."""
    return sp.sqrt(kl / 2)


def pinsker_profile_alpha():
    """TV exponent from a KL exponent α: α/2 (theorem pinsker)."""
    return alpha / 2


def pinsker_profile_C():
    """TV constant from a KL constant C (nats): sqrt(C/2) (theorem pinsker)."""
    return sp.sqrt(C / 2)


def reverse_pinsker():
    """KL upper bound (nats) from TV and q_min: log(1 + 2·tv²/q_min) (theorem reverse_pinsker)."""
    return sp.log(1 + 2 * tv**2 / q_min)


def smoothing_bias():
    """Largest TV(q_μ, q) added by smoothing: μ(1 − 1/V) (theorem smoothing)."""
    return mu * (1 - 1 / V)


def smoothing_q_min():
    """Floor on the smoothed law: μ/V (theorem smoothing)."""
    return mu / V


def smoothing_tv_after():
    """TV(p, q_μ) bound: (1 − μ)·tv + μ(1 − 1/V) (theorem smoothing)."""
    return (1 - mu) * tv + smoothing_bias()


def smoothing_kl_bound():
    """KL(p‖q_μ) bound (nats) by reverse Pinsker: log(1 + 2·tv_after²/(μ/V)) (theorem smoothing)."""
    return sp.log(1 + 2 * smoothing_tv_after() ** 2 / smoothing_q_min())


def optimal_smoothing_mu():
    """Minimiser of the reverse-Pinsker smoothing_kl_bound over μ ∈ (0, 1]: τ/(a − τ) if τ < a/2
    else 1, a = 1 − 1/V (theorem smoothing part 5)."""
    a = 1 - 1 / V
    return sp.Piecewise((tv / (a - tv), tv < a / 2), (1, True))


def optimal_smoothing_kl_bound():
    """The minimum: log(1 + 8V·τ(a − τ)) if τ < a/2 else log(1 + 2V·a²)."""
    a = 1 - 1 / V
    return sp.Piecewise((sp.log(1 + 8 * V * tv * (a - tv)), tv < a / 2), (sp.log(1 + 2 * V * a**2), True))


def smoothing_convexity_kl_bound():
    """KL(p‖q_μ) bound (nats) for TV(p, q) = τ (theorem smoothing_convexity part 1):
    (1 − τ)·log(1/(1 − μ)) + τ·log(Vτ/μ)."""
    return (1 - tv) * sp.log(1 / (1 - mu)) + tv * sp.log(V * tv / mu)


def smoothing_convexity_mean_bound():
    """E KL(p‖q_μ) bound (nats) for E TV = τ (smoothing_convexity part 4):
    (1 − τ)·log(1/(1 − μ)) + τ·log(V/μ)."""
    return (1 - tv) * sp.log(1 / (1 - mu)) + tv * sp.log(V / mu)


def smoothing_convexity_optimal_mu():
    """Minimiser of both convexity bounds over μ ∈ (0, 1) for τ ≤ 1 − 1/V: μ* = τ (parts 3-4)."""
    return tv


def smoothing_convexity_optimal_bound():
    """The almost-sure minimum: −(1 − τ)log(1 − τ) + τ·log V ≤ τ(1 + log V) (part 3)."""
    return -(1 - tv) * sp.log(1 - tv) + tv * sp.log(V)


def smoothing_convexity_mean_optimal_bound():
    """The mean minimum: −(1 − τ)log(1 − τ) + τ·log(V/τ) ≤ τ(1 + log(V/τ)) (part 4)."""
    return -(1 - tv) * sp.log(1 - tv) + tv * sp.log(V / tv)


def smoothed_profile_C_mean():
    """Mean TV envelope C·w^-α → KL envelope (K0 + K1 log w)·w^-α: K0 = C(1 + log(V/C))
    (theorem smoothing_convexity part 5)."""
    return C * (1 + sp.log(V / C))


def smoothed_profile_D_mean():
    """... and K1 = C·α, the coefficient of log w (smoothing_convexity part 5)."""
    return C * alpha


def smoothed_profile_C_almost_sure():
    """Almost-sure TV envelope C·w^-α → KL envelope C(1 + log V)·w^-α (smoothing_convexity part 5)."""
    return C * (1 + sp.log(V))


def locally_quadratic():
    """EMPIRICAL ASSUMPTION (``locally-quadratic``), not a theorem: KL ≈ κ·tv²."""
    return kappa * tv**2


def locally_quadratic_profile_C():
    """EMPIRICAL ASSUMPTION: KL constant κ·C from a second-moment (tv2) constant C, same exponent."""
    return kappa * C


def tv_converse_kl_lower_c():
    """TV lower envelope c·w^-α → Bayes-risk lower envelope 2c²·w^-2α (theorem tv_converse part 2):
    c a lower constant on the least mean TV of suffix-only decoders (2a) or on the Bayes
    predictor's own mean TV (2c, directly; not the chain's 2(c/2)² = c²/2)."""
    return 2 * c**2


def block_markov_rate_converse():
    """Every suffix-only policy with windows in [b, 2b): D_b ≥ (c/b)[ζ(α, b) − ζ(α, 2b)]
    (theorem block_markov_rate part 1)."""
    return c / b * (sp.zeta(alpha, b) - sp.zeta(alpha, 2 * b))


def block_markov_rate_converse_simple():
    """... ≥ c·(2b − 1)^-α (block_markov_rate part 1)."""
    return c * (2 * b - 1) ** -alpha


def block_markov_rate_unconditional():
    """Unconditional bound with μ_b = A (the block average of the mean-TV envelope, A ≤ 1 − 1/V):
    D_b ≤ −(1 − A)log(1 − A) + A·log(V/A) (block_markov_rate part 2)."""
    return -(1 - A) * sp.log(1 - A) + A * sp.log(V / A)


def block_markov_rate_tv_average():
    """The block average A of the mean-TV envelope C·w^-α: (C/b)[ζ(α, b) − ζ(α, 2b)]."""
    return C / b * (sp.zeta(alpha, b) - sp.zeta(alpha, 2 * b))


def block_markov_rate_forward_decay():
    """Under E TV² ≤ C2·w^-α2 and p̃ ≥ η: D_b ≤ (2C2/η)(1/b)[ζ(α2, b) − ζ(α2, 2b)]
    (block_markov_rate part 3)."""
    return 2 * C2 / eta / b * (sp.zeta(alpha2, b) - sp.zeta(alpha2, 2 * b))


def block_markov_rate_gamma_unconditional():
    """Guaranteed exponent from a TV envelope of exponent α: α (= half the KL exponent 2α)."""
    return alpha


def block_markov_rate_gamma_converse():
    """Converse exponent from a TV lower envelope of exponent α: 2α (tv_converse)."""
    return 2 * alpha


#: name -> function returning the expression.
FORMULAS = {
    f.__name__: f
    for f in (
        power_law_window,
        power_law_window_int,
        converse_window,
        converse_window_int,
        window_ratio,
        window_ratio_limit,
        geometric_window,
        geometric_window_int,
        memory_bytes,
        sink_memory_tokens,
        block_peak_memory_tokens,
        block_average_memory_tokens,
        block_markov_worst,
        block_markov_average_sum,
        block_markov_average,
        block_markov_average_alpha1,
        pinsker,
        pinsker_profile_alpha,
        pinsker_profile_C,
        reverse_pinsker,
        smoothing_bias,
        smoothing_q_min,
        smoothing_tv_after,
        smoothing_kl_bound,
        optimal_smoothing_mu,
        optimal_smoothing_kl_bound,
        smoothing_convexity_kl_bound,
        smoothing_convexity_mean_bound,
        smoothing_convexity_optimal_mu,
        smoothing_convexity_optimal_bound,
        smoothing_convexity_mean_optimal_bound,
        smoothed_profile_C_mean,
        smoothed_profile_D_mean,
        smoothed_profile_C_almost_sure,
        locally_quadratic,
        locally_quadratic_profile_C,
        tv_converse_kl_lower_c,
        block_markov_rate_converse,
        block_markov_rate_converse_simple,
        block_markov_rate_unconditional,
        block_markov_rate_tv_average,
        block_markov_rate_forward_decay,
        block_markov_rate_gamma_unconditional,
        block_markov_rate_gamma_converse,
    )
}


def formula(name: str) -> sp.Expr:
    """The expression called ``name`` (one of :data:`FORMULAS`)."""
    if name not in FORMULAS:
        raise ValueError(f"`name` must be one of {sorted(FORMULAS)}, got {name!r}")
    return FORMULAS[name]()


def formula_parameters(name: str) -> tuple[str, ...]:
    """Names of the free symbols of formula ``name``, sorted: the lambdified function's arguments."""
    return tuple(sorted(s.name for s in formula(name).free_symbols))


def lambdify_formula(name: str, modules=("scipy", "numpy")):
    """Numeric function for formula ``name``; call it with keyword arguments named by
    :func:`formula_parameters` (arrays broadcast with numpy modules).

    ``modules`` is passed to ``sympy.lambdify``; use ``"mpmath"`` for the zeta forms at
    α < 1 (scipy's Hurwitz zeta is defined for α > 1 only) or for high precision.
    Sums (``block_markov_average_sum``) are evaluated term by term and need integer ``b``.
    """
    expr = formula(name)
    params = [s for s in sorted(expr.free_symbols, key=lambda s: s.name)]
    return sp.lambdify(params, expr, modules=modules)
