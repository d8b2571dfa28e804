"""JSON save/load of profiles (versioned schema) and the built-in profiles shipped in
``wzbounds/data/profiles/<name>.json``.

Schema (version 1)::

    {"schema_version": 1, "kind": "power_law" | "log_power_law" | "exponential" | "tabulated" | "policy",
     "divergence": "kl_nats" | "kl_bits" | "tv" | "tv2", <the class's parameters>,
     "provenance": {...}}

Unknown keys, kinds or versions, a missing ``divergence`` or parameter, and provenance keys of
the wrong type raise ``ValueError`` naming the field (and, from ``load_profile``, the file): a
typo never passes silently.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import cast

from .._fileio import atomic_write, loads_json, short_repr
from .base import Profile
from .exponential import Exponential
from .log_power_law import LogPowerLaw
from .policy import PolicyProfile
from .power_law import PowerLaw
from .tabulated import Tabulated

SCHEMA_VERSION = 1
KINDS = {cls.kind: cls for cls in (PowerLaw, LogPowerLaw, Exponential, Tabulated, PolicyProfile)}
#: Built-in profile used when none is given (``wzbounds window`` with no profile options): the
#: measured upper-confidence curve, so a target the measurement reaches is answered by
#: interpolation inside the measured windows, not by extrapolating a fitted law.
DEFAULT_PROFILE = "smollm2-135m-natural-tabulated"
#: Built-in power law of the same run, for what needs an exponent (``--scheme block-markov-rate``);
#: its constant is an envelope over the same upper curve, which one bulging window can set.
DEFAULT_POWER_LAW_PROFILE = "smollm2-135m-natural"


def _data_dir():
    return resources.files("wzbounds") / "data" / "profiles"


def builtin_profiles() -> tuple[str, ...]:
    """Names of the built-in profiles (file stems in ``wzbounds/data/profiles``)."""
    return tuple(sorted(p.name[:-5] for p in _data_dir().iterdir() if p.name.endswith(".json")))


def profile_to_dict(profile: Profile) -> dict:
    """The JSON-ready dict of a profile, with ``schema_version``."""
    return {"schema_version": SCHEMA_VERSION, **profile.to_dict()}


def profile_from_dict(d: dict) -> Profile:
    """Inverse of ``profile_to_dict`` (validates version, kind, keys and values)."""
    if not isinstance(d, dict):
        raise ValueError(f"a profile must be a JSON object, got {type(d).__name__}")
    version = d.get("schema_version")
    if type(version) is not int or version != SCHEMA_VERSION:  # true == 1 and 1.0 == 1 in Python, not here
        raise ValueError(f"`schema_version` must be the integer {SCHEMA_VERSION}, got {short_repr(version)}")
    kind = d.get("kind")
    if not isinstance(kind, str) or kind not in KINDS:
        raise ValueError(f"`kind` must be one of {sorted(KINDS)}, got {kind!r}")
    return KINDS[kind].from_dict(d)


def save_profile(profile: Profile, path) -> Path:
    """Write ``profile`` as JSON to ``path`` atomically (whole or not at all); returns the path."""
    return atomic_write(path, json.dumps(profile_to_dict(profile), indent=2, sort_keys=True) + "\n")


def load_profile(path_or_name) -> Profile:
    """Load a profile from a JSON file path or a built-in name (see ``builtin_profiles()``).

    Every failure is one ``ValueError`` line naming the file and the field: unreadable or
    binary files, truncated or absurdly nested JSON, wrong schema, missing or mistyped fields. The provenance is
    kept as written (including ``trusted`` / ``untrusted_reasons``; see ``Profile.trusted``).
    """
    path = Path(path_or_name)
    if path.is_file():
        label = f"profile file {str(path)!r}"
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"{label} is not UTF-8 JSON text (a binary file?)") from None
        except OSError as exc:
            raise ValueError(f"{label} cannot be read: {exc.strerror or exc}") from None
    else:
        names = builtin_profiles()
        if str(path_or_name) not in names:
            raise ValueError(
                f"`profile` must be a JSON file or a built-in name {list(names)}, got {str(path_or_name)!r}"
            )
        label = f"built-in profile {str(path_or_name)!r}"
        text = (_data_dir() / f"{path_or_name}.json").read_text(encoding="utf-8")
    d = loads_json(text, label)
    try:
        return profile_from_dict(d)
    except ValueError as exc:
        raise ValueError(f"{label}: {exc}") from None


def default_profile() -> Profile:
    """The built-in profile named by ``DEFAULT_PROFILE``."""
    return load_profile(DEFAULT_PROFILE)


def default_power_law_profile() -> PowerLaw:
    """The built-in power law named by ``DEFAULT_POWER_LAW_PROFILE``."""
    return cast(PowerLaw, load_profile(DEFAULT_POWER_LAW_PROFILE))  # that packaged file is a power law
