"""``Profile``: the base class of every sensitivity profile (PowerLaw, LogPowerLaw, Exponential,
Tabulated).

A profile is a frozen dataclass whose fields are its parameters plus ``divergence`` and
``provenance``; it holds its upper envelope (and optional lower envelope) as
``wzbounds.profiles.envelopes.Envelope`` objects, which the calculator inverts, sums over
blocks and evaluates. Serialisation is shared: ``to_dict`` writes every constructor field,
``from_dict`` refuses unknown and missing keys, naming them.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar

import numpy as np

from ..units import divergence_family
from .envelopes import Envelope

#: Provenance keys the package reads, with the types it accepts (None is always accepted).
#: ``trusted`` / ``untrusted_reasons`` are written by the measurement pipeline when its
#: tokenizer sanity checks fail (``wzbounds window --profile`` then refuses the profile).
PROVENANCE_TYPES = {
    "source": str,
    "status": str,
    "model_id": str,
    "corpus": str,
    "protocol": str,
    "verdict": str,
    "n_prefixes": int,
    "prefix_tokens": int,
    "windows_tokens": list,
    "trusted": bool,
    "untrusted_reasons": list,
}


class Profile:
    """Base class of the sensitivity profiles (see the module docstring).

    Subclasses set the class attributes ``kind`` (the JSON ``kind``),
    ``achievability_theorem``, ``upper_assumption`` and ``lower_prefix`` (the assumption family
    of the lower envelope, e.g. ``"PTS"``), and implement ``upper_envelope``,
    ``lower_envelope``, ``w0`` and ``describe``.
    """

    kind: ClassVar[str]
    achievability_theorem: ClassVar[str]
    upper_assumption: ClassVar[str]
    lower_prefix: ClassVar[str]
    # every subclass is a dataclass with these fields (``_init_fields`` reads its fields)
    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]
    divergence: str
    provenance: dict | None  # None is accepted and stored as {}

    @property
    def w0(self) -> int:
        """The smallest window the envelopes are stated for."""
        raise NotImplementedError

    @property
    def upper_envelope(self) -> Envelope:
        raise NotImplementedError

    @property
    def lower_envelope(self) -> Envelope | None:
        raise NotImplementedError

    @property
    def lower_assumption(self) -> str:
        """Key of the lower-envelope assumption, naming its divergence family
        (``PTS-lower-kl``: I_w >= L(w); ``PTS-lower-tv``: the least mean TV of a suffix-only
        decoder >= L(w); ...)."""
        return f"{self.lower_prefix}-lower-{divergence_family(self.divergence)}"

    def upper(self, w) -> np.ndarray:
        """Upper envelope ``U(w)`` (float64, shape of ``w``)."""
        return self.upper_envelope.values(w)

    def lower(self, w):
        """Lower envelope ``L(max(w, w0))`` (float64), or None without one."""
        env = self.lower_envelope
        if env is None:
            return None
        w = np.asarray(w)
        w0 = self.w0
        w = (
            np.where(w < w0, w0, w)
            if w.dtype != object
            else np.array([max(v, w0) for v in w.ravel()], dtype=object).reshape(w.shape)
        )
        return env.values(w)

    def block_average(self, b) -> np.ndarray:
        """Block-Markov time average of the upper envelope, ``(1/b) sum_{j<b} U(b + j)``."""
        return self.upper_envelope.block_average(b)

    def ci_profiles(self) -> tuple:
        """Profiles at the corners of the parameters' confidence box (empty: no CIs)."""
        return ()

    @property
    def trusted(self) -> bool:
        """False when the provenance says the measurement failed its sanity checks."""
        return (self.provenance or {}).get("trusted", True) is not False

    @property
    def untrusted_reasons(self) -> tuple[str, ...]:
        return tuple((self.provenance or {}).get("untrusted_reasons") or ())

    # --- serialisation -------------------------------------------------------------------
    @classmethod
    def _init_fields(cls):
        return [f for f in dataclasses.fields(cls) if f.init]

    def to_dict(self) -> dict:
        """JSON-ready dict: ``kind`` and every constructor field (tuples become lists)."""
        out: dict[str, Any] = {"kind": self.kind}
        for f in self._init_fields():
            v = getattr(self, f.name)
            out[f.name] = list(v) if isinstance(v, tuple) else dict(v) if isinstance(v, dict) else v
        return out

    @classmethod
    def from_dict(cls, d: dict):
        """Inverse of ``to_dict``: unknown keys, missing required keys and a missing
        ``divergence`` raise ``ValueError`` naming them (a TV profile must never be read as KL)."""
        names = [f.name for f in cls._init_fields()]
        allowed = set(names) | {"kind", "schema_version"}
        unknown = sorted(set(d) - allowed)
        if unknown:
            raise ValueError(f"unknown keys for a {cls.kind} profile: {unknown}; allowed: {sorted(allowed)}")
        required = [
            f.name
            for f in cls._init_fields()
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        ]
        missing = [k for k in [*required, "divergence"] if k not in d]
        if missing:
            raise ValueError(f"`{missing[0]}` is missing (a {cls.kind} profile needs {[*required, 'divergence']})")
        return cls(**{k: d[k] for k in names if k in d})


def provenance_iv(value) -> dict:
    """Validate a provenance dict: free-form, except that the keys the package reads
    (``PROVENANCE_TYPES``) must have their type; ``ValueError`` naming ``provenance.<key>``."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"`provenance` must be a dict or None, got {type(value).__name__}")
    for key, typ in PROVENANCE_TYPES.items():
        v = value.get(key)
        if v is None:
            continue
        if not isinstance(v, typ) or (typ is int and isinstance(v, bool)):
            raise ValueError(f"`provenance.{key}` must be {typ.__name__} or null, got {type(v).__name__}")
    windows = value.get("windows_tokens")
    if windows is not None and not all(
        isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x > 0 for x in windows
    ):
        raise ValueError("`provenance.windows_tokens` must be a list of positive numbers")
    reasons = value.get("untrusted_reasons")
    if reasons is not None and not all(isinstance(x, str) for x in reasons):
        raise ValueError("`provenance.untrusted_reasons` must be a list of strings")
    return dict(value)
