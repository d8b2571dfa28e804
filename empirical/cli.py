"""``wzbounds validate`` and ``wzbounds merge``.

This module imports neither torch nor transformers at import time (only inside the command
functions), so ``wzbounds window`` works on a core-only install.
"""
from __future__ import annotations

import os
from pathlib import Path

__all__ = ["register", "parse_windows"]


def parse_windows(text: str) -> tuple:
    """``"1,2,4,8"`` (explicit), ``"log:K"`` (K >= 2 log-spaced windows up to T/2, resolved later) or
    ``"a:b:step"`` ranges; returns a tuple of ints, or ``("log", K)``."""
    text = str(text).strip()
    if text.startswith("log:"):
        try:
            k = int(text[4:])
        except ValueError:
            raise ValueError(f"`--windows log:K` needs an integer K, got {text!r}") from None
        if k < 2:
            raise ValueError(f"`--windows log:K` needs K >= 2 (a fit needs two windows), got {text!r}")
        return ("log", k)
    out = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            if ":" in part:
                a, b, *step = (int(x) for x in part.split(":"))
                if step and step[0] < 1:
                    raise ValueError
                out.extend(range(a, b + 1, step[0] if step else 1))
            else:
                out.append(int(part))
        except ValueError:
            raise ValueError(f"`--windows` must be integers like 1,2,4,8, a:b:step or log:12, got {text!r}") from None
    if not out:
        raise ValueError(f"`--windows` holds no window: {text!r}")
    return tuple(out)


def register(subparsers) -> None:
    from .options import add_common_options

    v = subparsers.add_parser(
        "validate", help="measure truncation sensitivity of a causal LM and fit the decay law",
        description="Measure how the next-token law of a causal LM changes when its context is cut to the "
                    "last w tokens; fit power law vs exponential with bootstrap CIs; write result.json, "
                    "profile.json (for `wzbounds window --profile`), plots and report.md into --out.")
    add_common_options(v, prefixes=64, prefix_len=256, positions="preserve,reindex",
                       positions_help="position modes, comma-separated: preserve, reindex (default both; the first "
                                      "is primary; on a relative-position model the second is checked on one prefix)")
    m = v.add_argument_group("measurement")
    m.add_argument("--windows", default="log:12", metavar="W",
                   help="e.g. 1,2,4,8,16 or log:K (default log:12, up to T/2; fixed-start: up to min(T/2, T-s))")
    m.add_argument("--protocol", default="fixed-end", choices=["fixed-end", "fixed-start"],
                   help="fixed-end (default): compare at the prefix's last token, dropping its T-w oldest tokens "
                        "(one truncated run per window); fixed-start: drop the s oldest tokens and compare window "
                        "w at token s+w-1 (one truncated run for all windows, much faster)")
    m.add_argument("--start", type=int, default=None, metavar="S",
                   help="fixed-start only: tokens dropped, s (default T//2); windows must be <= T-s")
    m.add_argument("--sinks", type=int, default=4, metavar="S", help="sink tokens s for sink-plus-recent (0: skip; default 4)")
    m.add_argument("--max-rows", type=int, default=None, metavar="R", help="runs of one length stacked per forward (default all)")
    m.add_argument("--floor-prefixes", type=int, default=None, metavar="N",
                   help="measure the numerical floor on the first N prefixes only (default all; under rotary "
                        "positions it costs one more forward of T tokens per prefix)")
    a = v.add_argument_group("analysis (changing these re-analyses stored rows)")
    a.add_argument("--include-boundary", action="store_true", help="fit windows above T/2 too")
    a.add_argument("--bootstrap", type=int, default=1000, metavar="B", help="bootstrap resamples (default 1000)")
    v.add_argument("--shard", metavar="i/n", help="measure only prefixes k with k %% n == i (then `wzbounds merge`)")
    v.set_defaults(func=_validate, interrupt_note="every prefix measured so far is saved in --out; rerun the "
                                                 "same command to resume")

    g = subparsers.add_parser("merge", help="combine `validate --shard` directories and analyse them",
                              description="Merge the rows of validate directories of one run (same settings, "
                                          "corpus, prefixes and model) and write result.json, profile.json, "
                                          "plots and report.md.")
    g.add_argument("dirs", nargs="+", metavar="DIR")
    g.add_argument("--out", metavar="DIR", help="where to write (default: the first DIR)")
    g.set_defaults(func=_merge)


