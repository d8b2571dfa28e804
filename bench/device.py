"""Benchmark: the measurement on an accelerator — correct against the CPU, and its speed beside the
model's own forward.

Self-contained: every model is built from a config with random weights (no hub, no GGUF, no
network), and the code is imported from the checkout this file sits in (installed or not). One
JSON (``device.json``) and a log (``device.log``) go to ``--out``; the JSON is rewritten after
every part and once more at the end, also when a part fails (the failure is recorded and the run
goes on) or the process gets SIGTERM/SIGINT (``timeout``).

Parts (``--parts``):

* ``correctness`` — a tiny Llama-shaped and a tiny Gemma-2-shaped model (sliding layers, soft-capped
  attention, so eager: see ``empirical/compat.py``): validate's :func:`measure_batched` in both
  protocols with both floor methods (TV, KL, smoothed KL, NLL, and the numerical floor
  ``floor_tv``/``floor_kl_nats``), and :func:`measure_batch` for every built-in policy under every
  semantics (streaming ``auto`` and ``decode``). Pairs: target float32 vs CPU float32 (on
  ``--device cuda`` a device-vs-device comparison, expected within 1e-5; on ``--device cpu`` a
  second CPU copy, which only exercises the code paths: ``device_vs_device`` says which), and
  target bfloat16 vs target float32, reported beside the bfloat16 run's own floor.
* ``speed`` — random-weight models of Qwen2.5-0.5B's shape (hidden 896, 24 layers, 14 query / 2 KV
  heads, intermediate 4864, vocabulary 151,936) and Qwen2.5-3B's, bfloat16, SDPA: the plain forward
  (``logits_to_keep=1``, no cache) and ``measure_batched`` on the long-context plan of
  ``bench/longcontext.py`` (fixed-start, s = T/2, 16 log-spaced windows, preserve, 4 sinks, the
  ``shift`` floor) at each T, in one process: tokens/s of both (the measurement counted in every
  token its forwards processed, floor run included), their ratio (goal >= 0.8), peak memory, model
  FLOPs and utilisation against the device's datasheet bf16 dense peak (table below) and against a
  measured 8192^3 bf16 matrix product.
* ``policies`` — :func:`measure_batch` at T = 4096 (the 0.5B shape), as ``bench/policies.py``
  measures it: forward tokens against each semantics' floor tokens, and also against time: the
  floor tokens at the plain forward's rate on the same batch. Streaming runs one budget per call,
  fewest decode steps first, and skips budgets that would overrun ``--budget-s``.

On ``--device cpu`` every size is small (the smoke test ``tests/cover/test_bench_device.py``
runs it in under a minute); ``--quick`` shortens the CUDA run.

    timeout 480 python bench/device.py --device cuda --out runs/device        # ~4 min on one H100
    python bench/device.py --device cuda --quick --out runs/device-quick
    python bench/device.py --device cpu --threads 1 --out /tmp/device-smoke
"""
from __future__ import annotations

import argparse
import copy
import functools
import json
import os
import platform
import resource
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PARTS = ("correctness", "speed", "policies")
#: bf16 dense tensor-core peak (FLOP/s) by device name, from NVIDIA's datasheets (without sparsity);
#: the first pattern contained in ``torch.cuda.get_device_name()`` wins.
PEAK_BF16_FLOPS = (("H100 PCIe", 756e12), ("H100 NVL", 835e12), ("H100", 989e12),
                   ("H200 NVL", 835e12), ("H200", 989e12), ("A100", 312e12))
#: Model shapes of the speed part (Qwen2.5's published configs; the weights are random).
SHAPES = {
    "qwen2.5-0.5b": dict(hidden_size=896, num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2,
                         intermediate_size=4864, vocab_size=151936, tie_word_embeddings=True),
    "qwen2.5-3b": dict(hidden_size=2048, num_hidden_layers=36, num_attention_heads=16, num_key_value_heads=2,
                       intermediate_size=11008, vocab_size=151936, tie_word_embeddings=True),
    # the CPU smoke test's stand-in: the same architecture, small
    "qwen2-tiny": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                       intermediate_size=128, vocab_size=512, tie_word_embeddings=True),
}
#: Per device: correctness tokens, speed shapes and lengths, policy tokens/prefixes/budgets, time budget (s).
DEFAULTS = {
    "cuda": dict(check_tokens=256, shapes="qwen2.5-0.5b,qwen2.5-3b", lengths="4096,16384,32768", repeats=3,
                 policy_tokens=4096, policy_prefixes=2, policy_budgets="256,1024,2048", budget_s=390.0),
    "cuda-quick": dict(check_tokens=128, shapes="qwen2.5-0.5b", lengths="4096,16384", repeats=2,
                       policy_tokens=4096, policy_prefixes=1, policy_budgets="1024,2048", budget_s=200.0),
    "cpu": dict(check_tokens=48, shapes="qwen2-tiny", lengths="64,128", repeats=2,
                policy_tokens=64, policy_prefixes=2, policy_budgets="8,32", budget_s=300.0),
}
#: fp32 on two devices: the same arithmetic up to summation order; the issue's expectation
FP32_TOLERANCE = 1e-5


class Interrupted(BaseException):
    """SIGTERM/SIGINT: stop the part in flight, write the JSON, exit (not caught as a part's failure)."""


