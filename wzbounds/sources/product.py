"""Independent product of two sources: X_t = (Y_t, W_t) with the components independent.

I_w adds (proofs/hmm_geometric.md, part 4): the conditional mutual information of independent
pairs is the sum of the conditional mutual informations. A power-law source times a geometric
one gives a curve with both regimes.
"""

from __future__ import annotations

import numpy as np

from .base import Source, generator_iv


class Product(Source):
    """``Product(a, b)`` of two independent ``Source`` objects."""

    theorem_id = "hmm_geometric"

    def __init__(self, a: Source, b: Source):
        for name, src in (("a", a), ("b", b)):
            if not isinstance(src, Source):
                raise ValueError(f"`{name}` must be a wzbounds.sources Source, got {type(src).__name__}")
        self.a, self.b = a, b

    def __repr__(self):
        return f"Product({self.a!r}, {self.b!r})"

    @property
    def risk_is_exact(self) -> bool:
        return self.a.risk_is_exact and self.b.risk_is_exact

    @property
    def max_exact_window(self) -> int:
        return min(self.a.max_exact_window, self.b.max_exact_window)

    @property
    def divergence(self) -> str:
        return "kl_nats"

    def _bayes_risk_nats(self, w):
        return self.a._bayes_risk_nats(w) + self.b._bayes_risk_nats(w)

    def sample(self, n: int, rng: np.random.Generator):
        """``(a.sample(n, rng), b.sample(n, rng))``, drawn in that order from the same ``rng``."""
        rng = generator_iv(rng)
        return self.a.sample(n, rng), self.b.sample(n, rng)

    def profile(self, divergence: str = "kl_nats"):
        """Not available as a single PowerLaw/Exponential: the sum of two envelopes is neither.
        Use ``bayes_risk`` on a grid with ``wzbounds.profiles.Tabulated``."""
        raise ValueError("Product has no closed-form profile; tabulate `bayes_risk` instead")
