"""``wzbounds validate`` and ``wzbounds merge``.

This module imports neither torch nor transformers at import time (only inside the command
functions), so ``wzbounds window`` works on a core-only install.
"""
from __future__ import annotations

__all__ = ["register", "parse_windows"]


def parse_windows(text: str) -> tuple:
    """``"1,2,4,8"`` (explicit), ``"log:K"`` (K log-spaced windows up to T/2, resolved later) or
    ``"a:b:step"`` ranges; returns a tuple of ints, or ``("log", K)``."""
    text = str(text).strip()
    if text.startswith("log:"):
        try:
            return ("log", int(text[4:]))
        except ValueError:
            raise ValueError(f"`--windows log:K` needs an integer K, got {text!r}") from None
    out = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            if ":" in part:
                a, b, *step = (int(x) for x in part.split(":"))
                out.extend(range(a, b + 1, step[0] if step else 1))
            else:
                out.append(int(part))
        except ValueError:
            raise ValueError(f"`--windows` must be integers like 1,2,4,8 or log:12, got {text!r}") from None
    if not out:
        raise ValueError("`--windows` is empty")
    return tuple(out)


def register(subparsers) -> None:
    v = subparsers.add_parser(
        "validate", help="measure truncation sensitivity of a causal LM and fit the decay law",
        description="Measure how the next-token law of a causal LM changes when its context is cut to the "
                    "last w tokens; fit power law vs exponential with bootstrap CIs; write result.json, "
                    "profile.json (for `wzbounds window --profile`), plots and report.md into --out.")
    src = v.add_argument_group("model")
    src.add_argument("--model", help="hub id or local model directory (hub ids need the network)")
    src.add_argument("--gguf", metavar="FILE", help="a .gguf file, loaded through transformers")
    src.add_argument("--tokenizer", help="separate tokenizer (hub id or directory) when the model's is wrong")
    src.add_argument("--dtype", default="float32", choices=["auto", "float32", "bfloat16", "float16"])
    src.add_argument("--device", default="auto", help="auto (cuda, mps, cpu), cpu, cuda, cuda:1, mps")
    src.add_argument("--attn", default="sdpa", choices=["sdpa", "eager"], help="attention implementation")
    src.add_argument("--trust-remote-code", action="store_true", help="allow model code from the hub (off)")
    src.add_argument("--allow-pickle", action="store_true", help="allow pickle checkpoints (*.bin; off)")
    cor = v.add_argument_group("corpus").add_mutually_exclusive_group()
    cor.add_argument("--domain", choices=["natural", "code"], help="built-in corpus (default natural)")
    cor.add_argument("--text", nargs="+", metavar="PATH", help="files, folders, globs or .zip archives of text")
    m = v.add_argument_group("measurement")
    m.add_argument("--prefixes", type=int, default=64, help="number of prefixes (default 64)")
    m.add_argument("--prefix-len", type=int, default=256, help="prefix length T in tokens (default 256)")
    m.add_argument("--windows", default="log:12",
                   help="e.g. 1,2,4,8,16 or log:K (default log:12, up to T/2; fixed-start: up to min(T/2, T-s))")
    m.add_argument("--protocol", default="fixed-end", choices=["fixed-end", "fixed-start"],
                   help="fixed-end (default): compare at the prefix's last token, dropping its T-w oldest tokens "
                        "(one truncated run per window); fixed-start: drop the s oldest tokens and compare window "
                        "w at token s+w-1 (one truncated run for all windows, much faster)")
    m.add_argument("--start", type=int, default=None, metavar="S",
                   help="fixed-start only: tokens dropped, s (default T//2); windows must be <= T-s")
    m.add_argument("--positions", default="preserve,reindex",
                   help="position modes, comma-separated: preserve, reindex (default both; the first is primary)")
    m.add_argument("--sinks", type=int, default=4, help="sink tokens s for sink-plus-recent (0: skip; default 4)")
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--include-boundary", action="store_true", help="fit windows above T/2 too")
    m.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples (default 1000)")
    m.add_argument("--max-rows", type=int, default=None, help="rows of T tokens per forward (default all)")
    m.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    m.add_argument("--no-progress", action="store_true")
    v.add_argument("--shard", metavar="i/n", help="measure only prefixes k with k %% n == i (then `wzbounds merge`)")
    v.add_argument("--out", required=True, metavar="DIR", help="output directory (rerun to resume)")
    v.set_defaults(func=_validate)

    g = subparsers.add_parser("merge", help="combine `validate --shard` directories and analyse them",
                              description="Merge the rows of validate directories with identical settings "
                                          "and write result.json, profile.json, plots and report.md.")
    g.add_argument("dirs", nargs="+", metavar="DIR")
    g.add_argument("--out", metavar="DIR", help="where to write (default: the first DIR)")
    g.set_defaults(func=_merge)


def _config(args):
    from .pipeline import ValidateConfig, default_windows

    if not args.model and not args.gguf:
        raise ValueError("give --model (hub id or directory) or --gguf FILE")
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
        sink_tokens=args.sinks, seed=args.seed, dtype=args.dtype, device=args.device,
        attn_implementation=args.attn, trust_remote_code=args.trust_remote_code,
        allow_pickle=args.allow_pickle, n_resamples=args.bootstrap, include_boundary=args.include_boundary,
        max_rows=args.max_rows)


def _summary_line(analysis) -> str:
    r = analysis.result
    f = r["fits"][r["primary_metric"]]
    lo, hi = f["alpha_ci"]
    return (f"{r['primary_metric']}: alpha = {f['alpha']:.4f} [{lo:.4f}, {hi:.4f}]; "
            f"verdict {r['verdict']['label']}")


def _validate(args) -> int:
    from pathlib import Path

    from wzbounds._validation import positive_int

    positive_int("--prefixes", args.prefixes)
    positive_int("--prefix-len", args.prefix_len, minimum=2)
    cfg = _config(args)
    shard = None
    if args.shard:
        from .distributed import parse_shard

        shard = parse_shard(args.shard)
    import torch

    if args.threads:
        torch.set_num_threads(positive_int("--threads", args.threads))
    from .distributed import from_environment
    from .pipeline import run_validate

    dist = from_environment(cfg.device)
    if dist is not None and dist.backend == "nccl":
        from dataclasses import replace

        cfg = replace(cfg, device=f"cuda:{dist.local_rank}")
    try:
        result = run_validate(cfg, Path(args.out), shard=shard, distributed=dist,
                              show_progress=not args.no_progress)
    finally:
        if dist is not None:
            dist.close()
    if hasattr(result, "result"):
        print(_summary_line(result))
        print(f"wrote {Path(args.out) / 'result.json'}, profile.json, report.md")
    return 0


def _merge(args) -> int:
    from .pipeline import merge_runs

    analysis = merge_runs(args.dirs, args.out)
    print(_summary_line(analysis))
    return 0
