"""The ``wzbounds policies`` run: prefixes from corpora, the KL table per prefix (resumable
JSONL rows), then the summary (:mod:`.report`)."""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .measure import measure_batch
from .semantics import POSITION_MODES, SEMANTICS
from ..results import JsonlStore


@dataclass(frozen=True)
class RunConfig:
    """Inputs of a run, echoed in the result (resume refuses a different config)."""

    domains: tuple
    n_prefixes: int
    prefix_tokens: int
    budgets_tokens: tuple
    policies: tuple  # labels
    semantics: tuple
    seed: int
    sinks: int
    position_mode: str
    batch_size: int

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def _run_config_iv(cfg: RunConfig):
    if cfg.n_prefixes < 2:
        raise ValueError(f"`n_prefixes` must be >= 2 (bootstrap over prefixes), got {cfg.n_prefixes}")
    if cfg.prefix_tokens < 3:
        raise ValueError(f"`prefix_tokens` must be >= 3, got {cfg.prefix_tokens}")
    if len(cfg.budgets_tokens) < 2 or list(cfg.budgets_tokens) != sorted(set(cfg.budgets_tokens)) \
            or cfg.budgets_tokens[0] < 1 or cfg.budgets_tokens[-1] > cfg.prefix_tokens - 1:
        raise ValueError(f"`budgets` must be >= 2 strictly increasing integers in [1, prefix_tokens - 1 = "
                         f"{cfg.prefix_tokens - 1}], got {list(cfg.budgets_tokens)}")
    for s in cfg.semantics:
        if s not in SEMANTICS:
            raise ValueError(f"`semantics` entries must be among {list(SEMANTICS)}, got {s!r}")
    if cfg.position_mode not in POSITION_MODES:
        raise ValueError(f"`position_mode` must be one of {list(POSITION_MODES)}, got {cfg.position_mode!r}")
    if cfg.batch_size < 1:
        raise ValueError(f"`batch_size` must be >= 1, got {cfg.batch_size}")


def row_key(domain, index, semantics, policy) -> str:
    return f"{domain}/{index}/{semantics}/{policy}"


def run_policies(loaded, policies, cfg: RunConfig, out_dir, *, log=print) -> list:
    """Measure every prefix not yet in ``out_dir/rows.jsonl`` and return all rows.

    ``loaded``: a :class:`~wzbounds.empirical.models.LoadedModel`; ``policies``: policy objects
    whose labels are ``cfg.policies``. Writes ``config.json`` on the first run and refuses to
    resume under a different config.
    """
    import torch

    from ..corpora import load_corpus, sample_prefixes

    _run_config_iv(cfg)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cfg_path = out / "config.json"
    if cfg_path.exists():
        old = json.loads(cfg_path.read_text())
        if old != cfg.to_dict():
            raise ValueError(f"{out} holds a run with a different configuration ({cfg_path}); "
                             "use another --out directory")
    else:
        cfg_path.write_text(json.dumps(cfg.to_dict(), indent=1))
    store = JsonlStore(out / "rows.jsonl")
    done = store.done_keys()
    for d_idx, domain in enumerate(cfg.domains):
        corpus = load_corpus(domain)
        sample = sample_prefixes(corpus, loaded.tokenizer, cfg.n_prefixes, cfg.prefix_tokens,
                                 np.random.default_rng([cfg.seed, d_idx]))
        ids_all = torch.as_tensor(sample.token_ids, dtype=torch.long)
        for start in range(0, ids_all.shape[0], cfg.batch_size):
            idx = list(range(start, min(start + cfg.batch_size, ids_all.shape[0])))
            want = [row_key(domain, i, s, p.label) for i in idx for s in cfg.semantics for p in policies]
            if all(k in done for k in want):
                continue
            t0 = time.perf_counter()
            seeds = [cfg.seed * 1_000_003 + d_idx * 100_003 + i for i in idx]
            m = measure_batch(loaded.model, ids_all[idx].to(loaded.device), policies, cfg.budgets_tokens,
                              cfg.semantics, seeds=seeds, position_mode=cfg.position_mode)
            rows = []
            for b, i in enumerate(idx):
                for (s, label), table in m.kl_nats.items():
                    rows.append({"key": row_key(domain, i, s, label), "domain": domain, "prefix_index": i,
                                 "doc_index": int(sample.doc_index[i]), "semantics": s, "policy": label,
                                 "budgets_tokens": list(cfg.budgets_tokens),
                                 "kl_nats": [float(v) for v in table[b]]})
                for (s, label), reason in m.skipped.items():
                    rows.append({"key": row_key(domain, i, s, label), "domain": domain, "prefix_index": i,
                                 "semantics": s, "policy": label, "skipped": reason})
            rows.append({"key": f"{domain}/batch{start}/timing", "domain": domain, "prefixes": idx,
                         "seconds": m.seconds, "forward_calls": m.forward_calls})
            for row in rows:
                store.append(row)
            log(f"[policies] {domain}: prefixes {idx[0]}..{idx[-1]} in {time.perf_counter() - t0:.1f}s")
        (out / f"corpus_{domain}.json").write_text(json.dumps(
            {"domain": domain, "sha256": corpus.sha256, "description": corpus.description,
             "skipped_short": int(sample.skipped_short),
             "characters_per_token": float(sample.characters_per_token)}, indent=1))
    return store.rows()
