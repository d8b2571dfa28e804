"""Machine check of achievability_tabulated: segment inversion (sympy), and the library's window
against a brute-force integer scan of an independent mpmath evaluation of the interpolant."""
import mpmath
import numpy as np
import sympy as sp

from wzbounds import Tabulated, window_for_epsilon


def _U(w, W, V, tail=None):
    """Independent mpmath log-log interpolant with the last segment extended, or beyond the last
    window the tail V_last (w / W_last)^-tail."""
    if tail is not None and w > W[-1]:
        return mpmath.mpf(V[-1]) * (mpmath.mpf(w) / W[-1]) ** -mpmath.mpf(tail)
    j = max(k for k in range(len(W) - 1) if W[k] <= w) if w < W[-1] else len(W) - 2
    lw0, lw1 = mpmath.log(W[j]), mpmath.log(W[j + 1])
    lv0, lv1 = mpmath.log(mpmath.mpf(V[j])), mpmath.log(mpmath.mpf(V[j + 1]))
    return mpmath.exp(lv0 + (mpmath.log(w) - lw0) * (lv1 - lv0) / (lw1 - lw0))


def check():
    L, lw0, lw1, lv0, lv1, le = sp.symbols("L lw0 lw1 lv0 lv1 le", real=True)
    piece = lv0 + (L - lw0) * (lv1 - lv0) / (lw1 - lw0)
    root = sp.solve(sp.Eq(piece, le), L)[0]
    assert sp.simplify(root - (lw0 + (le - lv0) * (lw1 - lw0) / (lv1 - lv0))) == 0
    assert sp.simplify(piece.subs(L, lw1) - lv1) == 0, "continuity at the next grid point"
    a = sp.symbols("a", positive=True)
    tail = lv1 - a * (L - lw1)
    assert sp.simplify(tail.subs(L, lw1) - lv1) == 0, "the tail starts at the last point"
    assert sp.simplify(sp.solve(sp.Eq(tail, le), L)[0] - (lw1 + (lv1 - le) / a)) == 0, "tail inversion"

    rng = np.random.default_rng(11)
    for _ in range(120):
        n = int(rng.integers(2, 7))
        W = np.cumsum(rng.integers(1, 30, size=n))
        V = float(10 ** rng.uniform(-1, 1)) * np.exp(-np.cumsum(rng.uniform(0.05, 1.0, size=n)))
        a = None if rng.random() < 0.5 else float(rng.uniform(0.2, 2.0))
        t = Tabulated(W, V, tail_alpha=a)
        Wl, Vl = [int(v) for v in t.windows], list(t.values)
        eps = float(Vl[-1] * 10 ** rng.uniform(-1.0, 1.5))
        w = window_for_epsilon(eps, t).window_tokens
        with mpmath.workdps(60):
            E = mpmath.mpf(eps) * (1 + mpmath.mpf(10) ** -50)
            assert w >= Wl[0] and _U(w, Wl, Vl, a) <= E, (Wl, Vl, a, eps, w)
            assert w == Wl[0] or _U(w - 1, Wl, Vl, a) > mpmath.mpf(eps), (Wl, Vl, a, eps, w)
            if w < 5000:  # brute-force scan from W_0 (U is non-increasing, so the first hit is the answer)
                first = next(v for v in range(Wl[0], w + 1) if _U(v, Wl, Vl, a) <= E)
                assert first == w
    # lower step envelope: I_w >= L_i for w <= W_i
    t = Tabulated([1, 2, 4, 8], [1.0, 0.5, 0.25, 0.125], lower_values=[0.5, 0.25, 0.1, 0.05])
    assert t.lower(np.arange(1, 10)).tolist() == [0.5, 0.25, 0.1, 0.1, 0.05, 0.05, 0.05, 0.05, 0.0]


if __name__ == "__main__":
    check()
