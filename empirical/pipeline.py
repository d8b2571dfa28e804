"""``wzbounds validate`` as a pipeline of stages, each returning a typed artifact saved in DIR.

=========  ===============================  =========================================
stage      artifact (type)                  file(s) in DIR
=========  ===============================  =========================================
prefixes   :class:`PrefixesArtifact`        ``stages/prefixes.json`` (+ ``stages/model.json``)
measure    :class:`MeasureArtifact`         ``rows/part-<tag>.jsonl`` (one row per prefix)
analyse    :class:`AnalysisArtifact`        ``result.json``
profile    :class:`wzbounds.profiles.PowerLaw`  ``profile.json``
report     :class:`ReportArtifact`          ``report.md``, ``*.png``
=========  ===============================  =========================================

A rerun of the same command skips what is done: the prefixes stage is loaded when its
fingerprint (corpus sha256, tokenizer, n, T, seed) matches; the measure stage skips prefixes
whose rows exist (a killed run loses at most the prefix in flight); analyse/profile/report rerun
only when the set of rows changed. Rows of a different configuration in the same DIR are refused
(the protocol, ``fixed-end`` or ``fixed-start`` with its start, is part of the configuration and of
every row).

Work is split by prefix index: ``--shard i/n`` (scheduler arrays; combine with
``wzbounds merge``) or ``torchrun`` ranks (see :mod:`.distributed`); every process appends only to
its own ``rows/part-<tag>.jsonl``.
"""
from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .results import (RESULT_SCHEMA_VERSION, JsonlStore, fingerprint, load_artifact, save_artifact,
                      validate_result, write_json)

__all__ = ["ValidateConfig", "PrefixesArtifact", "MeasureArtifact", "AnalysisArtifact", "ReportArtifact",
           "run_validate", "merge_runs", "stage_prefixes", "stage_measure", "stage_analyse",
           "stage_profile", "stage_report", "read_rows", "sanity_figures", "default_windows"]

#: Perplexity above this, or characters per token outside this range, trigger a loud warning.
PERPLEXITY_WARN = 1000.0
CHARS_PER_TOKEN_RANGE = (1.5, 12.0)


