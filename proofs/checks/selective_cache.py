"""Machine check for proofs/selective_cache.md: sympy for each algebraic step (knapsack exchange,
Zipf-tail integrals, exponent arithmetic, ζ-cancellation in K(β)); mpmath for the statement at many
β; brute force over all value-oblivious selections on truncated-Zipf instances, and over all
bit-dependent single-token rules on 3 keys (the loophole of part 7)."""
import importlib.util
import itertools
from pathlib import Path

import mpmath
import numpy as np
import sympy as sp
from scipy.optimize import linprog


def _helpers():
    spec = importlib.util.spec_from_file_location("_caches", Path(__file__).with_name("_caches.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _check_algebra():
    m, eps, a_c, b_c, x, d = sp.symbols("m epsilon A B x d", positive=True)
    beta = 1 + d  # β > 1, written so sympy knows β - 1 > 0
    # Part 2: Σ_{k≤m}(1-x_k) - Σ_{k>m} x_k = m - Σ_k x_k (exchange identity), on symbolic vectors
    for n_keys, mm in [(4, 2), (6, 3), (5, 1)]:
        xs = sp.symbols(f"x1:{n_keys + 1}")
        lhs = sum(1 - xs[i] for i in range(mm)) - sum(xs[i] for i in range(mm, n_keys))
        assert sp.expand(lhs - (mm - sum(xs))) == 0
    # Part 5: ∫_a^∞ x^-β dx = a^(1-β)/(β-1) for β > 1
    integral = sp.integrate(x ** -(1 + d), (x, m, sp.oo))
    assert sp.simplify(integral - m ** (-d) / d) == 0
    # ratio of the two tail bounds -> 1
    assert sp.limit(((m + 1) / m) ** (-d), m, sp.oo) == 1
    # x(ε) = (B/ε)^(1/(β-1)) solves B x^(1-β) = ε
    x_eps = (b_c / eps) ** (1 / (beta - 1))
    assert sp.simplify(sp.powdenest(b_c * x_eps ** (1 - beta), force=True) - eps) == 0
    # Part 6: w(ε) = (A/ε)^(β/(β-1)) solves A w^-(1-1/β) = ε
    w_eps = (a_c / eps) ** (beta / (beta - 1))
    assert sp.simplify(sp.powdenest(a_c * w_eps ** -(1 - 1 / beta), force=True) - eps) == 0
    # exponent of ε in w/m is -1 exactly
    assert sp.simplify(-beta / (beta - 1) + 1 / (beta - 1) + 1) == 0
    ratio_log = sp.expand_log(sp.log(w_eps / x_eps), force=True)
    k_log = sp.expand_log(sp.log(a_c ** (beta / (beta - 1)) * b_c ** (-1 / (beta - 1)) / eps), force=True)
    assert sp.simplify(ratio_log - k_log) == 0
    # ζ cancels: A^β / B with A = Γ(1-1/β) ζ^(-1/β)/β, B = 1/((β-1) ζ)
    zeta = sp.symbols("zeta", positive=True)
    gam = sp.gamma(1 - 1 / beta)
    a_val = gam * zeta ** (-1 / beta) / beta
    b_val = 1 / ((beta - 1) * zeta)
    a_pow = sp.powdenest(sp.expand_power_base(a_val ** beta, force=True), force=True)
    assert sp.simplify(a_pow / b_val - gam ** beta * (beta - 1) / beta ** beta) == 0
    # α-forms: α = 1 - 1/β ⇒ 1/(β-1) = 1/α - 1 and β/(β-1) = 1/α
    alpha = 1 - 1 / beta
    assert sp.simplify(1 / (beta - 1) - (1 / alpha - 1)) == 0
    assert sp.simplify(beta / (beta - 1) - 1 / alpha) == 0


def _check_tail_numerics():
    """Part 5 at many β and m (mpmath, 40 digits): two-sided bounds and the bracket on m(ε)."""
    for beta in [mpmath.mpf(b) for b in np.linspace(1.05, 5.0, 17)]:
        zeta = mpmath.zeta(beta)
        b_c = 1 / ((beta - 1) * zeta)
        for m in [1, 2, 10, 100, 10 ** 4, 10 ** 8, 10 ** 15]:
            tail = mpmath.zeta(beta, m + 1) / zeta
            assert b_c * mpmath.mpf(m + 1) ** (1 - beta) <= tail <= b_c * mpmath.mpf(m) ** (1 - beta), (beta, m)
        for eps in [mpmath.mpf(10) ** -j for j in (1, 2, 4, 7)]:
            xe = (b_c / eps) ** (1 / (beta - 1))
            if xe > 10 ** 30:
                continue
            # exact m(ε) by bisection on the Hurwitz zeta, then the bracket of part 5
            lo, hi = 0, int(mpmath.ceil(xe))
            assert mpmath.zeta(beta, hi + 1) / zeta <= eps
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if mpmath.zeta(beta, mid + 1) / zeta <= eps:
                    hi = mid
                else:
                    lo = mid
            assert xe - 1 <= hi <= mpmath.ceil(xe), (beta, eps, hi, xe)


def _check_ratio_numerics():
    """Part 6: ε·w(ε)/m(ε) → K(β), with the exact windows from the package evaluators."""
    from wzbounds.caches import theory
    from wzbounds.sources.santa_fe import SantaFe

    # (β, ε, relative tolerance): tolerances from the computed convergence — m(ε) is within 1 of
    # x(ε) (part 5, relative error ≤ 1/m) and I_w's next-order term (santa_fe.md)
    for beta, eps, tol in [(1.5, 1e-3, 1e-5), (2.0, 1e-5, 1e-4), (2.5, 1e-5, 1e-2), (3.0, 1e-5, 1e-2)]:
        source = SantaFe(beta)
        r = theory.memory_ratio(eps, source)
        assert r.suffix_window_tokens >= r.selective_memory_tokens
        gam = mpmath.gamma(1 - 1 / mpmath.mpf(beta))
        k_val = (gam ** beta * (beta - 1) / mpmath.mpf(beta) ** beta) ** (1 / mpmath.mpf(beta - 1))
        assert abs(r.ratio * eps / k_val - 1) < tol, (beta, eps, r.ratio * eps, k_val)
        assert abs(r.asymptotic_ratio * eps / k_val - 1) < 1e-12
    # part 4 for every small window: I_w > T(w)
    for beta in (1.2, 1.5, 2.0, 4.0):
        source = SantaFe(beta)
        w = np.arange(1, 200)
        assert np.all(source.bayes_risk(w, unit="bits") > [source.tail_mass(int(k)) for k in w])


def _check_knapsack(h):
    """Part 2 against a linear program on random non-increasing p."""
    rng = np.random.default_rng(6)
    for _ in range(40):
        n = int(rng.integers(2, 12))
        p = np.sort(rng.dirichlet(np.ones(n)))[::-1]
        budget = float(rng.uniform(0, n))
        lp = linprog(-p, A_ub=np.ones((1, n)), b_ub=[budget], bounds=[(0, 1)] * n, method="highs")
        # LP solver tolerance ~1e-9 on a problem with entries ≤ 1
        assert abs((p.sum() + lp.fun) - h.knapsack_min(p, budget)) < 1e-9
        mm = int(np.floor(budget))
        assert h.knapsack_min(p, mm) == p[mm:].sum()


def _check_value_oblivious_brute_force(h):
    """Part 3 on n keys with a past of L tokens: for every past key sequence and every kept set of
    ≤ m positions, the exact distortion Σ p_k H(Z_k | kept bits) (enumerating Z) is ≥ T(m); its
    minimum is the 'latest of the top-m present keys' formula; with every key present it is T(m)."""
    for n, length, beta in [(3, 4, 1.5), (4, 4, 2.0), (3, 3, 1.1)]:
        p = h.truncated_zipf(n, beta)
        for m in range(0, n + 1):
            tail = p[m:].sum()
            rule_min = 0.0
            for past in itertools.product(range(n), repeat=length):
                best = np.inf
                for size in range(0, m + 1):
                    for kept in itertools.combinations(range(length), size):
                        keys = sorted({past[s] for s in kept})
                        # the cache given the past keys: the bits of the kept keys (an integer code)
                        codes = sum(h.bit_table(n)[:, k] << j for j, k in enumerate(keys)) if keys \
                            else np.zeros(2 ** n, dtype=np.int64)
                        dist = float(h.conditional_entropies(codes[None, :], n)[0] @ p)
                        # 1e-12: float sums of ≤ 16 terms of size ≤ 1
                        assert dist >= tail - 1e-12
                        best = min(best, dist)
                present = sorted(set(past))
                formula = p.sum() - p[present[:m]].sum()
                assert abs(best - formula) < 1e-12, (n, m, past, best, formula)
                if len(present) == n:
                    assert abs(best - tail) < 1e-12
                rule_min += best / n ** length  # uniform weighting is enough: the min is per past
            assert rule_min >= tail - 1e-12


def _check_loopholes(h):
    """Part 7 on 3 keys, all present: every bit-dependent choice of ONE kept token g: {0,1}^3 → key."""
    n = 3
    z = h.bit_table(n)
    for beta in (1.1, 1.5, 3.0):
        p = h.truncated_zipf(n, beta)
        tail1 = p[1:].sum()
        choices = np.array(list(itertools.product(range(n), repeat=2 ** n)))  # (3^8, 8) kept key per Z
        kept_bit = z[np.arange(2 ** n)[None, :], choices]
        content = h.conditional_entropies(choices * 2 + kept_bit, n) @ p  # decoder sees (key, bit)
        # (a) content-only decoder: the minimum is below T(1); each rule obeys the bits bound
        assert content.min() < tail1 - 1e-3
        entropy = h.code_entropy(choices * 2 + kept_bit)
        for dist, ent in zip(content, entropy):
            assert dist >= h.knapsack_min(p, ent) - 1e-12
        # (b) key-local decoder: for key k it sees only (is a key-k token kept, its bit)
        local = np.zeros(choices.shape[0])
        for k in range(n):
            view = np.where(choices == k, 1 + z[:, k][None, :], 0)
            local += p[k] * h.conditional_entropies(view, n)[:, k]
        example = np.where(z[:, 0] == 0, 0, 1)  # keep key 1 if Z_1 = 0 else key 2
        idx = int(np.flatnonzero((choices == example[None, :]).all(axis=1))[0])
        assert abs(local[idx] - (tail1 - p[1] / 2)) < 1e-12
        assert local.min() < tail1 - 1e-3


def check():
    h = _helpers()
    _check_algebra()
    with mpmath.workdps(40):
        _check_tail_numerics()
        _check_ratio_numerics()
    _check_knapsack(h)
    _check_value_oblivious_brute_force(h)
    _check_loopholes(h)


if __name__ == "__main__":
    check()
    print("selective_cache: ok")
