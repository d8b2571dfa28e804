"""The window calculator: target distortion -> window, memory and the theorems it rests on.

``window_for_epsilon`` and ``distortion_at_window`` are inverse to each other: for every
scheme, ``window_for_epsilon(eps).window_tokens`` is the smallest admissible size whose
``distortion_at_window(...).distortion_bound`` is ``<= eps`` (exact integers; see
``proofs/CONVENTIONS.md``).
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from fractions import Fraction

import numpy as np

from ._validation import real_array
from .memory import KVMemorySpec
from .schemes import BlockMarkov, get_scheme
from .windows import converse_window

__all__ = ["WindowResult", "DistortionResult", "window_for_epsilon", "distortion_at_window",
           "memory_for_epsilon"]


@dataclass(frozen=True, eq=False)
class WindowResult:
    """What a target distortion ``eps`` costs under a scheme.

    Array fields have the shape of ``eps`` (scalars for scalar ``eps``); integer fields are
    int64 arrays, or object arrays of exact Python ints when a value exceeds int64.

    Attributes
    ----------
    eps : target distortion, in ``divergence`` units.
    divergence : the profile's divergence unit.
    scheme : ``"sliding"``, ``"sink"``, ``"block"`` (worst-case sized) or ``"block-average"``.
    sinks : sink tokens (``"sink"`` only, else 0).
    window_tokens : achievability: the smallest integer window guaranteed to reach ``eps``
        (for block schemes the block ``b``, the smallest window of the cycle).
    converse_window_tokens : every suffix-only policy with a window shorter than this has
        distortion > ``eps`` (None without a lower envelope). It bounds the suffix-only class
        whatever the scheme.
    ratio : ``window_tokens / converse_window_tokens`` (float; None without converse).
    peak_memory_tokens, average_memory_tokens : cache size in tokens (average may be a
        half-integer for block schemes: float64, Fractions past 2**52).
    peak_memory_bytes, average_memory_bytes : with a ``KVMemorySpec``, else None.
    distortion_bound : the scheme's guaranteed distortion at ``window_tokens`` (worst case,
        or time average for ``"block-average"``), float64.
    window_interval_tokens : ``(low, high)`` achievability windows over the corners of the
        profile's confidence box (alpha_ci x C_ci), or None without CIs.
    theorem_ids, assumptions : ids in ``wzbounds.theorems.THEOREMS`` / keys of ``ASSUMPTIONS``.
    profile, memory : inputs echoed.
    """

    eps: object
    divergence: str
    scheme: str
    sinks: int
    window_tokens: object
    converse_window_tokens: object
    ratio: object
    peak_memory_tokens: object
    average_memory_tokens: object
    peak_memory_bytes: object
    average_memory_bytes: object
    distortion_bound: object
    window_interval_tokens: object
    theorem_ids: tuple
    assumptions: tuple
    profile: object
    memory: object

    def to_dict(self) -> dict:
        """JSON-ready dict (arrays become lists; exact ints stay ints)."""
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "profile":
                from .profiles import profile_to_dict
                v = profile_to_dict(v)
            elif f.name == "memory":
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


def _profile_iv(profile):
    if not (hasattr(profile, "upper_envelope") and hasattr(profile, "w0")):
        raise ValueError(f"`profile` must be a PowerLaw, Exponential or Tabulated, got {type(profile).__name__}")
    return profile


def _criterion_distortion(scheme, size, profile):
    worst, average = scheme.distortion(size, profile)
    return average if _scheme_label(scheme) == "block-average" else worst


def _ratio(num, den):
    if den is None:
        return None
    num, den = np.asarray(num), np.asarray(den)
    if num.dtype == object or den.dtype == object:
        out = np.array([int(a) / int(b) for a, b in zip(num.ravel(), den.ravel())],
                       dtype=np.float64).reshape(num.shape)
    else:
        out = num / den
    return out


def _scalarize(v):
    if isinstance(v, np.generic) or (isinstance(v, np.ndarray) and v.ndim == 0):
        return v.item()
    if isinstance(v, tuple):
        return tuple(_scalarize(x) for x in v)
    return v


def window_for_epsilon(eps, profile, scheme="sliding", *, sinks: int | None = None,
                       memory: KVMemorySpec | None = None, policy_class: str = "suffix"):
    """Smallest window (and its memory) that guarantees distortion ``<= eps``.

    Parameters
    ----------
    eps : float or array (> 0, finite), target distortion in ``profile.divergence`` units.
    profile : ``PowerLaw``, ``Exponential`` or ``Tabulated``; with ``policy_class`` other than
        ``"suffix"``, a source that supports that class (``wzbounds.sources.SantaFe``).
    scheme : ``"sliding"``, ``"sink"``, ``"block"``, ``"block-average"`` or a scheme object.
    sinks : sink tokens for ``scheme="sink"`` (None: the scheme's default, 4).
    memory : optional ``KVMemorySpec`` for byte counts.
    policy_class : ``"suffix"`` (default: the profile-based calculator), or ``"selective"``
        (any value-oblivious choice of m kept tokens) / ``"summary"`` (any M-bit recurrent
        state): exact minimum memory on the source, theorems ``selective_cache`` /
        ``summary_cache`` (scalar ``eps`` in kl_bits; see ``wzbounds.caches``).

    Returns
    -------
    WindowResult whose array fields have the shape of ``eps``; for ``policy_class`` other
    than ``"suffix"`` a ``wzbounds.caches.theory.ClassMemoryResult`` (memory in tokens or bits).
    """
    if policy_class != "suffix":
        from .caches.theory import window_for_epsilon_by_class  # caches depend on sources, not on bounds
        return window_for_epsilon_by_class(eps, profile, policy_class)
    profile = _profile_iv(profile)
    eps_arr = real_array("eps", eps, low=0.0)
    scheme = get_scheme(scheme, sinks=sinks)
    if memory is not None and not isinstance(memory, KVMemorySpec):
        raise ValueError(f"`memory` must be a KVMemorySpec or None, got {type(memory).__name__}")
    size = scheme.size_for_epsilon(eps_arr, profile)
    window = scheme.window_tokens(size)
    conv = converse_window(eps_arr, profile)
    peak, average = scheme.peak_memory_tokens(size), scheme.average_memory_tokens(size)
    interval = None
    corners = profile.ci_profiles()
    if corners:
        sizes = [scheme.window_tokens(scheme.size_for_epsilon(eps_arr, p)) for p in corners]
        stacked = np.stack([np.asarray(s, dtype=object) for s in sizes])
        lo, hi = stacked.min(axis=0), stacked.max(axis=0)
        interval = tuple(v if max(v.ravel(), default=0) > np.iinfo(np.int64).max else v.astype(np.int64)
                         for v in (np.asarray(lo, dtype=object), np.asarray(hi, dtype=object)))
    theorem_ids = scheme.theorem_ids(profile)
    assumptions = scheme.assumptions(profile)
    if conv is not None:
        theorem_ids += ("converse_suffix",) + (("theta_band",) if profile.kind == "power_law" else ())
        assumptions += (profile.lower_assumption,) if profile.lower_assumption not in assumptions else ()
    return WindowResult(
        eps=_scalarize(eps_arr), divergence=profile.divergence, scheme=_scheme_label(scheme),
        sinks=getattr(scheme, "sinks", 0),
        window_tokens=_scalarize(window), converse_window_tokens=_scalarize(conv),
        ratio=_scalarize(_ratio(window, conv)),
        peak_memory_tokens=_scalarize(np.asarray(peak)), average_memory_tokens=_scalarize(np.asarray(average)),
        peak_memory_bytes=None if memory is None else _scalarize(np.asarray(memory.bytes_for_tokens(peak))),
        average_memory_bytes=None if memory is None else _scalarize(np.asarray(memory.bytes_for_tokens(average))),
        distortion_bound=_scalarize(np.asarray(_criterion_distortion(scheme, size, profile))),
        window_interval_tokens=_scalarize(interval),
        theorem_ids=theorem_ids, assumptions=assumptions, profile=profile, memory=memory)


def _windows_iv(w, w0: int):
    arr = np.asarray(w)
    if arr.dtype == object:
        if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in arr.ravel()):
            raise ValueError("`w` must be integers")
        if any(v < w0 for v in arr.ravel()):
            raise ValueError(f"`w` must be integers >= w0 = {w0} (the profile claims nothing below)")
        return arr
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or np.any(np.mod(arr, 1) != 0):
            raise ValueError("`w` must be integers")
        arr = arr.astype(np.int64)
    elif arr.dtype.kind not in "iu":
        raise ValueError(f"`w` must be integers, got {w!r}")
    if np.any(arr < w0):
        raise ValueError(f"`w` must be integers >= w0 = {w0} (the profile claims nothing below)")
    return arr.astype(np.int64)


def distortion_at_window(w, profile, scheme="sliding", *, sinks: int | None = None) -> DistortionResult:
    """Distortion bounds of ``scheme`` at size ``w`` (window, or block for block schemes).

    ``w``: int or array of ints ``>= profile.w0``. Returns a ``DistortionResult`` with
    float64 fields of ``w``'s shape.
    """
    profile = _profile_iv(profile)
    scheme = get_scheme(scheme, sinks=sinks)
    size = _windows_iv(w, profile.w0)
    worst, average = scheme.distortion(size, profile)
    lower = profile.lower(size)
    ids = scheme.theorem_ids(profile) + (() if lower is None else ("converse_suffix",))
    return DistortionResult(
        window_tokens=_scalarize(size), divergence=profile.divergence, scheme=_scheme_label(scheme),
        sinks=getattr(scheme, "sinks", 0),
        worst_case_distortion=_scalarize(np.asarray(worst)), time_average_distortion=_scalarize(np.asarray(average)),
        distortion_bound=_scalarize(np.asarray(_criterion_distortion(scheme, size, profile))),
        converse_distortion=None if lower is None else _scalarize(np.asarray(lower)),
        peak_memory_tokens=_scalarize(np.asarray(scheme.peak_memory_tokens(size))),
        average_memory_tokens=_scalarize(np.asarray(scheme.average_memory_tokens(size))),
        theorem_ids=ids, assumptions=scheme.assumptions(profile), profile=profile)


def memory_for_epsilon(eps, profile, memory: KVMemorySpec, scheme="sliding", *, sinks: int | None = None) -> WindowResult:
    """``window_for_epsilon`` with a required ``KVMemorySpec``: the result's
    ``peak_memory_bytes`` / ``average_memory_bytes`` give the cache bytes for ``eps``."""
    if not isinstance(memory, KVMemorySpec):
        raise ValueError(f"`memory` must be a KVMemorySpec, got {type(memory).__name__}")
    return window_for_epsilon(eps, profile, scheme, sinks=sinks, memory=memory)


def _jsonable(v):
    if v is None or isinstance(v, (bool, str, int, float)):
        return v
    if isinstance(v, Fraction):
        return int(v) if v.denominator == 1 else (float(v) if abs(v) < 1e300 else str(v))
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return _jsonable(v.tolist() if v.dtype != object else list(v)) if v.ndim else _jsonable(v.item())
    if isinstance(v, (tuple, list)):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    return str(v)
