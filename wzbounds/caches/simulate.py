"""Run the three cache policies on sampled Santa Fe paths and compare with the exact theory.

Each replicate draws ``burn_in + n_steps`` tokens with ``source.sample``; every policy starts with
an empty cache at the first token and its per-step excess log-loss (bits, see
``protocol``) is averaged over the last ``n_steps`` steps. The confidence interval is a Student-t
interval over the independent replicates. The exact expectation of that same cold-start average
(``expected_cold_start_bits``) is what the measured mean estimates; ``stationary_bits`` is the
theorem's infinite-past minimum, which it approaches as ``burn_in`` grows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from .._validation import positive_int, real_scalar
from ..fitting import fit_power_law
from ..sources.base import generator_iv
from . import theory
from .selective import TopKeysCache
from .sliding import SlidingWindow
from .summary import BitSummary

#: Policy name -> class; each is one file in this package.
POLICIES: dict[str, type[SlidingWindow | TopKeysCache | BitSummary]] = {
    "sliding": SlidingWindow,
    "selective": TopKeysCache,
    "summary": BitSummary,
}

#: Size limits, checked before sampling. A replicate holds its whole path in memory (about 90 bytes
#: per token at peak, measured), so one path is capped at ~4.5 GB; the total number of sampled tokens
#: caps the run time (about a microsecond per token for each policy and memory); replicates beyond
#: 10^5 add only per-path overhead to a t-interval that is already as narrow as its paths allow.
MAX_PATH_TOKENS = 50_000_000
MAX_TOTAL_TOKENS = 1_000_000_000
MAX_REPLICATES = 100_000


@dataclass(frozen=True)
class SimulationPoint:
    """One policy at one memory: measured mean excess log-loss with its CI, and the theory."""

    policy: str
    policy_class: str
    memory: int
    memory_unit: str
    mean_excess_bits: float
    ci_low_bits: float
    ci_high_bits: float
    expected_cold_start_bits: float
    stationary_bits: float
    theorem_id: str


@dataclass(frozen=True)
class ExponentFit:
    """Power-law exponent of distortion against memory for one policy.

    ``fitted_exponent`` fits the measured means over ``memories``, the memories at which every
    replicate lost something (a log-log fit needs positive losses); ``exponent_ci`` is a t-interval
    over per-replicate fits; ``theory_fit_exponent`` fits the exact expected curve at the same
    memories (finite-memory curvature included); ``asymptotic_exponent`` is the theorem's limit
    (1-1/β or β-1). With fewer than two such memories there is no fit: the three fitted fields are
    None and ``note`` says why.
    """

    policy: str
    memories: tuple[int, ...]
    fitted_exponent: float | None
    exponent_ci: tuple[float, float] | None
    theory_fit_exponent: float | None
    asymptotic_exponent: float
    note: str = ""


@dataclass(frozen=True)
class SimulationResult:
    beta: float
    n_steps: int
    burn_in: int
    replicates: int
    confidence_level: float
    points: tuple[SimulationPoint, ...]
    fits: tuple[ExponentFit, ...]
    per_replicate_bits: dict = field(repr=False, default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "beta": self.beta,
            "n_steps": self.n_steps,
            "burn_in": self.burn_in,
            "replicates": self.replicates,
            "confidence_level": self.confidence_level,
            "points": [vars(p) for p in self.points],
            "fits": [
                {
                    **vars(f),
                    "memories": list(f.memories),
                    "exponent_ci": None if f.exponent_ci is None else list(f.exponent_ci),
                }
                for f in self.fits
            ],
        }


def expected_cold_start_bits(memory: int, source, policy: str, start: int, stop: int) -> float:
    """Exact E[mean excess log-loss over steps start..stop-1] of ``policy`` started empty at step 0.

    At step t (t tokens seen): sliding loses Σ_k p_k (1-p_k)^{min(w,t)} = I_{min(w,t)};
    top-m / M-slot caches lose Σ_{k>m} p_k + Σ_{k≤m} p_k (1-p_k)^t (a key not yet seen is unknown).
    """
    if policy not in POLICIES:
        raise ValueError(f"`policy` must be one of {sorted(POLICIES)}, got {policy!r}")
    if not 0 <= start < stop:
        raise ValueError(f"`start` and `stop` must satisfy 0 <= start < stop, got {start}, {stop}")
    steps = stop - start
    if POLICIES[policy].policy_class == "suffix":
        ramp = np.arange(start, min(memory, stop))
        total = float(np.sum(source.bayes_risk(ramp, unit="bits"))) if ramp.size else 0.0
        total += (stop - max(start, memory)) * source.bayes_risk(memory, unit="bits") if stop > memory else 0.0
        return total / steps
    if memory == 0:
        return 1.0
    p = source.key_probabilities(np.arange(1, memory + 1))
    log_q = np.log1p(-p)
    # Σ_k p_k · mean_t (1-p_k)^t = Σ_k (1-p_k)^start (1 - (1-p_k)^steps) / steps
    warm = np.sum(np.exp(start * log_q) * -np.expm1(steps * log_q)) / steps
    return source.tail_mass(memory) + float(warm)


def _simulate_iv(source, memories, n_steps, rng, replicates, burn_in, policies, confidence_level):
    beta = getattr(source, "beta", None)
    if beta is None or not hasattr(source, "sample"):
        raise ValueError(f"`source` must be a Santa Fe source, got {source!r}")
    if isinstance(memories, (str, bytes)) or np.ndim(memories) != 1 or len(memories) == 0:
        raise ValueError(f"`memories` must be a non-empty 1-D sequence of integers >= 1, got {memories!r}")
    mems = tuple(sorted({positive_int("memories", m) for m in memories}))
    n_steps = positive_int("n_steps", n_steps, minimum=2)
    replicates = positive_int("replicates", replicates, minimum=2)
    if replicates > MAX_REPLICATES:
        raise ValueError(f"`replicates` must be <= {MAX_REPLICATES}, got {replicates}")
    burn_in = mems[-1] if burn_in is None else positive_int("burn_in", burn_in, minimum=0)
    path = burn_in + n_steps
    if path > MAX_PATH_TOKENS:
        raise ValueError(
            f"`burn_in` + `n_steps` = {path} tokens per path exceeds {MAX_PATH_TOKENS} "
            "(each path is held in memory; `burn_in` defaults to the largest of `memories`)"
        )
    if replicates * path > MAX_TOTAL_TOKENS:
        raise ValueError(
            f"`replicates` x (`burn_in` + `n_steps`) = {replicates * path} sampled tokens exceeds {MAX_TOTAL_TOKENS}"
        )
    if mems[-1] > path:
        raise ValueError(
            f"`memories` must be <= the path length `burn_in` + `n_steps` = {path}, "
            f"got {mems[-1]} (a cache larger than its path never fills)"
        )
    for name in policies:
        if name not in POLICIES:
            raise ValueError(f"`policies` must be drawn from {sorted(POLICIES)}, got {name!r}")
    level = real_scalar("confidence_level", confidence_level, low=0.0, high=1.0, high_open=True)
    return mems, n_steps, generator_iv(rng), replicates, burn_in, tuple(policies), level


def simulate(
    source,
    memories,
    n_steps,
    rng,
    *,
    replicates=8,
    burn_in=None,
    policies=("sliding", "selective", "summary"),
    confidence_level=0.95,
) -> SimulationResult:
    """Measure distortion against memory for each policy.

    Parameters
    ----------
    source : SantaFe
    memories : sequence of ints ≥ 1, the memory grid (tokens for sliding/selective, bits for summary).
    n_steps : measured steps per replicate (after ``burn_in`` unmeasured steps; default
        ``max(memories)`` so every sliding window is full when measuring starts).
    rng : numpy Generator; replicates use independent child generators.
    """
    mems, n_steps, rng, replicates, burn_in, policies, level = _simulate_iv(
        source, memories, n_steps, rng, replicates, burn_in, policies, confidence_level
    )
    per_rep = {(p, m): np.empty(replicates) for p in policies for m in mems}
    for r, child in enumerate(rng.spawn(replicates)):
        keys, bits = source.sample(burn_in + n_steps, child)
        for name in policies:
            for m in mems:
                per_rep[name, m][r] = POLICIES[name](m).batch_losses(keys, bits)[burn_in:].mean()
    # upper (1 - level)/2 quantile: isf keeps it finite for a level within 1e-16 of 1, where
    # ppf(0.5 + level/2) would round its argument to 1 and return inf
    t_crit = float(stats.t.isf((1.0 - level) / 2.0, replicates - 1))
    points = []
    for name in policies:
        cls = POLICIES[name]
        for m in mems:
            vals = per_rep[name, m]
            half = t_crit * vals.std(ddof=1) / math.sqrt(replicates)
            points.append(
                SimulationPoint(
                    name,
                    cls.policy_class,
                    m,
                    cls.memory_unit,
                    float(vals.mean()),
                    float(vals.mean() - half),
                    float(vals.mean() + half),
                    expected_cold_start_bits(m, source, name, burn_in, burn_in + n_steps),
                    theory.min_distortion(m, source, cls.policy_class).distortion_kl_bits,
                    theory.THEOREM_IDS[cls.policy_class],
                )
            )
    fits = tuple(_fit(name, mems, per_rep, points, source, t_crit) for name in policies)
    return SimulationResult(
        float(source.beta),
        n_steps,
        burn_in,
        replicates,
        level,
        tuple(points),
        fits,
        {f"{p}:{m}": v for (p, m), v in per_rep.items()},
    )


def _fit(name, mems, per_rep, points, source, t_crit):
    """Exponent fits over the memories where every replicate saw a positive loss (logs need it)."""
    usable = [m for m in mems if np.all(per_rep[name, m] > 0)]
    consts = theory.asymptotic_constants(source)
    asym = consts.suffix_exponent if POLICIES[name].policy_class == "suffix" else consts.selective_exponent
    if len(usable) < 2:
        # one memory, or a large beta or memory: the cache (almost) never misses on these paths
        note = (
            f"not fitted: an exponent needs 2 memories, {len(mems)} given"
            if len(mems) < 2
            else f"not fitted: every replicate lost something at only {len(usable)} of {len(mems)} memories "
            "and a log-log fit needs 2 (use smaller memories or beta, or more steps)"
        )
        return ExponentFit(name, tuple(usable), None, None, None, asym, note)
    w = np.asarray(usable, dtype=np.float64)
    mean = np.array([per_rep[name, m].mean() for m in usable])
    reps = np.array([[per_rep[name, m][r] for m in usable] for r in range(len(per_rep[name, usable[0]]))])
    slopes = np.array([fit_power_law(w, row).alpha for row in reps])
    half = t_crit * slopes.std(ddof=1) / math.sqrt(slopes.size)
    expected = np.array([p.expected_cold_start_bits for p in points if p.policy == name and p.memory in usable])
    return ExponentFit(
        name,
        tuple(usable),
        fit_power_law(w, mean).alpha,
        (float(slopes.mean() - half), float(slopes.mean() + half)),
        fit_power_law(w, expected).alpha,
        asym,
    )


def streaming_losses(policy, keys, bits) -> np.ndarray:
    """Run ``policy`` token by token from an empty cache: -log2 q(bit) per step, shape (n,).

    The slow reference the vectorised ``batch_losses`` must equal (used by the tests).
    """
    policy.reset()
    out = np.empty(len(keys))
    for t, (k, z) in enumerate(zip(keys.tolist(), bits.tolist(), strict=True)):
        q1 = policy.prob_bit_one(k)
        q = q1 if z == 1 else 1.0 - q1
        out[t] = -math.log2(q) if q > 0 else math.inf
        policy.observe(k, z)
    return out
