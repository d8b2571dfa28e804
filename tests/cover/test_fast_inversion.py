"""The fast tiers of the exact inversions return exactly the integers the exact path returns.

Windows (``wzbounds._inversion``: float64, double-double, the closed form once in mpmath) and
block-average blocks (``wzbounds._block_average``: float64, double-double and mpmath anchors):
random profiles of every kind and the built-in profiles, targets placed at, just above and just
below the boundaries (U(w), or the block average A(b), computed in mpmath), each answer checked
in mpmath with ``U(w) <= eps < U(w - 1)`` (``A(b) <= eps < A(b - 1)``), for every scheme. The
error bounds each tier decides with are checked against mpmath directly. A wrong integer is a
far worse defect than a slow one: every bound here must hold, not just usually."""
from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest

from wzbounds import _block_average, _dd, _inversion, window_for_epsilon
from wzbounds.profiles import Exponential, LogPowerLaw, PowerLaw, Tabulated, builtin_profiles, load_profile
from wzbounds.schemes.block import _exact_block

KINDS = ["power_law", "exponential", "log_power_law", "tabulated", "builtin"]
SCHEMES = ["sliding", "sink", "block", "block-average"]


@pytest.fixture
def rng():
    return np.random.default_rng(20260423)


def _random_profile(kind: str, rng):
    if kind == "builtin":
        names = builtin_profiles()
        return load_profile(names[int(rng.integers(len(names)))])
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


def _boundary_targets(profile, rng, k=40, top=34.0):
    """Targets at U(w) for random w up to 10**top (past double-double's 2**90: the closed-form
    mpmath tier), one ulp below and above (the hardest cases)."""
    env = profile.upper_envelope
    ws = sorted({int(v) for v in rng.integers(profile.w0, profile.w0 + 50, 5)} |
                {int(10 ** t) for t in rng.uniform(0, top, k)})
    out = []
    for w in ws:
        w = max(int(w), profile.w0)
        with mpmath.workdps(60):
            u = float(env.value_mp(w))
        if u > 0:
            out += [u, np.nextafter(u, 0), np.nextafter(u, 1)]
    return np.array([e for e in out if 0 < e < 1e300])


@pytest.mark.parametrize("kind", KINDS)
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


def _td_value(t, k):
    return mpmath.mpf(t.a0[k]) + mpmath.mpf(t.a1[k]) + mpmath.mpf(t.a2[k])


def test_td_error_bounds_hold(rng):
    """Triple-double logs (of float64, of exact double-double integers, of triple-doubles whose
    lower parts are nonzero), sums and products: |computed - exact| <= err against mpmath at
    300 bits, and the bounds are not vacuous (below 2**-135 absolute on logs of size <= 710)."""
    f = np.concatenate([np.exp(rng.uniform(-700, 700, 300)), rng.uniform(1, 2, 200), 1 + rng.uniform(-1e-9, 1e-9, 50),
                        [1.0, 2.0, 0.5, np.nextafter(1.0, 0), np.nextafter(2.0, 0)]])
    hi = np.floor(10 ** rng.uniform(16, 38, 200))
    lo = np.rint(rng.uniform(-0.5, 0.5, 200) * np.spacing(hi))
    # triple-doubles with all three parts in use (x0 (1 + x1/x0 + x2/x0), parts ~2**-53 apart)
    x0 = rng.uniform(0.5, 40, 200)
    x1 = x0 * rng.uniform(-1, 1, 200) * 2.0 ** -53
    x2 = x1 * rng.uniform(-1, 1, 200) * 2.0 ** -53
    xt = _dd.TD(x0, x1, x2, np.zeros(200))
    yt = _dd.TD(x0[::-1], x1[::-1], x2[::-1], np.zeros(200))
    with mpmath.workprec(300):
        cases = [("log", _dd.td_log(f), [mpmath.log(mpmath.mpf(v)) for v in f]),
                 ("log_int", _dd.td_log_int(hi, lo), [mpmath.log(int(h) + int(v)) for h, v in zip(hi, lo)]),
                 ("log_td", _block_average._td_log_of(xt), [mpmath.log(_td_value(xt, k)) for k in range(200)]),
                 ("add", _dd.td_add(xt, _dd.td_neg(yt)), [_td_value(xt, k) - _td_value(yt, k) for k in range(200)]),
                 ("mul", _dd.td_mul(xt, yt), [_td_value(xt, k) * _td_value(yt, k) for k in range(200)])]
        for name, got, truth in cases:
            for k, t in enumerate(truth):
                assert abs(_td_value(got, k) - t) <= got.err[k], (name, k)
            if name.startswith("log"):
                assert np.max(got.err) < 2.0 ** -135, name


