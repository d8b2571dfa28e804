"""Random laws and exact (mpmath) divergences shared by the checks of pinsker,
reverse_pinsker and smoothing. Load with ``load_laws()`` from a check file (checks are run
by path, not as a package)."""
import mpmath
import numpy as np


def random_laws(rng, n_pairs, sizes=(2, 40)):
    """Yield ``n_pairs`` pairs (p, q) of mpmath laws on alphabets of size in ``sizes``,
    concentrations from sparse (many near-zero entries) to flat.

    Laws are normalised exactly in mpmath (float64 sums are off by ~1e-16, which would break
    exact identities); zero entries of q (sparse Dirichlet draws underflow) get a 1e-30 floor
    so KL stays finite and tiny q_i is exercised.
    """
    for _ in range(n_pairs):
        v = int(rng.integers(sizes[0], sizes[1] + 1))
        conc = float(rng.choice([0.05, 0.3, 1.0, 10.0]))
        p = [mpmath.mpf(x) for x in rng.dirichlet(np.full(v, conc))]
        q = [max(mpmath.mpf(x), mpmath.mpf(10) ** -30) for x in rng.dirichlet(np.full(v, conc))]
        yield [x / mpmath.fsum(p) for x in p], [x / mpmath.fsum(q) for x in q]


def kl(p, q):
    """KL(p||q) in nats (0 log 0 = 0)."""
    return mpmath.fsum(pi * mpmath.log(pi / qi) for pi, qi in zip(p, q) if pi > 0)


def tv(p, q):
    return mpmath.fsum(abs(pi - qi) for pi, qi in zip(p, q)) / 2


def chi2(p, q):
    return mpmath.fsum((pi - qi) ** 2 / qi for pi, qi in zip(p, q))