def default_windows(prefix_tokens: int, count: int = 12, max_window: int | None = None) -> tuple:
    """About ``count`` log-spaced windows from 1 to ``prefix_tokens // 2`` (no boundary windows),
    or to ``max_window`` when smaller (fixed-start: ``T - s``)."""
    top = max(1, prefix_tokens // 2 if max_window is None else min(prefix_tokens // 2, max_window))
    return tuple(sorted({int(round(x)) for x in np.geomspace(1, top, count)}))


@dataclass(frozen=True)
class ValidateConfig:
    """Everything that defines a validation run (echoed in result.json ``config``)."""

    model: str | None = None
    gguf: str | None = None
    tokenizer: str | None = None
    domain: str | None = None
    text: tuple = ()
    n_prefixes: int = 64
    prefix_tokens: int = 256
    windows: tuple = ()
    modes: tuple = ("preserve", "reindex")
    protocol: str = "fixed-end"
    start_tokens: int | None = None
    sink_tokens: int = 4
    perplexity_tokens: int = 256
    seed: int = 0
    dtype: str = "float32"
    device: str = "auto"
    attn_implementation: str = "sdpa"
    trust_remote_code: bool = False
    allow_pickle: bool = False
    n_resamples: int = 1000
    confidence_level: float = 0.95
    include_boundary: bool = False
    max_rows: int | None = None
    bos: bool = True

    def resolved_start(self) -> int | None:
        """s of the fixed-start protocol (default ``T // 2``); None for fixed-end."""
        if self.protocol != "fixed-start":
            return self.start_tokens
        return self.prefix_tokens // 2 if self.start_tokens is None else self.start_tokens

    def resolved_windows(self) -> tuple:
        if self.windows:
            return tuple(self.windows)
        s = self.resolved_start()
        return default_windows(self.prefix_tokens, max_window=None if s is None else self.prefix_tokens - s)


@dataclass(frozen=True)
class PrefixesArtifact:
    """Sampled prefixes (:class:`.corpora.PrefixSample` fields) plus the corpus they came from."""

    token_ids: np.ndarray
    doc_index: np.ndarray
    token_offset: np.ndarray
    skipped_short: int
    characters_per_token: float
    corpus_sha256: str
    corpus_description: str
    n_documents: int
    fingerprint: str


@dataclass(frozen=True)
class MeasureArtifact:
    """Rows measured so far (all processes), and this process's share of the work."""

    rows: tuple
    n_expected: int
    measured_now: int
    forward_tokens_now: int
    wall_s_now: float
    self_check_max_tv_diff: float | None

    @property
    def complete(self) -> bool:
        return len(self.rows) >= self.n_expected


@dataclass(frozen=True)
class AnalysisArtifact:
    """The result.json document and the bootstrap objects behind its fits (None when loaded)."""

    result: dict
    boots: dict | None = field(default=None, repr=False)
    recomputed: bool = True


@dataclass(frozen=True)
class ReportArtifact:
    report_md: Path
    plots: tuple


def _log(msg: str) -> None:
    print(f"wzbounds validate: {msg}", file=sys.stderr, flush=True)


def _warn(msg: str) -> None:
    bar = "!" * 78
    print(f"{bar}\nWARNING: {msg}\n{bar}", file=sys.stderr, flush=True)


def _plan(cfg: ValidateConfig):
    from .truncation import plan_truncation

    return plan_truncation(cfg.prefix_tokens, cfg.resolved_windows(), cfg.modes, cfg.sink_tokens,
                           cfg.perplexity_tokens, cfg.protocol, cfg.start_tokens)


def _plan_info(plan) -> dict:
    info = {"prefix_tokens": plan.prefix_tokens, "windows": list(plan.windows), "modes": list(plan.modes),
            "sink_tokens": plan.sink_tokens, "sink_windows": list(plan.sink_windows),
            "perplexity_tokens": plan.perplexity_tokens}
    if plan.protocol != "fixed-end":  # fixed-end identities stay those of runs made before protocols existed
        info.update(protocol=plan.protocol, start_tokens=plan.start_tokens)
    return info


# ----------------------------------------------------------------------------- prefixes

def stage_prefixes(cfg: ValidateConfig, out: Path, loaded, *, write=True) -> PrefixesArtifact:
    """Load the corpus and sample the prefixes (or load them when already sampled)."""
    from .corpora import load_corpus, sample_prefixes

    corpus = load_corpus(cfg.domain, list(cfg.text) or None)
    fp = fingerprint({"corpus": corpus.sha256, "tokenizer": loaded.provenance.get("tokenizer"),
                      "model": loaded.provenance.get("file_sha256") or loaded.provenance.get("model_id"),
                      "n": cfg.n_prefixes, "T": cfg.prefix_tokens, "seed": cfg.seed, "bos": cfg.bos})
    path = out / "stages" / "prefixes.json"
    payload = load_artifact(path, "prefixes", fp)
    if payload is None:
        sample = sample_prefixes(corpus, loaded.tokenizer, cfg.n_prefixes, cfg.prefix_tokens,
                                 np.random.default_rng(cfg.seed), bos=cfg.bos)
        payload = {"token_ids": sample.token_ids.tolist(), "doc_index": sample.doc_index.tolist(),
                   "token_offset": sample.token_offset.tolist(), "skipped_short": sample.skipped_short,
                   "characters_per_token": sample.characters_per_token, "corpus_sha256": corpus.sha256,
                   "corpus_description": corpus.description, "n_documents": len(corpus.documents)}
        if write:
            save_artifact(path, "prefixes", fp, payload)
    return PrefixesArtifact(np.asarray(payload["token_ids"], dtype=np.int64),
                            np.asarray(payload["doc_index"], dtype=np.int64),
                            np.asarray(payload["token_offset"], dtype=np.int64),
                            int(payload["skipped_short"]), float(payload["characters_per_token"]),
                            payload["corpus_sha256"], payload["corpus_description"],
                            int(payload["n_documents"]), fp)


# ----------------------------------------------------------------------------- measure

def _measure_identity(cfg, plan, prefixes, model_prov) -> dict:
    """What rows depend on: a DIR never mixes rows of different identities."""
    return {"plan": _plan_info(plan), "prefixes": prefixes.fingerprint, "dtype": model_prov.get("dtype"),
            "model": model_prov.get("file_sha256") or model_prov.get("model_id"),
            "attn_implementation": cfg.attn_implementation, "schema_version": RESULT_SCHEMA_VERSION}


def _guard_identity(out: Path, identity: dict, write: bool):
    path = out / "stages" / "measure.json"
    fp = fingerprint(identity)
    if path.exists():
        doc = json.loads(path.read_text())
        if doc.get("fingerprint") != fp:
            from .models import UserError

            raise UserError(f"{out} holds rows measured with different settings ({path}); "
                            "use another --out directory or delete it")
    elif write:
        save_artifact(path, "measure", fp, identity)


def read_rows(out: Path) -> list:
    """All rows of all parts in ``out/rows`` (one per prefix key; first occurrence wins)."""
    rows, seen = [], set()
    for part in sorted((Path(out) / "rows").glob("part-*.jsonl")):
        for row in JsonlStore(part).rows():
            if row["key"] not in seen:
                seen.add(row["key"])
                rows.append(row)
    return sorted(rows, key=lambda r: r["key"])


def _self_check(model, prefix_ids, plan) -> float:
    """Max |ΔTV| between the packed masked forward and plain runs on a reduced plan
    (smallest and largest window, sink): catches a model whose attention ignores our masks."""
    from .truncation import measure_batched, measure_oracle, plan_truncation

    small = plan_truncation(plan.prefix_tokens, sorted({plan.windows[0], plan.windows[-1]}), plan.modes,
                            plan.sink_tokens, min(plan.perplexity_tokens, 8), plan.protocol, plan.start_tokens)
    a, b = measure_batched(model, prefix_ids, small), measure_oracle(model, prefix_ids, small)
    return max(float(np.max(np.abs(a.tv[k] - b.tv[k]))) for k in a.tv)


def stage_measure(cfg, out: Path, loaded, prefixes: PrefixesArtifact, *, tag="main", share=(0, 1),
                  show_progress=True, self_check=True) -> MeasureArtifact:
    """Measure the prefixes with index ``i % share[1] == share[0]`` that have no row yet,
    appending one row per prefix to ``rows/part-<tag>.jsonl``."""
    from .truncation import measure_batched

    plan = _plan(cfg)
    identity = _measure_identity(cfg, plan, prefixes, {**loaded.provenance, "dtype": loaded.dtype})
    _guard_identity(out, identity, write=True)
    store = JsonlStore(out / "rows" / f"part-{tag}.jsonl")
    done = {r["key"] for r in read_rows(out)}
    n = prefixes.token_ids.shape[0]
    todo = [i for i in range(n) if i % share[1] == share[0] and i not in done]
    check = None
    if todo and self_check:
        check = _self_check(loaded.model, prefixes.token_ids[todo[0]], plan)
        tol = 1e-3 if loaded.dtype == "float32" else 5e-2  # float32 packing noise is ~1e-6 in TV
        if check > tol:
            from .models import UserError

            raise UserError(f"the masked batched forward disagrees with plain runs (max |dTV| = {check:.3g} "
                            f"> {tol}); this model's attention may ignore custom 4-D masks - try --attn eager")
    tokens = 0
    t0 = time.perf_counter()
    bar = None
    if show_progress and todo:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(todo), desc="prefixes", unit="prefix", file=sys.stderr)
    for i in todo:
        m = measure_batched(loaded.model, prefixes.token_ids[i], plan, max_rows=cfg.max_rows, log=_log)
        row = {"key": int(i), "doc_index": int(prefixes.doc_index[i]), **m.to_row()}
        store.append(row)
        tokens += m.forward_tokens
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return MeasureArtifact(tuple(read_rows(out)), n, len(todo), tokens, time.perf_counter() - t0, check)


