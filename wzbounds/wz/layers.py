"""Error propagation through L attention layers and per-layer rate allocation
(``proofs/layer_propagation.md``).

Model (stated exactly). Hidden states a^(0) = â^(0); layer ℓ maps a^(ℓ) = g_ℓ(a^(ℓ−1)) and,
with its compressed cache, â^(ℓ) = g_ℓ(â^(ℓ−1)) + n_ℓ (n_ℓ the perturbation caused by that
layer's cache). Write e_ℓ = â^(ℓ) − a^(ℓ) and G_m for the **squared per-layer gain**.

- ``model="worst_case"``: g_m is L_m-Lipschitz, G_m = L_m² (plain) or (1 + L_b,m)² (residual
  g = id + b with b L_b-Lipschitz), slacks ε_m > 0 and δ^(ℓ) = (1 + 1/ε_ℓ)‖n_ℓ‖². Then, for
  every realisation, ‖e_L‖² ≤ Σ_ℓ s^(ℓ) δ^(ℓ) with s^(ℓ) = Π_{m>ℓ} (1 + ε_m) G_m.
- ``model="uncorrelated"``: n_ℓ has mean zero given the past, so cross terms vanish in
  expectation, ε_m = 0, δ^(ℓ) = E‖n_ℓ‖², G_m = L_m² (plain) and, for a residual layer whose
  branch increment is uncorrelated with the incoming error (E⟨e, b(â) − b(a)⟩ = 0),
  G_m = 1 + L_b,m². Then E‖e_L‖² ≤ Σ_ℓ s^(ℓ) δ^(ℓ).

The paper's numbers (60 layers; L_branch·L_LN = 0.1 takes the sensitivity ratio from ≈320 to
≈1.8) are reproduced by the uncorrelated model: residual ratio (1 + 0.1²)^59 ≈ 1.80, and a
plain stack with L_g = 1.05 gives 1.05^118 ≈ 316 (L_g = 1.05 is our inference, not stated in
the abstract). The worst-case residual gain (1 + 0.1)² gives 1.21^59 ≈ 7.7·10^4.

Rate allocation: layer ℓ coded at R_ℓ bits has δ^(ℓ) = σ_ℓ² 2^{−2R_ℓ}; minimising
Σ s^(ℓ) δ^(ℓ) under Σ R_ℓ = R is reverse water-filling. With all layers at positive rate the
uniform allocation loses the factor AM/GM of the weights w_ℓ = s^(ℓ)σ_ℓ², i.e.
(L/2)·log2(AM/GM) bits in total.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validation import choice, positive_int, real_array, real_scalar

THEOREM_ID = "layer_propagation"
MODELS = ("worst_case", "uncorrelated")


@dataclass(frozen=True)
class LayerSensitivity:
    """s^(ℓ) for ℓ = 1..L (``sensitivities[ℓ-1]``), from squared gains G and slacks ε.

    ``ratio`` = max s / min s. ``noise_weights[ℓ-1]`` = δ^(ℓ)/‖n_ℓ‖² (1 + 1/ε_ℓ worst case, 1
    uncorrelated)."""

    model: str
    gain_sq: np.ndarray
    slack: np.ndarray
    sensitivities: np.ndarray
    noise_weights: np.ndarray
    ratio: float
    theorem_id: str = THEOREM_ID

    @property
    def layers(self) -> int:
        return self.gain_sq.size

    def error_bound_sq(self, noise_sq_norms) -> float:
        """Σ_ℓ s^(ℓ) δ^(ℓ) for per-layer ‖n_ℓ‖² (worst case) or E‖n_ℓ‖² (uncorrelated), shape (L,)."""
        n = real_array("noise_sq_norms", noise_sq_norms, low=0.0, low_open=False)
        if n.shape != self.gain_sq.shape:
            raise ValueError(f"`noise_sq_norms` must have shape {self.gain_sq.shape}, got {n.shape}")
        return float(np.sum(self.sensitivities * self.noise_weights * n))


def plain_gain_sq(lipschitz):
    """G = L_g² for a plain L_g-Lipschitz layer (either model)."""
    return real_array("lipschitz", lipschitz, low=0.0, low_open=False) ** 2


def residual_gain_sq(branch_lipschitz, *, model="worst_case"):
    """G for a residual layer id + b, b L_b-Lipschitz: (1 + L_b)² worst case, 1 + L_b² when the
    branch increment is uncorrelated with the incoming error."""
    lb = real_array("branch_lipschitz", branch_lipschitz, low=0.0, low_open=False)
    return (1.0 + lb) ** 2 if choice("model", model, MODELS) == "worst_case" else 1.0 + lb**2


def _layer_sensitivity_iv(gain_sq, slack, layers, model):
    model = choice("model", model, MODELS)
    g = real_array("gain_sq", gain_sq, low=0.0, low_open=False)
    n = g.size if g.ndim == 1 else positive_int("layers", layers)
    g = np.broadcast_to(g, (n,)).astype(np.float64) if g.ndim == 0 else g
    if g.ndim != 1 or g.size == 0:
        raise ValueError(f"`gain_sq` must be a scalar or a non-empty 1-D array, got shape {g.shape}")
    if model == "uncorrelated":
        if slack is not None and np.any(np.asarray(slack) != 0):
            raise ValueError("`slack` must be 0 or None for model='uncorrelated' (cross terms vanish)")
        eps = np.zeros(g.size)
    else:
        eps = np.broadcast_to(real_array("slack", 0.1 if slack is None else slack, low=0.0), g.shape).copy()
    return g, eps, model


def layer_sensitivity(gain_sq, *, slack=None, layers=None, model="worst_case") -> LayerSensitivity:
    """s^(ℓ) = Π_{m>ℓ} (1 + ε_m) G_m for ℓ = 1..L (s^(L) = 1).

    ``gain_sq``: G_m, shape (L,) or a scalar with ``layers`` = L. ``slack``: ε_m > 0 (worst
    case; default 0.1), shape (L,) or scalar; must be 0/None for ``model="uncorrelated"``."""
    g, eps, model = _layer_sensitivity_iv(gain_sq, slack, layers, model)
    factors = (1.0 + eps) * g
    # s^(ℓ) = product of the factors of the layers after ℓ: reversed cumulative product, shifted.
    s = np.ones(g.size)
    s[:-1] = np.cumprod(factors[::-1])[::-1][1:]
    weights = 1.0 + 1.0 / eps if model == "worst_case" else np.ones(g.size)
    if np.min(s) <= 0:
        raise ValueError("`gain_sq` must be positive for the sensitivity ratio to be finite")
    return LayerSensitivity(
        model=model, gain_sq=g, slack=eps, sensitivities=s, noise_weights=weights, ratio=float(np.max(s) / np.min(s))
    )


# --------------------------------------------------------------------------- rate allocation
@dataclass(frozen=True)
class RateAllocation:
    """Reverse water-filling of ``total_rate_bits`` over layers with weights w_ℓ = s^(ℓ)σ_ℓ²
    for D(R) = Σ w_ℓ 2^{−2R_ℓ}, against the uniform split R/L.

    ``distortion_ratio`` = uniform / optimal ≥ 1; ``rate_penalty_bits`` = extra total rate the
    uniform split needs to match the optimal distortion = (L/2) log2(distortion_ratio);
    ``all_layers_active`` (every R_ℓ > 0) is the case where distortion_ratio = AM/GM(w)."""

    total_rate_bits: float
    weights: np.ndarray
    rates_bits: np.ndarray
    water_level: float
    distortion: float
    uniform_distortion: float
    distortion_ratio: float
    rate_penalty_bits: float
    am_gm_ratio: float
    all_layers_active: bool
    theorem_id: str = THEOREM_ID


def allocate_rate(weights, total_rate_bits) -> RateAllocation:
    """Optimal R_ℓ = max(0, ½ log2(w_ℓ/θ)) with Σ R_ℓ = R (θ the water level), shape (L,).

    ``weights`` w_ℓ > 0 (e.g. ``LayerSensitivity.sensitivities * variances``), ``total_rate_bits`` ≥ 0."""
    w = real_array("weights", weights, low=0.0)
    if w.ndim != 1 or w.size == 0:
        raise ValueError(f"`weights` must be a non-empty 1-D array, got shape {w.shape}")
    R = real_scalar("total_rate_bits", total_rate_bits, low=0.0, low_open=False)
    L = w.size
    # Work in log2 to avoid overflow: layers sorted by weight; with the k largest active,
    # log2 θ = (Σ_{top k} log2 w − 2R)/k; take the largest k for which all k are above θ.
    lw = np.sort(np.log2(w))[::-1]
    k_values = np.arange(1, L + 1)
    log_thetas = (np.cumsum(lw) - 2.0 * R) / k_values
    # the largest layer is always active when R > 0 (lw[0] > lw[0] − 2R), also under round-off
    active = (lw > log_thetas) | (k_values == 1)
    k = int(k_values[active][-1]) if R > 0 else 0
    log_theta = float(log_thetas[k - 1]) if k else float(lw[0])
    rates = np.maximum(0.0, 0.5 * (np.log2(w) - log_theta))
    rates *= R / rates.sum() if rates.sum() > 0 else 0.0  # remove round-off in Σ R_ℓ
    distortion = float(np.sum(w * 2.0 ** (-2.0 * rates)))
    uniform = float(np.sum(w) * 2.0 ** (-2.0 * R / L))
    am_gm = float(np.mean(w) / 2.0 ** np.mean(np.log2(w)))
    ratio = uniform / distortion
    return RateAllocation(
        total_rate_bits=R,
        weights=w,
        rates_bits=rates,
        water_level=2.0**log_theta,
        distortion=distortion,
        uniform_distortion=uniform,
        distortion_ratio=ratio,
        rate_penalty_bits=0.5 * L * float(np.log2(ratio)),
        am_gm_ratio=am_gm,
        all_layers_active=bool(np.all(rates > 0)),
    )


def geometric_am_gm(ratio, layers) -> float:
    """AM/GM of L weights in geometric progression with max/min = ``ratio`` κ (the sensitivities
    of identical layers): (κ^{L/(L−1)} − 1) / (L (κ^{1/(L−1)} − 1) κ^{1/2}); 1 if L = 1 or κ = 1."""
    kappa = real_scalar("ratio", ratio, low=1.0, low_open=False)
    L = positive_int("layers", layers)
    if L == 1 or kappa == 1.0:
        return 1.0
    log_q = np.log(kappa) / (L - 1)
    if log_q == 0.0:  # κ within round-off of 1: every weight equal
        return 1.0
    return float(np.expm1(L * log_q) / (L * np.expm1(log_q) * np.sqrt(kappa)))
