"""Summary of a ``wzbounds policies`` run: degradation curves, fitted budget exponents with
prefix-bootstrap CIs, the recency-vs-random suppression ratio, the comparison of every
(semantics, policy) with the suffix-only exponent, the plot and ``report.md``.

The suffix-only reference is (truncation, sliding): the theory's sliding window, whose exponent
is the truncation-sensitivity exponent alpha the converse says no suffix-only policy can beat.
Post-prefill and streaming eviction are not suffix-only (kept entries were computed with the
evicted past); a steeper exponent there would be evidence that such "summaries" beat the scaling.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from wzbounds.fitting import bootstrap_exponent_ratio, bootstrap_power_law

#: Theorems the comparison rests on (proof file stems).
THEOREM_IDS = ("achievability_sliding", "converse_suffix", "sink_recent")
REFERENCE = ("truncation", "sliding")


@dataclass(frozen=True)
class Curve:
    """Mean KL (nats) vs budget for one (domain, semantics, policy), with its power-law fit.
    ``alpha``/``alpha_ci``: fitted budget exponent of the mean curve and its prefix-bootstrap CI
    (None with ``fit_error`` when the fit is impossible, e.g. a zero mean)."""

    domain: str
    semantics: str
    policy: str
    budgets_tokens: tuple
    mean_kl_nats: tuple
    mean_kl_ci_nats: tuple
    n_prefixes: int
    alpha: float | None = None
    alpha_ci: tuple | None = None
    C_nats: float | None = None
    log_rmse: float | None = None
    fit_error: str | None = None


@dataclass(frozen=True)
class ExponentComparison:
    """``alpha(semantics, policy) / alpha(reference)``, paired prefix bootstrap. ``reference``:
    ``"truncation/sliding"`` (the suffix-only window) or ``"truncation/<same policy>"`` (same
    keep-rule, re-encoded: isolates what the kept entries carry about the evicted past).
    ``verdict``: ``"steeper"`` (CI above 1: decays faster than the reference), ``"shallower"``
    (CI below 1) or ``"indistinguishable"``. ``mean_kl_ratio_to_reference``: per budget."""

    domain: str
    semantics: str
    policy: str
    reference: str
    ratio: float | None
    ratio_ci: tuple | None
    verdict: str
    mean_kl_ratio_to_reference: tuple = ()


@dataclass(frozen=True)
class PoliciesResult:
    """Everything ``wzbounds policies`` reports (JSON via :meth:`to_dict`)."""

    config: dict
    provenance: dict
    curves: tuple
    suppression: dict  # domain -> semantics -> {"random/sliding": [...], "random/sink(s)": [...]}
    comparisons: tuple
    skipped: dict
    seconds: dict
    prediction: dict | None = None  # domain -> {"label", "budgets_tokens", "kl_nats"}
    theorem_ids: tuple = THEOREM_IDS
    notes: tuple = field(default=())

    def to_dict(self) -> dict:
        def conv(x):
            if isinstance(x, dict):
                return {str(k): conv(v) for k, v in x.items()}
            if isinstance(x, (list, tuple)):
                return [conv(v) for v in x]
            if hasattr(x, "__dataclass_fields__"):
                return {k: conv(getattr(x, k)) for k in x.__dataclass_fields__}
            if isinstance(x, (np.floating, np.integer)):
                return x.item()
            return x
        return {"schema_version": 1, "kind": "policies", **conv(self)}


def _tables(rows):
    """(domain, semantics, policy) -> (prefix indices, (n, nb) array); skipped; timing."""
    acc, skipped, seconds = {}, {}, {}
    for r in rows:
        if "seconds" in r:
            for s, v in r["seconds"].items():
                seconds[s] = seconds.get(s, 0.0) + v
            continue
        key = (r["domain"], r["semantics"], r["policy"])
        if "skipped" in r:
            skipped[f"{r['semantics']}/{r['policy']}"] = r["skipped"]
            continue
        acc.setdefault(key, {})[r["prefix_index"]] = r["kl_nats"]
    tables = {}
    for key, d in acc.items():
        idx = sorted(d)
        tables[key] = (idx, np.asarray([d[i] for i in idx], dtype=np.float64))
    return tables, skipped, seconds


def summarize(rows, config: dict, provenance: dict, rng, *, n_resamples=1000, prediction=None) -> PoliciesResult:
    """Fit, compare and collect. ``rng``: numpy Generator for the bootstraps. ``prediction``:
    optional ``{domain: {"label", "budgets_tokens", "kl_nats"}}`` from a calculator profile."""
    tables, skipped, seconds = _tables(rows)
    curves, comparisons, suppression = [], [], {}
    for (domain, s, p), (idx, x) in sorted(tables.items()):
        w = np.asarray(config["budgets_tokens"], dtype=float)
        mean = x.mean(axis=0)
        try:
            boot = bootstrap_power_law(x, w, rng, n_resamples=n_resamples)
            ci = tuple(map(tuple, boot.mean_curve_ci.T))
            curves.append(Curve(domain, s, p, tuple(w.astype(int).tolist()), tuple(mean.tolist()), ci, len(idx),
                                boot.alpha, boot.alpha_ci, boot.C, boot.fit.log_rmse))
        except ValueError as exc:
            curves.append(Curve(domain, s, p, tuple(w.astype(int).tolist()), tuple(mean.tolist()), (), len(idx),
                                fit_error=str(exc)))
    for domain in sorted({c.domain for c in curves}):
        ref = tables.get((domain,) + REFERENCE)
        by_sem = {}
        for (d, s, p), (idx, x) in tables.items():
            if d != domain:
                continue
            by_sem.setdefault(s, {})[p] = x
        suppression[domain] = {}
        for s, pols in sorted(by_sem.items()):
            entry = {}
            if "random" in pols:
                for rec in [q for q in pols if q == "sliding" or q.startswith("sink")]:
                    entry[f"random/{rec}"] = (pols["random"].mean(0) / pols[rec].mean(0)).tolist()
            if entry:
                suppression[domain][s] = entry
        for (d, s, p), (idx, x) in sorted(tables.items()):
            if d != domain or (s, p) == REFERENCE:
                continue
            refs = [(REFERENCE, ref)] + ([(("truncation", p), tables.get((d, "truncation", p)))]
                                         if s != "truncation" and p != REFERENCE[1] else [])
            for (rs, rp), r_tab in refs:
                if r_tab is None or r_tab[0] != idx:
                    continue
                comparisons.append(_compare(domain, s, p, f"{rs}/{rp}", x, r_tab[1], config, rng, n_resamples))
    return PoliciesResult(config=config, provenance=provenance, curves=tuple(curves), suppression=suppression,
                          comparisons=tuple(comparisons), skipped=skipped, seconds=seconds, prediction=prediction)


def _compare(domain, s, p, ref_label, x, ref_x, config, rng, n_resamples) -> ExponentComparison:
    level = tuple((x.mean(0) / ref_x.mean(0)).tolist())
    try:
        r = bootstrap_exponent_ratio(x, ref_x, config["budgets_tokens"], rng, n_resamples=n_resamples)
    except ValueError as exc:
        return ExponentComparison(domain, s, p, ref_label, None, None, f"no fit: {exc}", level)
    verdict = "steeper" if r.ratio_ci[0] > 1 else "shallower" if r.ratio_ci[1] < 1 else "indistinguishable"
    return ExponentComparison(domain, s, p, ref_label, r.ratio, r.ratio_ci, verdict, level)


def run_profile_prediction(rows, config, rng, n_resamples=1000, domain=None):
    """Fallback overlay when no built-in profile exists: the calculator's sliding-window bound
    (``wzbounds.bounds.distortion_at_window``) from the PowerLaw envelope fitted to this run's own
    truncation/sliding curve (first domain unless ``domain``) — the model's truncation profile."""
    from wzbounds.bounds import distortion_at_window

    tables, _, _ = _tables(rows)
    keys = sorted(k for k in tables if k[1:] == REFERENCE and (domain is None or k[0] == domain))
    if not keys:
        return None, "no truncation/sliding curve in this run"
    d = keys[0][0]
    w = np.asarray(config["budgets_tokens"], dtype=float)
    try:
        prof = bootstrap_power_law(tables[keys[0]][1], w, rng, n_resamples=n_resamples).to_profile(
            "kl_nats", {"source": f"wzbounds policies run, {d} truncation/sliding"})
        res = distortion_at_window(np.asarray(config["budgets_tokens"]), prof)
    except ValueError as exc:
        return None, f"could not fit this run's truncation profile: {exc}"
    return {"label": f"calculator: sliding bound from this run's {d} truncation profile "
                     f"(alpha={prof.alpha:.2f}, C={prof.C:.3g} envelope)",
            "budgets_tokens": list(config["budgets_tokens"]),
            "kl_nats": np.asarray(res.worst_case_distortion, dtype=float).tolist(),
            "profile": prof.to_dict()}, None


