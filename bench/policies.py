"""Benchmark: batched policy measurement vs the naive loop, same inputs, one run.

Batched (:func:`measure_batch`): one shared prefill; post-prefill eviction = one decode step per
(policy, budget); truncation = one short forward per (policy, budget); streaming = one masked
forward per (policy, budget). Naive (:func:`measure_naive`): one full run per (policy, budget) —
a fresh prefill each time, and token-by-token decoding with a real evicting cache for streaming.
Prints wall time of each, their ratio, and the largest |KL difference| (the numbers must agree).

    python bench/policies.py [--gguf PATH] [--prefixes 1] [--tokens 128] [--budgets 8,16,32,64]
"""
from __future__ import annotations

import argparse
import json
import time


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gguf", default=None, help="SmolLM2 GGUF (default: find_smollm2_gguf())")
    ap.add_argument("--prefixes", type=int, default=1)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--budgets", default="8,16,32,64")
    ap.add_argument("--policies", default="sliding,sink,random,h2o,lastq")
    ap.add_argument("--domain", default="natural")
    ap.add_argument("--threads", type=int, default=1)
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
    lm = load_model(gguf=str(gguf))
    sample = sample_prefixes(load_corpus(args.domain), lm.tokenizer, args.prefixes, args.tokens,
                             np.random.default_rng(0))
    ids = torch.as_tensor(sample.token_ids, dtype=torch.long)
    policies = parse_policies(args.policies)
    budgets = tuple(int(b) for b in args.budgets.split(","))
    seeds = tuple(range(ids.shape[0]))

    t0 = time.perf_counter()
    fast = measure_batch(lm.model, ids, policies, budgets, seeds=seeds)
    t_fast = time.perf_counter() - t0
    t0 = time.perf_counter()
    slow = measure_naive(lm.model, ids, policies, budgets, seeds=seeds)
    t_slow = time.perf_counter() - t0

    diffs = {f"{s}/{p}": float(np.max(np.abs(fast.kl_nats[(s, p)] - slow.kl_nats[(s, p)]))) for s, p in fast.kl_nats}
    rel = {f"{s}/{p}": float(np.max(np.abs(fast.kl_nats[(s, p)] - slow.kl_nats[(s, p)])
                                    / np.maximum(slow.kl_nats[(s, p)], 1e-12))) for s, p in fast.kl_nats}
    out = {"model": lm.provenance.get("model_id"), "prefixes": int(ids.shape[0]), "tokens": int(ids.shape[1]),
           "budgets": list(budgets), "policies": [p.label for p in policies],
           "batched_seconds": t_fast, "naive_seconds": t_slow, "speedup": t_slow / t_fast,
           "batched_seconds_by_semantics": fast.seconds, "naive_seconds_by_semantics": slow.seconds,
           "batched_forward_calls": fast.forward_calls, "naive_forward_calls": slow.forward_calls,
           "max_abs_kl_diff_nats": max(diffs.values()), "max_rel_kl_diff": max(rel.values()),
           "max_abs_kl_diff_by_combination": diffs, "torch_threads": torch.get_num_threads()}
    print(json.dumps(out, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
