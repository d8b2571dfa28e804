"""Slow checks of the cache rate-distortion solver (proofs/cache_rate_distortion.md, part 9): it reaches
the exact curve on many random laws with |T| = 2 (fine-grid linear program), and on the 64 x 8 x 8
benchmark law it converges and agrees with a much tighter run."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from wzbounds.sources import HMM
from wzbounds.wz import cache_rate_distortion, hmm_cache_law

_spec = importlib.util.spec_from_file_location(
    "cache_rd_check", Path(__file__).resolve().parents[2] / "proofs" / "checks" / "cache_rate_distortion.py")
check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(5))
def test_solver_reaches_the_grid_lp(seed):
    """cache_rate_distortion, part 9: on random laws with two sufficient pasts the solver's upper bound
    is within 2e-6 bits of the grid LP (itself an upper bound within ~1e-7 of the exact curve at 4000
    grid points; 2e-6 = the solver's 1e-6 gap target plus the worst local minimum seen, 4e-7) and never
    below the certified lower bound."""
    rng = np.random.default_rng(1000 + seed)
    for _ in range(5):
        law = check._random_law(rng, (2, int(rng.integers(1, 4)), int(rng.integers(2, 4))))
        d0 = cache_rate_distortion(law, 0.0, rng=rng, n_betas=2, refine_steps=0).zero_rate_distortion_bits
        D = d0 * np.array([0.1, 0.4, 0.7, 0.95])
        band = cache_rate_distortion(law, D, rng=rng)
        exact = check._grid_lp(law, D)
        assert np.all(band.rate_bits <= exact + 2e-6)
        assert np.all(band.lower_bound_bits <= band.rate_bits + 1e-12)


@pytest.mark.slow
def test_benchmark_law_converges():
    """cache_rate_distortion on the benchmark law (8-symbol 4-state HMM, 2-token past): 20 targets
    reach a gap below 1e-6 bits and agree with a run at 1e-9 and six restarts to 2e-6 bits (the two
    gaps plus the local minima seen on this law, ≤ 3e-7)."""
    rng = np.random.default_rng(12)
    law = hmm_cache_law(HMM(0.75 * np.eye(4) + 0.25 * rng.dirichlet(np.ones(4), size=4),
                            rng.dirichlet(np.full(8, 0.4), size=4)), 2)
    assert law.p_sqx.shape == (64, 8, 8)
    d0 = cache_rate_distortion(law.p_sqx, 0.0, rng=rng, n_betas=2, refine_steps=0).zero_rate_distortion_bits
    D = d0 * np.arange(1, 21) / 21
    fast = cache_rate_distortion(law.p_sqx, D, rng=np.random.default_rng(0))
    tight = cache_rate_distortion(law.p_sqx, D, rng=np.random.default_rng(1), tol_bits=1e-9, n_restarts=6,
                                  max_iter=5000)
    assert fast.converged and np.all(fast.gap_bits <= 1e-6)
    assert np.all(np.abs(fast.rate_bits - tight.rate_bits) <= 2e-6)
    assert np.all(np.abs(fast.rate_without_side_info_bits - tight.rate_without_side_info_bits) <= 2e-6)
