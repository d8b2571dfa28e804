"""JSON save/load of profiles (versioned schema) and the built-in profiles shipped in
``wzbounds/data/profiles/<name>.json``.

Schema (version 1)::

    {"schema_version": 1, "kind": "power_law" | "exponential" | "tabulated",
     "divergence": "kl_nats" | "kl_bits" | "tv", <the class's parameters>, "provenance": {...}}

Unknown keys, kinds or versions raise ``ValueError`` (a typo never passes silently).
"""
from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from .exponential import Exponential
from .power_law import PowerLaw
from .tabulated import Tabulated

SCHEMA_VERSION = 1
KINDS = {cls.kind: cls for cls in (PowerLaw, Exponential, Tabulated)}
#: Built-in profile used when none is given (``wzbounds window`` with no profile options).
DEFAULT_PROFILE = "smollm2-135m-natural"


def _data_dir():
    return resources.files("wzbounds") / "data" / "profiles"


def builtin_profiles() -> tuple[str, ...]:
    """Names of the built-in profiles (file stems in ``wzbounds/data/profiles``)."""
    return tuple(sorted(p.name[:-5] for p in _data_dir().iterdir() if p.name.endswith(".json")))


def profile_to_dict(profile) -> dict:
    """The JSON-ready dict of a profile, with ``schema_version``."""
    return {"schema_version": SCHEMA_VERSION, **profile.to_dict()}


def profile_from_dict(d: dict):
    """Inverse of ``profile_to_dict`` (validates version, kind and keys)."""
    if not isinstance(d, dict):
        raise ValueError(f"a profile must be a JSON object, got {type(d).__name__}")
    version = d.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ValueError(f"`schema_version` must be {SCHEMA_VERSION}, got {version!r}")
    kind = d.get("kind")
    if kind not in KINDS:
        raise ValueError(f"`kind` must be one of {sorted(KINDS)}, got {kind!r}")
    cls = KINDS[kind]
    allowed = set(cls.__dataclass_fields__) | {"kind", "schema_version"}
    unknown = sorted(set(d) - allowed)
    if unknown:
        raise ValueError(f"unknown keys for a {kind} profile: {unknown}; allowed: {sorted(allowed)}")
    return cls.from_dict(d)


def save_profile(profile, path) -> Path:
    """Write ``profile`` as JSON to ``path``; returns the path."""
    path = Path(path)
    path.write_text(json.dumps(profile_to_dict(profile), indent=2, sort_keys=True) + "\n")
    return path


def load_profile(path_or_name):
    """Load a profile from a JSON file path or a built-in name (see ``builtin_profiles()``)."""
    path = Path(path_or_name)
    if not path.is_file():
        names = builtin_profiles()
        if str(path_or_name) not in names:
            raise ValueError(f"`profile` must be a JSON file or a built-in name {list(names)}, "
                             f"got {str(path_or_name)!r}")
        text = (_data_dir() / f"{path_or_name}.json").read_text()
    else:
        text = path.read_text()
    try:
        d = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"`profile` {str(path_or_name)!r} is not valid JSON: {exc}") from None
    return profile_from_dict(d)


def default_profile():
    """The built-in profile named by ``DEFAULT_PROFILE``."""
    return load_profile(DEFAULT_PROFILE)