def test_float_tier_never_decides_nan(rng):
    """A NaN solution or bound is undecided (it used to pass as window w0: issue 18 item 5)."""
    class NanEnvelope:
        def inverse(self, eps, dtype):
            return np.full(eps.shape, np.nan), np.full(eps.shape, np.nan)

    _, unsafe, _ = _inversion._float_tier(np.array([0.1, 0.2]), NanEnvelope(), 1, np.float64)
    assert unsafe.all()


# --- every scheme, block-average included --------------------------------------------------------
def _block_targets(profile, rng, k=10, top=33.0):
    """Targets at A(b) for blocks b in every tier's range (summed small blocks, table segments,
    the family in float64, double-double and mpmath), one ulp below and above."""
    env = profile.upper_envelope
    bs = sorted({max(int(b), profile.w0) for b in [profile.w0, profile.w0 + 1, 40, 64, 65, 300]} |
                {max(int(10 ** t), profile.w0) for t in rng.uniform(1, top, k)})
    out = []
    for b in bs:
        with mpmath.workdps(_digits(b) + 40 + env.guard_digits):
            a = float(env.block_average_mp(b))
        if 0 < a < 1e300:
            out += [a, np.nextafter(a, 0), np.nextafter(a, 1)]
    return np.array(out)


def _digits(n: int) -> int:
    return int(int(n).bit_length() * 0.30103) + 1


def _block_is_smallest(b: int, eps: float, profile) -> bool:
    """``A(b) <= eps < A(b - 1)`` (or ``b = w0``) in mpmath, the ties as ``_inversion._at_most``."""
    env = profile.upper_envelope
    with mpmath.workdps(max(_inversion.MIN_DIGITS, _digits(b) + 30) + env.guard_digits):
        target = mpmath.mpf(eps)
        if b < profile.w0 or not _inversion._at_most(env.block_average_mp(b), target):
            return False
        return b == profile.w0 or not _inversion._at_most(env.block_average_mp(b - 1), target)


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("kind", KINDS)
def test_every_scheme_returns_the_exact_smallest_size(kind, scheme, rng):
    """window_for_epsilon (every scheme x profile kind) at boundary targets: the size is the exact
    smallest integer, checked in mpmath (block-average: against the block average itself)."""
    checked = 0
    for _ in range(2):
        profile = _random_profile(kind, rng)
        eps = _block_targets(profile, rng) if scheme == "block-average" else _boundary_targets(profile, rng, k=12)
        try:
            sizes = window_for_epsilon(eps, profile, scheme).window_tokens
        except ValueError:
            continue  # some target needs > 1000 digits (a nearly flat table step): refused, never wrong
        for e, w in zip(eps, np.atleast_1d(sizes)):
            if scheme == "block-average":
                assert _block_is_smallest(int(w), float(e), profile), (profile, e, w)
            else:
                assert _inversion.verify_boundary(int(w), float(e), profile.upper_envelope, profile.w0), (profile, e, w)
            checked += 1
    assert checked >= 20


@pytest.mark.parametrize("kind", KINDS)
def test_block_tiers_agree_with_the_exact_search(kind, rng):
    """``_block_average.smallest_block`` alone: every block it decides equals the exact mpmath
    search's (``schemes.block._exact_block``), at boundary targets and at spread ones; it decides
    every spread target, and most boundary ones where an envelope has a family part (there
    double-double and mpmath resolve what float64 cannot; a geometric envelope has float64
    only, and its boundary targets go to the exact search)."""
    decided = total = 0
    for _ in range(2):
        profile = _random_profile(kind, rng)
        env = profile.upper_envelope
        if not env._block_fast():
            continue
        boundary = _block_targets(profile, rng, k=8)
        spread = np.geomspace(1e-12, 0.5, 25)
        try:
            blocks, undecided = _block_average.smallest_block(np.concatenate([boundary, spread]), env, profile.w0)
        except ValueError:
            continue
        for k, (e, b, u) in enumerate(zip(np.concatenate([boundary, spread]), blocks, undecided)):
            if k >= boundary.size:
                assert not u, (profile, e)
            else:
                total += 1
                decided += not u
            if not u:
                assert int(b) == _exact_block(float(e), profile), (profile, e, b)
    assert total >= 20
    assert kind == "exponential" or decided >= 0.6 * total


