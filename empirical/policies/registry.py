"""Policy names on the command line -> policy objects."""
from __future__ import annotations

from .h2o import HeavyHitter
from .kvpress_press import KVPressPolicy, parse_options
from .last_query import LastQuery
from .random_k import RandomK
from .sink import SinkRecent
from .sliding import Sliding

#: Built-in policies by name (``kvpress:<press>`` is handled separately): name -> factory.
POLICIES = {
    "sliding": Sliding, "sink": SinkRecent, "random": RandomK,
    "h2o": HeavyHitter,  # heavy hitters + recent window, half and half (the paper's H2O)
    "h2o-acc": lambda: HeavyHitter(recent_ratio=0.0),  # the pure accumulated-attention rule
    "lastq": LastQuery,  # under streaming: TOVA-like
}


def make_policy(spec: str, *, sinks: int = 4, seed: int = 0):
    """Build one policy from ``spec``: a name in :data:`POLICIES` or ``kvpress:<press>`` with
    optional ``kvpress:<press>(opt=value;opt=value)``."""
    spec = spec.strip()
    if spec.startswith("kvpress:"):
        body = spec[len("kvpress:"):]
        name, _, rest = body.partition("(")
        try:
            opts = parse_options(rest.rstrip(")")) if rest else ()
            return KVPressPolicy(press_name=name.strip(), options=opts)
        except ValueError as exc:  # unknown press, not a scorer press, a bad option: name the entry
            raise ValueError(f"`policies` entry {spec!r}: {exc}") from None
    if spec not in POLICIES:
        raise ValueError(f"`policies` entries must be one of {sorted(POLICIES)} or kvpress:<press>, got {spec!r}")
    if spec == "sink":
        return SinkRecent(sinks=sinks)
    if spec == "random":
        return RandomK(seed=seed)
    return POLICIES[spec]()


def parse_policies(text: str, *, sinks: int = 4, seed: int = 0) -> tuple:
    """Comma-separated policy specs -> tuple of policies (no duplicates)."""
    parts = [p for p in _split(text) if p]
    if not parts:
        raise ValueError("`policies` must name at least one policy")
    policies = tuple(make_policy(p, sinks=sinks, seed=seed) for p in parts)
    labels = [p.label for p in policies]
    if len(set(labels)) != len(labels):
        raise ValueError(f"`policies` has duplicates: {labels}")
    return policies


def _split(text: str):
    """Split on commas outside parentheses (kvpress options use ``;`` but be forgiving)."""
    depth, cur = 0, ""
    for ch in text:
        if ch == "," and depth == 0:
            yield cur.strip()
            cur = ""
            continue
        depth += ch == "("
        depth -= ch == ")"
        cur += ch
    yield cur.strip()
