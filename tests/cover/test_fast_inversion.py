"""The fast tiers of the exact inversion (``wzbounds._inversion``: float64, then double-double)
return exactly the integers the exact path returns: random profiles of every kind, targets
placed at, just above and just below the boundaries U(w), each answer checked in mpmath with
``U(w) <= eps < U(w - 1)``. And the double-double error bounds bound the observed errors."""
from __future__ import annotations

import mpmath
import numpy as np
import pytest

from wzbounds import _dd, _inversion
from wzbounds.profiles import Exponential, LogPowerLaw, PowerLaw, Tabulated


@pytest.fixture
def rng():
    return np.random.default_rng(20260423)


def _random_profile(kind: str, rng):
    if kind == "power_law":
        return PowerLaw(alpha=rng.uniform(0.3, 3.0), C=rng.uniform(0.1, 5.0), w0=int(rng.integers(1, 50)))
    if kind == "exponential":
        return Exponential(rho=1 - 10 ** rng.uniform(-9, -0.5), C=rng.uniform(0.1, 5.0))
    if kind == "log_power_law":
        alpha = rng.uniform(0.3, 2.0)
        return LogPowerLaw(alpha=alpha, C=rng.uniform(1.0, 5.0), D=rng.uniform(0.0, alpha))
    # a noisy non-increasing table with a power-law tail, sometimes with a nearly flat step
    n = int(rng.integers(2, 30))
    w = np.unique(np.geomspace(1, 10 ** rng.uniform(1, 8), n).astype(np.int64))
    v = np.sort(rng.uniform(0.05, 1.0, w.size))[::-1] * w ** -rng.uniform(0.3, 1.5)
    if w.size >= 3 and rng.random() < 0.3:
        v[1] = np.nextafter(v[1], 1.0) if v[0] > np.nextafter(v[1], 1.0) else v[1]
    tail = None if rng.random() < 0.5 else rng.uniform(0.3, 1.5)
    return Tabulated(w, v, tail_alpha=tail)


def _boundary_targets(profile, rng, k=40):
    """Targets at U(w) for random w up to ~2**85, one ulp below and above (the hardest cases)."""
    env = profile.upper_envelope
    ws = np.unique(np.concatenate([rng.integers(profile.w0, profile.w0 + 50, 5),
                                   (10 ** rng.uniform(0, 25.5, k)).astype(object)]))
    out = []
    for w in ws:
        w = max(int(w), profile.w0)
        with mpmath.workdps(60):
            u = float(env.value_mp(w))
        if u > 0:
            out += [u, np.nextafter(u, 0), np.nextafter(u, 1)]
    return np.array([e for e in out if 0 < e < 1e300])


@pytest.mark.parametrize("kind", ["power_law", "exponential", "log_power_law", "tabulated"])
def test_fast_tiers_return_the_exact_smallest_window(kind, rng):
    """achievability (every kind): the vectorised answer w satisfies U(w) <= eps < U(w - 1)
    (or w = w0), checked in mpmath; windows beyond 1000 digits are refused for the whole call."""
    checked = 0
    for _ in range(6):
        profile = _random_profile(kind, rng)
        env = profile.upper_envelope
        eps = _boundary_targets(profile, rng)
        try:
            w = env.smallest_window(eps, profile.w0)
        except ValueError:
            continue  # some target needs > 1000 digits (a nearly flat table step): refused, never wrong
        for e, wi in zip(eps, w):
            assert _inversion.verify_boundary(int(wi), float(e), env, profile.w0), (profile, e, wi)
            checked += 1
    assert checked > 100


def test_dd_tier_agrees_with_the_exact_path_beyond_float64(rng):
    """The double-double tier alone (targets float64 cannot decide) gives the mpmath answers."""
    env = PowerLaw(alpha=0.44, C=1.0).upper_envelope
    eps = np.geomspace(1e-12, 1e-7, 300)  # windows 2**52 .. 2**90
    _, unsafe, _ = _inversion._float_tier(eps, env, 1, np.float64)
    assert unsafe.all()
    n_hi, n_lo, decided = _dd.ceil_decided(env.inverse_dd(eps), 1)
    assert decided.mean() > 0.9
    for e, h, lo, d in zip(eps, n_hi, n_lo, decided):
        if d:
            assert int(h) + int(lo) == _inversion._smallest_window_mp(float(e), env, 1)


def test_dd_error_bounds_hold(rng):
    """exp, log, div: |computed - exact| <= err against mpmath at 60 digits, over wide ranges,
    and the bounds are not vacuous (relative err below 2**-90)."""
    x = np.concatenate([rng.uniform(-700, 700, 300), rng.uniform(-1, 1, 300)])
    y = np.exp(rng.uniform(-700, 700, 300))
    a, b = rng.uniform(-10, 10, 300), rng.uniform(0.1, 10, 300)
    with mpmath.workdps(60):
        for name, got, truth in [
                ("exp", _dd.exp(_dd.exact(x)), [mpmath.exp(mpmath.mpf(v)) for v in x]),
                ("log", _dd.log(_dd.exact(y)), [mpmath.log(mpmath.mpf(v)) for v in y]),
                ("div", _dd.div(_dd.exact(a), _dd.exact(b)), [mpmath.mpf(u) / mpmath.mpf(v) for u, v in zip(a, b)])]:
            for hi, lo, err, t in zip(got.hi, got.lo, got.err, truth):
                assert abs(mpmath.mpf(hi) + mpmath.mpf(lo) - t) <= err, name
            assert np.median(got.err / np.abs(got.hi)) < 2.0 ** -90, name


def test_float_tier_never_decides_nan(rng):
    """A NaN solution or bound is undecided (it used to pass as window w0: issue 18 item 5)."""
    class NanEnvelope:
        def inverse(self, eps, dtype):
            return np.full(eps.shape, np.nan), np.full(eps.shape, np.nan)

    _, unsafe, _ = _inversion._float_tier(np.array([0.1, 0.2]), NanEnvelope(), 1, np.float64)
    assert unsafe.all()
