"""Slow coverage study for the prefix bootstrap of wzbounds.fitting (run with -m slow)."""
import numpy as np
import pytest

from wzbounds.fitting import bootstrap_power_law

WINDOWS = 2.0 ** np.arange(10)  # 1 .. 512 tokens
ALPHA, C, SIGMA = 0.6, 2.0, 0.5


def _table(rng, n_prefixes):
    """Per-prefix scale times independent noise, both mean-1 log-normal: E mean curve = C w^-alpha."""
    scale = np.exp(SIGMA * rng.standard_normal((n_prefixes, 1)) - SIGMA ** 2 / 2)
    noise = np.exp(SIGMA * rng.standard_normal((n_prefixes, WINDOWS.size)) - SIGMA ** 2 / 2)
    return scale * noise * C * WINDOWS ** -ALPHA


@pytest.mark.slow
@pytest.mark.parametrize("method", ["percentile", "bca"])
@pytest.mark.parametrize("n_prefixes", [40, 200])
def test_bootstrap_alpha_coverage_near_nominal(method, n_prefixes):
    """With >= 40 prefixes the 95 % CI for alpha covers the true alpha at 0.95 within sampling error
    and the bootstrap's known small-sample undercoverage (~0.93 at 40 prefixes, measured)."""
    rng = np.random.default_rng(2026)
    reps = 1000
    hits = sum(
        lo <= ALPHA <= hi
        for lo, hi in (bootstrap_power_law(_table(rng, n_prefixes), WINDOWS, rng, 1000, method=method).alpha_ci
                       for _ in range(reps)))
    # binomial sd at 1000 reps is 0.007: [0.905, 0.985] is ~6 sd below (undercoverage allowance)
    # and ~5 sd above 0.95
    assert 0.905 <= hits / reps <= 0.985