# ----------------------------------------------------------------------------- analyse

def sanity_figures(rows, characters_per_token: float) -> dict:
    """Perplexity of the model on the prefixes and characters per token, with warnings."""
    nll = sum(r["nll_nats_sum"] for r in rows)
    count = sum(r["nll_tokens"] for r in rows)
    ppl = float(np.exp(nll / count)) if count else None
    warnings = []
    if ppl is not None and ppl > PERPLEXITY_WARN:
        warnings.append(f"perplexity {ppl:.4g} on the corpus is implausibly high (> {PERPLEXITY_WARN:g}): "
                        "the tokenizer may not match the model (a GGUF's rebuilt tokenizer can be wrong; "
                        "pass --tokenizer) or the model is untrained")
    lo, hi = CHARS_PER_TOKEN_RANGE
    if not lo <= characters_per_token <= hi:
        warnings.append(f"{characters_per_token:.3g} characters per token is implausible (expected {lo}-{hi}): "
                        "check the tokenizer (--tokenizer)")
    return {"perplexity": ppl, "perplexity_tokens": int(count), "characters_per_token": characters_per_token,
            "warnings": warnings}


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("wzbounds")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


def stage_analyse(cfg: ValidateConfig, out: Path, rows, run_info: dict, *, force=False) -> AnalysisArtifact:
    """Fit and write ``result.json`` (skipped when it already covers exactly these rows)."""
    from .analysis import analyse

    plan = _plan(cfg)
    fp = fingerprint({"config": asdict(cfg), "keys": [r["key"] for r in rows]})
    path = out / "result.json"
    if path.exists() and not force:
        doc = json.loads(path.read_text())
        if doc.get("fingerprint") == fp:
            return AnalysisArtifact(doc, None, recomputed=False)
    rng = np.random.default_rng(cfg.seed + 1)
    summary, boots = analyse(rows, _plan_info(plan), rng, n_resamples=cfg.n_resamples,
                             confidence_level=cfg.confidence_level, include_boundary=cfg.include_boundary)
    sanity = sanity_figures(rows, run_info["characters_per_token"])
    provenance = {**run_info["model"], "corpus_sha256": run_info["corpus_sha256"],
                  "corpus": run_info["corpus_description"], "n_documents": run_info["n_documents"],
                  "skipped_short_documents": run_info["skipped_short"],
                  "package_version": _package_version(), "seed": cfg.seed,
                  "protocol": plan.protocol, "start_tokens": plan.start_tokens,
                  "forward_tokens": int(sum(r["forward_tokens"] for r in rows)),
                  "forward_calls": int(sum(r["forward_calls"] for r in rows)),
                  "measure_wall_s": float(sum(r["wall_s"] for r in rows)),
                  "wall_s": run_info.get("wall_s"), "self_check_max_tv_diff": run_info.get("self_check"),
                  "n_prefixes_measured": len(rows)}
    doc = {"schema_version": RESULT_SCHEMA_VERSION, "kind": "wzbounds.validate", "fingerprint": fp,
           "config": {**asdict(cfg), "windows": list(plan.windows), "sink_windows": list(plan.sink_windows)},
           **summary, "sanity": sanity, "provenance": provenance}
    write_json(path, validate_result(doc))
    return AnalysisArtifact(doc, boots, recomputed=True)


