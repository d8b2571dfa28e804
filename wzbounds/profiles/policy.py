"""Policy profiles: a cache policy's measured distortion curve over its budget ``k``.

A ``PolicyProfile`` is what ``wzbounds policies`` writes per (semantics, policy): for each
measured context length ``T_j`` (tokens up to and including the query, as ``--prefix-len``) the
budgets ``k`` (tokens the query sees: the kept cache entries and itself) and an upper curve
``U_j(k)`` — the upper end of the prefix-bootstrap interval of the mean divergence, made
non-increasing — plus the power law fitted to the mean curve in ``k`` with its CIs.

Rules (``proofs/measured_policy_envelope.md``):

- At a measured context, ``U_j`` interpolates log-log between the measured budgets and claims
  nothing outside ``[k_first, k_last]`` (a budget there is refused, never extrapolated).
- Between two measured contexts ``T_j < T < T_{j+1}``, with ``lam = log(T/T_j) / log(T_{j+1}/T_j)``,
  ``U_T(k) = U_j(k)^(1-lam) U_{j+1}(k)^lam`` on the budgets both curves cover (it is non-increasing,
  and its budget for any target lies between the two measured ones).
- Outside the measured contexts nothing is claimed unless extrapolation is asked for: then the same
  formula with ``lam`` outside ``[0, 1]`` (one measured context: its curve unchanged), made
  non-increasing, restricted to budgets below ``T``; the answer says it was extrapolated.

The profile is a ``Profile`` like any other: with one context its ``upper_envelope`` is that
curve; with several, choose one with ``at_context(T)`` (or ``wzbounds.budget.budget_for_epsilon``).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from .._validation import positive_int, real_array, real_scalar
from ..units import check_divergence
from .base import Profile, provenance_iv
from .envelopes import LogLogEnvelope
from .tabulated import _windows_iv

#: What a context length is, relative to the measured ones (``PolicyCurve.status``).
CONTEXT_STATUSES = ("measured", "interpolated", "extrapolated")


@dataclass(frozen=True)
class PolicyCurve:
    """The curve of a policy profile at one context length.

    ``budgets_tokens`` (int64) and ``values`` (float64, positive, non-increasing) define the
    log-log interpolant; ``status`` is one of ``CONTEXT_STATUSES``; ``contexts_used`` the
    measured context lengths it comes from; ``weight`` the ``lam`` of the log-T interpolation
    (None at a measured context); the power law ``alpha``, ``C`` and their CIs at this context
    (None when the profile carries no fit)."""

    context_tokens: int
    budgets_tokens: np.ndarray
    values: np.ndarray
    status: str
    contexts_used: tuple
    weight: float | None
    alpha: float | None
    alpha_ci: tuple | None
    C: float | None
    C_ci: tuple | None


@dataclass(frozen=True, eq=False)
class PolicyProfile(Profile):
    """A cache policy's measured distortion curve over the budget (see the module docstring).

    Parameters
    ----------
    policy, semantics : the policy label (``"kvpress:snapkv"``) and eviction semantics
        (``"prefill"``, ``"truncation"`` or ``"streaming"``) measured.
    context_tokens : strictly increasing context lengths T_j (ints >= 2), at least one.
    budgets_tokens : per context, strictly increasing budgets in ``[1, T_j - 1]``, at least two.
    values : per context, the upper curve at those budgets: finite, positive, non-increasing.
    divergence : unit of ``values`` (``"kl_nats"``, ``"kl_bits"``, ``"tv"``, ``"tv2"``).
    alpha, C : optional, per context, the power law ``C k^-alpha`` fitted to the mean curve.
    alpha_ci, C_ci : optional, per context, their ``(low, high)`` confidence intervals.
    provenance : dict (model sha256, corpus, semantics, policy fingerprint, sanity verdict...).
    """

    kind: ClassVar[str] = "policy"
    achievability_theorem: ClassVar[str] = "measured_policy_envelope"
    upper_assumption: ClassVar[str] = "measured-policy-envelope"
    lower_prefix: ClassVar[str] = "policy"

    policy: str
    semantics: str
    context_tokens: tuple
    budgets_tokens: tuple
    values: tuple
    divergence: str = "kl_nats"
    alpha: tuple | None = None
    alpha_ci: tuple | None = None
    C: tuple | None = None
    C_ci: tuple | None = None
    provenance: dict | None = field(default=None, compare=False)

    def __post_init__(self):
        _policy_profile_iv(self)

    # --- the Profile interface (one context) ---------------------------------------------
    def _single(self) -> int:
        if len(self.context_tokens) != 1:
            raise ValueError(
                f"`context_tokens`: this policy profile was measured at several context lengths "
                f"{list(self.context_tokens)}; choose one with at_context(T) or "
                "budget_for_epsilon(..., context_tokens=T)"
            )
        return 0

    @property
    def upper_envelope(self) -> LogLogEnvelope:
        j = self._single()
        return LogLogEnvelope(
            np.asarray(self.budgets_tokens[j], dtype=np.int64),
            np.asarray(self.values[j], dtype=np.float64),
            "none",
            None,
        )

    @property
    def lower_envelope(self):
        return None  # a measured curve only upper-bounds anything (CONVENTIONS.md)

    @property
    def w0(self) -> int:
        return int(self.budgets_tokens[self._single()][0])

    def describe(self) -> str:
        parts = [f"T={t}: k {b[0]}..{b[-1]}" for t, b in zip(self.context_tokens, self.budgets_tokens, strict=True)]
        return f"PolicyProfile {self.semantics}/{self.policy}, " + "; ".join(parts) + f" [{self.divergence}]"

    # --- context lengths -----------------------------------------------------------------
    def curve(self, context_tokens, *, extrapolate: bool = False) -> PolicyCurve:
        """The curve at context length ``context_tokens`` (int >= 2). Outside the measured
        context lengths ``ValueError`` naming ``context_tokens`` unless ``extrapolate``."""
        T = positive_int("context_tokens", context_tokens, minimum=2)
        Ts = self.context_tokens
        if T in Ts:
            j = Ts.index(T)
            return self._curve_from(T, (j,), None, "measured")
        inside = Ts[0] < T < Ts[-1]
        if not inside and not extrapolate:
            span = f"{Ts[0]}" if len(Ts) == 1 else f"[{Ts[0]}, {Ts[-1]}]"
            raise ValueError(
                f"`context_tokens` = {T} lies outside the measured context lengths {span}; "
                "measure it (policies --prefix-len), or ask to extrapolate"
            )
        if len(Ts) == 1:
            return self._curve_from(T, (0,), None, "extrapolated")
        j = int(np.searchsorted(Ts, T)) - 1 if inside else (0 if T < Ts[0] else len(Ts) - 2)
        lam = math.log(T / Ts[j]) / math.log(Ts[j + 1] / Ts[j])
        return self._curve_from(T, (j, j + 1), lam, "interpolated" if inside else "extrapolated")

    def _curve_from(self, T, js, lam, status) -> PolicyCurve:
        if lam is None:
            j = js[0]
            W = np.asarray(self.budgets_tokens[j], dtype=np.int64)
            V = np.asarray(self.values[j], dtype=np.float64)
            fit = self._fit(j)
        else:
            a, b = js
            Wa, Wb = (np.asarray(self.budgets_tokens[i], dtype=np.int64) for i in js)
            lo, hi = max(Wa[0], Wb[0]), min(Wa[-1], Wb[-1])
            W = np.union1d(Wa, Wb)
            W = W[(W >= lo) & (W <= hi)]
            if W.size < 2:
                raise ValueError(
                    f"`context_tokens` = {T}: the curves at {self.context_tokens[a]} and "
                    f"{self.context_tokens[b]} share fewer than two budgets"
                )
            la = np.log(self._envelope(a).values(W))
            lb = np.log(self._envelope(b).values(W))
            V = np.exp((1.0 - lam) * la + lam * lb)
            fit = self._fit_between(a, b, lam)
        if status == "extrapolated":
            W, V = W[W <= T - 1], V[W <= T - 1]
            if W.size < 2:
                raise ValueError(f"`context_tokens` = {T} is shorter than all but one measured budget")
            # lam outside [0, 1] weighs one curve negatively: the result need not be monotone
            V = np.maximum.accumulate(V[::-1])[::-1]
        return PolicyCurve(int(T), W, V, status, tuple(self.context_tokens[j] for j in js), lam, *fit)

    def _envelope(self, j) -> LogLogEnvelope:
        return LogLogEnvelope(
            np.asarray(self.budgets_tokens[j], dtype=np.int64),
            np.asarray(self.values[j], dtype=np.float64),
            "none",
            None,
        )

    def _fit(self, j):
        if self.alpha is None or self.C is None:  # both or neither (validated)
            return None, None, None, None
        return (
            self.alpha[j],
            None if self.alpha_ci is None else self.alpha_ci[j],
            self.C[j],
            None if self.C_ci is None else self.C_ci[j],
        )

    def _fit_between(self, a, b, lam):
        """The power law at the interpolated context: alpha and log C affine in log T (CI ends too)."""
        if self.alpha is None or self.C is None:  # both or neither (validated)
            return None, None, None, None

        def mix(x, y, log=False):
            return math.exp((1 - lam) * math.log(x) + lam * math.log(y)) if log else (1 - lam) * x + lam * y

        alpha = mix(self.alpha[a], self.alpha[b])
        C = mix(self.C[a], self.C[b], log=True)
        alpha_ci = C_ci = None
        if self.alpha_ci is not None:
            ends = sorted(mix(x, y) for x, y in zip(self.alpha_ci[a], self.alpha_ci[b], strict=True))
            alpha_ci = (min(ends[0], alpha), max(ends[1], alpha))
        if self.C_ci is not None:
            ends = sorted(mix(x, y, log=True) for x, y in zip(self.C_ci[a], self.C_ci[b], strict=True))
            C_ci = (min(ends[0], C), max(ends[1], C))
        return alpha, alpha_ci, C, C_ci

    def at_context(self, context_tokens, *, extrapolate: bool = False) -> PolicyProfile:
        """A one-context profile holding the curve at ``context_tokens`` (see ``curve``); its
        provenance records how it was obtained (``context_status``, ``contexts_used``)."""
        c = self.curve(context_tokens, extrapolate=extrapolate)

        def one(v):
            return None if v is None else (v,)

        prov = dict(self.provenance or {})
        prov.update(context_status=c.status, contexts_used=list(c.contexts_used), context_weight=c.weight)
        return PolicyProfile(
            self.policy,
            self.semantics,
            (c.context_tokens,),
            (tuple(int(k) for k in c.budgets_tokens),),
            (tuple(float(v) for v in c.values),),
            self.divergence,
            one(c.alpha),
            one(c.alpha_ci),
            one(c.C),
            one(c.C_ci),
            prov,
        )


def _per_context(name, value, n, convert):
    if not isinstance(value, (tuple, list)) or len(value) != n:
        raise ValueError(f"`{name}` must hold one entry per context length ({n})")
    return tuple(convert(f"{name}[{j}]", v) for j, v in enumerate(value))


def _ci(name, v):
    try:
        lo, hi = v
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` must be a (low, high) pair, got {v!r}") from None
    lo, hi = real_scalar(f"{name}[0]", lo), real_scalar(f"{name}[1]", hi)
    if lo > hi:
        raise ValueError(f"`{name}` must satisfy low <= high, got {v!r}")
    return (lo, hi)


def _policy_profile_iv(p: PolicyProfile) -> None:
    set_ = object.__setattr__
    for name in ("policy", "semantics"):
        if not isinstance(getattr(p, name), str) or not getattr(p, name):
            raise ValueError(f"`{name}` must be a non-empty string, got {getattr(p, name)!r}")
    Ts = p.context_tokens
    if not isinstance(Ts, (tuple, list)) or not Ts:
        raise ValueError("`context_tokens` must be a non-empty sequence of integers >= 2")
    Ts = tuple(positive_int(f"context_tokens[{j}]", t, minimum=2) for j, t in enumerate(Ts))
    if any(b <= a for a, b in itertools.pairwise(Ts)):
        raise ValueError(f"`context_tokens` must be strictly increasing, got {list(Ts)}")
    n = len(Ts)

    def budgets(name, v):
        try:
            W = _windows_iv(v)
        except ValueError as exc:
            raise ValueError(str(exc).replace("`windows`", f"`{name}`")) from None
        j = int(name[name.index("[") + 1 : -1])
        if W[-1] > Ts[j] - 1:
            raise ValueError(f"`{name}` must lie in [1, context - 1 = {Ts[j] - 1}], got {int(W[-1])}")
        return tuple(int(k) for k in W)

    W = _per_context("budgets_tokens", p.budgets_tokens, n, budgets)

    def curve(name, v):
        V = real_array(name, v, low=0.0)
        j = int(name[name.index("[") + 1 : -1])
        if V.ndim != 1 or V.size != len(W[j]):
            raise ValueError(f"`{name}` must have one value per budget ({len(W[j])})")
        if np.any(np.diff(V) > 0):
            raise ValueError(f"`{name}` must be non-increasing in the budget (an upper envelope)")
        return tuple(float(x) for x in V)

    V = _per_context("values", p.values, n, curve)
    set_(p, "context_tokens", Ts)
    set_(p, "budgets_tokens", W)
    set_(p, "values", V)
    set_(p, "divergence", check_divergence(p.divergence))
    if (p.alpha is None) != (p.C is None):
        raise ValueError("`alpha` and `C` go together (the fitted power law per context)")
    if p.alpha is None and (p.alpha_ci is not None or p.C_ci is not None):
        raise ValueError("`alpha_ci` and `C_ci` need `alpha` and `C`")
    if p.alpha is not None:
        set_(p, "alpha", _per_context("alpha", p.alpha, n, lambda nm, v: real_scalar(nm, v)))
        set_(p, "C", _per_context("C", p.C, n, lambda nm, v: real_scalar(nm, v, low=0.0)))
    if p.alpha_ci is not None:
        set_(p, "alpha_ci", _per_context("alpha_ci", p.alpha_ci, n, _ci))
    if p.C_ci is not None:
        set_(p, "C_ci", _per_context("C_ci", p.C_ci, n, _ci))
    set_(p, "provenance", provenance_iv(p.provenance))
