"""``wzbounds window``: target distortion -> window, converse, memory (table or JSON); with
``--scheme block-markov-rate`` the block-Markov KL rate exponent in both regimes."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: the modules are imported when the command runs
    from ..profiles import Profile
    from ..schemes import BlockMarkovRate

DEFAULT_EPS = 0.1
SCHEMES = ("sliding", "sink", "block", "block-average", "block-markov-rate")
#: ``--forward-decay`` value meaning "the TV envelope holds at every step".
ALMOST_SURE = "almost-sure"


def register(subparsers) -> None:
    from ..profiles import DEFAULT_POWER_LAW_PROFILE, DEFAULT_PROFILE

    p = subparsers.add_parser(
        "window",
        help="smallest cache window for a target distortion",
        description="Smallest window (and converse, memory) that guarantees distortion <= eps. "
        "The profile comes from --alpha/--C (power law), --profile (JSON file or "
        f"built-in name), or the built-in default (the measured SmolLM2 upper-confidence curve "
        f"{DEFAULT_PROFILE}; for block-markov-rate that run's power-law fit {DEFAULT_POWER_LAW_PROFILE}). "
        "--scheme block-markov-rate reports the "
        "block-Markov KL rate exponent from a TV profile, unconditionally and under forward "
        "decay + regularity (eps is then a KL target in nats).",
    )
    p.add_argument(
        "--eps",
        action="append",
        metavar="EPS",
        help=f"target distortion; repeat or comma-separate for several (default {DEFAULT_EPS})",
    )
    p.add_argument("--alpha", type=float, help="power-law exponent (with --C)")
    p.add_argument("--C", type=float, dest="C", help="power-law upper constant")
    p.add_argument("--c", type=float, dest="c", help="power-law lower constant (enables the converse)")
    p.add_argument("--w0", type=int, help="smallest window at which the envelopes hold (default 1)")
    p.add_argument("--profile", help="profile JSON file or built-in name")
    p.add_argument(
        "--allow-untrusted-profile",
        action="store_true",
        help="use a profile whose measurement failed its sanity checks (prints a warning)",
    )
    p.add_argument(
        "--divergence",
        choices=("kl_nats", "kl_bits", "tv", "tv2"),
        help="divergence of --alpha/--C (default kl_nats); with --profile it must match",
    )
    p.add_argument("--scheme", default="sliding", choices=SCHEMES)
    p.add_argument("--sinks", type=int, default=None, help="sink tokens for --scheme sink (default 4)")
    p.add_argument(
        "--vocab-size",
        type=int,
        default=None,
        help="vocabulary size V for --scheme block-markov-rate (default: vocab_size of --model-config)",
    )
    p.add_argument(
        "--forward-decay",
        metavar="SPEC",
        default=None,
        help=f"block-markov-rate: '{ALMOST_SURE}' (the TV envelope holds at every step) or a tv2 "
        "profile (file or name) bounding E[TV^2]",
    )
    p.add_argument(
        "--regularity",
        type=float,
        default=None,
        metavar="ETA",
        help="block-markov-rate: the decoder's output is >= ETA on every symbol",
    )
    p.add_argument(
        "--context",
        type=int,
        default=None,
        metavar="T",
        help="policy profiles only: context length T in tokens (the cached tokens and the query, as "
        "`policies --prefix-len`) to answer the budget and the kvpress compression_ratio at "
        "(default: every length the profile measured); between measured lengths interpolated in log T",
    )
    p.add_argument(
        "--extrapolate-context",
        action="store_true",
        help="allow a --context outside the lengths the policy profile measured (the output says so)",
    )
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


def _trusted(profile, label, allow: bool):
    """Refuse a profile its measurement marked untrusted, unless ``--allow-untrusted-profile``."""
    if profile.trusted:
        return
    reasons = "; ".join(profile.untrusted_reasons) or "no reason recorded"
    if not allow:
        raise ValueError(
            f"profile {label} is marked untrusted by its measurement ({reasons}); "
            "pass --allow-untrusted-profile to use it anyway"
        )
    print(f"wzbounds window: warning: using untrusted profile {label} ({reasons})", file=sys.stderr)


def _profile(args):
    from ..profiles import DEFAULT_POWER_LAW_PROFILE, DEFAULT_PROFILE, PowerLaw, load_profile

    explicit = any(v is not None for v in (args.alpha, args.C, args.c, args.w0))
    if args.profile is not None and not args.profile.strip():
        raise ValueError("`--profile` is empty: give a profile file or a built-in name")
    if explicit and args.profile:
        raise ValueError("give either --profile or --alpha/--C/--c/--w0, not both")
    if explicit:
        if args.alpha is None or args.C is None:
            raise ValueError("a power-law profile needs both --alpha and --C")
        profile: Profile = PowerLaw(
            args.alpha,
            args.C,
            c=args.c,
            w0=1 if args.w0 is None else args.w0,
            divergence=args.divergence or "kl_nats",
            provenance={"source": "command line"},
        )
        return profile, "command-line power law"
    default = DEFAULT_POWER_LAW_PROFILE if args.scheme == "block-markov-rate" else DEFAULT_PROFILE
    name = args.profile or default
    profile = load_profile(name)
    if args.divergence and args.divergence != profile.divergence:
        raise ValueError(
            f"`--divergence` {args.divergence!r} does not match the profile's "
            f"{profile.divergence!r} (convert with wzbounds.divergences)"
        )
    label = f"{name}" if args.profile else f"built-in default {default!r}"
    _check_provenance(profile, repr(name))
    _trusted(profile, repr(name), args.allow_untrusted_profile)
    return profile, label


def _model_config(args):
    """The ``--model-config`` document (None when not given); every problem names the option."""
    from pathlib import Path

    from ..memory import _config_iv

    if args.model_config is None:
        return None
    if not args.model_config.strip():
        raise ValueError("`--model-config` is empty: give a transformers config.json")
    if not Path(args.model_config).expanduser().is_file():
        raise ValueError(f"`--model-config` {args.model_config}: no such file")
    try:
        return _config_iv(Path(args.model_config).expanduser())
    except ValueError as exc:
        raise ValueError(f"`--model-config`: {exc}") from None


def _memory(args):
    from ..memory import KVMemorySpec

    shape = (args.layers, args.kv_heads, args.head_dim)
    config = _model_config(args)
    if config is not None and any(v is not None for v in shape):
        raise ValueError("give either --model-config or --layers/--kv-heads/--head-dim, not both")
    if config is not None:
        try:
            return KVMemorySpec.from_config(config, dtype_bytes=args.dtype_bytes)
        except ValueError as exc:
            raise ValueError(f"`--model-config` {args.model_config}: {exc}") from None
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


def _at(v, i):
    """Entry ``i`` of a scalar-or-array result field (None stays None)."""
    import numpy as np

    if v is None:
        return None
    a = np.asarray(v, dtype=object if isinstance(v, int) else None)
    return a.ravel()[i] if a.ndim else a.item()


def _grid(cols, rows) -> list[str]:
    widths = [max(len(c), *(len(r[j]) for r in rows)) for j, c in enumerate(cols)]
    return ["  ".join(s.rjust(w) for s, w in zip(r, widths, strict=True)) for r in [cols, *rows]]


def _memory_note(profile, config) -> str | None:
    """When the profile records the model it was measured on and ``config`` (``--model-config``)
    is evidently another model: a line saying whose window it is and whose bytes."""
    if config is None:
        return None
    measured_on = (profile.provenance or {}).get("model_id")
    if not isinstance(measured_on, str) or not measured_on:
        return None
    text = config.get("text_config") if isinstance(config.get("text_config"), dict) else {}
    name = next((v for v in (config.get("_name_or_path"), text.get("_name_or_path")) if isinstance(v, str) and v), None)
    if name is not None:
        stem = name.rstrip("/").rsplit("/", 1)[-1].lower()
        if stem and stem in measured_on.lower():
            return None
    model_type = text.get("model_type") or config.get("model_type")
    what = name or (f"model_type {model_type}" if isinstance(model_type, str) else "an unnamed model")
    return (
        f"note: the window comes from the profile measured on {measured_on}; the bytes count the "
        f"--model-config model ({what}), whose own window may differ"
    )


def _table(result, label, profile, note=None) -> str:
    import numpy as np

    rows = []
    size = "block" if result.scheme.startswith("block") else "window"
    cols = ["eps", size, "converse", "ratio", "peak mem (tok)", "avg mem (tok)"]
    if result.peak_memory_bytes is not None:
        cols += ["peak mem (B)", "avg mem (B)"]
    if result.window_ci_tokens is not None:
        cols += ["window CI range"]
    for i in range(np.size(result.eps)):
        row = [
            _fmt(float(_at(result.eps, i))),
            _fmt(_at(result.window_tokens, i)),
            _fmt(_at(result.converse_window_tokens, i)),
            "-" if result.ratio is None else f"{float(_at(result.ratio, i)):.4g}",
            _fmt(_at(result.peak_memory_tokens, i)),
            _fmt(_plain(_at(result.average_memory_tokens, i))),
        ]
        if result.peak_memory_bytes is not None:
            row += [_fmt(_at(result.peak_memory_bytes, i)), _fmt(_plain(_at(result.average_memory_bytes, i)))]
        if result.window_ci_tokens is not None:
            lo, hi = result.window_ci_tokens
            row += [f"[{_at(lo, i)}, {_at(hi, i)}]"]
        rows.append(row)
    head = [
        f"profile: {label} -- {profile.describe()}",
        f"scheme: {result.scheme}"
        + (f" ({result.sinks} sinks)" if result.scheme == "sink" else "")
        + f"; divergence: {result.divergence}; theorems: {', '.join(result.theorem_ids)}",
    ]
    head += _provenance_lines(result.window_tokens, profile)
    if result.converse_window_tokens is None:
        head.append("converse: none (the profile has no lower envelope)")
    spec = result.memory_spec
    if spec is not None and spec.architecture:
        head.append(f"memory: {spec.architecture}")
    if note:
        head.append(note)
    return "\n".join(head + _grid(cols, rows))


def _check_provenance(profile, label) -> None:
    """The provenance fields this command prints as numbers are numbers (the profile loader keeps
    provenance as written): ValueError naming the field otherwise, never a formatting error."""
    import math
    from numbers import Real

    from .._fileio import short_repr

    def number(v, ok):
        return isinstance(v, Real) and not isinstance(v, bool) and math.isfinite(v) and ok(v)

    prov = profile.provenance or {}
    level, windows = prov.get("confidence_level"), prov.get("windows_tokens")
    if level is not None and not number(level, lambda v: 0 < v < 1):
        raise ValueError(
            f"profile {label}: `provenance.confidence_level` must be a number in (0, 1), got {short_repr(level)}"
        )
    if windows is not None and not (
        isinstance(windows, list) and windows and all(number(w, lambda v: v >= 1) for w in windows)
    ):
        raise ValueError(
            f"profile {label}: `provenance.windows_tokens` must be a list of windows >= 1, got {short_repr(windows)}"
        )


def _provenance_lines(windows, profile) -> list[str]:
    """Where the profile came from and, for a measured one, whether the windows extrapolate."""
    import numpy as np

    prov = profile.provenance or {}
    lines = []
    if prov.get("status"):
        lines.append(f"provenance: {prov['status']}")
    measured = prov.get("windows_tokens")
    if prov.get("source") == "wzbounds validate" and measured:
        lines.append(
            f"provenance: measured by wzbounds validate on {prov.get('model_id', '?')} "
            f"({prov.get('corpus', '?')}; {prov.get('n_prefixes', '?')} prefixes of "
            f"{prov.get('prefix_tokens', '?')} tokens; protocol {prov.get('protocol') or 'fixed-end'}; "
            f"windows {min(measured):g}-{max(measured):g}; "
            f"verdict {prov.get('verdict', '?')})"
        )
        if prov.get("constant") == "upper-ci-curve":
            level = prov.get("confidence_level")
            lines.append(
                f"profile values: the upper {'' if level is None else f'{100 * level:g}% '}bootstrap limit "
                "of the measured mean at each window, log-log between windows"
            )
        if windows is not None and max(np.asarray(windows, dtype=object).ravel()) > max(measured):
            if profile.kind != "tabulated":
                law = "the fitted power law"
            elif profile.tail_alpha is None:
                law = "the power law through the last two measured points"
            else:
                law = f"the power law w^-{profile.tail_alpha:.4g} from the last measured point"
            lines.append(f"note: windows beyond {max(measured):g} tokens extrapolate {law} past the measured range")
    return lines


def _plain(v):
    from fractions import Fraction

    if isinstance(v, Fraction):  # half-integer averages of huge blocks: print them exactly
        return int(v) if v.denominator == 1 else f"{v.numerator // 2}.5"
    return v.item() if hasattr(v, "item") else v


# ----------------------------------------------------------------------------- block-markov-rate
def _forward_decay(spec):
    """``--forward-decay``: None (not given), True (almost sure) or a tv2 profile."""
    from pathlib import Path

    from ..profiles import builtin_profiles, load_profile

    if spec is None:
        return None
    if spec == ALMOST_SURE:
        return True
    if spec not in builtin_profiles() and not Path(spec).expanduser().is_file():
        raise ValueError(
            f"`--forward-decay` {spec!r} is neither {ALMOST_SURE!r}, a profile file nor a built-in "
            f"profile ({', '.join(builtin_profiles())})"
        )
    try:
        profile = load_profile(Path(spec).expanduser() if spec not in builtin_profiles() else spec)
    except ValueError as exc:
        raise ValueError(f"`--forward-decay`: {exc}") from None
    if profile.divergence != "tv2":
        raise ValueError(f"`--forward-decay` profile {spec!r} must be in 'tv2' (E[TV^2]), got {profile.divergence!r}")
    return profile


def _vocab_size(args):
    from .._validation import positive_int

    config = _model_config(args)  # read and checked even when --vocab-size wins: a bad path is never ignored
    if args.vocab_size is not None:
        return args.vocab_size, "--vocab-size"
    if config is not None:
        config = config.get("text_config", config) if "vocab_size" not in config else config
        if isinstance(config, dict) and config.get("vocab_size") is not None:
            return positive_int("--model-config: config.vocab_size", config["vocab_size"], minimum=2), "--model-config"
    return None, None


def _rate_regimes(args, eps, profile):
    """Both regimes (one for a KL profile) as ``(regime, gamma, result | None, note)``: a regime
    whose hypotheses were not supplied reports its exponent only, with what it needs."""
    from ..profiles import PowerLaw
    from ..schemes import block_markov_rate
    from ..schemes.block_rate import regime_exponents
    from ..units import KL_UNITS

    if args.sinks is not None:
        raise ValueError("--sinks needs --scheme sink")
    if not isinstance(profile, PowerLaw):
        raise ValueError(f"--scheme block-markov-rate needs a power-law profile, got a {profile.kind} profile")
    v, v_from = _vocab_size(args)
    fd = _forward_decay(args.forward_decay)
    if profile.divergence in KL_UNITS:
        if fd is not None or args.regularity is not None:
            raise ValueError("--forward-decay and --regularity apply to TV profiles; a KL profile bounds D_b directly")
        r = block_markov_rate(profile, eps=eps)
        return [(r.regime, r.gamma, r, None)], v_from, r.gamma_converse
    exps = regime_exponents(profile, fd if fd is not None else True)
    uncond = block_markov_rate(profile, eps=eps if v is not None else None, vocab_size=v)
    out: list[tuple[str, float, BlockMarkovRate | None, str | None]] = [
        (
            "unconditional",
            uncond.gamma,
            uncond,
            None if v is not None else "block needs --vocab-size (or vocab_size in --model-config)",
        )
    ]
    fd_given = fd is not None or profile.divergence == "tv2"
    if fd_given and args.regularity is not None:
        r = block_markov_rate(
            profile, forward_decay=False if fd is None else fd, regularity=args.regularity, eps=eps, vocab_size=v
        )
        out.append((r.regime, r.gamma, r, None))
    else:
        needs = ([] if fd_given else [f"--forward-decay ({ALMOST_SURE} assumed for the exponent)"]) + ["--regularity"]
        out.append(
            (
                "forward-decay+regularity",
                exps["forward-decay+regularity"],
                None,
                "if its hypotheses hold; a block needs " + " and ".join(needs),
            )
        )
    return out, v_from, exps["converse"]


def _rate_table(regimes, label, profile, v_from, converse) -> str:
    import numpy as np

    results = [r for _, _, r, _ in regimes if r is not None]
    head = [
        f"profile: {label} -- {profile.describe()}",
        "scheme: block-markov-rate; eps and bounds in kl_nats (block average of E KL); "
        f"theorems: {', '.join(dict.fromkeys(t for r in results for t in r.theorem_ids))}",
    ]
    if results[0].vocab_size is not None:
        head.append(f"vocabulary: V = {results[0].vocab_size} (from {v_from})")
    head += _provenance_lines(None, profile)
    kl_exponent = 2 * profile.alpha if profile.divergence == "tv" else profile.alpha
    head.append(
        "converse: gamma <= "
        + (
            f"{converse:.4g} for every suffix-only scheme"
            if converse is not None
            else f"{kl_exponent:.4g} given a lower envelope (the profile has none)"
        )
    )
    for regime, gamma, r, note in regimes:
        hyp = f"; hypotheses: {', '.join(r.hypotheses)}" if r is not None else ""
        head.append(f"regime {regime}: gamma >= {gamma:.4g}{hyp}" + (f" ({note})" if note else ""))
    cols = ["regime", "eps", "block", "converse", "peak mem (tok)", "avg mem (tok)", "bound (nats)"]
    rows = []
    for r in results:
        if r.block_tokens is None:
            continue
        for i in range(np.size(r.eps)):
            rows.append(
                [
                    r.regime,
                    _fmt(float(_at(r.eps, i))),
                    _fmt(_at(r.block_tokens, i)),
                    _fmt(_at(r.converse_block_tokens, i)),
                    _fmt(_at(r.peak_memory_tokens, i)),
                    _fmt(_plain(_at(r.average_memory_tokens, i))),
                    f"{float(_at(r.distortion_bound_nats, i)):.4g}",
                ]
            )
    return "\n".join(head + (_grid(cols, rows) if rows else []))


def _run_rate(args, eps, profile, label) -> int:
    from ..bounds import _jsonable
    from ..profiles import profile_to_dict

    if args.dtype_bytes is not None or args.layers is not None:
        raise ValueError("--scheme block-markov-rate reports tokens; byte options do not apply")
    regimes, v_from, converse = _rate_regimes(args, eps, profile)
    if args.json:
        rows = []
        for regime, gamma, r, note in regimes:
            row = {"regime": regime, "gamma": gamma, "note": note}
            if r is not None:
                row.update({k: _jsonable(v) for k, v in vars(r).items() if k not in ("profile", "forward_decay")})
                row["forward_decay"] = (
                    r.forward_decay if isinstance(r.forward_decay, bool) else profile_to_dict(r.forward_decay)
                )
            rows.append(row)
        out = {
            "scheme": "block-markov-rate",
            "profile_source": label,
            "profile": profile_to_dict(profile),
            "gamma_converse": converse,
            "regimes": rows,
        }
        json.dump(out, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(_rate_table(regimes, label, profile, v_from, converse))
    return 0


# ----------------------------------------------------------------------------- policy profiles
def _budget_table(results, label, profile) -> str:
    import numpy as np

    prov = profile.provenance or {}
    first = results[0]
    head = [
        f"profile: {label} -- {profile.describe()}",
        f"policy: {profile.policy} under {profile.semantics} eviction; divergence: {profile.divergence} (a mean "
        f"over the measured text's positions, not a per-token guarantee); theorems: {', '.join(first.theorem_ids)}",
    ]
    if prov.get("source") == "wzbounds policies":
        head.append(
            f"provenance: measured by wzbounds policies on {prov.get('model_id', '?')} "
            f"({prov.get('corpus', '?')}; "
            f"{prov.get('n_prefixes_per_context', '?')} prefixes per context length; verdict "
            f"{prov.get('verdict', '?')}); values: the upper {100 * prov.get('confidence_level', 0.95):g}% "
            "prefix-bootstrap limit of the mean, log-log between budgets"
        )
    head.append(
        "budget k = tokens the query sees (k - 1 cache entries kept and itself); kvpress ratio: the "
        "compression_ratio keeping exactly k - 1 of the T - 1 cached tokens"
    )
    cols = ["eps", "budget k", "cache kept", "kvpress ratio", "bound", "power-law k [CI]"]
    if first.memory_bytes is not None:
        cols.insert(4, "memory (B)")
    lines = list(head)
    for r in results:
        used = " and ".join(map(str, r.contexts_used))
        if r.context_status == "measured":
            how = "measured"
        elif r.context_status == "interpolated":
            how = f"interpolated in log T between {used}"
        else:
            how = "EXTRAPOLATED beyond the measured lengths " + (
                f"from {used}" if len(r.contexts_used) == 2 else f"(the curve measured at {used}, used unchanged)"
            )
        lines.append(
            f"context T = {r.context_tokens} ({how}; assumptions: {', '.join(r.assumptions)}): budgets "
            f"{r.budgets_measured_tokens[0]}..{r.budgets_measured_tokens[1]} answer eps in "
            f"[{r.eps_range[0]:.4g}, {r.eps_range[1]:.4g}]"
        )
        rows = []
        for i in range(np.size(r.eps)):
            pl = _at(r.power_law_budget_tokens, i)
            ci = r.power_law_budget_ci_tokens
            pl_text = "-" if pl is None else str(pl) + ("" if ci is None else f" [{_at(ci[0], i)}, {_at(ci[1], i)}]")
            row = [
                _fmt(float(_at(r.eps, i))),
                str(_at(r.budget_tokens, i)),
                str(_at(r.cache_tokens, i)),
                f"{float(_at(r.compression_ratio, i)):.6f}",
                f"{float(_at(r.distortion_bound, i)):.4g}",
                pl_text,
            ]
            if r.memory_bytes is not None:
                row.insert(4, str(_at(r.memory_bytes, i)))
            rows.append(row)
        lines += _grid(cols, rows)
    return "\n".join(lines)


def _run_budget(args, eps, profile, label) -> int:
    """A policy profile: the budget (tokens, kvpress ratio, bytes) at each context length."""
    from .._validation import parameters_as_options
    from ..budget import budget_for_epsilon

    for given, option in (
        (args.scheme != "sliding", "--scheme"),
        (args.sinks is not None, "--sinks"),
        (args.vocab_size is not None, "--vocab-size"),
        (args.forward_decay is not None, "--forward-decay"),
        (args.regularity is not None, "--regularity"),
    ):
        if given:
            raise ValueError(
                f"`{option}` applies to truncation profiles; {label} is a policy profile, whose budget is "
                "for the policy it measured"
            )
    memory = _memory(args)
    contexts = [args.context] if args.context is not None else list(profile.context_tokens)
    with parameters_as_options({"eps": "--eps", "context_tokens": "--context"}):
        results = [
            budget_for_epsilon(eps, profile, context_tokens=T, extrapolate=args.extrapolate_context, memory=memory)
            for T in contexts
        ]
    if args.json:
        json.dump({"profile_source": label, "budgets": [r.to_dict() for r in results]}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(_budget_table(results, label, profile))
    return 0


def run(args) -> int:
    from ..bounds import window_for_epsilon

    eps = _parse_eps(args.eps)
    if args.context is not None and args.context < 2:
        raise ValueError(f"`--context` must be an integer >= 2, got {args.context}")
    profile, label = _profile(args)
    if profile.kind == "policy":
        return _run_budget(args, eps, profile, label)
    if args.context is not None or args.extrapolate_context:
        raise ValueError(
            f"`--context` and `--extrapolate-context` need a policy profile (written by wzbounds policies "
            f"to --out/profiles); {label} is a {profile.kind} profile"
        )
    if hasattr(sys, "set_int_max_str_digits"):  # exact windows may exceed 4300 decimal digits
        sys.set_int_max_str_digits(0)
    if args.scheme == "block-markov-rate":
        return _run_rate(args, eps, profile, label)
    if any(v is not None for v in (args.vocab_size, args.forward_decay, args.regularity)):
        raise ValueError("--vocab-size, --forward-decay and --regularity need --scheme block-markov-rate")
    memory = _memory(args)
    if args.sinks is not None and args.scheme != "sink":
        raise ValueError("--sinks needs --scheme sink")
    sinks = (4 if args.sinks is None else args.sinks) if args.scheme == "sink" else 0
    result = window_for_epsilon(eps, profile, args.scheme, sinks=sinks, memory=memory)
    note = _memory_note(profile, _model_config(args))
    if args.json:
        out = result.to_dict()
        out["profile_source"] = label
        out["memory_note"] = note
        json.dump(out, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(_table(result, label, profile, note))
    return 0
