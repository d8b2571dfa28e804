"""Brute-force helpers shared by the checks of selective_cache and summary_cache: exact
conditional entropies H(Z_k | C) when Z is uniform on {0,1}^n and the cache C = f(Z) is given
as a table of integer codes (one row per cache rule). Load by path (checks are not a package)."""
import numpy as np


def truncated_zipf(n, beta):
    """p_k ∝ k^-beta on keys 1..n, normalised (non-increasing, as the theorems need)."""
    p = np.arange(1, n + 1, dtype=np.float64) ** -beta
    return p / p.sum()


def bit_table(n):
    """(2^n, n) array: row z holds the bits Z_1..Z_n of the integer z (Z_k = bit k-1 of z)."""
    z = np.arange(2 ** n)
    return (z[:, None] >> np.arange(n)) & 1


def conditional_entropies(codes, n):
    """H(Z_k | C) in bits, shape (F, n), for codes of shape (F, 2^n): row f is the cache C = f(Z)."""
    codes = np.asarray(codes)
    n_codes = int(codes.max()) + 1
    onehot = (codes[..., None] == np.arange(n_codes)).astype(np.float64)  # (F, 2^n, n_codes)
    count = onehot.sum(axis=1)                                              # (F, n_codes)
    ones = np.einsum("fzc,zk->fck", onehot, bit_table(n).astype(np.float64))
    with np.errstate(invalid="ignore", divide="ignore"):
        q = np.where(count[..., None] > 0, ones / np.maximum(count[..., None], 1), 0.0)
        h = -(np.where(q > 0, q * np.log2(q), 0.0) + np.where(q < 1, (1 - q) * np.log2(1 - q), 0.0))
    return np.einsum("fc,fck->fk", count / 2 ** n, h)


def code_entropy(codes):
    """H(C) in bits for each row of codes (F, 2^n), Z uniform."""
    codes = np.asarray(codes)
    n_codes = int(codes.max()) + 1
    prob = (codes[..., None] == np.arange(n_codes)).mean(axis=1)
    return -np.sum(np.where(prob > 0, prob * np.log2(np.where(prob > 0, prob, 1.0)), 0.0), axis=1)


def knapsack_min(p, budget):
    """min Σ p_k (1 - x_k) over x ∈ [0,1]^n, Σ x ≤ budget, p non-increasing (greedy, fractional)."""
    p = np.asarray(p, dtype=np.float64)
    full = int(np.floor(budget))
    rest = p[full:].sum()
    if full < p.size:
        rest -= (budget - full) * p[full]
    return max(rest, 0.0)