@pytest.mark.parametrize("tier", ["triple-double", "mpmath"])
def test_block_tiers_cover_huge_blocks(tier, monkeypatch):
    """Blocks of 2**96 .. 2**108 are decided by the triple-double anchors, or (a small batch
    before the log tables exist) by the mpmath anchors, equal to the exact search: a power law,
    a log-power law and tabulated power-law tails."""
    if tier == "triple-double":
        monkeypatch.setattr(_inversion, "_TD_MIN_BATCH", 1)
        monkeypatch.setattr(_block_average, "_TD_MIN_BATCH", 1)
    else:
        monkeypatch.setattr(_dd, "td_ready", lambda: False)
    profiles = [PowerLaw(0.35, 2.0), LogPowerLaw(0.4, 1.5, 0.3),
                Tabulated([1, 2, 5, 40], [1.0, 0.7, 0.5, 0.2], divergence="tv"),
                Tabulated([1, 8, 64, 512], [0.9, 0.5, 0.2, 0.1], tail_alpha=0.3)]
    for profile in profiles:
        env = profile.upper_envelope
        eps = []
        for b in (2 ** 96 + 12345, 3 ** 62, 2 ** 108 + 1):
            with mpmath.workdps(80):
                a = float(env.block_average_mp(b))
            eps += [a, np.nextafter(a, 0), np.nextafter(a, 1)]
        blocks, undecided = _block_average.smallest_block(np.array(eps), env, profile.w0)
        assert not undecided.any(), profile
        for e, b in zip(eps, blocks):
            assert int(b) == _exact_block(float(e), profile)


def test_block_remainder_bounds_hold_where_they_matter():
    """Steep power laws at small blocks, where the Euler-Maclaurin remainder (not the float64
    rounding) dominates the bound: the family's (alpha = 25) and a table segment's (slope 25)."""
    steep = [PowerLaw(25.0, 1.0), Tabulated([1, 100, 200, 400], [1.0, 0.5, 0.5 * 2.0 ** -25, 0.5 * 2.0 ** -26])]
    for profile in steep:
        env = profile.upper_envelope
        bs = np.array([65.0, 66.0, 70.0, 90.0, 120.0])
        val, err = env._block_float(bs)
        for b, v, e in zip(bs, val, err):
            assert np.isfinite(e)
            exact = _log_block_mp(env, int(b))
            with mpmath.workdps(40):
                assert abs(v - exact) <= e, (profile, b, float(v - exact), e)


def _log_block_mp(env, b):
    with mpmath.workdps(_digits(b) + 40 + env.guard_digits):
        return mpmath.log(env.block_average_mp(int(b)))


@pytest.mark.parametrize("kind", KINDS)
def test_block_error_bounds_hold(kind, rng):
    """The bound each block tier decides with holds against mpmath: float64 ``_block_float``
    (small blocks, table segments, geometric and family closed forms), the family in
    double-double and its mpmath anchor (main part + float64 corrections), and the float64
    differences between neighbouring blocks."""
    for _ in range(2):
        profile = _random_profile(kind, rng)
        env = profile.upper_envelope
        if not env._block_fast():
            continue
        bs = np.unique(np.concatenate([[profile.w0, 3, 64, 65, 200], 10 ** rng.uniform(0, 15, 12)]).astype(np.int64))
        bs = bs[bs >= profile.w0].astype(np.float64)
        val, err = env._block_float(bs)
        for b, v, e in zip(bs, val, err):
            if np.isfinite(e):
                exact = _log_block_mp(env, int(b))
                with mpmath.workdps(40):
                    assert abs(v - exact) <= e, (profile, b, float(v - exact), e)
        family = env._block_family()
        if family is None:
            continue
        big = [family.start + 3, 10 ** 9 + 7, 2 ** 60 + 1, 2 ** 101 + 3]
        hi = np.array([float(b) for b in big])
        lo = np.array([float(b - int(h)) for b, h in zip(big, hi)])
        dd = family.log_average_dd(hi, lo)
        for k, b in enumerate(big):
            exact = _log_block_mp(env, b)
            with mpmath.workdps(60):
                assert abs(mpmath.mpf(dd.hi[k]) + dd.lo[k] - exact) <= dd.err[k], (profile, b)
            td = family.log_main_td(np.array([hi[k]]), np.array([lo[k]]))
            log_k, s, d, i0, i1 = family._mp(400)
            with mpmath.workprec(400):  # the triple-double main part against its formula
                truth = log_k - s * mpmath.log(b) + mpmath.log((1 + d * mpmath.log(b)) * i0 + d * i1)
                assert abs(_td_value(td, 0) - truth) <= td.err[0], (profile, b)
            prec = b.bit_length() + 64
            main, charges = family.log_main_hp(b, prec)
            corr, corr_err = family.log_corrections(np.array([float(b)]))
            log_k, s, d, i0, i1 = family._mp(prec + 200)
            with mpmath.workprec(prec + 200):  # the main part against its own formula, far finer
                truth = log_k - s * mpmath.log(b) + mpmath.log((1 + d * mpmath.log(b)) * i0 + d * i1)
                assert 0 < abs(mpmath.mpf(main) - truth) <= math.ldexp(charges, -prec), (profile, b)
            with mpmath.workdps(_digits(b) + 40):  # and the float64 corrections against A itself
                assert abs(truth + float(corr[0]) - exact) <= corr_err[0], (profile, b)
            n0 = np.array([float(b)])
            for dn in (-7.0, -1.0, 1.0, 12.0):
                d, e = family.difference(np.array([dn]), n0)
                with mpmath.workdps(_digits(b) + 40):
                    truth = _log_block_mp(env, b + int(dn)) - exact
                    assert abs(d[0] - truth) <= e[0], (profile, b, dn)


