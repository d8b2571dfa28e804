"""Benchmark: the batched policy measurement, its cost against each semantics' floor, and (optional)
the naive loop on the same inputs.

Batched (:func:`measure_batch`): one shared prefill; post-prefill eviction = one decode step per
(policy, budget); truncation = one forward of ``k`` tokens per (policy, budget); streaming = one
incremental decode of ``T - k`` steps per budget for the decoded policies (all of them batched)
and one masked ``T``-token forward per (step-invariant policy, budget) streamed that way.
Cost is in forward-token equivalents (:class:`BatchMeasurement` ``forward_tokens``) against each
semantics' floor (``floor_tokens``): shared prefill ``T``; post-prefill one decode step per
(policy, budget); truncation ``k`` tokens per (policy, budget); streaming ``T`` per (policy,
budget). The decode reuses the prefill for its first ``k`` tokens, so streaming can cost less
than its floor.

Naive (:func:`measure_naive`, ``--naive``): one full run per (policy, budget) — a fresh prefill each
time, and the step-by-step oracle for streaming (slow: short prefixes only). Prints JSON: wall
time by semantics, cost, cost/floor per semantics, decode tokens/s, peak RSS, load average, and
with ``--naive`` the speedup and the largest |KL difference| (the numbers must agree).

    python bench/policies.py [--gguf PATH] [--prefixes 1] [--tokens 128] [--budgets 8,16,32,64]
        [--policies sliding,sink,random,h2o,lastq] [--streaming auto] [--naive] [--threads 2]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import time


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gguf", default=None, help="SmolLM2 GGUF (default: find_smollm2_gguf())")
    ap.add_argument("--prefixes", type=int, default=1)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--budgets", default="8,16,32,64")
    ap.add_argument("--policies", default="sliding,sink,random,h2o,lastq")
    ap.add_argument("--semantics", default="truncation,prefill,streaming")
    ap.add_argument("--streaming", default="auto", choices=("auto", "decode", "masked"))
    ap.add_argument("--domain", default="natural")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--naive", action="store_true", help="also run the naive loop and compare")
    ap.add_argument("--json", default=None, help="also write the numbers to this file")
    args = ap.parse_args(argv)

    import numpy as np
    import torch

    from wzbounds.empirical.corpora import load_corpus, sample_prefixes
    from wzbounds.empirical.models import find_smollm2_gguf, load_model
    from wzbounds.empirical.policies import parse_policies
    from wzbounds.empirical.policies.measure import measure_batch, measure_naive

    torch.set_num_threads(args.threads)
    gguf = args.gguf or find_smollm2_gguf()
    if gguf is None:
        raise SystemExit("SmolLM2 GGUF not found: set WZBOUNDS_SMOLLM2_GGUF or pass --gguf")
    lm = load_model(gguf=str(gguf), device="cpu")
    sample = sample_prefixes(load_corpus(args.domain), lm.tokenizer, args.prefixes, args.tokens,
                             np.random.default_rng(0))
    ids = torch.as_tensor(sample.token_ids, dtype=torch.long)
    policies = parse_policies(args.policies)
    budgets = tuple(int(b) for b in args.budgets.split(","))
    semantics = tuple(args.semantics.split(","))
    seeds = tuple(range(ids.shape[0]))

    load_start = os.getloadavg()
    t0 = time.perf_counter()
    fast = measure_batch(lm.model, ids, policies, budgets, semantics, seeds=seeds, streaming=args.streaming)
    t_fast = time.perf_counter() - t0
    decoded = [label for label, how in fast.streaming_method.items() if how == "decode"]
    decode_steps = sum(len(decoded) * ids.shape[0] * (ids.shape[1] - k) for k in budgets if k < ids.shape[1])
    out = {"model": lm.provenance.model_id, "prefixes": int(ids.shape[0]), "tokens": int(ids.shape[1]),
           "budgets": list(budgets), "policies": [p.label for p in policies], "semantics": list(semantics),
           "streaming_method": fast.streaming_method, "batched_seconds": t_fast,
           "batched_seconds_by_semantics": fast.seconds, "batched_forward_calls": fast.forward_calls,
           "forward_tokens": fast.forward_tokens, "floor_tokens": fast.floor_tokens,
           "cost_over_floor": fast.cost_ratios(),
           "forward_tokens_per_prefix": {k: v / ids.shape[0] for k, v in fast.forward_tokens.items()},
           "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
           "torch_threads": torch.get_num_threads(), "loadavg_start": load_start}
    if decode_steps and "streaming" in semantics and all(fast.streaming_method[label] == "decode"
                                                         for label in fast.streaming_method):
        # streaming time is then all decode: its row-steps per second
        out["streaming_decode_tokens_per_s"] = decode_steps / fast.seconds["streaming"]
    if args.naive:
        t0 = time.perf_counter()
        slow = measure_naive(lm.model, ids, policies, budgets, semantics, seeds=seeds)
        t_slow = time.perf_counter() - t0
        diffs = {f"{s}/{p}": float(np.max(np.abs(fast.kl_nats[(s, p)] - slow.kl_nats[(s, p)])))
                 for s, p in fast.kl_nats}
        rel = {f"{s}/{p}": float(np.max(np.abs(fast.kl_nats[(s, p)] - slow.kl_nats[(s, p)])
                                        / np.maximum(slow.kl_nats[(s, p)], 1e-12))) for s, p in fast.kl_nats}
        out.update({"naive_seconds": t_slow, "speedup": t_slow / t_fast,
                    "naive_seconds_by_semantics": slow.seconds, "naive_forward_calls": slow.forward_calls,
                    "naive_forward_tokens": slow.forward_tokens,
                    "max_abs_kl_diff_nats": max(diffs.values()), "max_rel_kl_diff": max(rel.values()),
                    "max_abs_kl_diff_by_combination": diffs})
    out["loadavg_end"] = os.getloadavg()
    print(json.dumps(out, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