def _import_tree():
    """Import ``wzbounds`` and ``wzbounds.empirical`` from this checkout: the device machine has the
    project uninstalled, and a venv here may have another checkout installed editable (whose
    finder would otherwise answer ``wzbounds.empirical``: it sits at ``empirical/`` in the tree)."""
    import importlib.util

    sys.path.insert(0, str(ROOT))
    import wzbounds

    if Path(wzbounds.__file__).resolve().parent != ROOT / "wzbounds":
        raise SystemExit(f"error: wzbounds was imported from {wzbounds.__file__}, not from {ROOT}")
    if "wzbounds.empirical" not in sys.modules:
        spec = importlib.util.spec_from_file_location("wzbounds.empirical", ROOT / "empirical" / "__init__.py",
                                                      submodule_search_locations=[str(ROOT / "empirical")])
        module = importlib.util.module_from_spec(spec)
        sys.modules["wzbounds.empirical"] = module
        spec.loader.exec_module(module)
        wzbounds.empirical = module
    import wzbounds.empirical as emp

    if Path(emp.__file__).resolve().parent != ROOT / "empirical":
        raise SystemExit(f"error: wzbounds.empirical was imported from {emp.__file__}, not from {ROOT}")


class Run:
    """The JSON document, the log, the clock and the per-part error handling."""

    def __init__(self, out: Path, budget_s: float, argv):
        self.out, self.budget_s, self.t0 = out, budget_s, time.perf_counter()
        self.doc = {"schema": "wzbounds.bench.device/1", "command": ["bench/device.py", *argv],
                    "started_unix": time.time(), "budget_s": budget_s, "errors": {}, "skipped": []}
        self._log = open(out / "device.log", "a", buffering=1)

    def log(self, msg: str):
        line = f"[{self.elapsed():7.1f}s] {msg}"
        print(line, flush=True)
        self._log.write(line + "\n")

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def left(self) -> float:
        return self.budget_s - self.elapsed()

    def skip(self, what: str, why: str):
        self.doc["skipped"].append({"what": what, "why": why})
        self.log(f"skipped {what}: {why}")

    def publish(self, name: str, partial: dict) -> dict:
        """Put a part's result dict in the document before it is complete (it is filled in place), so
        an interrupted run still writes what was measured; returns it."""
        self.doc[name] = partial
        return partial

    def part(self, name: str, fn, *args):
        """Run one part; an exception is recorded under ``errors[name]`` and the run goes on."""
        self.log(f"--- {name}")
        t = time.perf_counter()
        try:
            self.doc[name] = fn(self, *args)
        except Exception as exc:
            self.doc.pop(name, None)  # a partial result of a failed part is not a result
            self.doc["errors"][name] = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
            self.log(f"{name} FAILED: {type(exc).__name__}: {exc}")
            _free_device()
        self.doc.setdefault("part_wall_s", {})[name] = time.perf_counter() - t
        self.write()

    def write(self):
        self.doc["wall_s"] = self.elapsed()
        tmp = self.out / f".device.json.{os.getpid()}"
        tmp.write_text(json.dumps(self.doc, indent=1, default=_jsonable))
        os.replace(tmp, self.out / "device.json")


def _jsonable(x):
    import numpy as np

    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, np.generic):
        return x.item()
    return str(x)


def _free_device():
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _sync(device):
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn, device, repeats: int, warmup: int = 1):
    """``(best s, median s, last result)`` of ``repeats`` calls after ``warmup`` untimed ones; the
    device is synchronised around each call (its work is asynchronous)."""
    import statistics

    for _ in range(warmup):
        fn()
    times, out = [], None
    for _ in range(repeats):
        _sync(device)
        t = time.perf_counter()
        out = fn()
        _sync(device)
        times.append(time.perf_counter() - t)
    return min(times), statistics.median(times), out


def _reset_peak(device):
    import torch

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def _peak_gb(device) -> dict:
    import torch

    if device.type == "cuda":
        return {"peak_cuda_allocated_gb": torch.cuda.max_memory_allocated(device) / 2**30,
                "peak_cuda_reserved_gb": torch.cuda.max_memory_reserved(device) / 2**30}
    return {"peak_rss_gb_process": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}


# ----------------------------------------------------------------------------- environment