def stage_profile(out: Path, analysis: AnalysisArtifact):
    """Write ``profile.json``: the TV power-law envelope of the primary metric's bootstrap fit."""
    from wzbounds.profiles import load_profile, save_profile

    path = out / "profile.json"
    if not analysis.recomputed and path.exists():
        return load_profile(path)
    doc = analysis.result
    name = doc["primary_metric"]
    boot = analysis.boots[name]
    prov = doc["provenance"]
    profile = boot.to_profile("tv", {
        "source": "wzbounds validate", "metric": name, "model_id": prov.get("model_id"),
        "file_sha256": prov.get("file_sha256"), "corpus": prov.get("corpus"),
        "corpus_sha256": prov.get("corpus_sha256"), "prefix_tokens": doc["config"]["prefix_tokens"],
        "protocol": prov.get("protocol"), "start_tokens": prov.get("start_tokens"),
        "n_prefixes": len(boot.per_prefix_values), "verdict": doc["verdict"]["label"],
        "package_version": prov.get("package_version")})
    save_profile(profile, path)
    return profile


def stage_report(out: Path, analysis: AnalysisArtifact) -> ReportArtifact:
    """Plots and ``report.md`` (skipped when up to date)."""
    from .report import write_report

    md = out / "report.md"
    if not analysis.recomputed and md.exists():
        return ReportArtifact(md, tuple(sorted(out.glob("*.png"))))
    plots = write_report(analysis.result, out)
    return ReportArtifact(md, tuple(plots))