def test_closed_form_tier_agrees_with_the_boundary_search(rng):
    """``_inversion._smallest_window_hp`` (windows past 2**90, one per target) against the
    exact boundary search, at boundary targets, for every envelope kind with a closed form."""
    profiles = [PowerLaw(0.37, 2.6), LogPowerLaw(0.45, 1.2, 0.4), Exponential(1 - 1e-12, 3.0),
                Tabulated([1, 2, 3, 2047, 2048], [0.9, 0.8, 0.7, 0.1, 0.0999]),
                Tabulated([1, 10, 100], [0.9, 0.4, 0.2], tail_alpha=0.33)]
    decided = 0
    for profile in profiles:
        env = profile.upper_envelope
        for e in _boundary_targets(profile, rng, k=8, top=34.0):
            x, err = env.inverse(np.array([e]))
            estimate = float(x[0]) if abs(err[0]) <= 0.5 * x[0] else math.nan
            try:
                exact = _inversion._smallest_window_mp(float(e), env, profile.w0)
            except ValueError:
                continue
            got = _inversion._smallest_window_hp(float(e), env, profile.w0, estimate)
            if got is not None:
                decided += 1
                assert got == exact, (profile, e)
    assert decided >= 60


def test_closed_form_bounds_hold(rng):
    """``inverse_hp``'s relative bound (units of 2**-prec) holds against the solution at 200 more
    bits, and is not vacuous (the observed error is nonzero and the bound within 2**40 of it)."""
    profiles = [PowerLaw(0.37, 2.6), LogPowerLaw(0.45, 1.2, 0.4), Exponential(1 - 1e-12, 3.0),
                Tabulated([1, 2, 3, 2047, 2048], [0.9, 0.8, 0.7, 0.1, 0.0999]),
                Tabulated([1, 10, 100], [0.9, 0.4, 0.2], tail_alpha=0.33)]
    for profile in profiles:
        env = profile.upper_envelope
        for e in np.geomspace(1e-12, 1e-3, 6):
            prec = 160
            x, rel = env.inverse_hp(float(e), prec)
            with mpmath.workprec(prec + 200):
                truth = env.inverse_mp(mpmath.mpf(float(e)))
                err = abs(mpmath.mpf(x) - truth) / truth
                bound = math.ldexp(rel, -prec)
                assert 0 < err <= bound, (profile, e)
                assert bound < err * 2 ** 40, (profile, e)


def test_td_tier_agrees_with_the_boundary_search(rng):
    """``_inversion._td_tier`` (windows 2**90 .. 2**125, vectorised) against the exact boundary
    search at boundary targets: a power law and tabulated tails (two-point and ``tail_alpha``);
    its per-segment constants within their bounds of mpmath; most targets decided."""
    profiles = [PowerLaw(0.37, 2.6), Tabulated([1, 2, 3, 2047, 2048], [0.9, 0.8, 0.7, 0.1, 0.0999]),
                Tabulated([1, 10, 100], [0.9, 0.4, 0.2], tail_alpha=0.33)]
    decided = total = 0
    for profile in profiles:
        env = profile.upper_envelope
        eps = []
        for t in rng.uniform(27.5, 37, 12):
            with mpmath.workdps(80):
                u = float(env.value_mp(int(10 ** t)))
            eps += [u, np.nextafter(u, 0), np.nextafter(u, 1)]
        eps = np.array(eps)
        x = env.inverse_dd(eps)
        w = np.zeros(eps.size, dtype=np.int64)
        big = {}
        won = _inversion._td_tier(eps, env, x.hi, x.lo, profile.w0, np.arange(eps.size), w, big)
        total += eps.size
        decided += won.sum()
        for k in np.flatnonzero(won):
            got = big.get(k, int(w[k]))
            assert got == _inversion._smallest_window_mp(float(eps[k]), env, profile.w0), (profile, eps[k])
        c, s, _ = env.td_line(eps)
        with mpmath.workprec(300):
            for k in range(eps.size):
                truth = mpmath.log(env.value_mp(10 ** 40))  # on the last piece: c - s log w there
                assert abs(_td_value(c, k) - _td_value(s, k) * mpmath.log(10 ** 40) - truth) <= \
                    c.err[k] + s.err[k] * 93 + mpmath.mpf(10) ** -70, profile
    assert decided >= 0.6 * total
