"""Calculator profiles from ``wzbounds policies`` runs: one :class:`wzbounds.profiles.PolicyProfile`
per (corpus, semantics, policy) and divergence (KL in nats, and TV where the rows record it), over
every context length measured.

For each context length the per-prefix KL (or TV) table of the policy gives, through
:func:`wzbounds.fitting.bootstrap_power_law` (prefix bootstrap), the upper end of the 95% interval
of the mean at each budget — made non-increasing, the profile's curve — and the power law fitted to
the mean curve with the CIs of its exponent and constant. The provenance names the model (file and
weights sha256), the corpus, the semantics, the policy and its fingerprint, and the sanity verdict.

Files: ``<out>/profiles/<corpus>-<semantics>-<policy>.json`` (KL) and
``<out>/profiles/<corpus>-<semantics>-<policy>-tv.json`` (TV) (``profile_path``). Rows written before
TV was recorded give KL profiles only.
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np

__all__ = ["build_profiles", "read_run", "write_profiles", "profile_path", "policy_fingerprint", "weights_sha256",
           "press_identity"]

#: Two-sided level of the bootstrap interval whose upper end is the curve.
CONFIDENCE_LEVEL = 0.95
#: The divergences profiled (:class:`~.run.PolicyRow` fields, ``wzbounds.units`` names), in the order
#: their bootstraps draw from the generator: KL first, so its profiles are those written before TV was.
DIVERGENCES = ("kl_nats", "tv")
#: File-name suffix per divergence: the KL file keeps the name it had before TV profiles existed.
FILE_SUFFIX = {"kl_nats": "", "tv": "-tv"}


def policy_fingerprint(spec: str) -> str:
    """sha256 of a policy's full specification (its repr: every parameter of its rule)."""
    return hashlib.sha256(spec.encode()).hexdigest()


def weights_sha256(model) -> str:
    """sha256 over the model's state dict as loaded (names, dtypes, shapes, bytes; sorted by name):
    what :class:`~wzbounds.empirical.TargetDistortionPress` compares with the profile, since a
    model object does not know the file it came from."""
    import torch

    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        t = t.detach().to("cpu").contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def press_identity(policy):
    """``(press class name, {option: value})`` of a kvpress policy, or None for another policy."""
    from .kvpress_press import KVPressPolicy, press_class

    if not isinstance(policy, KVPressPolicy):
        return None
    return press_class(policy.press_name).__name__, dict(policy.options)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "_", text).strip("_")


def profile_path(out, corpus: str, semantics: str, policy: str, divergence: str = "kl_nats") -> Path:
    return Path(out) / "profiles" / f"{_slug(corpus)}-{semantics}-{_slug(policy)}{FILE_SUFFIX[divergence]}.json"


def read_run(out, cfg):
    """What a profile needs from the run in ``out`` (configuration ``cfg``): ``(cfg, rows, model,
    {corpus label: CorpusProvenance}, {corpus label: Sanity})``."""
    from ..provenance import CorpusProvenance, ModelProvenance
    from ..records import load_record
    from ..sanity import Sanity
    from .run import read_rows

    out = Path(out)
    rows, _ = read_rows(out)
    corpora = {c: load_record(CorpusProvenance, out / f"corpus_{c}.json") for c in cfg.corpora
               if (out / f"corpus_{c}.json").exists()}
    sanity = {c: load_record(Sanity, out / f"sanity_{c}.json") for c in cfg.corpora
              if (out / f"sanity_{c}.json").exists()}
    return cfg, rows, load_record(ModelProvenance, out / "model.json"), corpora, sanity