def environment(run: Run, device):
    import numpy as np
    import torch
    import transformers

    env = {"device": str(device), "python": platform.python_version(), "torch": torch.__version__,
           "transformers": transformers.__version__, "numpy": np.__version__, "torch_threads": torch.get_num_threads(),
           "platform": platform.platform(), "checkout": str(ROOT)}
    try:
        env["git_head"] = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True,
                                         text=True, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        env["git_head"] = None
    peak = None
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        name = torch.cuda.get_device_name(device)
        env.update(device_name=name, capability=list(torch.cuda.get_device_capability(device)),
                   multiprocessors=props.multi_processor_count, memory_gb=props.total_memory / 2**30,
                   cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version(),
                   tf32_matmul=torch.backends.cuda.matmul.allow_tf32, tf32_cudnn=torch.backends.cudnn.allow_tf32,
                   sdpa_backends={"flash": torch.backends.cuda.flash_sdp_enabled(),
                                  "mem_efficient": torch.backends.cuda.mem_efficient_sdp_enabled(),
                                  "cudnn": torch.backends.cuda.cudnn_sdp_enabled(),
                                  "math": torch.backends.cuda.math_sdp_enabled()})
        peak = next(((pat, flops) for pat, flops in PEAK_BF16_FLOPS if pat in name), None)
    else:
        env["device_name"] = platform.processor() or platform.machine()
    env["peak_bf16_dense_flops"] = None if peak is None else peak[1]
    env["peak_source"] = (f"datasheet bf16 dense, matched {peak[0]!r} in the device name" if peak else
                          "no datasheet entry for this device: utilisation is given against the measured matmul only")
    env["peak_table"] = {pat: flops for pat, flops in PEAK_BF16_FLOPS}
    env["matmul"] = _matmul_ceiling(device)
    run.log(f"device {env['device_name']}; torch {env['torch']}, transformers {env['transformers']}; "
            f"matmul {env['matmul']['dtype']} {env['matmul']['tflops']:.3g} TFLOP/s")
    return env


def _matmul_ceiling(device) -> dict:
    """The device's matrix-product rate measured once (random operands, not zeros: see the device
    notes); bf16 8192^3 on CUDA, float32 1024^3 on the CPU (a smoke figure)."""
    import torch

    n, dtype = (8192, torch.bfloat16) if device.type == "cuda" else (1024, torch.float32)
    g = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(n, n, device=device, dtype=dtype, generator=g)
    b = torch.randn(n, n, device=device, dtype=dtype, generator=g)
    best, _, _ = _timed(functools.partial(torch.matmul, a, b), device, repeats=10, warmup=3)
    return {"n": n, "dtype": str(dtype).removeprefix("torch."), "best_s": best, "tflops": 2 * n**3 / best / 1e12}


# ----------------------------------------------------------------------------- correctness

def _validate_plans(T: int):
    """validate's two protocols on a ``T``-token prefix: default windows, both modes, 4 sinks."""
    from wzbounds.empirical.pipeline import default_windows
    from wzbounds.empirical.truncation import plan_truncation

    s = T // 2
    return {"fixed-end": plan_truncation(T, default_windows(T), sink_tokens=4, perplexity_tokens=16),
            "fixed-start": plan_truncation(T, default_windows(T, max_window=T - s), sink_tokens=4, perplexity_tokens=16,
                                           protocol="fixed-start", start_tokens=s)}


def _truncation_numbers(model, ids, plan, floor):
    """measure_batched on each prefix row of ``ids`` ``(B, T)`` numpy: {name: float64 array}."""
    import numpy as np
    from wzbounds.empirical.truncation import measure_batched

    rows = [measure_batched(model, x, plan, floor=floor) for x in ids]
    out = {}
    for kind in rows[0].tv:
        out[f"tv/{kind}"] = np.stack([r.tv[kind] for r in rows])
        out[f"kl_nats/{kind}"] = np.stack([r.kl_nats[kind] for r in rows])
        out[f"kl_smoothed_nats/{kind}"] = np.stack([r.kl_smoothed_nats[kind] for r in rows])
    out["nll_nats_sum"] = np.array([r.nll_nats_sum for r in rows])
    out["floor_tv"] = np.stack([r.floor_tv for r in rows])
    out["floor_kl_nats"] = np.stack([r.floor_kl_nats for r in rows])
    return out


