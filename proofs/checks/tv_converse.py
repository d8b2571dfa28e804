"""Machine check of proofs/tv_converse.md: part 1 on random finite joint laws against random
decoders and the TV-optimal decoder (a linear program), its sharpness, part 2 on random batches,
part 2c (the direct route from the Bayes predictor) on random joint laws and on part 3's extremal
family, where a constant above 2 fails, and the library's conversions against that family."""
import importlib.util
from pathlib import Path

import mpmath
import numpy as np
import sympy as sp
from scipy.optimize import linprog


#: Part 2c's constant: I_w >= K_DIRECT (E TV(p_t, pbar_w))^2.
K_DIRECT = 2


def _laws():
    spec = importlib.util.spec_from_file_location("_laws", Path(__file__).with_name("_laws.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tv(p, q):
    return 0.5 * np.abs(p - q).sum(axis=-1)


def _min_mean_tv(weights, laws):
    """min over q in the simplex of sum_f weights_f TV(laws_f, q): LP with slacks s_fx >= |p_fx - q_x|."""
    n_f, V = laws.shape
    # variables: q (V), s (n_f * V); minimise 0.5 * sum_f w_f sum_x s_fx
    c = np.concatenate([np.zeros(V), 0.5 * np.repeat(weights, V)])
    eye = np.eye(V)
    rows, rhs = [], []
    for f in range(n_f):
        block = np.zeros((V, n_f * V))
        block[:, f * V:(f + 1) * V] = -np.eye(V)
        rows += [np.hstack([eye, block]), np.hstack([-eye, block])]   # q - s <= p, -q - s <= -p
        rhs += [laws[f], -laws[f]]
    res = linprog(c, A_ub=np.vstack(rows), b_ub=np.concatenate(rhs),
                  A_eq=np.concatenate([np.ones(V), np.zeros(n_f * V)])[None, :], b_eq=[1.0],
                  bounds=[(0, 1)] * V + [(0, None)] * (n_f * V), method="highs")
    assert res.status == 0
    return res.fun


def _check_part1(rng):
    for _ in range(60):
        n_f, n_w, V = (int(x) for x in rng.integers(2, 5, size=3))
        joint = rng.dirichlet(np.full(n_f * n_w * V, float(rng.choice([0.2, 1.0]))), ).reshape(n_f, n_w, V)
        P_fw = joint.sum(axis=2)
        p_t = joint / P_fw[..., None]                                # P(x | f, w)
        pbar = joint.sum(axis=0) / joint.sum(axis=(0, 2))[:, None]    # P(x | w)
        bayes = float(np.sum(P_fw * _tv(p_t, pbar[None])))
        q = rng.dirichlet(np.ones(V), size=n_w)                       # a random suffix decoder
        assert float(np.sum(P_fw * _tv(p_t, q[None]))) >= 0.5 * bayes - 1e-12  # float sums of <= 64 terms
        best = sum(_min_mean_tv(P_fw[:, u], p_t[:, u]) for u in range(n_w))
        assert best >= 0.5 * bayes - 1e-9  # LP solver tolerance (HiGHS, 1e-9 feasibility)
        assert best <= bayes + 1e-9        # the Bayes predictor is one of the decoders


def _check_sharpness():
    s = sp.symbols("s", positive=True)
    ratio = s / (2 * s * (1 - s))
    assert sp.simplify(ratio - 1 / (2 * (1 - s))) == 0 and sp.limit(ratio, s, 0) == sp.Rational(1, 2)
    for sv in ("0.1", "0.001", "1e-9"):
        sv = mpmath.mpf(sv)
        pbar = [1 - sv, sv]
        mean_bayes = (1 - sv) * (abs(1 - pbar[0]) + abs(pbar[1])) / 2 + sv * (abs(pbar[0]) + abs(1 - pbar[1])) / 2
        mean_q = (1 - sv) * 0 + sv * 1
        assert abs(mean_q / mean_bayes - 1 / (2 * (1 - sv))) < mpmath.mpf(10) ** -40


def _check_part2(rng):
    laws = _laws()
    for _ in range(40):
        batch = list(laws.random_laws(rng, int(rng.integers(1, 12))))
        kls = [laws.kl(p, q) for p, q in batch]
        tvs = [laws.tv(p, q) for p, q in batch]
        n = len(batch)
        mean_kl, mean_tv2, mean_tv = mpmath.fsum(kls) / n, mpmath.fsum(t ** 2 for t in tvs) / n, mpmath.fsum(tvs) / n
        slack = mpmath.mpf(10) ** -40
        assert mean_kl >= 2 * mean_tv2 - slack and mean_tv2 >= mean_tv ** 2 - slack


def _random_joint(rng):
    """(P(f, w), p_t = P(x | f, w), pbar_w = P(x | w)) of a random finite joint law."""
    n_f, n_w, V = (int(x) for x in rng.integers(2, 5, size=3))
    joint = rng.dirichlet(np.full(n_f * n_w * V, float(rng.choice([0.2, 1.0])))).reshape(n_f, n_w, V)
    P_fw = joint.sum(axis=2)
    return P_fw, joint / P_fw[..., None], joint.sum(axis=0) / joint.sum(axis=(0, 2))[:, None]


def _extremal(delta):
    """Part 3's family as a law: (I_w, E TV(p_t, pbar_w)), pbar_w = E p_t computed from it."""
    laws = _laws()
    half = mpmath.mpf(1) / 2
    weighted = [(half, [half + delta, half - delta]), (half, [half - delta, half + delta])]
    pbar = [mpmath.fsum(w * p[i] for w, p in weighted) for i in range(2)]
    return (mpmath.fsum(w * laws.kl(p, pbar) for w, p in weighted),
            mpmath.fsum(w * laws.tv(p, pbar) for w, p in weighted))


def _check_direct_route(rng):
    """Part 2c on part 3's family (K_DIRECT holds there, and 2.0002 fails: the constant is sharp),
    on random joint laws (I_w and the Bayes predictor's mean TV from the law), and part 3's series."""
    for delta in ("0.3", "0.01", "0.001"):
        risk, mean_tv = _extremal(mpmath.mpf(delta))
        assert abs(mean_tv - mpmath.mpf(delta)) < mpmath.mpf(10) ** -45  # 50-digit rounding of 1/2 +- delta
        assert risk >= K_DIRECT * mean_tv ** 2
    risk, mean_tv = _extremal(mpmath.mpf("0.001"))
    assert risk < 2 * mpmath.mpf("1.0001") * mean_tv ** 2      # any constant >= 2.0002 fails here
    for _ in range(60):
        P_fw, p_t, pbar = _random_joint(rng)
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(p_t > 0, p_t * np.log(p_t / pbar[None]), 0.0)
        risk = float(np.sum(P_fw * terms.sum(axis=2)))
        mean_tv = float(np.sum(P_fw * _tv(p_t, pbar[None])))
        assert risk >= K_DIRECT * mean_tv ** 2 - 1e-12  # float sums of <= 64 terms
    d = sp.symbols("delta", positive=True)
    kl = ((1 + 2 * d) * sp.log(1 + 2 * d) + (1 - 2 * d) * sp.log(1 - 2 * d)) / 2
    assert sp.expand(sp.series(kl, d, 0, 6).removeO() - (2 * d ** 2 + sp.Rational(4, 3) * d ** 4)) == 0


def _check_library():
    from wzbounds.divergences import kl_lower_from_tv, tv_converse_profile
    from wzbounds.profiles import PowerLaw

    # part 2c against part 3's family: it is independent of W, so E TV(p_t, pbar_w) = delta meets a
    # Bayes envelope delta w^-alpha at every w >= 1, and at w = 1 the library's bound must not exceed I_w
    delta = 1e-3
    bayes = PowerLaw(0.4, 1.0, c=delta, divergence="tv")
    direct = kl_lower_from_tv(bayes, bayes_predictor=True)
    with mpmath.workdps(50):
        risk, _ = _extremal(mpmath.mpf(delta))
        assert direct.c <= risk                                     # the library's constant holds here
        assert direct.c == K_DIRECT * delta ** 2 and direct.alpha == 0.8
    chained = kl_lower_from_tv(tv_converse_profile(bayes))  # the chain takes the direct route too
    assert (chained.c, chained.route) == (direct.c, "bayes_predictor")
    tv = PowerLaw(0.4, 1.5, c=0.3, w0=4, divergence="tv")
    k = kl_lower_from_tv(tv)
    assert (k.alpha, k.c, k.w0) == (0.8, 2 * 0.3 ** 2, 4)
    k2 = kl_lower_from_tv(PowerLaw(0.8, 2.0, c=0.2, divergence="tv2"))
    assert (k2.alpha, k2.c) == (0.8, 0.4)
    half = tv_converse_profile(tv)
    assert half.c == 0.15 and half.C == tv.C and half.alpha == tv.alpha


def check():
    rng = np.random.default_rng(20261112)
    _check_part1(rng)
    with mpmath.workdps(50):
        _check_sharpness()
        _check_part2(rng)
        _check_direct_route(rng)
    _check_library()


if __name__ == "__main__":
    check()
    print("tv_converse: ok")
