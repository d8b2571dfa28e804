"""Machine check of proofs/tv_converse.md: part 1 on random finite joint laws against random
decoders and the TV-optimal decoder (a linear program), its sharpness, part 2 on random batches,
and the library's conversions."""
import importlib.util
from pathlib import Path

import mpmath
import numpy as np
import sympy as sp
from scipy.optimize import linprog


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


def _check_library():
    from wzbounds.divergences import kl_lower_from_tv, tv_converse_profile
    from wzbounds.profiles import PowerLaw

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
    _check_library()


if __name__ == "__main__":
    check()
    print("tv_converse: ok")