# ----------------------------------------------------------------------------- drivers

def _run_info(loaded_prov: dict, prefixes: PrefixesArtifact, **extra) -> dict:
    return {"model": loaded_prov, "corpus_sha256": prefixes.corpus_sha256,
            "corpus_description": prefixes.corpus_description, "n_documents": prefixes.n_documents,
            "skipped_short": prefixes.skipped_short, "characters_per_token": prefixes.characters_per_token,
            **extra}


def _finish(cfg, out, rows, info, n_expected) -> AnalysisArtifact:
    if len(rows) < n_expected:
        _warn(f"only {len(rows)} of {n_expected} prefixes are measured; the result covers those")
    stale = not (out / "profile.json").exists() or not (out / "report.md").exists()
    analysis = stage_analyse(cfg, out, rows, info, force=stale)
    for w in analysis.result["sanity"]["warnings"]:
        _warn(w)
    stage_profile(out, analysis)
    stage_report(out, analysis)
    return analysis


def run_validate(cfg: ValidateConfig, out, *, shard=None, loaded=None, show_progress=True,
                 distributed=None) -> AnalysisArtifact | MeasureArtifact:
    """Run (or resume) a validation into ``out``.

    ``shard``: ``(i, n)`` to measure only prefixes ``k % n == i`` (no analysis; combine with
    :func:`merge_runs`). ``distributed``: a :class:`.distributed.DistContext` (torchrun). ``loaded``:
    an already loaded :class:`.models.LoadedModel` (tests). Returns the analysis (or, for a shard
    or a non-zero rank, the measurement artifact)."""
    t0 = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _plan(cfg)  # validate windows / modes before loading anything
    if loaded is None and shard is None and distributed is None and _measured_already(cfg, out):
        return _analyse_saved(cfg, out, wall_s=time.perf_counter() - t0)
    if loaded is None:
        from .models import load_model

        loaded = load_model(cfg.model, gguf=cfg.gguf, tokenizer=cfg.tokenizer, dtype=cfg.dtype,
                            device=cfg.device, attn_implementation=cfg.attn_implementation,
                            trust_remote_code=cfg.trust_remote_code, allow_pickle=cfg.allow_pickle)
    prov = {**loaded.provenance, "device": loaded.device, "dtype": loaded.dtype}
    rank, world = (distributed.rank, distributed.world_size) if distributed else (0, 1)
    if distributed:
        if rank == 0:
            prefixes = stage_prefixes(cfg, out, loaded)
        distributed.barrier()
        if rank != 0:
            prefixes = stage_prefixes(cfg, out, loaded, write=False)
        tag, share = f"rank{rank}of{world}", (rank, world)
    else:
        prefixes = stage_prefixes(cfg, out, loaded)
        tag, share = ("main", (0, 1)) if shard is None else (f"shard{shard[0]}of{shard[1]}", tuple(shard))
    if rank == 0:  # recorded once the model and the prefixes are known good
        save_config(cfg, out)
        write_json(out / "stages" / "model.json", prov)
    measured = stage_measure(cfg, out, loaded, prefixes, tag=tag, share=share,
                             show_progress=show_progress and rank == 0)
    if distributed:
        distributed.barrier()
    if shard is not None or rank != 0:
        if shard is not None:
            _log(f"shard {shard[0]}/{shard[1]} done ({measured.measured_now} prefixes measured now); "
                 f"run `wzbounds merge {out}` when every shard has finished")
        return measured
    rows = read_rows(out)
    info = _run_info(prov, prefixes, wall_s=time.perf_counter() - t0, self_check=measured.self_check_max_tv_diff,
                     world_size=world)
    return _finish(cfg, out, rows, info, prefixes.token_ids.shape[0])


