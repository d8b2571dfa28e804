"""The ``wzbounds policies`` run: prefixes from corpora, the KL and TV tables per prefix (resumable
JSONL rows), then the summary (:mod:`.report`).

Files in ``--out``: ``config.json`` (:class:`PoliciesConfig`; a rerun with another configuration
is refused), ``model.json`` (:class:`~wzbounds.empirical.provenance.ModelProvenance`),
``corpus_<label>.json`` (:class:`~wzbounds.empirical.provenance.CorpusProvenance`),
``sanity_<label>.json`` (:class:`~wzbounds.empirical.sanity.Sanity`: the same tokenizer checks as
``validate``, and the model's perplexity on the first prefix), ``rows.jsonl`` (:class:`PolicyRow`
and :class:`TimingRow` lines, one per (prefix, semantics, policy) and per batch).
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..models import UserError
from ..provenance import CorpusProvenance
from ..records import Record, load_record, save_record
from ..results import JsonlStore
from ..sanity import Sanity, check_tokenizer, sanity
from .measure import measure_batch
from .semantics import POSITION_MODES, SEMANTICS

__all__ = ["PoliciesConfig", "PolicyRow", "TimingRow", "run_policies", "read_rows", "row_key", "corpus_label",
           "RESUME_ENTRIES"]

#: Next-token predictions of the first prefix that score the perplexity sanity figure.
PERPLEXITY_TOKENS = 256
#: What a resume needs from a run folder (:func:`..outdir.writing` keeps these after a failure).
RESUME_ENTRIES = ("config.json", "model.json", "corpus_*.json", "sanity_*.json", "rows.jsonl")


@dataclass(frozen=True)
class PoliciesConfig(Record):
    """Inputs of a run, echoed in the result (resume refuses a different config). ``corpora``:
    built-in domains (``natural``, ``code``) or one ``text`` corpus read from ``text`` paths."""

    corpora: tuple[str, ...]
    text: tuple[str, ...]
    n_prefixes: int
    prefix_tokens: int
    budgets_tokens: tuple[int, ...]
    policies: tuple[str, ...]  # labels
    semantics: tuple[str, ...]
    # repr of each policy object: a label whose rule changed (``h2o`` gained its recent window)
    # is another configuration, so old rows are never mixed with new ones
    policy_specs: tuple[str, ...]
    streaming: str
    seed: int
    sinks: int
    position_mode: str
    batch_size: int

    def __post_init__(self):
        _policies_config_iv(self)


def _policies_config_iv(cfg: PoliciesConfig):
    if cfg.n_prefixes < 2:
        raise ValueError(f"`--prefixes` must be >= 2 (bootstrap over prefixes), got {cfg.n_prefixes}")
    if cfg.prefix_tokens < 3:
        raise ValueError(f"`--prefix-len` must be >= 3, got {cfg.prefix_tokens}")
    budgets = list(cfg.budgets_tokens)
    if len(budgets) < 2:
        raise ValueError(f"`--budgets` needs at least two budgets (a curve to fit), got {budgets}")
    if budgets != sorted(set(budgets)) or budgets[0] < 1 or budgets[-1] > cfg.prefix_tokens - 1:
        raise ValueError(f"`--budgets` must be strictly increasing integers in [1, prefix length - 1 = "
                         f"{cfg.prefix_tokens - 1}], got {budgets}")
    for s in cfg.semantics:
        if s not in SEMANTICS:
            raise ValueError(f"`--semantics` entries must be among {list(SEMANTICS)}, got {s!r}")
    if cfg.position_mode not in POSITION_MODES:
        raise ValueError(f"`--positions` must be one of {list(POSITION_MODES)} for policies (truncation's "
                         f"position ids), got {cfg.position_mode!r}")
    if cfg.streaming not in ("auto", "decode", "masked"):
        raise ValueError(f"`--streaming` must be auto, decode or masked, got {cfg.streaming!r}")
    if len(cfg.policy_specs) != len(cfg.policies):
        raise ValueError("`policy_specs` must give one spec per policy")
    if cfg.batch_size < 1:
        raise ValueError(f"`--batch-size` must be >= 1, got {cfg.batch_size}")
    if (cfg.text != ()) != (cfg.corpora == ("text",)):
        raise ValueError("`corpora` is ('text',) exactly when `text` paths are given")


@dataclass(frozen=True)
class PolicyRow(Record):
    """KL(p ‖ p̃) in nats and TV(p, p̃) per budget for one (prefix, semantics, policy), or why it was
    skipped. ``tv`` is empty in rows written before it was recorded (they still load)."""

    key: str
    domain: str
    prefix_index: int
    semantics: str
    policy: str
    doc_index: int | None = None
    budgets_tokens: tuple[int, ...] = ()
    kl_nats: tuple[float, ...] = ()
    skipped: str | None = None
    tv: tuple[float, ...] = ()


@dataclass(frozen=True)
class TimingRow(Record):
    """Cost of one batch: seconds per semantics (plus the shared prefill), model calls, and the
    forward-token equivalents processed and the floor of each semantics (see :mod:`.measure`)."""

    key: str
    domain: str
    prefixes: tuple[int, ...]
    seconds: dict[str, float]
    forward_calls: int
    forward_tokens: dict[str, int]
    floor_tokens: dict[str, int]
    streaming_method: dict[str, str]


def row_key(domain, index, semantics, policy) -> str:
    return f"{domain}/{index}/{semantics}/{policy}"


def corpus_label(cfg: PoliciesConfig, i: int) -> str:
    return cfg.corpora[i]


def read_rows(out, *, warn=None) -> tuple[list, list]:
    """``(policy_rows, timing_rows)`` of ``out/rows.jsonl``; a line of the wrong shape is reported
    through ``warn`` and left out (its prefix batch is measured again)."""
    bad, rows, timing, seen = [], [], [], set()
    for raw in JsonlStore(Path(out) / "rows.jsonl").rows(on_bad=lambda n, why: bad.append(f"line {n}: {why}"), unique=False):
        cls = TimingRow if str(raw.get("key", "")).endswith("/timing") else PolicyRow
        try:
            row = cls.from_dict(raw)
        except ValueError as exc:
            bad.append(f"key {raw.get('key')!r}: {exc}")
            continue
        if row.key not in seen:  # first valid occurrence wins (a rerun may append a key again)
            seen.add(row.key)
            (timing if cls is TimingRow else rows).append(row)
    if bad and warn is not None:
        warn(f"{Path(out) / 'rows.jsonl'}: {len(bad)} line(s) are not rows of this run and are treated as torn "
             f"(their prefixes are measured again): {bad[0]}")
    return rows, timing


def _corpus(cfg: PoliciesConfig, i: int):
    from ..corpora import load_corpus

    return load_corpus(None, list(cfg.text)) if cfg.text else load_corpus(cfg.corpora[i])


def _perplexity_nll(model, ids):
    """Next-token NLL (nats, summed) and count over the last predictions of prefix ``ids`` ``(T,)``."""
    import torch

    k = min(PERPLEXITY_TOKENS, ids.shape[0] - 1)
    with torch.no_grad():
        logits = model(input_ids=ids[None], logits_to_keep=k + 1).logits[0, :-1].double()
    nll = -torch.log_softmax(logits, -1).gather(-1, ids[-k:, None]).sum()
    return float(nll), int(k)


def stage_sanity(cfg: PoliciesConfig, out: Path, loaded, corpus, label, first_prefix, *, log) -> Sanity:
    """The same tokenizer checks as ``validate`` (printed at once) plus the model's perplexity on
    the first prefix; saved as ``sanity_<label>.json`` (reused when present)."""
    path = out / f"sanity_{label}.json"
    if path.exists():
        try:
            return load_record(Sanity, path)
        except ValueError:
            pass  # derived from the tokenizer and corpus: recompute a corrupt file
    order = np.random.default_rng([cfg.seed, 7]).permutation(len(corpus.documents))
    tok = check_tokenizer(loaded.tokenizer, (corpus.documents[i] for i in order), loaded.vocab_size)
    nll, count = _perplexity_nll(loaded.model, first_prefix)
    result = sanity(tok, nll, count, tok.characters_per_token)
    for w in result.warnings:
        log(f"WARNING: {w}")
    save_record(result, path)
    return result


def run_policies(loaded, policies, cfg: PoliciesConfig, out_dir, *, log=print, show_progress=False) -> dict:
    """Measure every prefix not yet in ``out_dir/rows.jsonl``; returns ``{"corpora": [CorpusProvenance],
    "sanity": [Sanity]}`` (one per corpus).

    ``loaded``: a :class:`~wzbounds.empirical.models.LoadedModel`; ``policies``: policy objects
    whose labels are ``cfg.policies``. Writes ``config.json`` on the first run and refuses to
    resume under a different config.
    """
    import torch

    from ..corpora import sample_prefixes

    out = Path(out_dir)
    # corpora and prefixes first: a corpus that cannot give them fails before anything is written
    samples = []
    for d_idx in range(len(cfg.corpora)):
        corpus = _corpus(cfg, d_idx)
        samples.append((corpus, sample_prefixes(corpus, loaded.tokenizer, cfg.n_prefixes, cfg.prefix_tokens,
                                                np.random.default_rng([cfg.seed, d_idx]))))
    out.mkdir(parents=True, exist_ok=True)
    cfg_path = out / "config.json"
    if cfg_path.exists():
        if load_record(PoliciesConfig, cfg_path) != cfg:
            raise UserError(f"{out} holds a run with a different configuration ({cfg_path}); "
                            "use another --out directory")
    else:
        save_record(cfg, cfg_path)
    model_path = out / "model.json"
    if model_path.exists() and load_record(type(loaded.provenance), model_path).identity != loaded.provenance.identity:
        raise UserError(f"{out} holds rows of another model ({model_path}); use another --out directory")
    save_record(loaded.provenance, model_path)
    store = JsonlStore(out / "rows.jsonl")
    rows, timing = read_rows(out, warn=log)
    done = {r.key for r in rows} | {t.key for t in timing}
    corpora, sanities = [], []
    for d_idx, (label, (corpus, sample)) in enumerate(zip(cfg.corpora, samples)):
        ids_all = torch.as_tensor(sample.token_ids, dtype=torch.long)
        prov = CorpusProvenance(description=corpus.description, sha256=corpus.sha256,
                                n_documents=len(corpus.documents), skipped_short_documents=int(sample.skipped_short),
                                characters_per_token=float(sample.characters_per_token))
        corpus_path = out / f"corpus_{label}.json"
        if corpus_path.exists() and load_record(CorpusProvenance, corpus_path).sha256 != prov.sha256:
            raise UserError(f"the {label} corpus changed since {out} was measured ({corpus_path}); "
                            "use another --out directory")
        sanities.append(stage_sanity(cfg, out, loaded, corpus, label, ids_all[0].to(loaded.device), log=log))
        save_record(prov, corpus_path)
        corpora.append(prov)
        starts = list(range(0, ids_all.shape[0], cfg.batch_size))
        bar = None
        if show_progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(starts), desc=f"{label} batches", unit="batch", file=sys.stderr)
        for start in starts:
            idx = list(range(start, min(start + cfg.batch_size, ids_all.shape[0])))
            want = [row_key(label, i, s, p.label) for i in idx for s in cfg.semantics for p in policies]
            if all(k in done for k in want):
                if bar is not None:
                    bar.update(1)
                continue
            t0 = time.perf_counter()
            seeds = [cfg.seed * 1_000_003 + d_idx * 100_003 + i for i in idx]
            # a batch can decode for many minutes (streaming): a bar over its forward passes too
            passes = None if bar is None else tqdm(desc="forward passes", unit="pass", leave=False, file=sys.stderr)
            m = measure_batch(loaded.model, ids_all[idx].to(loaded.device), policies, cfg.budgets_tokens,
                              cfg.semantics, seeds=seeds, position_mode=cfg.position_mode, streaming=cfg.streaming,
                              progress=None if passes is None else _follow(passes))
            if passes is not None:
                passes.close()
            new = []
            for b, i in enumerate(idx):
                for (s, pol), table in m.kl_nats.items():
                    new.append(PolicyRow(row_key(label, i, s, pol), label, i, s, pol, int(sample.doc_index[i]),
                                         tuple(cfg.budgets_tokens), tuple(float(v) for v in table[b]),
                                         tv=tuple(float(v) for v in m.tv[(s, pol)][b])))
                for (s, pol), reason in m.skipped.items():
                    new.append(PolicyRow(row_key(label, i, s, pol), label, i, s, pol, skipped=reason))
            new.append(TimingRow(f"{label}/batch{start}/timing", label, tuple(idx), dict(m.seconds), int(m.forward_calls),
                                 _int_dict(m.forward_tokens), _int_dict(m.floor_tokens),
                                 {str(k): str(v) for k, v in m.streaming_method.items()}))
            for row in new:
                store.append(row.to_dict())
            if bar is not None:
                bar.update(1)
            else:
                log(f"[policies] {label}: prefixes {idx[0]}..{idx[-1]} in {time.perf_counter() - t0:.1f}s")
        if bar is not None:
            bar.close()
    return {"corpora": corpora, "sanity": sanities}


def _follow(bar):
    """A :func:`.measure_batch` progress callback that moves ``bar`` to ``done`` of ``total``."""
    def progress(done, total):
        bar.total = total
        bar.update(done - bar.n)
    return progress


def _int_dict(d):
    return {str(k): int(v) for k, v in d.items()}