def profile_prediction(profile_name, budgets):
    """The calculator's sliding-window prediction ``U(k)`` (KL nats) from a sensitivity profile
    (built-in name or path), or None with a reason when the profile is missing or not KL."""
    from wzbounds.profiles import builtin_profiles, load_profile

    if profile_name is None:
        return None, "no profile given"
    if profile_name not in builtin_profiles() and not Path(profile_name).exists():
        return None, f"profile {profile_name!r} not found (built-ins: {list(builtin_profiles())})"
    prof = load_profile(profile_name)
    div = getattr(prof, "divergence", None)
    if div not in ("kl_nats", "kl_bits"):
        return None, f"profile {profile_name!r} is in {div}, not KL: no overlay"
    scale = 1.0 if div == "kl_nats" else math.log(2.0)
    values = np.asarray(prof.upper(np.asarray(budgets, dtype=float)), dtype=float) * scale
    return {"label": f"calculator: {profile_name} upper envelope", "budgets_tokens": list(budgets),
            "kl_nats": values.tolist()}, None


def plot(result: PoliciesResult, path) -> Path | None:
    """KL vs budget, log-log: one panel per (domain, semantics), one line per policy, the
    calculator's prediction dashed. Returns the path, or None without matplotlib."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    domains = sorted({c.domain for c in result.curves})
    sems = [s for s in ("truncation", "prefill", "streaming") if any(c.semantics == s for c in result.curves)]
    fig, axes = plt.subplots(len(domains), len(sems), figsize=(4.2 * len(sems), 3.6 * len(domains)),
                             squeeze=False, sharey=True)
    policies = sorted({c.policy for c in result.curves})
    colors = {p: f"C{i}" for i, p in enumerate(policies)}
    for i, d in enumerate(domains):
        for j, s in enumerate(sems):
            ax = axes[i][j]
            for c in result.curves:
                if c.domain == d and c.semantics == s:
                    lab = c.policy + (f" (α={c.alpha:.2f})" if c.alpha is not None else "")
                    ax.loglog(c.budgets_tokens, np.maximum(c.mean_kl_nats, 1e-12), "o-", color=colors[c.policy],
                              label=lab, ms=3)
            pred = (result.prediction or {}).get(d)
            if pred:
                ax.loglog(pred["budgets_tokens"], pred["kl_nats"], "k--", lw=1, label="calculator (profile)")
            budgets = result.config["budgets_tokens"]
            ax.set_xticks(budgets, [str(k) for k in budgets], minor=False)
            ax.set_xticks([], minor=True)
            ax.set_title(f"{d} / {s}", fontsize=9)
            ax.set_xlabel("budget k (tokens)")
            if j == 0:
                ax.set_ylabel("mean KL(p‖p̃) [nats]")
            ax.legend(fontsize=6)
            ax.grid(True, which="both", lw=0.3)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _counts(result) -> str:
    """Prefixes measured per domain (an interrupted run may hold fewer than configured)."""
    per = {}
    for c in result.curves:
        per[c.domain] = max(per.get(c.domain, 0), c.n_prefixes)
    return ", ".join(f"{n} {d}" for d, n in sorted(per.items())) or "0"


def _fmt(x, digits=3):
    if x is None:
        return "—"
    return f"{x:.{digits}g}"


def degradation_table(result: PoliciesResult, domain: str, semantics: str) -> str:
    """Markdown table: rows = policies, columns = budgets, cells = mean KL (nats); last column alpha."""
    curves = [c for c in result.curves if c.domain == domain and c.semantics == semantics]
    if not curves:
        return ""
    budgets = curves[0].budgets_tokens
    head = "| policy | " + " | ".join(f"k={k}" for k in budgets) + " | α [95% CI] |\n"
    head += "|---|" + "---|" * len(budgets) + "---|\n"
    lines = []
    for c in curves:
        a = (f"{c.alpha:.3f} [{c.alpha_ci[0]:.3f}, {c.alpha_ci[1]:.3f}]" if c.alpha is not None
             else f"no fit ({c.fit_error})")
        lines.append(f"| {c.policy} | " + " | ".join(_fmt(v) for v in c.mean_kl_nats) + f" | {a} |")
    return head + "\n".join(lines) + "\n"


def write_report(result: PoliciesResult, path) -> Path:
    """``report.md``: config, degradation tables, suppression ratios vs the paper's ~100x,
    exponents vs the suffix-only exponent, and a plain verdict on summaries."""
    cfg, prov = result.config, result.provenance
    out = [f"# Cache-policy degradation — {prov.get('model_id', '?')}", "",
           f"Prefixes of {cfg['prefix_tokens']} tokens: {_counts(result)}; budgets k = {cfg['budgets_tokens']} (tokens seen, query included); "
           f"truncation positions: {cfg['position_mode']}. KL(p‖p̃) in nats, mean over prefixes; "
           f"α = fitted exponent of mean KL ∝ k^-α with 95% prefix-bootstrap CI.", ""]
    for d in sorted(result.suppression.keys() | {c.domain for c in result.curves}):
        out.append(f"## {d}")
        for s in ("truncation", "prefill", "streaming"):
            t = degradation_table(result, d, s)
            if t:
                out += [f"### {s}", "", t]
        sup = result.suppression.get(d, {})
        if sup:
            out += ["### Recency vs random (KL(random) / KL(recency) at equal budget; the paper reports ~100×)", ""]
            for s, entry in sup.items():
                for name, vals in entry.items():
                    out.append(f"- {s}, {name}: " + ", ".join(f"k={k}: {v:.3g}×" for k, v in
                                                              zip(cfg["budgets_tokens"], vals)))
            out.append("")
        comps = [c for c in result.comparisons if c.domain == d]
        if comps:
            out += ["### Budget exponents vs references", "",
                    "α/α_ref with a paired prefix-bootstrap 95% CI; reference truncation/sliding is the "
                    "suffix-only window, truncation/<same policy> isolates the effect of keeping entries "
                    "computed with the evicted past.", "",
                    "| semantics | policy | reference | α/α_ref [95% CI] | verdict |", "|---|---|---|---|---|"]
            for c in comps:
                rc = f"{c.ratio:.3f} [{c.ratio_ci[0]:.3f}, {c.ratio_ci[1]:.3f}]" if c.ratio is not None else "—"
                out.append(f"| {c.semantics} | {c.policy} | {c.reference} | {rc} | {c.verdict} |")
            out.append("")
            for ref_kind, text in (("truncation/sliding", "the suffix-only exponent (truncation/sliding)"),
                                   ("same", "the same policy under truncation")):
                pick = [c for c in comps if c.semantics in ("prefill", "streaming")
                        and ((c.reference == ref_kind) if ref_kind != "same" else c.reference != "truncation/sliding")]
                beat = [c for c in pick if c.verdict == "steeper"]
                if beat:
                    out.append(f"**Summaries vs {text}:** " + "; ".join(f"{c.semantics}/{c.policy}" for c in beat)
                               + " decay with a significantly steeper budget exponent (ratio CI above 1); "
                               f"the other {len(pick) - len(beat)} post-prefill/streaming combinations do not.")
                else:
                    out.append(f"**Summaries vs {text}:** none of the {len(pick)} post-prefill/streaming "
                               "combinations has a significantly steeper budget exponent (no ratio CI above 1).")
            out.append("")
    if result.skipped:
        out += ["## Not measured", ""] + [f"- {k}: {v}" for k, v in result.skipped.items()] + [""]
    for d, pred in sorted((result.prediction or {}).items()):
        out += [f"Calculator overlay ({d}): {pred['label']}.", ""]
    for n in result.notes:
        out.append(f"- {n}")
    out += ["", f"Theorems: {', '.join(result.theorem_ids)}. Seconds per semantics: "
            + ", ".join(f"{k} {v:.1f}" for k, v in result.seconds.items())]
    path = Path(path)
    path.write_text("\n".join(out) + "\n")
    return path


def save_result(result: PoliciesResult, path) -> Path:
    path = Path(path)
    path.write_text(json.dumps(result.to_dict(), indent=1))
    return path
