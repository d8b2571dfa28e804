"""``wzbounds window``: target distortion -> window, converse, memory (table or JSON)."""
from __future__ import annotations

import json
import sys

DEFAULT_EPS = 0.1


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "window", help="smallest cache window for a target distortion",
        description="Smallest window (and converse, memory) that guarantees distortion <= eps. "
                    "The profile comes from --alpha/--C (power law), --profile (JSON file or "
                    "built-in name), or the built-in default.")
    p.add_argument("--eps", action="append", metavar="EPS",
                   help=f"target distortion; repeat or comma-separate for several (default {DEFAULT_EPS})")
    p.add_argument("--alpha", type=float, help="power-law exponent (with --C)")
    p.add_argument("--C", type=float, dest="C", help="power-law upper constant")
    p.add_argument("--c", type=float, dest="c", help="power-law lower constant (enables the converse)")
    p.add_argument("--w0", type=int, help="smallest window at which the envelopes hold (default 1)")
    p.add_argument("--profile", help="profile JSON file or built-in name")
    p.add_argument("--divergence", choices=("kl_nats", "kl_bits", "tv"),
                   help="divergence of --alpha/--C (default kl_nats); with --profile it must match")
    p.add_argument("--scheme", default="sliding", choices=("sliding", "sink", "block", "block-average"))
    p.add_argument("--sinks", type=int, default=None, help="sink tokens for --scheme sink (default 4)")
    p.add_argument("--model-config", help="transformers config.json for byte counts")
    p.add_argument("--layers", type=int)
    p.add_argument("--kv-heads", type=int)
    p.add_argument("--head-dim", type=int)
    p.add_argument("--dtype-bytes", type=int, default=None, help="bytes per stored value (default 2)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def _parse_eps(values) -> list[float]:
    if not values:
        return [DEFAULT_EPS]
    out = []
    for item in values:
        for part in item.split(","):
            part = part.strip()
            try:
                out.append(float(part))
            except ValueError:
                raise ValueError(f"`--eps` must be numbers, got {part!r}") from None
    return out


def _profile(args):
    from ..profiles import DEFAULT_PROFILE, PowerLaw, load_profile
    explicit = any(v is not None for v in (args.alpha, args.C, args.c, args.w0))
    if explicit and args.profile:
        raise ValueError("give either --profile or --alpha/--C/--c/--w0, not both")
    if explicit:
        if args.alpha is None or args.C is None:
            raise ValueError("a power-law profile needs both --alpha and --C")
        profile = PowerLaw(args.alpha, args.C, c=args.c, w0=1 if args.w0 is None else args.w0,
                           divergence=args.divergence or "kl_nats",
                           provenance={"source": "command line"})
        return profile, "command-line power law"
    name = args.profile or DEFAULT_PROFILE
    profile = load_profile(name)
    if args.divergence and args.divergence != profile.divergence:
        raise ValueError(f"`--divergence` {args.divergence!r} does not match the profile's "
                         f"{profile.divergence!r} (convert with wzbounds.divergences)")
    label = f"{name}" if args.profile else f"built-in default {DEFAULT_PROFILE!r}"
    return profile, label


def _memory(args):
    from ..memory import KVMemorySpec
    shape = (args.layers, args.kv_heads, args.head_dim)
    if args.model_config and any(v is not None for v in shape):
        raise ValueError("give either --model-config or --layers/--kv-heads/--head-dim, not both")
    if args.model_config:
        return KVMemorySpec.from_config(args.model_config, dtype_bytes=args.dtype_bytes)
    if any(v is not None for v in shape):
        if any(v is None for v in shape):
            raise ValueError("--layers, --kv-heads and --head-dim go together")
        return KVMemorySpec(*shape, 2 if args.dtype_bytes is None else args.dtype_bytes)
    if args.dtype_bytes is not None:
        raise ValueError("--dtype-bytes needs --model-config or --layers/--kv-heads/--head-dim")
    return None


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        if abs(v) < 1e15 and (2 * v).is_integer():  # exact token counts (half-integer averages)
            return str(int(v)) if v.is_integer() else f"{v:.1f}"
        return f"{v:.4g}"
    return str(v)


def _table(result, label, profile) -> str:
    import numpy as np
    rows = []
    size = "block" if result.scheme.startswith("block") else "window"
    cols = ["eps", size, "converse", "ratio", "peak mem (tok)", "avg mem (tok)"]
    if result.peak_memory_bytes is not None:
        cols += ["peak mem (B)", "avg mem (B)"]
    if result.window_interval_tokens is not None:
        cols += ["window CI range"]
    n = np.size(result.eps)

    def at(v, i):
        if v is None:
            return None
        a = np.asarray(v, dtype=object if isinstance(v, int) else None)
        return a.ravel()[i] if a.ndim else a.item()

    for i in range(n):
        row = [_fmt(float(at(result.eps, i))), _fmt(at(result.window_tokens, i)),
               _fmt(at(result.converse_window_tokens, i)),
               "-" if result.ratio is None else f"{float(at(result.ratio, i)):.4g}",
               _fmt(at(result.peak_memory_tokens, i)), _fmt(_plain(at(result.average_memory_tokens, i)))]
        if result.peak_memory_bytes is not None:
            row += [_fmt(at(result.peak_memory_bytes, i)), _fmt(_plain(at(result.average_memory_bytes, i)))]
        if result.window_interval_tokens is not None:
            lo, hi = result.window_interval_tokens
            row += [f"[{at(lo, i)}, {at(hi, i)}]"]
        rows.append(row)
    widths = [max(len(c), *(len(r[j]) for r in rows)) for j, c in enumerate(cols)]
    line = lambda r: "  ".join(s.rjust(w) for s, w in zip(r, widths))
    head = [f"profile: {label} -- {profile.describe()}",
            f"scheme: {result.scheme}" + (f" ({result.sinks} sinks)" if result.scheme == "sink" else "")
            + f"; divergence: {result.divergence}; theorems: {', '.join(result.theorem_ids)}"]
    head += _provenance_lines(result, profile)
    if result.converse_window_tokens is None:
        head.append("converse: none (the profile has no lower envelope)")
    return "\n".join(head + [line(cols)] + [line(r) for r in rows])


def _provenance_lines(result, profile) -> list[str]:
    """Where the profile came from and, for a measured one, whether the windows extrapolate."""
    import numpy as np
    prov = profile.provenance or {}
    lines = []
    if prov.get("status"):
        lines.append(f"provenance: {prov['status']}")
    measured = prov.get("windows_tokens")
    if prov.get("source") == "wzbounds validate" and measured:
        lines.append(f"provenance: measured by wzbounds validate on {prov.get('model_id', '?')} "
                     f"({prov.get('corpus', '?')}; {prov.get('n_prefixes', '?')} prefixes of "
                     f"{prov.get('prefix_tokens', '?')} tokens; protocol {prov.get('protocol') or 'fixed-end'}; "
                     f"windows {min(measured):g}-{max(measured):g}; "
                     f"verdict {prov.get('verdict', '?')})")
        largest = max(np.asarray(result.window_tokens, dtype=object).ravel())
        if largest > max(measured):
            lines.append(f"note: windows beyond {max(measured):g} tokens extrapolate the fitted power law "
                         "past the measured range")
    return lines


def _plain(v):
    from fractions import Fraction
    if isinstance(v, Fraction):
        return int(v) if v.denominator == 1 else float(v) if abs(v) < 1e300 else str(v)
    return v.item() if hasattr(v, "item") else v


def run(args) -> int:
    from ..bounds import window_for_epsilon
    eps = _parse_eps(args.eps)
    profile, label = _profile(args)
    memory = _memory(args)
    if args.sinks is not None and args.scheme != "sink":
        raise ValueError("--sinks needs --scheme sink")
    sinks = (4 if args.sinks is None else args.sinks) if args.scheme == "sink" else 0
    result = window_for_epsilon(eps, profile, args.scheme, sinks=sinks, memory=memory)
    if hasattr(sys, "set_int_max_str_digits"):  # exact windows may exceed 4300 decimal digits
        sys.set_int_max_str_digits(0)
    if args.json:
        out = result.to_dict()
        out["profile_source"] = label
        json.dump(out, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(_table(result, label, profile))
    return 0
