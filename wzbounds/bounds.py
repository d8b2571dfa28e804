"""The window calculator: target distortion -> cache memory and the theorems it rests on.

One way in, one result type: ``window_for_epsilon(eps, target, ...)`` takes a sensitivity
profile (the envelope calculator) or a source with an exact Bayes risk (the exact optimal
window, alongside the proved band), and ``policy_class`` selects the cache class (suffix-only
windows, or on Santa Fe selective caches and M-bit summaries). Every answer is a
``WindowResult`` with the same vocabulary: ``memory`` in ``memory_unit``, ``eps`` in
``divergence``, ``theorem_ids``, ``window_ci_tokens`` / ``memory_ci``.

``window_for_epsilon`` and ``distortion_at_window`` are inverse to each other: for every
scheme, ``window_for_epsilon(eps).window_tokens`` is the smallest admissible size whose
``distortion_at_window(...).distortion_bound`` is ``<= eps`` (exact integers; see
``proofs/CONVENTIONS.md``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from fractions import Fraction
from typing import TYPE_CHECKING

import numpy as np

from ._validation import choice, real_array
from .memory import KVMemorySpec
from .profiles import PolicyProfile, Profile
from .schemes import BlockMarkov, get_scheme
from .schemes._exact import exact
from .sources import Source
from .units import KL_UNITS, check_divergence, kl_scale
from .windows import achievability_window, converse_window

if TYPE_CHECKING:
    from .budget import BudgetResult

__all__ = [
    "WindowResult",
    "DistortionResult",
    "window_for_epsilon",
    "distortion_at_window",
    "memory_for_epsilon",
    "POLICY_CLASSES",
]

#: Cache classes: suffix-only windows (any profile or exact source), and on Santa Fe the
#: value-oblivious selective caches (tokens) and M-bit summaries (bits).
POLICY_CLASSES = ("suffix", "selective", "summary")
_INT64_MAX = np.iinfo(np.int64).max


@dataclass(frozen=True, eq=False)
class WindowResult:
    """What a target distortion ``eps`` costs, for every cache class and input kind.

    Array fields have the shape of ``eps`` (scalars for scalar ``eps``); integer fields are
    int64 arrays, or object arrays of exact Python ints when a value exceeds int64.

    Attributes
    ----------
    eps : target distortion, in ``divergence`` units.
    divergence : the unit of ``eps`` and ``distortion_bound``.
    policy_class : ``"suffix"``, ``"selective"`` or ``"summary"``.
    memory, memory_unit : the answer: the cache size needed, in ``"tokens"`` (KV caches: the
        peak cache, ``s + w`` for sinks, ``2b - 1`` for block schemes) or ``"bits"`` (summaries).
    scheme : ``"sliding"``, ``"sink"``, ``"block"`` (worst-case sized) or ``"block-average"``;
        None for selective/summary caches.
    sinks : sink tokens (``"sink"`` only, else 0).
    window_tokens : the suffix window (for block schemes the block ``b``): for a profile the
        smallest window its envelope guarantees; for a source the exact smallest window with
        I_w <= eps. None for selective/summary caches.
    envelope_window_tokens : the window the upper envelope certifies (for a profile, equal to
        ``window_tokens``; for a source, the upper end of the proved band).
    converse_window_tokens : every suffix-only policy with a window shorter than this has
        distortion > ``eps`` (None without a lower envelope).
    ratio : ``envelope_window_tokens / converse_window_tokens`` (float; None without converse).
    peak_memory_tokens, average_memory_tokens : KV cache in tokens (average may be a
        half-integer for block schemes: float64, Fractions past 2**52); None for summaries.
    peak_memory_bytes, average_memory_bytes : with a ``KVMemorySpec``, else None.
    distortion_bound : the guaranteed distortion at the answer (envelope bound; for a source
        or a cache class the exact value), float64.
    window_ci_tokens, memory_ci : ``(low, high)`` over the corners of the profile's confidence
        box (alpha_ci x C_ci), or None without CIs.
    asymptotic_memory : the leading-order memory formula (selective/summary), else None.
    theorem_ids, assumptions : ids in ``wzbounds.theorems.THEOREMS`` / keys of ``ASSUMPTIONS``.
    profile, source, memory_spec : inputs echoed (``profile`` is the source's proved profile
        for a source, None for selective/summary).
    """

    eps: object
    divergence: str
    policy_class: str
    memory: object
    memory_unit: str
    scheme: str | None
    sinks: int
    window_tokens: object
    envelope_window_tokens: object
    converse_window_tokens: object
    ratio: object
    peak_memory_tokens: object
    average_memory_tokens: object
    peak_memory_bytes: object
    average_memory_bytes: object
    distortion_bound: object
    window_ci_tokens: object
    memory_ci: object
    asymptotic_memory: object
    theorem_ids: tuple
    assumptions: tuple
    profile: object
    source: object
    memory_spec: object

    def to_dict(self) -> dict:
        """JSON-ready dict (arrays become lists; exact ints stay ints)."""
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "profile" and v is not None:
                from .profiles import profile_to_dict

                v = profile_to_dict(v)
            elif f.name == "source":
                v = None if v is None else repr(v)
            elif f.name == "memory_spec":
                v = None if v is None else {**vars(v), "bytes_per_token": v.bytes_per_token}
            out[f.name] = _jsonable(v)
        return out


@dataclass(frozen=True, eq=False)
class DistortionResult:
    """Distortion bounds of a scheme at a given size (``window_tokens``: window, or block).

    ``worst_case_distortion`` / ``time_average_distortion``: upper bounds (float64, shape of
    the input); ``distortion_bound``: the one the scheme is sized by; ``converse_distortion``:
    ``L(max(w, w0))``, a lower bound for every suffix-only policy with window ``w`` (None
    without lower envelope).
    """

    window_tokens: object
    divergence: str
    scheme: str
    sinks: int
    worst_case_distortion: object
    time_average_distortion: object
    distortion_bound: object
    converse_distortion: object
    peak_memory_tokens: object
    average_memory_tokens: object
    theorem_ids: tuple
    assumptions: tuple
    profile: object


def _scheme_label(scheme) -> str:
    if isinstance(scheme, BlockMarkov) and scheme.criterion == "time_average":
        return "block-average"
    return scheme.name


def _profile_iv(profile) -> Profile:
    if not isinstance(profile, Profile):
        raise ValueError(
            f"`profile` must be a wzbounds.profiles Profile (PowerLaw, LogPowerLaw, Exponential, "
            f"Tabulated), got {type(profile).__name__}"
        )
    return profile


def _memory_iv(memory):
    if memory is not None and not isinstance(memory, KVMemorySpec):
        raise ValueError(f"`memory` must be a KVMemorySpec or None, got {type(memory).__name__}")
    return memory


def _criterion_distortion(scheme, size, profile):
    # worst case U(b) only: skips the block sums, except where they check the block stays
    # inside a table that claims nothing beyond it (Tabulated extrapolate="none")
    if _scheme_label(scheme) == "block" and getattr(profile, "extrapolate", None) != "none":
        return profile.upper(size)
    worst, average = scheme.distortion(size, profile)
    return average if _scheme_label(scheme) == "block-average" else worst


def _ratio(num, den):
    if den is None:
        return None
    num, den = np.asarray(num), np.asarray(den)
    if num.dtype == object or den.dtype == object:
        return np.array(
            [int(a) / int(b) for a, b in zip(num.ravel(), den.ravel(), strict=True)], dtype=np.float64
        ).reshape(num.shape)
    return num / den


def _scalarize(v):
    if isinstance(v, np.generic) or (isinstance(v, np.ndarray) and v.ndim == 0):
        return v.item()
    if isinstance(v, tuple):
        return tuple(_scalarize(x) for x in v)
    return v


def _bytes(memory, tokens):
    return None if memory is None or tokens is None else _scalarize(np.asarray(memory.bytes_for_tokens(tokens)))


def window_for_epsilon(
    eps,
    profile,
    scheme="sliding",
    *,
    sinks: int | None = None,
    memory: KVMemorySpec | None = None,
    policy_class: str = "suffix",
    divergence: str | None = None,
    context_tokens: int | None = None,
) -> WindowResult | BudgetResult:
    """Smallest cache (and its memory) that guarantees distortion ``<= eps``.

    Parameters
    ----------
    eps : float or array (> 0, finite), target distortion in ``divergence`` units.
    profile : the target: a ``Profile`` (``PowerLaw``, ``Exponential``, ``Tabulated``, ...) for
        the envelope calculator, or a ``wzbounds.sources`` source whose Bayes risk is exact
        (``SantaFe``, ``BayesMixture``, ``MarkovChain``, products of them): then
        ``window_tokens`` is the exact smallest window with I_w <= eps (the Bayes window
        predictor attains I_w), with the source's proved envelope band alongside.
    scheme : ``"sliding"``, ``"sink"``, ``"block"``, ``"block-average"`` or a scheme object
        (profiles only; sources and selective/summary caches take ``"sliding"``).
    sinks : sink tokens for ``scheme="sink"`` (None: the scheme's default, 4).
    memory : optional ``KVMemorySpec`` for byte counts (not for summaries, counted in bits).
    policy_class : ``"suffix"`` (default), ``"selective"`` (any value-oblivious choice of m
        kept tokens) or ``"summary"`` (any M-bit recurrent state): exact minimum memory on a
        Santa Fe source, theorems ``selective_cache`` / ``summary_cache``.
    divergence : the unit of ``eps``. For a profile it must be the profile's (None: it is);
        for a source any KL unit (None: the source's own, bits for Santa Fe).
    context_tokens : for a ``PolicyProfile`` only: the context length T to answer at. A policy
        profile is answered by ``wzbounds.budget.budget_for_epsilon`` and returns its
        ``BudgetResult`` (budget, kvpress ratio, bytes, theorem and assumption ids).

    Returns
    -------
    WindowResult whose array fields have the shape of ``eps`` (a ``BudgetResult`` for a
    ``PolicyProfile``).
    """
    choice("policy_class", policy_class, POLICY_CLASSES)
    memory = _memory_iv(memory)
    if isinstance(profile, PolicyProfile):
        from .budget import budget_for_epsilon

        if policy_class != "suffix" or not (isinstance(scheme, str) and scheme == "sliding") or sinks is not None:
            raise ValueError(
                "`scheme`, `sinks` and `policy_class` do not apply to a policy profile: its budget is "
                "for the policy it measured"
            )
        return budget_for_epsilon(eps, profile, context_tokens=context_tokens, memory=memory, divergence=divergence)
    if context_tokens is not None:
        raise ValueError("`context_tokens` needs a policy profile (PolicyProfile, written by `wzbounds policies`)")
    if policy_class != "suffix":
        return _class_answer(eps, profile, scheme, sinks, memory, policy_class, divergence)
    if isinstance(profile, Source):
        return _source_answer(eps, profile, scheme, sinks, memory, divergence)
    profile = _profile_iv(profile)
    if divergence is not None and check_divergence(divergence) != profile.divergence:
        raise ValueError(f"`divergence` {divergence!r} must match the profile's {profile.divergence!r}")
    eps_arr = real_array("eps", eps, low=0.0)
    scheme = get_scheme(scheme, sinks=sinks)
    size = scheme.size_for_epsilon(eps_arr, profile)
    window = scheme.window_tokens(size)
    conv = converse_window(eps_arr, profile)
    peak, average = scheme.peak_memory_tokens(size), scheme.average_memory_tokens(size)
    window_ci = memory_ci = None
    corners = profile.ci_profiles()
    if corners:
        sizes = [scheme.size_for_epsilon(eps_arr, p) for p in corners]
        window_ci = _range([scheme.window_tokens(s) for s in sizes])
        memory_ci = _range([scheme.peak_memory_tokens(s) for s in sizes])
    theorem_ids = scheme.theorem_ids(profile)
    assumptions = scheme.assumptions(profile)
    if conv is not None:
        theorem_ids += ("converse_suffix",) + (("theta_band",) if _theta_band_holds(eps_arr, profile) else ())
        assumptions += (profile.lower_assumption,) if profile.lower_assumption not in assumptions else ()
    return WindowResult(
        eps=_scalarize(eps_arr),
        divergence=profile.divergence,
        policy_class="suffix",
        memory=_scalarize(np.asarray(peak)),
        memory_unit="tokens",
        scheme=_scheme_label(scheme),
        sinks=getattr(scheme, "sinks", 0),
        window_tokens=_scalarize(window),
        envelope_window_tokens=_scalarize(window),
        converse_window_tokens=_scalarize(conv),
        ratio=_scalarize(_ratio(window, conv)),
        peak_memory_tokens=_scalarize(np.asarray(peak)),
        average_memory_tokens=_scalarize(np.asarray(average)),
        peak_memory_bytes=_bytes(memory, peak),
        average_memory_bytes=_bytes(memory, average),
        distortion_bound=_scalarize(np.asarray(_criterion_distortion(scheme, size, profile))),
        window_ci_tokens=_scalarize(window_ci),
        memory_ci=_scalarize(memory_ci),
        asymptotic_memory=None,
        theorem_ids=theorem_ids,
        assumptions=assumptions,
        profile=profile,
        source=None,
        memory_spec=memory,
    )


def _range(arrays):
    """(min, max) elementwise over a list of exact-int arrays, int64 where it fits."""
    stacked = np.stack([np.asarray(a, dtype=object) for a in arrays])
    return tuple(exact(v, lambda x: x) for v in (stacked.min(axis=0), stacked.max(axis=0)))


def _theta_band_holds(eps_arr, profile) -> bool:
    """``theta_band``'s hypothesis: a power law and eps < c w0^-alpha for every target."""
    from .profiles import PowerLaw

    return isinstance(profile, PowerLaw) and bool(np.all(eps_arr < float(profile.lower(profile.w0))))


def _plain_scheme_iv(scheme, sinks, what: str):
    if not (isinstance(scheme, str) and scheme == "sliding") or sinks:
        raise ValueError(f"`scheme` and `sinks` apply to profiles only; {what} takes the default 'sliding'")


def _source_units(source, divergence):
    unit = source.divergence if divergence is None else divergence
    if unit not in KL_UNITS:
        raise ValueError(f"`divergence` must be one of {list(KL_UNITS)} for a source's Bayes risk, got {unit!r}")
    return unit


def _source_answer(eps, source, scheme, sinks, memory, divergence) -> WindowResult:
    """Exact smallest window on a source, with its proved envelope band."""
    _plain_scheme_iv(scheme, sinks, "a source")
    unit = _source_units(source, divergence)
    risk_unit = "nats" if unit == "kl_nats" else "bits"
    eps_arr = real_array("eps", eps, low=0.0)
    window = exact(
        np.array([source.exact_window(float(e), risk_unit) for e in eps_arr.ravel()], dtype=object).reshape(
            eps_arr.shape
        ),
        lambda w: w,
    )
    try:
        profile = source.profile(unit)
    except ValueError:  # no proved envelope (e.g. a product): the exact window stands alone
        profile = None
    env = conv = None
    ids: tuple[str, ...] = (source.theorem_id, "bayes_risk_identity")
    assumptions = ()
    if profile is not None:
        env, conv = achievability_window(eps_arr, profile), converse_window(eps_arr, profile)
        ids += (profile.achievability_theorem,) + (() if conv is None else ("converse_suffix",))
    value = np.asarray(source.bayes_risk(np.asarray(window, dtype=np.int64), unit=risk_unit), dtype=np.float64)
    return WindowResult(
        eps=_scalarize(eps_arr),
        divergence=unit,
        policy_class="suffix",
        memory=_scalarize(window),
        memory_unit="tokens",
        scheme="sliding",
        sinks=0,
        window_tokens=_scalarize(window),
        envelope_window_tokens=_scalarize(env),
        converse_window_tokens=_scalarize(conv),
        ratio=None if env is None else _scalarize(_ratio(env, conv)),
        peak_memory_tokens=_scalarize(window),
        average_memory_tokens=_scalarize(window),
        peak_memory_bytes=_bytes(memory, window),
        average_memory_bytes=_bytes(memory, window),
        distortion_bound=_scalarize(value),
        window_ci_tokens=None,
        memory_ci=None,
        asymptotic_memory=None,
        theorem_ids=ids,
        assumptions=assumptions,
        profile=profile,
        source=source,
        memory_spec=memory,
    )


def _class_answer(eps, source, scheme, sinks, memory, policy_class, divergence) -> WindowResult:
    """Selective caches / summaries on Santa Fe (``wzbounds.caches.theory``), in the calculator's
    vocabulary."""
    from .caches.theory import window_for_epsilon_by_class  # caches depend on sources, not on bounds

    if isinstance(source, Profile):
        raise ValueError(
            f"`profile` must be a source (wzbounds.sources.SantaFe) for policy_class="
            f"{policy_class!r}: the class minimum is a property of the source, not of an envelope"
        )
    _plain_scheme_iv(scheme, sinks, f"policy_class={policy_class!r}")
    if policy_class == "summary" and memory is not None:
        raise ValueError("`memory` (a KVMemorySpec) does not apply to summaries: their memory is in bits")
    unit = _source_units(source, divergence)
    eps_arr = real_array("eps", eps, low=0.0)
    rows = [window_for_epsilon_by_class(float(e), source, policy_class, divergence=unit) for e in eps_arr.ravel()]
    shape = eps_arr.shape
    mem = exact(np.array([r.memory for r in rows], dtype=object).reshape(shape), lambda m: m)
    to_unit = kl_scale("kl_bits", unit)
    value = np.array([r.distortion_kl_bits * to_unit for r in rows], dtype=np.float64).reshape(shape)
    asym = np.array([r.asymptotic_memory for r in rows], dtype=np.float64).reshape(shape)
    tokens = mem if rows[0].memory_unit == "tokens" else None
    return WindowResult(
        eps=_scalarize(eps_arr),
        divergence=unit,
        policy_class=policy_class,
        memory=_scalarize(mem),
        memory_unit=rows[0].memory_unit,
        scheme=None,
        sinks=0,
        window_tokens=None,
        envelope_window_tokens=None,
        converse_window_tokens=None,
        ratio=None,
        peak_memory_tokens=_scalarize(tokens),
        average_memory_tokens=_scalarize(tokens),
        peak_memory_bytes=_bytes(memory, tokens),
        average_memory_bytes=_bytes(memory, tokens),
        distortion_bound=_scalarize(value),
        window_ci_tokens=None,
        memory_ci=None,
        asymptotic_memory=_scalarize(asym),
        theorem_ids=(rows[0].theorem_id,),
        assumptions=(),
        profile=None,
        source=source,
        memory_spec=memory,
    )


def _windows_iv(w, w0: int):
    """Window sizes as exact integers ``>= w0``: int64 when they fit, Python ints beyond
    (``2**63`` and ``1e20`` are valid windows, never wrapped)."""
    arr = np.asarray(w, dtype=object) if isinstance(w, int) else np.asarray(w)
    if arr.dtype.kind in "iu" and (not arr.size or np.max(arr) < _INT64_MAX):
        out = arr.astype(np.int64)
    else:
        if arr.dtype.kind not in "iufO" or arr.dtype == bool:
            raise ValueError(f"`w` must be integers, got {w!r}")
        items = []
        for v in arr.ravel():
            if isinstance(v, (bool, np.bool_)):
                raise ValueError(f"`w` must be integers, got {w!r}")
            if isinstance(v, (float, np.floating)) and np.isfinite(v) and float(v).is_integer():
                v = int(v)
            if not isinstance(v, (int, np.integer)):
                raise ValueError(f"`w` must be integers, got {w!r}")
            items.append(int(v))
        out = exact(np.array(items, dtype=object).reshape(arr.shape), lambda v: v)
    if any(v < w0 for v in np.asarray(out, dtype=object).ravel()):
        raise ValueError(f"`w` must be integers >= w0 = {w0} (the profile claims nothing below)")
    return out


def distortion_at_window(w, profile, scheme="sliding", *, sinks: int | None = None) -> DistortionResult:
    """Distortion bounds of ``scheme`` at size ``w`` (window, or block for block schemes).

    ``w``: int or array of ints ``>= profile.w0`` (any size). Returns a ``DistortionResult``
    with float64 fields of ``w``'s shape.
    """
    profile = _profile_iv(profile)
    scheme = get_scheme(scheme, sinks=sinks)
    size = _windows_iv(w, profile.w0)
    worst, average = scheme.distortion(size, profile)
    lower = profile.lower(size)
    ids = scheme.theorem_ids(profile) + (() if lower is None else ("converse_suffix",))
    return DistortionResult(
        window_tokens=_scalarize(size),
        divergence=profile.divergence,
        scheme=_scheme_label(scheme),
        sinks=getattr(scheme, "sinks", 0),
        worst_case_distortion=_scalarize(np.asarray(worst)),
        time_average_distortion=_scalarize(np.asarray(average)),
        distortion_bound=_scalarize(np.asarray(_criterion_distortion(scheme, size, profile))),
        converse_distortion=None if lower is None else _scalarize(np.asarray(lower)),
        peak_memory_tokens=_scalarize(np.asarray(scheme.peak_memory_tokens(size))),
        average_memory_tokens=_scalarize(np.asarray(scheme.average_memory_tokens(size))),
        theorem_ids=ids,
        assumptions=scheme.assumptions(profile),
        profile=profile,
    )


def memory_for_epsilon(
    eps, profile, memory: KVMemorySpec, scheme="sliding", *, sinks: int | None = None
) -> WindowResult | BudgetResult:
    """``window_for_epsilon`` with a required ``KVMemorySpec``: the result's
    ``peak_memory_bytes`` / ``average_memory_bytes`` give the cache bytes for ``eps``."""
    if not isinstance(memory, KVMemorySpec):
        raise ValueError(f"`memory` must be a KVMemorySpec, got {type(memory).__name__}")
    return window_for_epsilon(eps, profile, scheme, sinks=sinks, memory=memory)


def _jsonable(v):
    if v is None or isinstance(v, (bool, str, int, float)):
        return v
    if isinstance(v, Fraction):  # half-integers: a float while exact, else the exact decimal string
        return int(v) if v.denominator == 1 else (float(v) if abs(v) < 2**52 else f"{v.numerator // 2}.5")
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return _jsonable(v.tolist() if v.dtype != object else list(v)) if v.ndim else _jsonable(v.item())
    if isinstance(v, (tuple, list)):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    return str(v)
