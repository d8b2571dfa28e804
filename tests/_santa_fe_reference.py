"""Two independent high-precision evaluations of the Santa Fe risk sum_k p_k (1-p_k)^w (bits),
used to test ``SantaFe.bayes_risk`` (which uses exact head + closed-form-integral Euler-Maclaurin)."""
import math

import mpmath
import numpy as np


def direct_bits(beta, w):
    """Direct float64 summation to N with w p_N <= 0.02 (math.fsum per 1e7-term chunk), plus the
    tail sum_{k>N} by the binomial expansion of (1-p)^w with Hurwitz zeta values (mpmath)."""
    z = float(mpmath.zeta(beta))
    N = max(1000, int(math.ceil((w / 0.02 / z) ** (1 / beta))) + 10)
    parts = []
    for s in range(1, N + 1, 10 ** 7):
        k = np.arange(s, min(N, s + 10 ** 7 - 1) + 1, dtype=np.float64)
        p = np.exp(-beta * np.log(k)) / z
        parts.append(math.fsum(p * np.exp(w * np.log1p(-p))))
    with mpmath.workdps(30):
        zm = mpmath.zeta(beta)
        tail, j, binom = mpmath.mpf(0), 0, mpmath.mpf(1)
        while True:
            term = binom * (-1) ** j * mpmath.zeta((j + 1) * beta, N + 1) / zm ** (j + 1)
            tail += term
            if abs(term) < 1e-25 * abs(tail):
                break
            j += 1
            binom = binom * (w - j + 1) / j
    return math.fsum(parts) + float(tail)


def quad_em_bits(beta, w, dps=25, scale=20, terms=10):
    """mpmath head sum to K, then Euler-Maclaurin with the integral by mpmath.quad (split
    geometrically around the peak; far tail by term-wise binomial integration) and derivatives by
    mpmath.diff. Shares no code or closed form with the evaluator under test."""
    with mpmath.workdps(dps):
        b = mpmath.mpf(beta)
        z = mpmath.zeta(b)

        def f(x):
            return x ** (-b) / z * mpmath.exp(w * mpmath.log1p(-x ** (-b) / z))

        K = int(max(4 * scale * beta, float((4 * scale * b * max(w, 1) / z) ** (1 / (1 + b))))) + 3
        head = mpmath.fsum(f(mpmath.mpf(k)) for k in range(1, K))
        peak = max(K, float((w * b / z) ** (1 / b)))
        X = max(K, int(float((w * 1000 / z) ** (1 / b))) + 1)  # w p(X) <= 1e-3
        pts = [K] + [peak * 2 ** j for j in range(-6, 200) if K < peak * 2 ** j < X] + [X]
        integral = mpmath.quad(f, pts) if X > K else mpmath.mpf(0)
        far, j, binom = mpmath.mpf(0), 0, mpmath.mpf(1)
        while True:
            term = binom * (-1) ** j * mpmath.mpf(X) ** (1 - (j + 1) * b) / (z ** (j + 1) * ((j + 1) * b - 1))
            far += term
            if abs(term) < mpmath.mpf(10) ** (-dps) * abs(far):
                break
            j += 1
            binom = binom * (w - j + 1) / j
        corr = f(K) / 2 - mpmath.fsum(mpmath.bernoulli(2 * i) / mpmath.factorial(2 * i)
                                      * mpmath.diff(f, K, 2 * i - 1) for i in range(1, terms + 1))
        return float(head + integral + far + corr)