def _load_config(directory: Path) -> tuple[ValidateConfig, dict]:
    path = directory / "stages" / "config.json"
    if not path.exists():
        raise FileNotFoundError(f"{directory} is not a wzbounds validate directory (no {path})")
    doc = json.loads(path.read_text())
    doc["text"] = tuple(doc.get("text") or ())
    doc["windows"] = tuple(doc.get("windows") or ())
    doc["modes"] = tuple(doc["modes"])
    return ValidateConfig(**doc), doc


def save_config(cfg: ValidateConfig, out) -> None:
    """Record the run's configuration (``stages/config.json``) so ``merge`` can analyse without a model;
    refuses a DIR configured differently."""
    out = Path(out)
    path = out / "stages" / "config.json"
    new = asdict(cfg)
    if path.exists():
        # a key missing from an older config.json had its default value then
        old = {**asdict(ValidateConfig()), **json.loads(path.read_text())}
        keys = [k for k in new if k not in ("device", "max_rows") and json.loads(json.dumps(new[k])) != old.get(k)]
        if keys:
            from .models import UserError

            raise UserError(f"{out} holds a run with different settings ({', '.join(keys)}); "
                            "use another --out directory")
    write_json(path, new)


def merge_runs(dirs, out=None) -> AnalysisArtifact:
    """Combine the rows of shard directories (same configuration) and analyse them into ``out``
    (default: the first directory). Needs no model: provenance comes from the saved stages."""
    import shutil

    dirs = [Path(d) for d in dirs]
    if not dirs:
        raise ValueError("give at least one directory to merge")
    cfg, raw = _load_config(dirs[0])
    for d in dirs[1:]:
        other, _ = _load_config(d)
        diff = [k for k, v in asdict(cfg).items() if k not in ("device", "max_rows") and asdict(other)[k] != v]
        if diff:
            from .models import UserError

            raise UserError(f"cannot merge {d} with {dirs[0]}: different settings ({', '.join(diff)})")
    out = Path(out) if out is not None else dirs[0]
    out.mkdir(parents=True, exist_ok=True)
    for d in dirs:
        if d.resolve() == out.resolve():
            continue
        for part in (d / "rows").glob("part-*.jsonl"):
            target = out / "rows" / f"{part.stem}-from-{fingerprint(str(d.resolve()))[:8]}.jsonl"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(part, target)
        for name in ("config.json", "prefixes.json", "model.json", "measure.json"):
            src, dst = d / "stages" / name, out / "stages" / name
            if src.exists() and not dst.exists():
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dst)
    return _analyse_saved(cfg, out, merged_from=[str(d) for d in dirs])


def _saved_prefixes(out: Path) -> PrefixesArtifact:
    doc = json.loads((out / "stages" / "prefixes.json").read_text())
    p = doc["payload"]
    return PrefixesArtifact(np.asarray(p["token_ids"]), np.asarray(p["doc_index"]), np.asarray(p["token_offset"]),
                            int(p["skipped_short"]), float(p["characters_per_token"]), p["corpus_sha256"],
                            p["corpus_description"], int(p["n_documents"]), doc["fingerprint"])


def _analyse_saved(cfg, out: Path, **extra) -> AnalysisArtifact:
    """Analyse the rows in ``out`` from its saved stages (no model needed)."""
    prefixes = _saved_prefixes(out)
    prov = json.loads((out / "stages" / "model.json").read_text())
    info = _run_info(prov, prefixes, wall_s=extra.pop("wall_s", None), self_check=None, **extra)
    return _finish(cfg, out, read_rows(out), info, prefixes.token_ids.shape[0])


def _measured_already(cfg, out: Path) -> bool:
    """True when ``out`` holds every row of a run with these settings (a rerun needs no model)."""
    needed = [out / "stages" / n for n in ("config.json", "prefixes.json", "model.json")]
    if not all(p.exists() for p in needed):
        return False
    save_config(cfg, out)  # raises on different settings
    n = len(json.loads(needed[1].read_text())["payload"]["token_ids"])
    return {r["key"] for r in read_rows(out)} >= set(range(n))