def build_profiles(runs, policies, rng, *, n_resamples=1000, weights_sha=None):
    """``({(corpus, semantics, policy, divergence): PolicyProfile}, notes)`` from ``runs``.

    ``runs``: one :func:`read_run` tuple per context length; ``policies``: the policy objects (their
    reprs are fingerprinted); ``rng``: numpy Generator for the bootstraps; ``weights_sha``:
    :func:`weights_sha256` of the model measured, or None. ``divergence`` is one of
    :data:`DIVERGENCES`: a (corpus, semantics, policy) has a TV profile only when all its measured
    rows, at every length, carry TV (rows written before TV was recorded give KL profiles only; a
    run mixing both gets a note). A curve that cannot be bounded at some length (a zero mean) leaves
    that length out, with a note.
    """
    from wzbounds.fitting import bootstrap_power_law
    from wzbounds.profiles import PolicyProfile

    from .report import _tables

    specs = {p.label: p for p in policies}
    fits, notes = {}, []
    # (corpus, semantics, policy, divergence) with values in some measured row / missing from one
    has, lacks = set(), set()
    for _, rows, *_ in runs:
        for r in (r for r in rows if r.skipped is None):
            for d in DIVERGENCES:
                (has if getattr(r, d) else lacks).add((r.domain, r.semantics, r.policy, d))
    for corpus, s, pol, d in sorted(has & lacks):
        notes.append(f"no {corpus}/{s}/{pol} {d} profile: some of its rows were written before {d} was recorded")
    for divergence in DIVERGENCES:
        for cfg, rows, model, corpora, sanity in runs:
            tables, _ = _tables(rows, divergence)
            for (corpus, s, pol), (idx, x) in tables.items():
                if (corpus, s, pol, divergence) in lacks:
                    continue
                what = "" if divergence == "kl_nats" else f" {divergence}"
                if x.shape[0] < 2:  # said here in budgets and prefixes, not in the fit's windows
                    notes.append(f"no {corpus}/{s}/{pol}{what} curve at T = {cfg.prefix_tokens}: its bootstrap "
                                 f"needs at least 2 measured prefixes, the run has {x.shape[0]}")
                    continue
                try:
                    boot = bootstrap_power_law(x, np.asarray(cfg.budgets_tokens, dtype=float), rng,
                                               n_resamples=n_resamples, confidence_level=CONFIDENCE_LEVEL)
                except ValueError as exc:
                    notes.append(f"no {corpus}/{s}/{pol}{what} curve at T = {cfg.prefix_tokens}: {exc}")
                    continue
                fits.setdefault((corpus, s, pol, divergence), []).append(
                    (cfg, boot, len(idx), model, corpora.get(corpus), sanity.get(corpus)))
    out = {}
    for (corpus, s, pol, divergence), items in sorted(fits.items()):
        items.sort(key=lambda it: it[0].prefix_tokens)
        cfg, _, _, model, corpus_prov, _ = items[-1]
        warnings = sorted({w for it in items if it[5] is not None for w in it[5].warnings})
        spec = specs.get(pol)
        press = press_identity(spec) if spec is not None else None
        prov = {
            "source": "wzbounds policies", "model_id": model.model_id, "file_sha256": model.file_sha256,
            "weights_sha256": weights_sha, "model_dtype": model.dtype,
            "corpus": corpus_prov.description if corpus_prov else corpus,
            "corpus_sha256": corpus_prov.sha256 if corpus_prov else None,
            "semantics": s, "policy": pol, "policy_spec": repr(spec) if spec is not None else None,
            "policy_fingerprint": policy_fingerprint(repr(spec)) if spec is not None else None,
            "press_class": press[0] if press else None, "press_options": press[1] if press else None,
            "positions": cfg.position_mode, "seed": cfg.seed,
            "n_prefixes_per_context": [it[2] for it in items], "n_prefixes": min(it[2] for it in items),
            "constant": "upper-ci-curve", "confidence_level": CONFIDENCE_LEVEL, "n_resamples": n_resamples,
            "verdict": "untrusted" if warnings else "trusted", "trusted": not warnings,
            "untrusted_reasons": warnings or None,
        }
        out[(corpus, s, pol, divergence)] = PolicyProfile(
            pol, s, tuple(it[0].prefix_tokens for it in items), tuple(it[0].budgets_tokens for it in items),
            tuple(tuple(np.maximum.accumulate(it[1].mean_curve_ci[1][::-1])[::-1].tolist()) for it in items),
            divergence, alpha=tuple(float(it[1].alpha) for it in items),
            alpha_ci=tuple(tuple(map(float, it[1].alpha_ci)) for it in items),
            C=tuple(float(it[1].C) for it in items), C_ci=tuple(tuple(map(float, it[1].C_ci)) for it in items),
            provenance=prov)
    return out, notes


def write_profiles(out, profiles) -> list:
    """Save each profile at :func:`profile_path`; returns the paths."""
    from wzbounds.profiles import save_profile

    paths = []
    for (corpus, s, pol, divergence), prof in profiles.items():
        path = profile_path(out, corpus, s, pol, divergence)
        path.parent.mkdir(parents=True, exist_ok=True)
        paths.append(save_profile(prof, path))
    return paths
