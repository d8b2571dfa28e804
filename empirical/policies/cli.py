"""``wzbounds policies``: cache-policy degradation curves on a real model.

It shares the model, corpus and sampling options with ``wzbounds validate``
(:mod:`wzbounds.empirical.options`). torch/transformers are imported only inside :func:`run`, so
registering the command is cheap."""
from __future__ import annotations

import sys
import time
from pathlib import Path

DEFAULT_POLICIES = "sliding,sink,random,h2o,lastq"
DEFAULT_BUDGETS = "8,16,32,64,128"


def register(subparsers) -> None:
    import argparse

    from ..options import add_common_options

    p = subparsers.add_parser(
        "policies", help="degradation curves of cache policies (sliding, sink, random, H2O, last-query, kvpress)",
        description="Measure KL(p || p_policy) vs cache budget k for cache policies under three semantics "
                    "(truncation = suffix-only re-encoding; prefill = post-prefill eviction, kvpress-style; "
                    "streaming = eviction while generating), fit budget exponents with prefix-bootstrap CIs, "
                    "and write rows.jsonl (resumable), policies.json, policies.png and report.md to --out, and a "
                    "calculator profile per (semantics, policy) to --out/profiles (for wzbounds window --profile). "
                    "Several --prefix-len values are measured one after the other, each in --out/T<length>.")
    add_common_options(p, prefixes=16, prefix_len=256, positions="preserve",
                       positions_help="truncation's position ids: preserve (original, default) or reindex (from 0)",
                       prefix_len_list=True)
    m = p.add_argument_group("policies")
    m.add_argument("--policies", default=DEFAULT_POLICIES, metavar="LIST",
                   help="comma list: sliding, sink, random, h2o (heavy hitters + recent window, half and half), "
                        "h2o-acc (accumulated attention only), lastq (the query's attention; TOVA-like under "
                        f"streaming), kvpress:<press>[(opt=v;opt=v)] (not streamed) (default {DEFAULT_POLICIES})")
    m.add_argument("--budgets", default=DEFAULT_BUDGETS, metavar="LIST",
                   help=f"comma list of budgets k in tokens seen, query included (default {DEFAULT_BUDGETS})")
    m.add_argument("--semantics", default="truncation,prefill,streaming", metavar="LIST",
                   help="comma list: truncation, prefill, streaming (default all three)")
    m.add_argument("--streaming", default="auto", choices=["auto", "decode", "masked"],
                   help="how step-invariant policies are streamed: one masked pass (masked), an incremental "
                        "decode (decode; attention-scored policies always decode) or auto (the masked pass)")
    m.add_argument("--sinks", type=int, default=4, metavar="S", help="sink tokens of the sink policy (default 4)")
    m.add_argument("--batch-size", type=int, default=4, metavar="B", help="prefixes per forward pass (default 4)")
    a = p.add_argument_group("analysis")
    a.add_argument("--bootstrap", type=int, default=1000, metavar="B", help="bootstrap resamples (default 1000)")
    a.add_argument("--n-resamples", dest="bootstrap", type=int, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    a.add_argument("--profile", default="auto", metavar="FILE|NAME",
                   help="KL sensitivity profile whose sliding prediction is overlaid; auto (default): a built-in "
                        "profile measured on this very model file (sha256), else the calculator's bound from this "
                        "run's own truncation/sliding fit, labelled so")
    a.add_argument("--summarize-only", action="store_true",
                   help="do not measure: summarise the rows already in --out (e.g. of an interrupted run)")
    p.add_argument("--tiny-random-model", action="store_true", help=argparse.SUPPRESS)  # tests and smoke runs
    p.set_defaults(func=run, interrupt_note="every batch measured so far is saved in --out; rerun the same command "
                                            "to resume, or add --summarize-only to summarise what is there")


def _ints(name, text):
    from ..options import parse_list

    try:
        return tuple(int(x) for x in parse_list(name, text))
    except ValueError as exc:
        if "is empty" in str(exc) or "twice" in str(exc):
            raise
        raise ValueError(f"`{name}` must be a comma list of integers, got {text!r}") from None


def _explicit_profile(name):
    """The profile ``--profile`` names, checked before anything is measured (KL needed)."""
    from wzbounds.profiles import builtin_profiles, load_profile

    if name not in builtin_profiles() and not Path(name).expanduser().is_file():
        raise ValueError(f"`--profile` {name!r} is neither a file nor a built-in profile ({sorted(builtin_profiles())})")
    prof = load_profile(name)
    if prof.kind == "policy":
        raise ValueError(f"`--profile` {name!r} is a policy profile (a budget curve of one policy); the overlay "
                         "needs a truncation sensitivity profile (from wzbounds validate, or a built-in one)")
    if prof.divergence not in ("kl_nats", "kl_bits"):
        raise ValueError(f"`--profile` {name!r} is in {prof.divergence}; the overlay compares with measured KL, "
                         "so it needs a kl_nats or kl_bits profile")
    return prof


def _config(args):
    from ..options import BOOTSTRAP_RANGE, parse_list
    from .registry import parse_policies
    from .run import PoliciesConfig

    from wzbounds._validation import parameters_as_options

    with parameters_as_options({"policies": "--policies"}):
        policies = parse_policies(args.policies, sinks=args.sinks, seed=args.seed)
    if args.text:
        corpora, text = ("text",), tuple(args.text)
    else:
        corpora, text = tuple(args.domains or (args.domain or "natural",)), ()
    lo, hi = BOOTSTRAP_RANGE
    if not lo <= args.bootstrap <= hi:
        raise ValueError(f"`--bootstrap` must be an integer in [{lo}, {hi}], got {args.bootstrap}")
    cfg = PoliciesConfig(corpora=corpora, text=text, n_prefixes=args.prefixes, prefix_tokens=args.prefix_len,
                         budgets_tokens=_ints("--budgets", args.budgets), policies=tuple(p.label for p in policies),
                         semantics=parse_list("--semantics", args.semantics), policy_specs=tuple(map(repr, policies)),
                         streaming=args.streaming, seed=args.seed, sinks=args.sinks,
                         position_mode=args.positions, batch_size=args.batch_size)
    return policies, cfg


def _stored(out: Path, cfg):
    """Everything a summary needs from a previous run in ``out`` with the same configuration."""
    from ..provenance import CorpusProvenance, ModelProvenance
    from ..records import load_record
    from ..sanity import Sanity
    from .run import PoliciesConfig, read_rows

    cfg_path = out / "config.json"
    if not cfg_path.exists():
        raise FileNotFoundError(f"no run to summarise in {out} (missing config.json)")
    if load_record(PoliciesConfig, cfg_path) != cfg:
        raise ValueError(f"{out} holds a run with a different configuration; pass the same options")
    model = load_record(ModelProvenance, out / "model.json")
    corpora = [load_record(CorpusProvenance, out / f"corpus_{c}.json") for c in cfg.corpora
               if (out / f"corpus_{c}.json").exists()]
    sanities = [load_record(Sanity, out / f"sanity_{c}.json") for c in cfg.corpora if (out / f"sanity_{c}.json").exists()]
    rows, timing = read_rows(out, warn=lambda m: print(f"wzbounds policies: {m}", file=sys.stderr))
    return model, corpora, sanities, rows, timing


def _predictions(args, rows, cfg, model, rng):
    """Overlays per corpus, honestly labelled: an explicit ``--profile``; with ``auto`` a built-in
    KL profile measured on this model file; else this run's own truncation fit."""
    from . import report

    preds, notes = {}, []
    explicit = _explicit_profile(args.profile) if args.profile != "auto" else None
    same = report.same_model_builtin(model.file_sha256, cfg.budgets_tokens) if explicit is None else None
    for d in cfg.corpora:
        if explicit is not None:
            preds[d] = report.profile_prediction(explicit, args.profile, cfg.budgets_tokens)
        elif same is not None:
            preds[d] = same
        else:
            pred, why = report.run_profile_prediction(rows, cfg, rng, d, n_resamples=args.bootstrap)
            if pred is not None:
                preds[d] = pred
                notes.append(f"{d} overlay: no built-in KL profile was measured on this model file, so the "
                             "overlay is this run's own truncation/sliding fit")
            else:
                notes.append(f"{d} overlay: none ({why})")
    return preds, notes


def _lengths(args) -> tuple:
    """``--prefix-len`` as a tuple of context lengths (one integer or a comma list)."""
    from wzbounds._validation import positive_int

    lengths = _ints("--prefix-len", str(args.prefix_len))
    for T in lengths:
        positive_int("--prefix-len", T, minimum=3)
    return lengths


def _plans(args) -> list:
    """One argument namespace per context length: the length, its budgets and its ``--out``. With
    several lengths each measures the budgets below it in ``--out``/T<length>."""
    import argparse

    lengths = _lengths(args)
    if len(lengths) == 1:
        return [argparse.Namespace(**{**vars(args), "prefix_len": lengths[0]})]
    budgets = _ints("--budgets", args.budgets)
    plans = []
    for T in lengths:
        below = [k for k in budgets if k <= T - 1]
        if len(below) < 2:
            raise ValueError(f"`--budgets` must hold at least two budgets below each --prefix-len; {T} has "
                             f"{len(below)}")
        plans.append(argparse.Namespace(**{**vars(args), "prefix_len": T, "budgets": ",".join(map(str, below)),
                                           "out": str(Path(args.out) / f"T{T}")}))
    return plans


def _prepare(args):
    """Every check that needs no model: ``(policies, config)``."""
    from wzbounds._validation import positive_int

    from ..options import check_common

    check_common(args, min_prefixes=2, require_model=not args.tiny_random_model)
    positive_int("--sinks", args.sinks, minimum=0)
    positive_int("--batch-size", args.batch_size)
    policies, cfg = _config(args)
    if args.profile != "auto":
        _explicit_profile(args.profile)
    return policies, cfg


def run(args) -> int:
    """Measure (or resume) each context length, summarise each, then write the calculator
    profiles of every (corpus, semantics, policy) over all lengths to ``--out``/profiles."""
    import json

    import numpy as np

    from wzbounds._fileio import atomic_write

    from ..options import output_directory
    from .profiles import build_profiles, read_run, weights_sha256, write_profiles
    from .run import RESUME_ENTRIES

    plans = _plans(args)
    prepared = [_prepare(a) for a in plans]  # every length checked before the model loads
    several = len(plans) > 1
    # held alone until the profiles are written; a failed first run keeps what a resume needs
    with output_directory(args.out, ("T*",) if several else RESUME_ENTRIES) as out:
        loaded = None if args.summarize_only else _load(plans[0])  # the checked options
        for a, (policies, cfg) in zip(plans, prepared):
            if several:
                with output_directory(a.out, RESUME_ENTRIES) as sub:
                    _run_length(a, sub, policies, cfg, loaded)
            else:
                _run_length(a, out, policies, cfg, loaded)
        weights_file = out / "model_weights.json"
        if loaded is not None:
            atomic_write(weights_file, json.dumps({"weights_sha256": weights_sha256(loaded.model)}) + "\n")
        weights = json.loads(weights_file.read_text())["weights_sha256"] if weights_file.exists() else None
        runs = [read_run(a.out, cfg) for a, (_, cfg) in zip(plans, prepared)]
        profiles, notes = build_profiles(runs, prepared[0][0], np.random.default_rng([args.seed, 19]),
                                         n_resamples=args.bootstrap, weights_sha=weights)
        paths = write_profiles(out, profiles)
    for n in notes:
        print(f"wzbounds policies: {n}", file=sys.stderr)
    print(f"wrote {len(paths)} calculator profiles to {out / 'profiles'} (context lengths "
          f"{', '.join(str(a.prefix_len) for a in plans)})")
    return 0


def _load(args):
    import torch

    from ..models import load_model, tiny_random_model
    from ..options import progress_bars

    if args.threads:
        torch.set_num_threads(args.threads)
    with progress_bars(not args.no_progress):
        return (tiny_random_model(seed=args.seed) if args.tiny_random_model else
                load_model(args.model, gguf=args.gguf, tokenizer=args.tokenizer, dtype=args.dtype,
                           device=args.device, attn_implementation=args.attn, device_map=args.device_map,
                           trust_remote_code=args.trust_remote_code, allow_pickle=args.allow_pickle))


def _run_length(args, out: Path, policies, cfg, loaded) -> int:
    """One context length: measure into ``out`` (unless ``loaded`` is None: summarise only), then
    the summary, plot and report."""
    from .kvpress_press import KVPressPolicy, compressible_layers
    from .run import run_policies

    t0 = time.perf_counter()
    notes = []
    if loaded is not None:
        run_policies(loaded, policies, cfg, out, log=lambda m: print(m, file=sys.stderr),
                     show_progress=not args.no_progress)
        if any(isinstance(p, KVPressPolicy) for p in policies):
            layers = compressible_layers(loaded.model)
            n = int(loaded.model.config.num_hidden_layers)
            notes.append(f"kvpress presses compress {len(layers)} of {n} layers (full-attention layers only)"
                         + ("" if len(layers) == n else f": {list(layers)}"))
    result, png = _summarize(args, out, cfg, policies, notes, t0)
    for s in result.sanity:
        for w in s.warnings:
            print(f"wzbounds policies: WARNING: {w}", file=sys.stderr)
    print(f"wrote {out / 'policies.json'}, {out / 'report.md'}" + (f", {png}" if png else "")
          + f" in {time.perf_counter() - t0:.0f}s" + ("" if result.trusted else " (UNTRUSTED: see the warnings)"))
    return 0


def _summarize(args, out: Path, cfg, policies, notes, t0):
    """Summarise the rows in ``out`` into policies.json, policies.png and report.md (each written
    whole or not at all); returns ``(result, png path or None)``."""
    import numpy as np

    from wzbounds._fileio import atomic_path

    from ..provenance import Provenance, command_line, package_version
    from . import report
    from .kvpress_press import KVPressPolicy

    model, corpora, sanities, rows, timing = _stored(out, cfg)
    if not rows:
        raise ValueError(f"{out} holds no measured rows to summarise")
    if any(isinstance(p, KVPressPolicy) for p in policies):
        from importlib.metadata import version

        notes.append(f"kvpress {version('kvpress')}")
    if args.summarize_only:
        notes.append("summarised from stored rows (--summarize-only)")
    methods = {}
    for t in timing:
        for pol, how in t.streaming_method.items():
            methods.setdefault(how, set()).add(pol)
    for how, pols in sorted(methods.items()):
        notes.append(f"streaming by {'an incremental decode over a KV cache' if how == 'decode' else 'one masked pass'}: "
                     + ", ".join(sorted(pols)))
    rng = np.random.default_rng(args.seed)
    preds, overlay_notes = _predictions(args, rows, cfg, model, rng)
    measured = {(r.domain, r.prefix_index) for r in rows if r.skipped is None}
    provenance = Provenance(model=model, corpora=tuple(corpora), package_version=package_version(),
                            numpy_version=np.__version__, seed=cfg.seed, command=command_line(),
                            wall_s=time.perf_counter() - t0, forward_tokens=int(sum(sum(t.forward_tokens.values()) for t in timing)),
                            forward_calls=int(sum(t.forward_calls for t in timing)),
                            measure_wall_s=float(sum(sum(t.seconds.values()) for t in timing)),
                            n_prefixes_measured=len(measured))
    result = report.summarize(rows, timing, cfg, provenance, sanities, rng, n_resamples=args.bootstrap,
                              prediction=preds, notes=notes + overlay_notes)
    report.save_result(result, out / "policies.json")
    with atomic_path(out / "policies.png") as tmp:
        png = report.plot(result, tmp)
    png = None if png is None else out / "policies.png"
    with atomic_path(out / "report.md") as tmp:
        report.write_report(result, tmp)
    return result, png
