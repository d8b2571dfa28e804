"""``wzbounds validate`` as a pipeline of stages, each returning a typed artifact saved in DIR.

=========  ==========================================  ===========================================
stage      artifact (type)                             file(s) in DIR
=========  ==========================================  ===========================================
tokenizer  :class:`.sanity.TokenizerSanity`            ``stages/tokenizer.json`` (+ ``stages/model.json``)
positions  :class:`PositionAblation`                   ``stages/positions.json``
prefixes   :class:`PrefixesArtifact`                   ``stages/prefixes.json``
measure    :class:`MeasureArtifact` of                 ``rows/part-<tag>.jsonl`` (one row per prefix)
           :class:`TruncationRow`
analyse    :class:`ValidateResult`                     ``result.json``
profile    :class:`wzbounds.profiles.PowerLaw`,        ``profile.json``, ``profile_tv2.json``,
           :class:`wzbounds.profiles.Tabulated`        ``profile_tabulated.json``
report     :class:`ReportArtifact`                     ``report.md``, ``*.png``
=========  ==========================================  ===========================================

A rerun of the same command skips what is done: the prefixes stage is loaded when its
fingerprint (corpus sha256, tokenizer, n, T, seed) matches; the measure stage skips prefixes
whose rows exist (a killed run loses at most the prefix in flight); analyse/profile/report rerun
only when the rows or the analysis settings changed. What the rows depend on (model, corpus,
prefixes, protocol, windows, position modes, sinks, dtype) is the run's *measurement identity*:
rows of another identity in the same DIR are refused. Analysis settings (bootstrap resamples,
confidence level, boundary windows) are not part of it: changing them re-analyses the stored rows.
Every file is written atomically; a derived output that is missing or does not parse (an empty
``profile.json``, a cut ``report.md``) is rebuilt from the rows. The command line holds DIR as its
only writer and cleans up after a failure (:mod:`.outdir`): one ``--out`` per shard.

Work is split by prefix index: ``--shard i/n`` (scheduler arrays; combine with
``wzbounds merge``) or ``torchrun`` ranks (see :mod:`.distributed`); every process appends only to
its own ``rows/part-<tag>.jsonl``.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np

from wzbounds._fileio import atomic_path

from .analysis import Analysis, FloorRecord
from .models import UserError
from .provenance import CorpusProvenance, ModelProvenance, Provenance, command_line, package_version
from .records import Record, load_record, read_json, save_record
from .results import JsonlStore, fingerprint, load_artifact, save_artifact
from .sanity import Sanity, TokenizerSanity, check_tokenizer, sanity

__all__ = ["ValidateConfig", "PrefixesArtifact", "MeasureArtifact", "TruncationRow", "PositionAblation",
           "ValidateMeasurement", "ValidateResult", "ReportArtifact", "run_validate", "merge_runs",
           "stage_tokenizer", "stage_positions", "stage_prefixes", "stage_measure", "stage_analyse",
           "stage_profile", "stage_report", "read_rows", "default_windows", "load_result",
           "ANALYSIS_FIELDS", "RESULT_SCHEMA_VERSION", "RESUME_ENTRIES"]

RESULT_SCHEMA_VERSION = 2
#: Version of the row format (part of the measurement identity; rows of version 1 are still read).
ROWS_SCHEMA_VERSION = 1
#: Settings that change only the analysis of stored rows, never the rows.
ANALYSIS_FIELDS = ("n_resamples", "confidence_level", "include_boundary")
#: Settings of where and how fast a run goes, which change neither rows nor analysis.
#: settings that change how (or how much of the floor is) measured, never what a row holds
RUNTIME_FIELDS = ("device", "device_map", "max_rows", "floor_prefixes")
#: What a resume needs from a run folder (:func:`.outdir.writing` keeps these after a failure).
RESUME_ENTRIES = ("stages", "rows")
#: Outputs derived from the rows: rebuilt when one is missing or does not parse.
DERIVED_REQUIRED = ("profile.json", "profile_tabulated.json", "report.md")
DERIVED_OPTIONAL = ("profile_tv2.json", "tv_decay.png", "sink_kl.png", "kl_vs_tv2.png")


def default_windows(prefix_tokens: int, count: int = 12, max_window: int | None = None) -> tuple:
    """About ``count`` log-spaced windows from 1 to ``prefix_tokens // 2`` (no boundary windows),
    or to ``max_window`` when smaller (fixed-start: ``T - s``)."""
    top = max(1, prefix_tokens // 2 if max_window is None else min(prefix_tokens // 2, max_window))
    return tuple(sorted({int(round(x)) for x in np.geomspace(1, top, count)}))


@dataclass(frozen=True)
class ValidateConfig(Record):
    """Everything that defines a validation run (``stages/config.json``, echoed in result.json)."""

    model: str | None = None
    gguf: str | None = None
    tokenizer: str | None = None
    domain: str | None = None
    text: tuple[str, ...] = ()
    n_prefixes: int = 64
    prefix_tokens: int = 256
    windows: tuple[int, ...] = ()
    modes: tuple[str, ...] = ("preserve", "reindex")
    protocol: str = "fixed-end"
    start_tokens: int | None = None
    sink_tokens: int = 4
    perplexity_tokens: int = 256
    seed: int = 0
    dtype: str = "float32"
    device: str = "auto"
    attn_implementation: str = "auto"
    device_map: str | None = None
    trust_remote_code: bool = False
    allow_pickle: bool = False
    n_resamples: int = 1000
    confidence_level: float = 0.95
    include_boundary: bool = False
    max_rows: int | None = None
    #: the numerical floor is measured on the prefixes with key < this (None: all); it costs one
    #: more forward of T tokens per prefix under rotary positions
    floor_prefixes: int | None = None
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

    def differences(self, other: "ValidateConfig", ignore=ANALYSIS_FIELDS + RUNTIME_FIELDS) -> list:
        """Names of the settings (other than ``ignore``) in which ``other`` differs."""
        a, b = self.to_dict(), other.to_dict()
        return [k for k in a if k not in ignore and a[k] != b[k]]


@dataclass(frozen=True)
class PrefixesArtifact:
    """Sampled prefixes (:class:`.corpora.PrefixSample` fields) plus the corpus they came from."""

    token_ids: np.ndarray
    doc_index: np.ndarray
    token_offset: np.ndarray
    corpus: CorpusProvenance
    fingerprint: str


@dataclass(frozen=True)
class TruncationRow(Record):
    """One measured prefix (a line of ``rows/part-*.jsonl``): per metric cell (position mode or
    sink kind) the TV, KL (nats) and smoothed KLs over the plan's windows, the full run's
    next-token NLL on the perplexity positions, and the cost."""

    key: int
    doc_index: int
    tv: dict[str, tuple[float, ...]]
    kl_nats: dict[str, tuple[float, ...]]
    kl_smoothed_nats: dict[str, tuple[tuple[float, ...], ...]]
    nll_nats_sum: float
    nll_tokens: int
    forward_tokens: int
    forward_calls: int
    wall_s: float
    protocol: str = "fixed-end"
    start_tokens: int | None = None
    #: The numerical floor (:mod:`.truncation`): divergences between two computations of each
    #: distinct reference law, and how the second was made; absent in rows written before 0.2.
    floor_tv: tuple[float, ...] | None = None
    floor_kl_nats: tuple[float, ...] | None = None
    floor_kl_smoothed_nats: tuple[tuple[float, ...], ...] | None = None
    floor_method: str | None = None

    def mismatch(self, plan) -> str | None:
        """Why this row is not a row of ``plan`` (None when it is)."""
        if self.protocol != plan.protocol or self.start_tokens != plan.start_tokens:
            return f"protocol {self.protocol}/{self.start_tokens}, not {plan.protocol}/{plan.start_tokens}"
        for kind in plan.kinds:
            n = len(plan.windows_of(kind))
            if kind not in self.tv or len(self.tv[kind]) != n or len(self.kl_nats.get(kind, ())) != n:
                return f"no {n} windows of {kind!r}"
        return None


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
class PositionAblation(Record):
    """Which position modes are measured, and the evidence when one is redundant.

    On a relative-position model (:func:`.models.relative_positions`) a contiguous suffix
    re-encoded under its original positions (``preserve``) or from 0 (``reindex``) gives the same
    law by construction, so only the first requested mode is measured on every prefix; the other
    is measured on the first prefix only and ``max_abs_tv_diff`` / ``max_abs_kl_diff_nats`` are
    the numerical evidence of the invariance. Sink-plus-recent is measured in every requested mode
    (``sink_modes``): there the gap between sinks and window does change."""

    requested_modes: tuple[str, ...]
    measured_modes: tuple[str, ...]
    sink_modes: tuple[str, ...]
    relative_positions: bool
    reason: str
    evidence_prefix: int | None = None
    max_abs_tv_diff: float | None = None
    max_abs_kl_diff_nats: float | None = None

    @property
    def vacuous(self) -> bool:
        return self.measured_modes != self.requested_modes


@dataclass(frozen=True)
class ValidateMeasurement(Record):
    """How the rows were measured (beyond the configuration)."""

    protocol: str
    start_tokens: int | None
    windows: tuple[int, ...]
    sink_windows: tuple[int, ...]
    positions: PositionAblation
    self_check_max_tv_diff: float | None
    world_size: int
    merged_from: tuple[str, ...] = ()
    #: the run's numerical floor (None for rows measured before 0.2 computed it)
    floor: FloorRecord | None = None


@dataclass(frozen=True)
class ValidateResult(Analysis):
    """``result.json``: the analysis (fits, verdict, ...) plus what it rests on."""

    KIND = "wzbounds.validate"
    SCHEMA_VERSION = RESULT_SCHEMA_VERSION

    fingerprint: str
    config: ValidateConfig
    measurement: ValidateMeasurement
    sanity: Sanity
    provenance: Provenance


@dataclass(frozen=True)
class ReportArtifact:
    report_md: Path
    plots: tuple


def load_result(path) -> ValidateResult:
    """A ``result.json``, validated whole (ValueError naming the file and the field)."""
    return load_record(ValidateResult, path)


def _log(msg: str) -> None:
    print(f"wzbounds validate: {msg}", file=sys.stderr, flush=True)


def _warn(msg: str) -> None:
    bar = "!" * 78
    print(f"{bar}\nWARNING: {msg}\n{bar}", file=sys.stderr, flush=True)


def _warn_each(messages) -> None:
    for msg in messages:
        _warn(msg)


def _plan(cfg: ValidateConfig, positions: PositionAblation | None = None):
    """The truncation plan: the configured modes, or those ``positions`` says are measured."""
    from .truncation import plan_truncation

    modes = positions.measured_modes if positions is not None else cfg.modes
    sink_modes = positions.sink_modes if positions is not None else None
    return plan_truncation(cfg.prefix_tokens, cfg.resolved_windows(), modes, cfg.sink_tokens,
                           cfg.perplexity_tokens, cfg.protocol, cfg.start_tokens, sink_modes)


def _plan_info(plan) -> dict:
    info = {"prefix_tokens": plan.prefix_tokens, "windows": list(plan.windows), "modes": list(plan.modes),
            "sink_tokens": plan.sink_tokens, "sink_windows": list(plan.sink_windows),
            "perplexity_tokens": plan.perplexity_tokens}
    if plan.protocol != "fixed-end":  # fixed-end identities stay those of runs made before protocols existed
        info.update(protocol=plan.protocol, start_tokens=plan.start_tokens)
    if tuple(plan.sink_modes) not in ((), tuple(plan.modes[:1])):  # likewise for one sink mode
        info.update(sink_modes=list(plan.sink_modes))
    return info


# ----------------------------------------------------------------------------- tokenizer

def _corpus(cfg):
    from .corpora import load_corpus

    return load_corpus(cfg.domain, list(cfg.text) or None)


def stage_tokenizer(cfg: ValidateConfig, out: Path, loaded, corpus, *, write=True, log=_warn) -> TokenizerSanity:
    """The tokenizer checks of :mod:`.sanity` on a seeded sample of the corpus' documents; every
    failure goes to ``log`` (:func:`run_validate` prints them as measuring starts, before hours of
    measurement, and not on a run refused before then), and is recorded."""
    order = np.random.default_rng([cfg.seed, 7]).permutation(len(corpus.documents))
    result = check_tokenizer(loaded.tokenizer, (corpus.documents[i] for i in order), loaded.vocab_size)
    if write:
        save_record(result, out / "stages" / "tokenizer.json")
    for w in result.warnings:
        log(w + "; the run continues, but its profile will be marked untrusted")
    return result


# ----------------------------------------------------------------------------- positions

def stage_positions(cfg: ValidateConfig, out: Path, loaded, *, write=True) -> PositionAblation:
    """Decide which position modes to measure (see :class:`PositionAblation`); the evidence is
    filled in by :func:`stage_measure` on the first prefix."""
    from .models import relative_positions

    path = out / "stages" / "positions.json"
    relative, reason = relative_positions(loaded.model)
    modes = tuple(cfg.modes)
    measured = modes[:1] if relative and len(modes) > 1 else modes
    sink_modes = modes if relative and len(modes) > 1 and cfg.sink_tokens else modes[:1]
    decided = PositionAblation(modes, measured, sink_modes, relative, reason)
    try:
        old = load_record(PositionAblation, path) if path.exists() else None
    except ValueError:
        old = None  # derived from the model: a corrupt file is decided (and its evidence measured) again
    if old is not None and replace(old, evidence_prefix=None, max_abs_tv_diff=None, max_abs_kl_diff_nats=None) == decided:
        return old
    if write:
        save_record(decided, path)
    return decided


def _position_evidence(cfg, loaded, prefix_ids, positions: PositionAblation) -> PositionAblation:
    """Measure every requested mode on one prefix and record how far they are apart."""
    from .truncation import measure_batched, plan_truncation

    plan = plan_truncation(cfg.prefix_tokens, cfg.resolved_windows(), positions.requested_modes, 0,
                           0, cfg.protocol, cfg.start_tokens)
    m = measure_batched(loaded.model, prefix_ids, plan, max_rows=cfg.max_rows, floor=None)
    first, others = positions.requested_modes[0], positions.requested_modes[1:]
    dtv = max(float(np.max(np.abs(m.tv[first] - m.tv[o]))) for o in others)
    dkl = max(float(np.max(np.abs(m.kl_nats[first] - m.kl_nats[o]))) for o in others)
    return replace(positions, evidence_prefix=0, max_abs_tv_diff=dtv, max_abs_kl_diff_nats=dkl)


# ----------------------------------------------------------------------------- prefixes

def stage_prefixes(cfg: ValidateConfig, out: Path, loaded, corpus, *, write=True) -> PrefixesArtifact:
    """Sample the prefixes (or load them when already sampled)."""
    from .corpora import sample_prefixes

    prov = loaded.provenance
    fp = fingerprint({"corpus": corpus.sha256, "tokenizer": prov.tokenizer, "model": prov.identity,
                      "n": cfg.n_prefixes, "T": cfg.prefix_tokens, "seed": cfg.seed, "bos": cfg.bos})
    path = out / "stages" / "prefixes.json"
    payload = load_artifact(path, "prefixes", fp)
    if payload is None:
        if path.exists():
            _log(f"{path} is from other settings or corrupt: sampling the prefixes again")
        sample = sample_prefixes(corpus, loaded.tokenizer, cfg.n_prefixes, cfg.prefix_tokens,
                                 np.random.default_rng(cfg.seed), bos=cfg.bos)
        payload = {"token_ids": sample.token_ids.tolist(), "doc_index": sample.doc_index.tolist(),
                   "token_offset": sample.token_offset.tolist(), "skipped_short": sample.skipped_short,
                   "characters_per_token": sample.characters_per_token, "corpus_sha256": corpus.sha256,
                   "corpus_description": corpus.description, "n_documents": len(corpus.documents)}
        if write:
            save_artifact(path, "prefixes", fp, payload)
    return _prefixes_artifact(payload, fp)


def _prefixes_artifact(payload: dict, fp: str) -> PrefixesArtifact:
    corpus = CorpusProvenance(description=payload["corpus_description"], sha256=payload["corpus_sha256"],
                              n_documents=int(payload["n_documents"]),
                              skipped_short_documents=int(payload["skipped_short"]),
                              characters_per_token=float(payload["characters_per_token"]))
    return PrefixesArtifact(np.asarray(payload["token_ids"], dtype=np.int64),
                            np.asarray(payload["doc_index"], dtype=np.int64),
                            np.asarray(payload["token_offset"], dtype=np.int64), corpus, fp)


# ----------------------------------------------------------------------------- measure

def _measure_identity(cfg, plan, prefixes, model: ModelProvenance) -> dict:
    """What rows depend on: a DIR never mixes rows of different identities."""
    return {"plan": _plan_info(plan), "prefixes": prefixes.fingerprint, "dtype": model.dtype,
            "model": model.identity, "attn_implementation": model.attn_implementation,
            "schema_version": ROWS_SCHEMA_VERSION}


def _guard_identity(out: Path, identity: dict | None, write: bool):
    """Refuse rows of another measurement identity in ``out`` (``identity`` None: only check that
    the recorded identity is readable)."""
    path = out / "stages" / "measure.json"
    fp = fingerprint(identity)
    if path.exists():
        try:
            doc = read_json(path)
        except ValueError:
            doc = None
        if not isinstance(doc, dict) or "fingerprint" not in doc:
            raise UserError(f"{path} is corrupt, so the rows in {out} cannot be checked against these settings; "
                            "use another --out directory")
        if identity is not None and doc["fingerprint"] != fp:
            raise UserError(f"{out} holds rows measured with different settings ({path}); "
                            "use another --out directory or delete it")
    elif write:
        save_artifact(path, "measure", fp, identity)


def read_rows(out: Path, plan=None, *, warn=_warn) -> list:
    """All rows (:class:`TruncationRow`) of all parts in ``out/rows``, one per prefix key (first
    occurrence wins). A line that is not a row of ``plan`` is reported through ``warn`` and left
    out, so its prefix is measured again."""
    rows, seen = [], set()
    for part in sorted((Path(out) / "rows").glob("part-*.jsonl")):
        bad = []
        for raw in JsonlStore(part).rows(on_bad=lambda n, why: bad.append(f"line {n}: {why}"), unique=False):
            try:
                row = TruncationRow.from_dict(raw)
            except ValueError as exc:
                bad.append(f"key {raw.get('key')!r}: {exc}")
                continue
            why = row.mismatch(plan) if plan is not None else None
            if why:
                bad.append(f"key {row.key}: {why}")
            elif row.key not in seen:
                seen.add(row.key)
                rows.append(row)
        if bad:
            warn(f"{part}: {len(bad)} line(s) are not rows of this run and are treated as torn (their prefixes "
                 f"are measured again): {bad[0]}")
    return sorted(rows, key=lambda r: r.key)


def _self_check(model, prefix_ids, plan) -> float:
    """Max |ΔTV| between the batched forward and plain per-window runs on a reduced plan
    (smallest and largest window, sink): catches a model whose forward ignores our position ids
    or reads a stacked or sink run differently from a plain one."""
    from .truncation import measure_batched, measure_oracle, plan_truncation

    small = plan_truncation(plan.prefix_tokens, sorted({plan.windows[0], plan.windows[-1]}), plan.modes,
                            plan.sink_tokens, min(plan.perplexity_tokens, 8), plan.protocol, plan.start_tokens,
                            plan.sink_modes)
    a, b = measure_batched(model, prefix_ids, small, floor=None), measure_oracle(model, prefix_ids, small)
    return max(float(np.max(np.abs(a.tv[k] - b.tv[k]))) for k in a.tv)


def stage_measure(cfg, out: Path, loaded, prefixes: PrefixesArtifact, positions: PositionAblation, *,
                  tag="main", share=(0, 1), show_progress=True, self_check=True,
                  before_measuring=None) -> tuple[MeasureArtifact, PositionAblation]:
    """Measure the prefixes with index ``i % share[1] == share[0]`` that have no row yet,
    appending one row per prefix to ``rows/part-<tag>.jsonl``; on the first prefix, the position
    evidence when a mode is skipped (saved in ``stages/positions.json``). ``before_measuring()``
    is called once the run can no longer be refused, when there is something to measure."""
    from .truncation import measure_batched

    plan = _plan(cfg, positions)
    identity = _measure_identity(cfg, plan, prefixes, loaded.provenance)
    _guard_identity(out, identity, write=True)
    store = JsonlStore(out / "rows" / f"part-{tag}.jsonl")
    done = {r.key for r in read_rows(out, plan)}
    n = prefixes.token_ids.shape[0]
    todo = [i for i in range(n) if i % share[1] == share[0] and i not in done]
    check = None
    if todo and self_check:
        check = _self_check(loaded.model, prefixes.token_ids[todo[0]], plan)
        tol = 1e-3 if loaded.dtype == "float32" else 5e-2  # float32 batching noise is ~1e-6 in TV
        if check > tol:
            raise UserError(f"the batched forward disagrees with plain runs (max |dTV| = {check:.3g} "
                            f"> {tol}); this model may ignore explicit position ids - try --attn eager")
    if todo and before_measuring is not None:
        before_measuring()
    if positions.vacuous and positions.evidence_prefix is None and share[0] == 0:
        positions = _position_evidence(cfg, loaded, prefixes.token_ids[0], positions)
        save_record(positions, out / "stages" / "positions.json")
        _log(f"positions: {positions.reason}; '{positions.requested_modes[1]}' equals "
             f"'{positions.requested_modes[0]}' by construction (max |dTV| {positions.max_abs_tv_diff:.2g} on "
             f"prefix 0), so only '{positions.measured_modes[0]}' is measured (sinks in every mode)")
    tokens = 0
    t0 = time.perf_counter()
    bar = None
    if show_progress and todo:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(todo), desc="prefixes", unit="prefix", file=sys.stderr)
    for i in todo:
        floor = "auto" if cfg.floor_prefixes is None or i < cfg.floor_prefixes else None
        m = measure_batched(loaded.model, prefixes.token_ids[i], plan, max_rows=cfg.max_rows, log=_log, floor=floor)
        store.append({"key": int(i), "doc_index": int(prefixes.doc_index[i]), **m.to_row()})
        tokens += m.forward_tokens
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    rows = tuple(read_rows(out, plan))
    return MeasureArtifact(rows, n, len(todo), tokens, time.perf_counter() - t0, check), positions


# ----------------------------------------------------------------------------- analyse

def stage_analyse(cfg: ValidateConfig, out: Path, rows, context: dict, *, force=False):
    """Fit and write ``result.json`` (skipped when it already covers exactly these rows and
    settings; a corrupt or outdated result.json is derived data and is rebuilt).

    ``context``: ``model`` (ModelProvenance), ``prefixes``, ``positions``, ``tokenizer``
    (TokenizerSanity), ``wall_s``, ``self_check``, ``world_size``, ``merged_from``.
    Returns ``(result, boots, recomputed)``."""
    from .analysis import analyse, floor_record

    positions = context["positions"]
    plan = _plan(cfg, positions)
    fp = fingerprint({"config": cfg.to_dict(), "keys": [r.key for r in rows], "positions": positions.to_dict(),
                      "schema": RESULT_SCHEMA_VERSION})
    path = out / "result.json"
    if path.exists() and not force:
        try:
            doc = load_result(path)
        except ValueError:
            doc = None  # derived file: rebuild it
        if doc is not None and doc.fingerprint == fp:
            return doc, None, False
    rng = np.random.default_rng(cfg.seed + 1)
    floor = floor_record(rows)
    summary, boots = analyse(rows, plan, rng, n_resamples=cfg.n_resamples, confidence_level=cfg.confidence_level,
                             include_boundary=cfg.include_boundary, floor=floor)
    prefixes = context["prefixes"]
    san = sanity(context["tokenizer"], sum(r.nll_nats_sum for r in rows), sum(r.nll_tokens for r in rows),
                 prefixes.corpus.characters_per_token)
    provenance = Provenance(
        model=context["model"], corpora=(prefixes.corpus,), package_version=package_version(),
        numpy_version=np.__version__, seed=cfg.seed, command=context.get("command"), wall_s=context.get("wall_s"),
        forward_tokens=int(sum(r.forward_tokens for r in rows)), forward_calls=int(sum(r.forward_calls for r in rows)),
        measure_wall_s=float(sum(r.wall_s for r in rows)), n_prefixes_measured=len(rows))
    measurement = ValidateMeasurement(
        protocol=plan.protocol, start_tokens=plan.start_tokens, windows=tuple(plan.windows),
        sink_windows=tuple(plan.sink_windows), positions=positions,
        self_check_max_tv_diff=context.get("self_check"), world_size=int(context.get("world_size", 1)),
        merged_from=tuple(context.get("merged_from", ())), floor=floor)
    result = ValidateResult(**{f.name: getattr(summary, f.name) for f in fields(Analysis)}, fingerprint=fp,
                            config=cfg, measurement=measurement, sanity=san, provenance=provenance)
    save_record(result, path)
    return result, boots, True


def _profile_provenance(result: ValidateResult, metric: str, n_prefixes: int) -> dict:
    prov, m = result.provenance, result.measurement
    doc = {"source": "wzbounds validate", "metric": metric, "model_id": prov.model.model_id,
           "file_sha256": prov.model.file_sha256, "tokenizer_source": prov.model.tokenizer_source,
           "corpus": prov.corpora[0].description, "corpus_sha256": prov.corpora[0].sha256,
           "prefix_tokens": result.config.prefix_tokens, "protocol": m.protocol, "start_tokens": m.start_tokens,
           "windows": f"{m.windows[0]}-{m.windows[-1]}", "n_prefixes": n_prefixes,
           "verdict": result.verdict.label, "package_version": prov.package_version,
           "trusted": result.sanity.trusted}
    if not result.sanity.trusted:
        doc["untrusted_reasons"] = list(result.sanity.warnings)
    return doc


def stage_profile(out: Path, result: ValidateResult, boots, recomputed: bool):
    """Write ``profile.json`` (the TV power-law envelope of the primary metric's bootstrap fit),
    ``profile_tabulated.json`` (the same cell's measured upper-confidence curve as a
    :class:`~wzbounds.profiles.Tabulated` envelope: interpolated answers inside the measured
    windows) and ``profile_tv2.json`` (the second-moment envelope E[TV²] of the same cell, for the
    locally-quadratic KL conversion). Untrusted runs mark their profiles so."""
    from wzbounds.profiles import load_profile, save_profile

    path = out / "profile.json"
    if not recomputed and path.exists():
        return load_profile(path)
    tv2 = result.primary_metric.rsplit("/", 1)[0] + "/tv2"
    profile = None
    for name, unit, target, build in (
            (result.primary_metric, "tv", path, "to_profile"),
            (result.primary_metric, "tv", out / "profile_tabulated.json", "to_tabulated_profile"),
            (tv2, "tv2", out / "profile_tv2.json", "to_profile")):
        boot = boots[name]
        try:
            made = getattr(boot, build)(unit, _profile_provenance(result, name, len(boot.per_prefix_values)))
        except ValueError as exc:  # e.g. a curve that does not decay: the result says so, no profile
            target.unlink(missing_ok=True)
            _warn(f"no {target.name}: {exc}")
            continue
        save_profile(made, target)
        profile = made if target == path else profile
    return profile


def stage_report(out: Path, result: ValidateResult, rows, recomputed: bool) -> ReportArtifact:
    """Plots and ``report.md`` (skipped when up to date)."""
    from .report import write_report

    md = out / "report.md"
    if not recomputed and md.exists():
        return ReportArtifact(md, tuple(sorted(out.glob("*.png"))))
    plots = write_report(result, rows, out)
    return ReportArtifact(md, tuple(plots))


# ----------------------------------------------------------------------------- drivers

def _finish(cfg, out, rows, context, n_expected) -> ValidateResult:
    if len(rows) < n_expected:
        _warn(f"only {len(rows)} of {n_expected} prefixes are measured; the result covers those")
    result, boots, recomputed = stage_analyse(cfg, out, rows, context, force=not _derived_intact(out))
    for w in result.sanity.warnings:
        _warn(w)
    stage_profile(out, result, boots, recomputed)
    stage_report(out, result, rows, recomputed)
    return result


def _derived_intact(out: Path) -> bool:
    """Every derived output is there (the optional ones only if written) and parses."""
    from .outdir import intact

    return all(intact(out / n) for n in DERIVED_REQUIRED) and \
        all(intact(out / n) for n in DERIVED_OPTIONAL if (out / n).exists())


def check_config(cfg: ValidateConfig) -> None:
    """Everything about ``cfg`` that can be checked without a model (raises ValueError)."""
    from wzbounds._validation import positive_int

    from .options import BOOTSTRAP_RANGE

    lo, hi = BOOTSTRAP_RANGE
    n = positive_int("--bootstrap", cfg.n_resamples, minimum=lo)
    if n > hi:
        raise ValueError(f"`--bootstrap` must be an integer in [{lo}, {hi}], got {n}")
    if cfg.max_rows is not None:
        positive_int("--max-rows", cfg.max_rows)
    if cfg.floor_prefixes is not None:
        positive_int("--floor-prefixes", cfg.floor_prefixes)
    _plan(cfg)  # windows, modes, sinks, protocol


def run_validate(cfg: ValidateConfig, out, *, shard=None, loaded=None, show_progress=True,
                 distributed=None) -> ValidateResult | MeasureArtifact:
    """Run (or resume) a validation into ``out``.

    ``shard``: ``(i, n)`` to measure only prefixes ``k % n == i`` (no analysis; combine with
    :func:`merge_runs`). ``distributed``: a :class:`.distributed.DistContext` (torchrun). ``loaded``:
    an already loaded :class:`.models.LoadedModel` (tests). Returns the result (or, for a shard
    or a non-zero rank, the measurement artifact)."""
    t0 = time.perf_counter()
    out = Path(out)
    check_config(cfg)
    saved = _saved_config(out)
    if saved is not None:
        diff = saved.differences(cfg)
        if diff:
            raise UserError(f"{out} holds a run with different settings ({', '.join(diff)}); use another --out directory")
    if loaded is None and shard is None and distributed is None and _measured_already(cfg, out):
        return _analyse_saved(cfg, out, wall_s=time.perf_counter() - t0)
    out.mkdir(parents=True, exist_ok=True)
    if loaded is None:
        from .models import load_model
        from .options import progress_bars

        with progress_bars(show_progress):
            loaded = load_model(cfg.model, gguf=cfg.gguf, tokenizer=cfg.tokenizer, dtype=cfg.dtype,
                                device=cfg.device, attn_implementation=cfg.attn_implementation,
                                device_map=cfg.device_map, trust_remote_code=cfg.trust_remote_code,
                                allow_pickle=cfg.allow_pickle)
    rank, world = (distributed.rank, distributed.world_size) if distributed else (0, 1)
    corpus = _corpus(cfg)
    lead = rank == 0
    pending = []  # tokenizer warnings: shown when measuring starts, so a refused run says one line
    tok = stage_tokenizer(cfg, out, loaded, corpus, write=lead, log=pending.append if lead else (lambda m: None))
    if distributed:
        if lead:
            positions = stage_positions(cfg, out, loaded)
            prefixes = stage_prefixes(cfg, out, loaded, corpus)
        distributed.barrier()
        if not lead:
            positions = stage_positions(cfg, out, loaded, write=False)
            prefixes = stage_prefixes(cfg, out, loaded, corpus, write=False)
        tag, share = f"rank{rank}of{world}", (rank, world)
    else:
        positions = stage_positions(cfg, out, loaded)
        prefixes = stage_prefixes(cfg, out, loaded, corpus)
        tag, share = ("main", (0, 1)) if shard is None else (f"shard{shard[0]}of{shard[1]}", tuple(shard))
    if lead:  # recorded once the model and the prefixes are known good
        save_record(cfg, out / "stages" / "config.json")
        save_record(loaded.provenance, out / "stages" / "model.json")
    measured, positions = stage_measure(cfg, out, loaded, prefixes, positions, tag=tag, share=share,
                                        show_progress=show_progress and lead,
                                        before_measuring=lambda: _warn_each(pending))
    if distributed:
        distributed.barrier()
        positions = stage_positions(cfg, out, loaded, write=False)  # rank 0 may have added the evidence
    if shard is not None or not lead:
        if shard is not None:
            _log(f"shard {shard[0]}/{shard[1]} done ({measured.measured_now} prefixes measured now); "
                 f"run `wzbounds merge {out}` when every shard has finished")
        return measured
    context = {"model": loaded.provenance, "prefixes": prefixes, "positions": positions, "tokenizer": tok,
               "wall_s": time.perf_counter() - t0, "self_check": measured.self_check_max_tv_diff,
               "world_size": world, "command": command_line()}
    return _finish(cfg, out, read_rows(out, _plan(cfg, positions)), context, prefixes.token_ids.shape[0])


def _saved_config(directory: Path) -> ValidateConfig | None:
    path = Path(directory) / "stages" / "config.json"
    if not path.exists():
        return None
    return load_record(ValidateConfig, path)


def _load_stage(directory: Path, name: str, cls):
    path = Path(directory) / "stages" / name
    if not path.exists():
        raise UserError(f"{directory} is not a complete wzbounds validate directory (no {path})")
    return load_record(cls, path)


def _saved_prefixes(out: Path) -> PrefixesArtifact:
    path = out / "stages" / "prefixes.json"
    doc = read_json(path)
    try:
        return _prefixes_artifact(doc["payload"], doc["fingerprint"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: not a prefixes stage ({exc})") from None


def _saved_context(out: Path, **extra) -> dict:
    return {"model": _load_stage(out, "model.json", ModelProvenance),
            "tokenizer": _load_stage(out, "tokenizer.json", TokenizerSanity),
            "positions": _load_stage(out, "positions.json", PositionAblation),
            "prefixes": _saved_prefixes(out), **extra}


def _analyse_saved(cfg, out: Path, **extra) -> ValidateResult:
    """Analyse the rows in ``out`` from its saved stages (no model needed)."""
    context = _saved_context(out, self_check=None, command=command_line(), **extra)
    rows = read_rows(out, _plan(cfg, context["positions"]))
    return _finish(cfg, out, rows, context, context["prefixes"].token_ids.shape[0])


def _measured_already(cfg, out: Path) -> bool:
    """True when ``out`` holds every row of a run with these settings and every stage the analysis
    reads (a rerun then needs no model)."""
    needed = [out / "stages" / n for n in ("config.json", "prefixes.json", "model.json", "tokenizer.json",
                                           "positions.json", "measure.json")]
    if not all(p.exists() for p in needed):
        return False
    _guard_identity(out, None, write=False)  # a corrupt measure.json is refused, never passed over
    try:
        context = _saved_context(out)
    except ValueError:
        return False  # a stage from an older version or corrupt: measure (resume) instead
    n = context["prefixes"].token_ids.shape[0]
    have = {r.key for r in read_rows(out, _plan(cfg, context["positions"]), warn=lambda msg: None)}
    return have >= set(range(n))


def merge_runs(dirs, out=None) -> ValidateResult:
    """Combine the rows of shard directories of one run and analyse them into ``out`` (default:
    the first directory). Needs no model: provenance comes from the saved stages. Directories of
    different runs (settings, corpus, prefixes, model, position modes) are refused, naming the
    difference; so is an ``out`` that already holds another run."""
    import shutil

    dirs = [Path(d) for d in dirs]
    if not dirs:
        raise ValueError("give at least one directory to merge")
    out = Path(out) if out is not None else dirs[0]
    runs = {}
    for d in dict.fromkeys(dirs + ([out] if _saved_config(out) is not None else [])):
        cfg = _saved_config(d)
        if cfg is None:
            raise UserError(f"{d} is not a wzbounds validate directory (no {d / 'stages' / 'config.json'})")
        ctx = _saved_context(d)
        measure = read_json(d / "stages" / "measure.json") if (d / "stages" / "measure.json").exists() else {}
        runs[d] = (cfg, ctx, measure.get("fingerprint") if isinstance(measure, dict) else None)
    first, (cfg0, ctx0, m0) = next(iter(runs.items()))
    for d, (cfg, ctx, m) in runs.items():
        diff = cfg0.differences(cfg)
        what = (f"settings ({', '.join(diff)})" if diff else
                "corpus" if ctx["prefixes"].corpus.sha256 != ctx0["prefixes"].corpus.sha256 else
                "prefixes" if ctx["prefixes"].fingerprint != ctx0["prefixes"].fingerprint else
                "model" if ctx["model"].identity != ctx0["model"].identity else
                "position modes" if ctx["positions"].measured_modes != ctx0["positions"].measured_modes else
                "measurement identity" if m != m0 else None)
        if what:
            raise UserError(f"cannot merge {d} with {first}: they are different runs (different {what})")
    out.mkdir(parents=True, exist_ok=True)
    for d in dirs:
        if d.resolve() == out.resolve():
            continue
        for part in (d / "rows").glob("part-*.jsonl"):
            target = out / "rows" / f"{part.stem}-from-{fingerprint(str(d.resolve()))[:8]}.jsonl"
            target.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(target) as tmp:  # an interrupted copy leaves no half a part
                shutil.copyfile(part, tmp)
        for name in ("config.json", "prefixes.json", "model.json", "measure.json", "tokenizer.json", "positions.json"):
            src, dst = d / "stages" / name, out / "stages" / name
            if src.exists() and not dst.exists():
                dst.parent.mkdir(parents=True, exist_ok=True)
                with atomic_path(dst) as tmp:
                    shutil.copyfile(src, tmp)
    # the positions evidence is measured by shard 0 only: keep it if any shard has it
    evidence = [ctx["positions"] for _, ctx, _ in runs.values() if ctx["positions"].evidence_prefix is not None]
    if evidence:
        save_record(evidence[0], out / "stages" / "positions.json")
    return _analyse_saved(cfg0, out, merged_from=[str(d) for d in dirs])