def _policy_numbers(model, ids, streaming):
    """measure_batch, every built-in policy under every semantics: {semantics/policy: (B, budgets)}."""
    import torch
    from wzbounds.empirical.policies import make_policy
    from wzbounds.empirical.policies.measure import measure_batch
    from wzbounds.empirical.policies.registry import POLICIES

    device = next(model.parameters()).device
    x = torch.as_tensor(ids, dtype=torch.long, device=device)
    T = x.shape[1]
    budgets = tuple(sorted({1, 5, 12, T // 2, T}))  # 12 > the Gemma-2 window of 8: its masks matter
    m = measure_batch(model, x, [make_policy(p) for p in sorted(POLICIES)], budgets,
                      seeds=tuple(range(x.shape[0])), streaming=streaming)
    return {f"{s}/{p}": v for (s, p), v in m.kl_nats.items()}, budgets


def _diff(a: dict, b: dict) -> dict:
    """Largest |a - b| per quantity family (tv, kl_nats, ...) and overall, with the reference scale."""
    import numpy as np

    if set(a) != set(b):
        raise ValueError(f"the two runs measured different cells: {sorted(set(a) ^ set(b))}")
    fam = {}
    for key in a:
        family = key.split("/")[0] if not key.startswith(("truncation/", "prefill/", "streaming/")) else "kl_nats"
        d = float(np.max(np.abs(a[key] - b[key]))) if a[key].size else 0.0
        if not np.isfinite(d):
            d = float("inf")
        fam[family] = max(fam.get(family, 0.0), d)
    worst = max(fam.items(), key=lambda kv: kv[1])
    scale = max((float(np.max(np.abs(b[k]))) for k in b if b[k].size and not k.startswith(("floor", "nll"))),
                default=0.0)
    return {"max_abs_diff": fam, "worst": {"quantity": worst[0], "abs_diff": worst[1]}, "reference_max_value": scale}


def correctness(run: Run, device, T: int):
    """Tiny models: target fp32 vs CPU fp32, target bf16 vs target fp32 (see the module docstring)."""
    import numpy as np
    import torch
    from wzbounds.empirical.models import tiny_random_model

    vs_device = device.type != "cpu"
    pairs = {"fp32": (f"{device.type} float32", "cpu float32"),
             "bf16": (f"{device.type} bfloat16", f"{device.type} float32")}
    out = run.publish("correctness", {
        "prefix_tokens": T, "prefixes": 2, "target_device": str(device), "reference_device": "cpu",
        "device_vs_device": {"fp32": vs_device, "bf16": False}, "pairs": {k: " vs ".join(v) for k, v in pairs.items()},
        "note": ("fp32: a device-vs-device comparison" if vs_device else
                 "fp32: two CPU copies of the model (exercises the code paths; no device difference measured)")
        + "; bf16: the same device in two dtypes", "truncation": [], "policies": [], "models": {}})
    for model_type in ("llama", "gemma2"):
        lm = tiny_random_model(seed=0, model_type=model_type)
        ref = lm.model  # CPU float32
        models = {"ref": ref, "fp32": copy.deepcopy(ref).to(device),
                  "bf16": copy.deepcopy(ref).to(device, torch.bfloat16)}
        out["models"][model_type] = {"class": type(ref).__name__,
                                     "attn_implementation": ref.config._attn_implementation,
                                     "attn_reason": lm.provenance.attn_reason,
                                     "sliding_window": getattr(ref.config, "sliding_window", None),
                                     "parameters": sum(p.numel() for p in ref.parameters())}
        ids = np.random.default_rng(1).integers(0, ref.config.vocab_size, size=(2, T))
        for protocol, plan in _validate_plans(T).items():
            for floor in ("shift", "decode"):
                res = {k: _truncation_numbers(m, ids, plan, floor) for k, m in models.items()}
                row = {"model": model_type, "protocol": protocol, "floor_method": floor,
                       "windows": list(plan.windows), "fp32": _diff(res["fp32"], res["ref"]),
                       "bf16": _diff(res["bf16"], res["fp32"]),
                       "floor_tv_max": {k: float(v["floor_tv"].max()) for k, v in res.items()},
                       "floor_kl_nats_max": {k: float(v["floor_kl_nats"].max()) for k, v in res.items()}}
                out["truncation"].append(row)
                run.log(f"truncation {model_type} {protocol} floor={floor}: fp32 |dTV| "
                        f"{row['fp32']['max_abs_diff']['tv']:.2e} |dKL| {row['fp32']['max_abs_diff']['kl_nats']:.2e}; "
                        f"bf16 |dTV| {row['bf16']['max_abs_diff']['tv']:.2e} (bf16 floor TV "
                        f"{row['floor_tv_max']['bf16']:.2e})")
        for streaming in ("auto", "decode"):
            res = {}
            for k, m in models.items():
                res[k], budgets = _policy_numbers(m, ids, streaming)
            row = {"model": model_type, "streaming": streaming, "budgets": list(budgets),
                   "cells": sorted(res["ref"]), "fp32": _diff(res["fp32"], res["ref"]),
                   "bf16": _diff(res["bf16"], res["fp32"]),
                   "per_cell_fp32": {k: float(np.max(np.abs(res["fp32"][k] - res["ref"][k]))) for k in res["ref"]},
                   "per_cell_bf16": {k: float(np.max(np.abs(res["bf16"][k] - res["fp32"][k]))) for k in res["ref"]}}
            out["policies"].append(row)
            run.log(f"policies {model_type} streaming={streaming}: fp32 |dKL| {row['fp32']['worst']['abs_diff']:.2e}, "
                    f"bf16 |dKL| {row['bf16']['worst']['abs_diff']:.2e} ({len(row['cells'])} cells)")
        del models
        _free_device()
    def worst(pair, family, rows=out["truncation"]):
        return max(r[pair]["max_abs_diff"][family] for r in rows)

    s = {"fp32_max_abs_dtv": worst("fp32", "tv"),
         "fp32_max_abs_dkl_nats": max(worst("fp32", "kl_nats"), worst("fp32", "kl_nats", out["policies"])),
         "fp32_max_abs_dkl_smoothed_nats": worst("fp32", "kl_smoothed_nats"),
         "fp32_max_abs_dnll_nats_sum": worst("fp32", "nll_nats_sum"),  # summed over 16 predictions
         "fp32_tolerance": FP32_TOLERANCE,
         "bf16_max_abs_dtv": worst("bf16", "tv"), "bf16_max_abs_dkl_nats": worst("bf16", "kl_nats"),
         "bf16_policies_max_abs_dkl_nats": worst("bf16", "kl_nats", out["policies"]),
         "bf16_floor_tv_max": max(r["floor_tv_max"]["bf16"] for r in out["truncation"]),
         "bf16_floor_kl_nats_max": max(r["floor_kl_nats_max"]["bf16"] for r in out["truncation"]),
         "fp32_floor_tv_max": max(r["floor_tv_max"]["fp32"] for r in out["truncation"])}
    s["fp32_within_tolerance"] = max(s["fp32_max_abs_dtv"], s["fp32_max_abs_dkl_nats"]) <= FP32_TOLERANCE
    out["summary"] = s
    return out


# ----------------------------------------------------------------------------- speed

def build_model(shape: str, device, dtype):
    """A random-weight Qwen2 of ``SHAPES[shape]`` on ``device`` in ``dtype``, SDPA attention,
    initialised on the device (seconds for 3B on a GPU, where the CPU would take minutes)."""
    import torch
    import transformers

    cfg = transformers.Qwen2Config(**SHAPES[shape], max_position_embeddings=131072, use_sliding_window=False,
                                   bos_token_id=0, eos_token_id=None, pad_token_id=None)
    cfg._attn_implementation = "sdpa"
    torch.manual_seed(0)
    with torch.device(device):
        model = transformers.Qwen2ForCausalLM(cfg).eval()
    return model.to(dtype)


def model_dims(config) -> dict:
    h, nq, nkv = config.hidden_size, config.num_attention_heads, config.num_key_value_heads
    d = getattr(config, "head_dim", None) or h // nq
    return {"hidden": h, "layers": config.num_hidden_layers, "q_heads": nq, "kv_heads": nkv, "head_dim": d,
            "intermediate": config.intermediate_size, "vocab": config.vocab_size}


FLOPS_FORMULA = ("model FLOPs = 2 x (matrix parameters of the layers) per token processed "
                 "[per layer: q, k, v, o projections and the gated MLP] + 2 x L x q_heads x head_dim x n(n+1) "
                 "per causal run of n tokens [QK^T and AV, the causal half] + 2 x hidden x vocab per row of logits; "
                 "norms, activations and rotary embeddings are not counted")


def run_flops(dims: dict, lengths, logits_rows: int, decode_contexts=()) -> float:
    """Model FLOPs (see :data:`FLOPS_FORMULA`) of causal runs of ``lengths`` tokens, one-token
    decodes over ``decode_contexts`` earlier tokens, and ``logits_rows`` rows of the LM head."""
    h, L, nq, nkv, d, inter = (dims[k] for k in ("hidden", "layers", "q_heads", "kv_heads", "head_dim", "intermediate"))
    per_token = 2 * L * (2 * h * nq * d + 2 * h * nkv * d + 3 * h * inter)
    attn = 2 * L * nq * d
    tokens = sum(lengths) + len(decode_contexts)
    return float(per_token * tokens + attn * sum(n * (n + 1) for n in lengths)
                 + 2 * attn * sum(r + 1 for r in decode_contexts) + 2 * h * dims["vocab"] * logits_rows)


def _measure_flops(dims, plan, m) -> float:
    """FLOPs of one measure_batched call: every segment of the plan, the floor's second way, and the
    rows that reach the vocabulary head (readouts, references twice, perplexity positions)."""
    refs = sorted({ro.reference for ro in plan.readouts})
    lengths = [s.length for s in plan.segments]
    decodes = ()
    if m.floor_method == "shift":
        lengths.append(plan.prefix_tokens)
    elif m.floor_method == "decode":
        decodes = refs
    rows = len(plan.readouts) + len(refs) * (2 if m.floor_method else 1) + plan.perplexity_tokens
    return run_flops(dims, lengths, rows, decodes)


def _long_plan(T: int):
    """bench/longcontext.py's plan: fixed-start, s = T/2, 16 log-spaced windows to T/2, preserve, 4 sinks."""
    from wzbounds.empirical.pipeline import default_windows
    from wzbounds.empirical.truncation import plan_truncation

    return plan_truncation(T, default_windows(T, 16, T // 2), ("preserve",), 4, 256, "fixed-start", None)


def speed(run: Run, device, shapes, lengths, repeats, peak):
    import numpy as np
    import torch
    from wzbounds.empirical.truncation import measure_batched

    out = run.publish("speed", {"dtype": "bfloat16", "attn_implementation": "sdpa", "flops_formula": FLOPS_FORMULA,
           "plan": "fixed-start, s = T/2, 16 log-spaced windows to T/2, preserve, 4 sinks, 256 perplexity tokens, "
                   "floor 'shift' (a second full run): bench/longcontext.py's plan",
           "measure_tokens": "every token the measurement's forwards processed (plan runs + floor run)",
           "repeats": repeats, "timing": "best of `repeats` after one warm-up, device synchronised", "models": {}})
    for shape in shapes:
        if run.left() < 30:
            run.skip(f"speed {shape}", f"{run.left():.0f} s of --budget-s left")
            continue
        t = time.perf_counter()
        model = build_model(shape, device, torch.bfloat16)
        _sync(device)
        dims = model_dims(model.config)
        n_params = sum(p.numel() for p in model.parameters())
        entry = {"config": SHAPES[shape], "dims": dims, "parameters": n_params, "build_s": time.perf_counter() - t,
                 "weights_gb": sum(p.numel() * p.element_size() for p in model.parameters()) / 2**30, "rows": []}
        out["models"][shape] = entry
        run.log(f"{shape}: {n_params / 1e6:.0f}M parameters built in {entry['build_s']:.1f} s")
        rng = np.random.default_rng(0)
        for T in lengths:
            if run.left() < 20:
                run.skip(f"speed {shape} T={T}", f"{run.left():.0f} s of --budget-s left")
                continue
            ids = rng.integers(0, dims["vocab"], size=T)
            x = torch.as_tensor(ids, device=device)[None]
            plan = _long_plan(T)
            row = {"T": T}
            try:
                _reset_peak(device)
                with torch.inference_mode():
                    best, med, _ = _timed(functools.partial(model, input_ids=x, logits_to_keep=1, use_cache=False),
                                          device, repeats)
                plain_flops = run_flops(dims, [T], 1)
                row.update(plain_s=best, plain_median_s=med, plain_tokens_per_s=T / best, plain_flops=plain_flops,
                           plain_tflops=plain_flops / best / 1e12, plain_memory=_peak_gb(device))
                # validate measures the floor on every prefix by default, on the first N with --floor-prefixes N
                for tag, floor in (("measure", "auto"), ("measure_nofloor", None)):
                    _reset_peak(device)
                    run_once = functools.partial(measure_batched, model, ids, plan, log=run.log, floor=floor)
                    best, med, m = _timed(run_once, device, repeats)
                    flops = _measure_flops(dims, plan, m)
                    row.update({f"{tag}_s": best, f"{tag}_median_s": med, f"{tag}_tokens": m.forward_tokens,
                                f"{tag}_forward_calls": m.forward_calls, f"{tag}_tokens_per_s": m.forward_tokens / best,
                                f"{tag}_flops": flops, f"{tag}_tflops": flops / best / 1e12,
                                f"{tag}_memory": _peak_gb(device),
                                f"{tag}_ratio_tokens_per_s": m.forward_tokens / best / row["plain_tokens_per_s"],
                                f"{tag}_ratio_flops_per_s": flops / best / 1e12 / row["plain_tflops"]})
                    if floor:
                        row.update(floor_method=m.floor_method, floor_tv_max=float(m.floor_tv.max()),
                                   floor_kl_nats_max=float(m.floor_kl_nats.max()))
                row["measure_plan_tokens"] = plan.forward_tokens_per_prefix
                row["goal_ratio_met"] = {t: row[f"{t}_ratio_tokens_per_s"] >= 0.8
                                         for t in ("measure", "measure_nofloor")}
                matmul = (run.doc.get("environment") or {}).get("matmul", {}).get("tflops")
                for what in ("plain", "measure", "measure_nofloor"):
                    row[f"{what}_mfu_datasheet"] = None if peak is None else row[f"{what}_tflops"] * 1e12 / peak
                    row[f"{what}_mfu_matmul"] = None if not matmul else row[f"{what}_tflops"] / matmul
            except Exception as exc:
                row["error"] = f"{type(exc).__name__}: {exc}"
                run.log(f"{shape} T={T} FAILED: {row['error']}")
                _free_device()
            entry["rows"].append(row)
            run.write()
            if "error" not in row:
                run.log(f"{shape} T={T}: plain {row['plain_tokens_per_s']:,.0f} tok/s; measure "
                        f"{row['measure_tokens_per_s']:,.0f} tok/s (ratio {row['measure_ratio_tokens_per_s']:.2f}), "
                        f"without the floor {row['measure_nofloor_tokens_per_s']:,.0f} "
                        f"({row['measure_nofloor_ratio_tokens_per_s']:.2f}); {row['plain_tflops']:.3g} / "
                        f"{row['measure_tflops']:.3g} TFLOP/s; floor TV {row['floor_tv_max']:.1e}")
        del model
        _free_device()
    return out


# ----------------------------------------------------------------------------- policies

def policies(run: Run, device, shape, T, n_prefixes, budgets, repeats):
    """measure_batch at ``T`` on the ``shape`` model in bf16, against its floor in tokens and time."""
    import numpy as np
    import torch
    from wzbounds.empirical.policies import parse_policies
    from wzbounds.empirical.policies.measure import measure_batch

    model = build_model(shape, device, torch.bfloat16)
    dims = model_dims(model.config)
    pols = parse_policies("sliding,sink,random,h2o,lastq")
    ids = torch.as_tensor(np.random.default_rng(2).integers(0, dims["vocab"], size=(n_prefixes, T)), device=device)
    seeds = tuple(range(n_prefixes))
    with torch.inference_mode():
        best, _, _ = _timed(functools.partial(model, input_ids=ids, logits_to_keep=1, use_cache=False), device, repeats)
    plain_rate = ids.numel() / best
    out = run.publish("policies", {
        "model": shape, "dtype": "bfloat16", "prefix_tokens": T, "prefixes": n_prefixes, "budgets": list(budgets),
        "policies": [p.label for p in pols], "plain_tokens_per_s": plain_rate,
        "floor_seconds_rule": "floor tokens / the plain forward's tokens/s on the same (prefixes, T) batch",
        "calls": []})
    seconds, tokens, floor = {}, {}, {}

    def add(m):
        for k, v in m.seconds.items():
            seconds[k] = seconds.get(k, 0.0) + v
        for k, v in m.forward_tokens.items():
            tokens[k] = tokens.get(k, 0) + v
        for k, v in m.floor_tokens.items():
            floor[k] = floor.get(k, 0) + v
        out["calls"].append({"budgets": list(m.budgets_tokens),
                             "semantics": [s for s in m.seconds if s != "shared_prefill"], "seconds": m.seconds,
                             "forward_tokens": m.forward_tokens, "floor_tokens": m.floor_tokens,
                             "streaming_method": m.streaming_method})

    _reset_peak(device)
    _sync(device)
    m = measure_batch(model, ids, pols, budgets, ("truncation", "prefill"), seeds=seeds)
    _sync(device)
    add(m)
    run.log(f"policies T={T}: truncation {m.seconds['truncation']:.2f} s, prefill {m.seconds['prefill']:.2f} s "
            f"(shared prefill {m.seconds['shared_prefill']:.2f} s)")
    # streaming one budget per call, fewest decode steps first: a budget that cannot finish inside
    # --budget-s (by the probe's step time) is skipped, not cut off
    decoding = [p for p in pols if not p.step_invariant]
    decoded = len(decoding)
    # a probe of 16 decode steps of the decoded policies (not counted in the totals) gives the step
    # time before the first budget; the step-invariant policies' masked passes cost about a plain
    # forward each
    probe = T - 16
    t = time.perf_counter()
    m = measure_batch(model, ids, decoding, (probe,), ("streaming",), seeds=seeds)
    _sync(device)
    per_step = m.seconds["streaming"] / 16
    masked_s = 2 * best * (len(pols) - decoded)
    out["decode_probe"] = {"budget": probe, "steps": 16, "rows": decoded * n_prefixes, "seconds": m.seconds,
                           "call_s": time.perf_counter() - t, "seconds_per_step": per_step,
                           "row_steps_per_s": decoded * n_prefixes / per_step}
    run.log(f"policies T={T}: decode probe {per_step * 1e3:.1f} ms per step ({decoded * n_prefixes} rows)")
    for k in sorted(budgets, reverse=True):
        steps = T - k
        need = steps * per_step + masked_s + 15
        if need > run.left():
            run.skip(f"policies streaming budget {k}", f"~{need:.0f} s needed, {run.left():.0f} s of --budget-s left")
            continue
        t = time.perf_counter()
        m = measure_batch(model, ids, pols, (k,), ("streaming",), seeds=seeds)
        _sync(device)
        add(m)
        run.write()
        run.log(f"policies T={T} streaming k={k}: {m.seconds['streaming']:.2f} s ({steps} decode steps x "
                f"{decoded * n_prefixes} rows), call {time.perf_counter() - t:.2f} s")
    out.update(seconds=seconds, forward_tokens=tokens, floor_tokens=floor, memory=_peak_gb(device))
    out["cost_over_floor_tokens"] = {k: tokens[k] / floor[k] for k in floor if floor[k]}
    out["floor_seconds"] = {k: floor[k] / plain_rate for k in floor}
    out["seconds_over_floor_seconds"] = {k: seconds[k] / out["floor_seconds"][k] for k in floor if floor[k]}
    del model
    _free_device()
    return out


# ----------------------------------------------------------------------------- main

def _int_list(option: str, text: str, minimum: int) -> list:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        values = []
    if not values or min(values) < minimum:
        raise SystemExit(_usage_error(f"{option} must be a comma-separated list of integers >= {minimum}, "
                                      f"got {text!r}"))
    return values


def _usage_error(msg: str):
    print(f"error: {msg}", file=sys.stderr)
    return 2


def _summary(doc: dict) -> str:
    lines = []
    c = doc.get("correctness", {}).get("summary")
    if c:
        lines.append(f"correctness fp32 ({doc['correctness']['pairs']['fp32']}): "
                     f"max |dTV| {c['fp32_max_abs_dtv']:.2e}, "
                     f"max |dKL| {c['fp32_max_abs_dkl_nats']:.2e} nats (within {c['fp32_tolerance']:g}: "
                     f"{c['fp32_within_tolerance']})")
        lines.append(f"correctness bf16 vs fp32: max |dTV| {c['bf16_max_abs_dtv']:.2e}, max |dKL| "
                     f"{c['bf16_max_abs_dkl_nats']:.2e} nats; bf16 floor TV {c['bf16_floor_tv_max']:.2e}, "
                     f"KL {c['bf16_floor_kl_nats_max']:.2e}; "
                     f"policies bf16 |dKL| {c['bf16_policies_max_abs_dkl_nats']:.2e}")
    for shape, entry in doc.get("speed", {}).get("models", {}).items():
        lines.append(f"{shape:>14} {'T':>6} {'plain tok/s':>12} {'meas tok/s':>11} {'ratio':>5} {'no-floor':>10} "
                     f"{'ratio':>5} {'MFU plain':>9} {'MFU meas':>8} {'peak GB':>7}")
        for r in entry["rows"]:
            if "error" in r:
                lines.append(f"{'':>14} {r['T']:>6} {r['error'][:70]}")
                continue
            mem = max(v for k in ("plain_memory", "measure_memory", "measure_nofloor_memory")
                      for v in r[k].values())
            mfu = " ".join(f"{x:>{w}.1%}" if x is not None else f"{'-':>{w}}"
                           for x, w in ((r["plain_mfu_datasheet"], 9), (r["measure_mfu_datasheet"], 8)))
            lines.append(f"{'':>14} {r['T']:>6} {r['plain_tokens_per_s']:>12,.0f} {r['measure_tokens_per_s']:>11,.0f} "
                         f"{r['measure_ratio_tokens_per_s']:>5.2f} {r['measure_nofloor_tokens_per_s']:>10,.0f} "
                         f"{r['measure_nofloor_ratio_tokens_per_s']:>5.2f} {mfu} {mem:>7.2f}")
    p = doc.get("policies")
    if p and "seconds_over_floor_seconds" in p:  # complete (an interrupted part leaves its calls only)
        lines.append("policies T={prefix_tokens}: ".format(**p) + ", ".join(
            f"{k} {p['seconds'].get(k, 0):.2f} s "
            f"({p['seconds_over_floor_seconds'].get(k, float('nan')):.1f}x floor time, "
            f"{p['cost_over_floor_tokens'].get(k, float('nan')):.2f}x floor tokens)" for k in p["floor_tokens"])
            + f"; decode {p['decode_probe']['row_steps_per_s']:,.0f} row-steps/s")
    for name, err in doc.get("errors", {}).items():
        lines.append(f"ERROR in {name}: {err['error']}")
    for s in doc.get("skipped", []):
        lines.append(f"skipped {s['what']}: {s['why']}")
    return "\n".join(lines)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", required=True, choices=("cpu", "cuda"))
    ap.add_argument("--out", required=True, help="folder for device.json and device.log (created)")
    ap.add_argument("--quick", action="store_true", help="CUDA: 0.5B only, T = 4096 and 16384, fewer policy budgets")
    ap.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}")
    ap.add_argument("--check-tokens", type=int, default=None, help="correctness prefix length")
    ap.add_argument("--shapes", default=None, help=f"speed model shapes, of {','.join(SHAPES)}")
    ap.add_argument("--lengths", default=None, help="speed prefix lengths T")
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--policy-tokens", type=int, default=None)
    ap.add_argument("--policy-prefixes", type=int, default=None)
    ap.add_argument("--policy-budgets", default=None)
    ap.add_argument("--budget-s", type=float, default=None,
                    help="time after which no further speed length or streaming budget is started")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    ap.add_argument("--fail", default=None, help=argparse.SUPPRESS)  # the smoke test: make this part raise
    args = ap.parse_args(argv)

    d = dict(DEFAULTS["cuda-quick" if args.device == "cuda" and args.quick else args.device])
    d.update({k: v for k, v in vars(args).items() if k in d and v is not None})
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    if not parts or set(parts) - set(PARTS):
        return _usage_error(f"--parts must name some of {','.join(PARTS)}, got {args.parts!r}")
    shapes = [s.strip() for s in d["shapes"].split(",") if s.strip()]
    if not shapes or set(shapes) - set(SHAPES):
        return _usage_error(f"--shapes must name some of {','.join(SHAPES)}, got {d['shapes']!r}")
    lengths = sorted(_int_list("--lengths", d["lengths"], 64))
    budgets = sorted(set(_int_list("--policy-budgets", d["policy_budgets"], 1)))
    for name, minimum in (("check_tokens", 24), ("repeats", 1), ("policy_tokens", 24), ("policy_prefixes", 1)):
        if d[name] < minimum:
            return _usage_error(f"--{name.replace('_', '-')} must be >= {minimum}, got {d[name]}")
    if budgets[-1] > d["policy_tokens"]:
        return _usage_error(f"--policy-budgets must be <= --policy-tokens = {d['policy_tokens']}, got {budgets[-1]}")
    if not d["budget_s"] > 0:
        return _usage_error(f"--budget-s must be > 0, got {d['budget_s']}")
    if args.threads is not None and args.threads < 1:
        return _usage_error(f"--threads must be >= 1, got {args.threads}")

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        return _usage_error("--device cuda: torch sees no CUDA device here")
    _import_tree()
    device = torch.device(args.device)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    run = Run(out, d["budget_s"], argv)
    run.doc["settings"] = {**d, "parts": parts, "device": args.device, "quick": args.quick}

    def stop(signum, _frame):
        raise Interrupted(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    def maybe_fail(name, fn):
        def wrapped(*a):
            if args.fail == name:
                raise RuntimeError(f"failure injected by --fail {name}")
            return fn(*a)
        return wrapped

    code = 0
    try:
        run.part("environment", environment, device)
        peak = (run.doc.get("environment") or {}).get("peak_bf16_dense_flops")
        if "correctness" in parts:
            run.part("correctness", maybe_fail("correctness", correctness), device, d["check_tokens"])
        if "speed" in parts:
            run.part("speed", maybe_fail("speed", speed), device, shapes, lengths, d["repeats"], peak)
        if "policies" in parts:
            run.part("policies", maybe_fail("policies", policies), device, shapes[0], d["policy_tokens"],
                     d["policy_prefixes"], tuple(budgets), d["repeats"])
    except Interrupted as sig:
        run.doc["interrupted"] = str(sig)
        run.log(f"interrupted by {sig}: writing what was measured")
        code = 130
    finally:
        run.doc["finished"] = "interrupted" not in run.doc
        run.write()
        summary = _summary(run.doc)
        run.log("summary\n" + summary)
        run.log(f"wrote {out / 'device.json'}")
    return code or (1 if run.doc["errors"] else 0)


if __name__ == "__main__":
    sys.exit(main())
