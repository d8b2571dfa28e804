"""Cache budget for a target distortion, for any measured cache policy.

``budget_for_epsilon(eps, profile, context_tokens=T)`` inverts a policy profile
(:class:`wzbounds.profiles.PolicyProfile`, written by ``wzbounds policies``): the smallest budget
``k`` whose measured upper curve at context length ``T`` is ``<= eps``, the kvpress
``compression_ratio`` that keeps exactly those entries, and the bytes. ``window_for_epsilon``
answers the same for a policy profile (one result vocabulary: :class:`BudgetResult`).

Budget vocabulary (the measurement's, ``empirical/policies/semantics.py``): a context of ``T``
tokens is the ``T - 1`` cached tokens and the query; the budget ``k`` counts the tokens the query
sees — the ``k - 1`` kept cache entries and itself. A kvpress press compressing a ``T - 1``-token
context keeps ``compute_n_kept(T - 1, r) = max(1, int((T - 1)(1 - r)))`` entries, so the ratio
reported is one with exactly ``k - 1`` kept (``r ~ 1 - k/T``).

Theorem ``measured_policy_envelope``; assumptions ``measured-policy-envelope`` and, away from a
measured context, ``context-interpolation``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from ._validation import real_array
from .memory import KVMemorySpec
from .profiles import PolicyProfile
from .profiles.envelopes import PowerEnvelope

__all__ = ["BudgetResult", "budget_for_epsilon", "kvpress_compression_ratio"]

#: Steps of one ulp each that ``kvpress_compression_ratio`` may take from ``1 - kept/context``:
#: the rounding of ``1 - (1 - m/n)`` and of ``n (1 - r)`` is a few ulp, so 64 is generous.
_MAX_ULP_STEPS = 64


@dataclass(frozen=True, eq=False)
class BudgetResult:
    """The cache budget a policy needs for a target distortion ``eps``.

    Array fields have the shape of ``eps`` (scalars for scalar ``eps``).

    Attributes
    ----------
    eps : the target, in ``divergence`` units (a mean over the measured text's positions).
    divergence : the unit of ``eps`` and ``distortion_bound``.
    policy, semantics : the policy and eviction semantics the profile measured.
    context_tokens : T, the context length answered (cached tokens and the query).
    context_status : ``"measured"``, ``"interpolated"`` (log T between measured lengths) or
        ``"extrapolated"`` (asked for; outside the measured lengths).
    contexts_used : the measured context lengths the curve comes from.
    budget_tokens : k, the smallest budget whose upper curve is ``<= eps`` (tokens the query
        sees: the kept cache entries and itself); int64.
    cache_tokens : ``k - 1``, the cache entries kept of the ``T - 1`` before the query.
    compression_ratio : the kvpress ``compression_ratio`` keeping exactly ``cache_tokens``
        of a ``T - 1``-token context (0.0 when nothing needs evicting); float64.
    memory_bytes : ``k`` tokens of KV cache in bytes, with a ``KVMemorySpec``; else None.
    distortion_bound : the upper curve at the budget, ``<= eps``.
    eps_range : ``(low, high)``: the targets the curve answers, its values at the last and
        first measured budget (outside, nothing was measured).
    budgets_measured_tokens : ``(first, last)`` budget of the curve.
    power_law_budget_tokens : the budget of the power law fitted to the mean curve,
        ``C k^-alpha <= eps`` (a central estimate, not an envelope; None without a decaying fit).
    power_law_budget_ci_tokens : ``(low, high)`` of that budget over the corners of the fit's
        ``alpha_ci x C_ci`` box, or None.
    theorem_ids, assumptions : ids in ``wzbounds.theorems``.
    profile : the one-context profile the answer inverts (``PolicyProfile.at_context``).
    memory_spec : the ``KVMemorySpec`` given, or None.
    """

    eps: object
    divergence: str
    policy: str
    semantics: str
    context_tokens: int
    context_status: str
    contexts_used: tuple
    budget_tokens: object
    cache_tokens: object
    compression_ratio: object
    memory_bytes: object
    distortion_bound: object
    eps_range: tuple
    budgets_measured_tokens: tuple
    power_law_budget_tokens: object
    power_law_budget_ci_tokens: object
    theorem_ids: tuple
    assumptions: tuple
    profile: object
    memory_spec: object

    def to_dict(self) -> dict:
        """JSON-ready dict (arrays become lists)."""
        from .bounds import _jsonable
        from .profiles import profile_to_dict

        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "profile":
                v = profile_to_dict(v)
            elif f.name == "memory_spec":
                v = None if v is None else {**vars(v), "bytes_per_token": v.bytes_per_token}
            out[f.name] = _jsonable(v)
        return out


def kvpress_compression_ratio(context_tokens: int, kept_tokens: int) -> float:
    """A float ``r`` in ``[0, 1)`` with ``max(1, int(context_tokens * (1 - r))) == kept_tokens``:
    kvpress's ``compute_n_kept`` (0.5.x) keeps exactly ``kept_tokens`` of a ``context_tokens``
    cache. ``0.0`` when ``kept_tokens >= context_tokens`` (nothing to evict).

    ``1 - kept/context`` alone can keep one entry fewer: ``context * (1 - r)`` may round to just
    below ``kept``, and ``int`` truncates; the ratio is moved by single ulps until it keeps
    exactly ``kept_tokens``.
    """
    n, m = int(context_tokens), int(kept_tokens)
    if n < 1 or m < 1:
        raise ValueError(
            f"`kept_tokens` must be >= 1 of `context_tokens` >= 1 (kvpress keeps at least one entry), got {m} of {n}"
        )
    if m >= n:
        return 0.0
    r = 1.0 - m / n
    for _ in range(_MAX_ULP_STEPS):
        kept = max(1, int(n * (1.0 - r)))
        if kept == m:
            return r
        r = float(np.nextafter(r, 0.0 if kept < m else 1.0))
    raise RuntimeError(f"no float ratio keeps {m} of {n} within {_MAX_ULP_STEPS} ulp of 1 - m/n")  # pragma: no cover


def _scalar(a):
    a = np.asarray(a)
    return a.item() if a.ndim == 0 else a


def _policy_profile_iv(profile) -> PolicyProfile:
    if not isinstance(profile, PolicyProfile):
        raise ValueError(
            f"`profile` must be a policy profile (a PolicyProfile written by `wzbounds policies`), got a "
            f"{getattr(profile, 'kind', type(profile).__name__)} profile: a truncation profile gives a "
            "window (window_for_epsilon), not a policy's budget"
        )
    return profile


def budget_for_epsilon(
    eps,
    profile,
    *,
    context_tokens: int | None = None,
    extrapolate: bool = False,
    memory: KVMemorySpec | None = None,
    divergence: str | None = None,
) -> BudgetResult:
    """Smallest cache budget of a measured policy with distortion ``<= eps`` at a context length.

    Parameters
    ----------
    eps : float or array, target distortion in the profile's divergence, inside the range the
        curve measured (``BudgetResult.eps_range``; outside it ``ValueError`` naming ``eps``).
    profile : a ``PolicyProfile``.
    context_tokens : T (cached tokens and the query). None: the profile's only context length.
    extrapolate : allow a ``context_tokens`` outside the measured lengths (the result says so).
    memory : optional ``KVMemorySpec`` for ``memory_bytes``.
    divergence : the unit of ``eps``; must be the profile's (None: it is).

    Returns
    -------
    BudgetResult whose array fields have the shape of ``eps``.
    """
    profile = _policy_profile_iv(profile)
    if memory is not None and not isinstance(memory, KVMemorySpec):
        raise ValueError(f"`memory` must be a KVMemorySpec or None, got {type(memory).__name__}")
    if divergence is not None and divergence != profile.divergence:
        raise ValueError(f"`divergence` {divergence!r} must match the profile's {profile.divergence!r}")
    if not isinstance(extrapolate, bool):
        raise ValueError(f"`extrapolate` must be True or False, got {extrapolate!r}")
    if context_tokens is None:
        if len(profile.context_tokens) != 1:
            raise ValueError(
                f"`context_tokens` is required: the profile was measured at {list(profile.context_tokens)}"
            )
        context_tokens = profile.context_tokens[0]
    curve = profile.curve(context_tokens, extrapolate=extrapolate)
    eps_arr = real_array("eps", eps, low=0.0)
    W, V = curve.budgets_tokens, curve.values
    lo, hi = float(V[-1]), float(V[0])
    if eps_arr.size and (np.any(eps_arr < lo) or np.any(eps_arr > hi)):
        bad = eps_arr[(eps_arr < lo) | (eps_arr > hi)].ravel()[0]
        raise ValueError(
            f"`eps` = {bad:g} lies outside the measured range [{lo:.4g}, {hi:.4g}] of the "
            f"{profile.semantics}/{profile.policy} curve at T = {curve.context_tokens} (budgets "
            f"{int(W[0])}..{int(W[-1])}); nothing was measured beyond it"
        )
    one = profile.at_context(curve.context_tokens, extrapolate=extrapolate)
    env = one.upper_envelope
    k = np.asarray(env.smallest_window(eps_arr, int(W[0])), dtype=np.int64)
    T = curve.context_tokens
    ratio = np.array(
        [kvpress_compression_ratio(T - 1, int(v) - 1) if v > 1 else np.nan for v in k.ravel()], dtype=np.float64
    ).reshape(k.shape)
    if np.any(np.isnan(ratio)):  # k = 1 keeps no cache entry, which kvpress cannot express
        raise ValueError(
            "`eps` is reached with budget 1 (no cache entry kept): kvpress keeps at least one; measure budgets >= 2"
        )
    pl, pl_ci = _power_law_budget(eps_arr, curve)
    assumptions = ("measured-policy-envelope",) + (() if curve.status == "measured" else ("context-interpolation",))
    return BudgetResult(
        eps=_scalar(eps_arr),
        divergence=profile.divergence,
        policy=profile.policy,
        semantics=profile.semantics,
        context_tokens=T,
        context_status=curve.status,
        contexts_used=curve.contexts_used,
        budget_tokens=_scalar(k),
        cache_tokens=_scalar(k - 1),
        compression_ratio=_scalar(ratio),
        memory_bytes=None if memory is None else _scalar(np.asarray(memory.bytes_for_tokens(k))),
        distortion_bound=_scalar(env.values(k)),
        eps_range=(lo, hi),
        budgets_measured_tokens=(int(W[0]), int(W[-1])),
        power_law_budget_tokens=pl,
        power_law_budget_ci_tokens=pl_ci,
        theorem_ids=(PolicyProfile.achievability_theorem,),
        assumptions=assumptions,
        profile=one,
        memory_spec=memory,
    )


def _power_law_budget(eps_arr, curve):
    """Budget of the fitted power law and its range over the CI box (None without a decaying fit)."""
    if curve.alpha is None or not curve.alpha > 0:
        return None, None

    def k_of(alpha, C):
        return np.asarray(PowerEnvelope(C, alpha).smallest_window(eps_arr, 1), dtype=object)

    k = _scalar(k_of(curve.alpha, curve.C))
    if curve.alpha_ci is None or curve.C_ci is None or not curve.alpha_ci[0] > 0:
        return k, None
    corners = np.stack([k_of(a, c) for a in curve.alpha_ci for c in curve.C_ci])
    return k, (_scalar(corners.min(axis=0)), _scalar(corners.max(axis=0)))
