"""``wzbounds policies``: cache-policy degradation curves on a real model.

torch/transformers are imported only inside :func:`run`, so registering the command is cheap."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

DEFAULT_POLICIES = "sliding,sink,random,h2o,lastq"
DEFAULT_BUDGETS = "8,16,32,64,128"


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "policies", help="degradation curves of cache policies (sliding, sink, random, H2O, last-query, kvpress)",
        description="Measure KL(p || p_policy) vs cache budget k for cache policies under three semantics "
                    "(truncation = suffix-only re-encoding; prefill = post-prefill eviction, kvpress-style; "
                    "streaming = eviction while generating), fit budget exponents with prefix-bootstrap CIs, "
                    "and write rows.jsonl (resumable), policies.json, policies.png and report.md to --out.")
    src = p.add_argument_group("model")
    src.add_argument("--model", help="hub id or local directory (safetensors)")
    src.add_argument("--gguf", help="GGUF file (e.g. SmolLM2-135M-Instruct.Q4_1.gguf)")
    src.add_argument("--tokenizer", help="tokenizer to use instead of the model's own")
    src.add_argument("--dtype", default="float32", choices=("auto", "float32", "bfloat16", "float16"))
    src.add_argument("--device", default="auto")
    src.add_argument("--tiny-random-model", action="store_true",
                     help="a seeded tiny random Llama (tests and smoke runs; no download)")
    p.add_argument("--policies", default=DEFAULT_POLICIES,
                   help="comma list: sliding, sink, random, h2o, lastq, kvpress:<press>[(opt=v;opt=v)] "
                        f"(default {DEFAULT_POLICIES})")
    p.add_argument("--budgets", default=DEFAULT_BUDGETS,
                   help=f"comma list of budgets k in tokens seen, query included (default {DEFAULT_BUDGETS})")
    p.add_argument("--semantics", default="truncation,prefill,streaming")
    p.add_argument("--domains", default="natural,code", help="corpora: natural, code")
    p.add_argument("--n-prefixes", type=int, default=16)
    p.add_argument("--prefix-tokens", type=int, default=256)
    p.add_argument("--sinks", type=int, default=4, help="sink tokens of the sink policy")
    p.add_argument("--position-mode", default="preserve", choices=("preserve", "reindex"),
                   help="truncation's position ids: original (preserve) or from 0 (reindex)")
    p.add_argument("--batch-size", type=int, default=4, help="prefixes per forward pass")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-resamples", type=int, default=1000, help="bootstrap resamples")
    p.add_argument("--profile", default="auto",
                   help="KL sensitivity profile (built-in name or JSON path) whose sliding prediction is overlaid; "
                        "auto: the built-in smollm2-135m-<domain> when it is in KL, else the calculator's bound "
                        "from this run's own truncation/sliding fit")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--out", required=True, help="output directory (rerun to resume)")
    p.add_argument("--summarize-only", action="store_true",
                   help="do not measure: summarise the rows already in --out (e.g. of an interrupted run)")
    p.set_defaults(func=run)


def _ints(name, text):
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise ValueError(f"`{name}` must be a comma list of integers, got {text!r}") from None


def _stored(out: Path, cfg) -> list:
    """Rows of a previous run in ``out`` with the same configuration."""
    from ..results import JsonlStore

    cfg_path = out / "config.json"
    if not cfg_path.exists():
        raise FileNotFoundError(f"no run to summarise in {out} (missing config.json)")
    if json.loads(cfg_path.read_text()) != cfg.to_dict():
        raise ValueError(f"{out} holds a run with a different configuration; pass the same options")
    return JsonlStore(out / "rows.jsonl").rows()


def run(args) -> int:
    import numpy as np
    import torch

    from ..models import load_model, tiny_random_model
    from . import report
    from .kvpress_press import KVPressPolicy, compressible_layers
    from .registry import parse_policies
    from .run import RunConfig, run_policies

    if args.threads:
        torch.set_num_threads(args.threads)
    policies = parse_policies(args.policies, sinks=args.sinks, seed=args.seed)
    cfg = RunConfig(domains=tuple(d.strip() for d in args.domains.split(",") if d.strip()),
                    n_prefixes=args.n_prefixes, prefix_tokens=args.prefix_tokens,
                    budgets_tokens=_ints("budgets", args.budgets), policies=tuple(p.label for p in policies),
                    semantics=tuple(s.strip() for s in args.semantics.split(",") if s.strip()),
                    seed=args.seed, sinks=args.sinks, position_mode=args.position_mode, batch_size=args.batch_size)
    out = Path(args.out)
    t0 = time.perf_counter()
    if args.summarize_only:
        rows, loaded = _stored(out, cfg), None
        prov_path = out / "provenance.json"
        provenance = json.loads(prov_path.read_text()) if prov_path.exists() else {
            "model_id": args.model or args.gguf or "tiny-random-llama"}
        provenance["note"] = "summarised from stored rows (--summarize-only)"
    else:
        if args.tiny_random_model:
            loaded = tiny_random_model(seed=args.seed)
        else:
            loaded = load_model(args.model, gguf=args.gguf, tokenizer=args.tokenizer, dtype=args.dtype,
                                device=args.device)
        provenance = dict(loaded.provenance)
        (out.mkdir(parents=True, exist_ok=True), (out / "provenance.json").write_text(json.dumps(provenance, indent=1)))
        rows = run_policies(loaded, policies, cfg, out, log=lambda m: print(m, file=sys.stderr))
    provenance["corpora"] = [json.loads((out / f"corpus_{d}.json").read_text()) for d in cfg.domains
                             if (out / f"corpus_{d}.json").exists()]
    provenance["command"] = " ".join(sys.argv)
    provenance["numpy_version"] = np.__version__
    notes = []
    if any(isinstance(p, KVPressPolicy) for p in policies):
        import kvpress  # noqa: F401  (present: parse_policies checked)
        from importlib.metadata import version

        provenance["kvpress_version"] = version("kvpress")
        if loaded is not None:
            layers = compressible_layers(loaded.model)
            provenance["kvpress_compressed_layers"] = list(layers)
            n = int(loaded.model.config.num_hidden_layers)
            notes.append(f"kvpress presses compress {len(layers)} of {n} layers (full-attention layers only)"
                         + ("" if len(layers) == n else f": {list(layers)}"))
    prediction = {}
    for d in cfg.domains:
        name = args.profile if args.profile != "auto" else f"smollm2-135m-{d}"
        pred, why = report.profile_prediction(name, cfg.budgets_tokens)
        if why:
            pred, why2 = report.run_profile_prediction(rows, cfg.to_dict(), np.random.default_rng(args.seed),
                                                       n_resamples=args.n_resamples, domain=d)
            notes.append(f"{d} overlay: {why}; " + (f"using {pred['label']}" if pred else why2))
        if pred:
            prediction[d] = pred
    result = report.summarize(rows, cfg.to_dict(), provenance, np.random.default_rng(args.seed),
                              n_resamples=args.n_resamples, prediction=prediction)
    result = report.PoliciesResult(**{**{k: getattr(result, k) for k in result.__dataclass_fields__},
                                      "notes": tuple(notes)})
    report.save_result(result, out / "policies.json")
    png = report.plot(result, out / "policies.png")
    report.write_report(result, out / "report.md")
    print(f"wrote {out / 'policies.json'}, {out / 'report.md'}" + (f", {png}" if png else "")
          + f" in {time.perf_counter() - t0:.0f}s")
    return 0