def _config(args):
    from .pipeline import ValidateConfig, default_windows

    windows = parse_windows(args.windows)
    start = args.start
    if args.protocol == "fixed-start" and start is None:
        start = args.prefix_len // 2
    if windows and windows[0] == "log":
        top = None if start is None else args.prefix_len - start
        windows = default_windows(args.prefix_len, windows[1], top) if args.prefix_len >= 2 else ()
    modes = tuple(m.strip() for m in args.positions.split(",") if m.strip())
    return ValidateConfig(
        model=args.model, gguf=args.gguf, tokenizer=args.tokenizer,
        domain=None if args.text else (args.domain or "natural"), text=tuple(args.text or ()),
        n_prefixes=args.prefixes, prefix_tokens=args.prefix_len, windows=tuple(windows), modes=modes,
        protocol=args.protocol, start_tokens=args.start,
        sink_tokens=args.sinks, seed=args.seed, dtype=args.dtype, device=args.device, device_map=args.device_map,
        attn_implementation=args.attn, trust_remote_code=args.trust_remote_code,
        allow_pickle=args.allow_pickle, n_resamples=args.bootstrap, include_boundary=args.include_boundary,
        max_rows=args.max_rows, floor_prefixes=args.floor_prefixes)


def _summary_line(result) -> str:
    f = result.fits[result.primary_metric]
    lo, hi = f.alpha_ci
    trust = "" if result.sanity.trusted else " (UNTRUSTED: see the warnings)"
    return f"{result.primary_metric}: alpha = {f.alpha:.4f} [{lo:.4f}, {hi:.4f}]; verdict {result.verdict.label}{trust}"


def _validate(args) -> int:
    from wzbounds._validation import parameters_as_options, positive_int

    from .options import check_common, output_directory
    from .pipeline import check_config

    check_common(args, min_prefixes=2)
    if args.domains is not None:
        raise ValueError("`--domains` is not a validate option: give `--domain natural|code` or `--text PATH...`")
    positive_int("--sinks", args.sinks, minimum=0)
    with parameters_as_options({"n_resamples": "--bootstrap", "windows": "--windows", "modes": "--positions",
                                "sink_tokens": "--sinks", "start_tokens": "--start", "prefix_tokens": "--prefix-len"}):
        cfg = _config(args)
        check_config(cfg)
    shard = None
    if args.shard:
        from .distributed import parse_shard

        shard = parse_shard(args.shard)
    import torch

    from .distributed import from_environment
    from .pipeline import run_validate

    if args.threads:
        torch.set_num_threads(args.threads)
    dist = from_environment(cfg.device)
    if dist is not None and dist.backend == "nccl":
        from dataclasses import replace

        cfg = replace(cfg, device=f"cuda:{dist.local_rank}")
    from contextlib import nullcontext

    from .pipeline import RESUME_ENTRIES

    try:  # torchrun: rank 0 holds the folder for the whole run; the other ranks write only their rows
        lead = dist is None or dist.rank == 0
        with output_directory(args.out, RESUME_ENTRIES) if lead else nullcontext(Path(args.out).expanduser()) as out:
            result = run_validate(cfg, out, shard=shard, distributed=dist, show_progress=not args.no_progress)
    finally:
        if dist is not None:
            dist.close()
    if hasattr(result, "fits"):
        print(_summary_line(result))
        print(f"wrote {Path(args.out) / 'result.json'}, profile.json, report.md")
    return 0


def _merge(args) -> int:
    """Merge under the locks of :mod:`.outdir`: --out (default: the first DIR) held alone, every
    other DIR read only when no run is writing it; a merge that fails leaves no --out it created."""
    from contextlib import ExitStack

    from .outdir import reading, writing
    from .pipeline import merge_runs

    out = Path(args.out if args.out is not None else args.dirs[0]).expanduser()
    with ExitStack() as held:
        held.enter_context(writing(out, label="merge --out" if args.out is not None else "merge DIR"))
        for d in dict.fromkeys(Path(d).expanduser() for d in args.dirs):
            if not (d.is_dir() and os.path.samefile(d, out)):
                held.enter_context(reading(d))
        result = merge_runs(args.dirs, out)
    print(_summary_line(result))
    return 0
