"""Summary of a ``wzbounds policies`` run: degradation curves, fitted budget exponents with
prefix-bootstrap CIs, the recency-vs-random suppression ratio with its CI, the comparison of every
(semantics, policy) with the suffix-only exponent, the cost against each semantics' floor, the
plot and ``report.md``.

The suffix-only reference is (truncation, sliding): the theory's sliding window, whose exponent
is the truncation-sensitivity exponent alpha the converse says no suffix-only policy can beat.
Post-prefill and streaming eviction are not suffix-only (kept entries were computed with the
evicted past); a steeper exponent there would be evidence that such "summaries" beat the scaling.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from wzbounds.fitting import bootstrap_exponent_ratio, bootstrap_power_law

from ..provenance import Provenance
from ..records import Record, load_record, save_record
from ..sanity import Sanity
from .run import PoliciesConfig

#: Theorems the comparison rests on (proof file stems).
THEOREM_IDS = ("achievability_sliding", "converse_suffix", "sink_recent")
REFERENCE = ("truncation", "sliding")
SCHEMA_VERSION = 2


@dataclass(frozen=True)
class Curve(Record):
    """Mean KL (nats) vs budget for one (domain, semantics, policy), with its power-law fit.
    ``alpha``/``alpha_ci``: fitted budget exponent of the mean curve and its prefix-bootstrap CI
    (None with ``fit_error`` when the fit is impossible, e.g. a zero mean)."""

    domain: str
    semantics: str
    policy: str
    budgets_tokens: tuple[int, ...]
    mean_kl_nats: tuple[float, ...]
    mean_kl_ci_nats: tuple[tuple[float, float], ...]
    n_prefixes: int
    alpha: float | None = None
    alpha_ci: tuple[float, float] | None = None
    C_nats: float | None = None
    log_rmse: float | None = None
    fit_error: str | None = None


@dataclass(frozen=True)
class ExponentComparison(Record):
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
    ratio_ci: tuple[float, float] | None
    verdict: str
    mean_kl_ratio_to_reference: tuple[float | None, ...] = ()


@dataclass(frozen=True)
class Suppression(Record):
    """KL(random) / KL(recency policy) of the mean curves at each budget, with a percentile
    prefix-bootstrap CI (the same prefixes resampled for both; None where the recency KL is 0)."""

    domain: str
    semantics: str
    numerator: str
    denominator: str
    budgets_tokens: tuple[int, ...]
    ratio: tuple[float | None, ...]
    ci_low: tuple[float | None, ...]
    ci_high: tuple[float | None, ...]


@dataclass(frozen=True)
class Cost(Record):
    """Forward-token equivalents per prefix processed by each semantics, against its floor."""

    semantics: str
    tokens_per_prefix: float
    floor_per_prefix: float
    ratio: float


@dataclass(frozen=True)
class Prediction(Record):
    """A calculator overlay: ``kl_nats`` at ``budgets_tokens``, from ``source``."""

    label: str
    source: str
    budgets_tokens: tuple[int, ...]
    kl_nats: tuple[float, ...]


@dataclass(frozen=True)
class PoliciesResult(Record):
    """Everything ``wzbounds policies`` reports (``policies.json``)."""

    KIND = "wzbounds.policies"
    SCHEMA_VERSION = SCHEMA_VERSION

    config: PoliciesConfig
    provenance: Provenance
    sanity: tuple[Sanity, ...]
    curves: tuple[Curve, ...]
    suppression: tuple[Suppression, ...]
    comparisons: tuple[ExponentComparison, ...]
    skipped: dict[str, str]
    seconds: dict[str, float]
    cost: tuple[Cost, ...]
    prediction: dict[str, Prediction]
    theorem_ids: tuple[str, ...] = THEOREM_IDS
    notes: tuple[str, ...] = ()

    @property
    def trusted(self) -> bool:
        return all(s.trusted for s in self.sanity)


def load_result(path) -> PoliciesResult:
    return load_record(PoliciesResult, path)


def save_result(result: PoliciesResult, path) -> Path:
    return save_record(result, path)


def _tables(rows, divergence="kl_nats"):
    """(domain, semantics, policy) -> (prefix indices, (n, nb) array) of the rows' ``divergence``
    field (``kl_nats`` or ``tv``); skipped. A key with a measured row lacking that field (``tv`` in
    rows written before it was recorded) has no table."""
    acc, skipped, lacking = {}, {}, set()
    for r in rows:
        if r.skipped is not None:
            skipped[f"{r.semantics}/{r.policy}"] = r.skipped
            continue
        key, values = (r.domain, r.semantics, r.policy), getattr(r, divergence)
        if not values:
            lacking.add(key)
        acc.setdefault(key, {})[r.prefix_index] = values
    tables = {}
    for key, d in acc.items():
        if key not in lacking:
            idx = sorted(d)
            tables[key] = (idx, np.asarray([d[i] for i in idx], dtype=np.float64))
    return tables, skipped


def _finite_or_none(x):
    x = float(x)
    return x if math.isfinite(x) else None


def _suppression(domain, s, num, den, x_num, x_den, budgets, rng, n_resamples, level=0.95) -> Suppression:
    n = x_num.shape[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = x_num.mean(0) / x_den.mean(0)
        idx = rng.integers(0, n, size=(n_resamples, n))
        boot = x_num[idx].mean(1) / x_den[idx].mean(1)
    a = (1 - level) / 2
    lo, hi = np.quantile(boot, [a, 1 - a], axis=0) if np.all(np.isfinite(boot)) else (
        np.full(len(budgets), np.nan), np.full(len(budgets), np.nan))
    return Suppression(domain, s, num, den, tuple(budgets), tuple(map(_finite_or_none, ratio)),
                       tuple(map(_finite_or_none, lo)), tuple(map(_finite_or_none, hi)))


def _cost(timing, n_prefixes) -> tuple:
    tokens, floor = {}, {}
    for t in timing:
        for s, v in t.forward_tokens.items():
            tokens[s] = tokens.get(s, 0) + v
        for s, v in t.floor_tokens.items():
            floor[s] = floor.get(s, 0) + v
    return tuple(Cost(s, tokens[s] / n_prefixes, floor[s] / n_prefixes, tokens[s] / floor[s])
                 for s in sorted(tokens) if floor.get(s))


def summarize(rows, timing, config: PoliciesConfig, provenance: Provenance, sanity_records, rng, *,
              n_resamples=1000, prediction=None, notes=()) -> PoliciesResult:
    """Fit, compare and collect. ``rng``: numpy Generator for the bootstraps. ``prediction``:
    ``{domain: Prediction}`` calculator overlays."""
    tables, skipped = _tables(rows)
    seconds = {}
    for t in timing:
        for s, v in t.seconds.items():
            seconds[s] = seconds.get(s, 0.0) + v
    w = np.asarray(config.budgets_tokens, dtype=float)
    curves, comparisons, suppression = [], [], []
    for (domain, s, p), (idx, x) in sorted(tables.items()):
        mean = tuple(x.mean(axis=0).tolist())
        try:
            boot = bootstrap_power_law(x, w, rng, n_resamples=n_resamples)
            ci = tuple((float(a), float(b)) for a, b in boot.mean_curve_ci.T)
            curves.append(Curve(domain, s, p, config.budgets_tokens, mean, ci, len(idx),
                                boot.alpha, tuple(boot.alpha_ci), boot.C, boot.fit.log_rmse))
        except ValueError as exc:
            curves.append(Curve(domain, s, p, config.budgets_tokens, mean, (), len(idx), fit_error=str(exc)))
    for domain in sorted({c.domain for c in curves}):
        for (d, s, p), (idx, x) in sorted(tables.items()):
            if d != domain or p != "random":
                continue
            for (d2, s2, rec), (idx2, y) in sorted(tables.items()):
                if (d2, s2) == (d, s) and (rec == "sliding" or rec.startswith("sink")) and idx2 == idx:
                    suppression.append(_suppression(d, s, "random", rec, x, y, config.budgets_tokens, rng, n_resamples))
        ref = tables.get((domain,) + REFERENCE)
        for (d, s, p), (idx, x) in sorted(tables.items()):
            if d != domain or (s, p) == REFERENCE:
                continue
            refs = [(REFERENCE, ref)] + ([(("truncation", p), tables.get((d, "truncation", p)))]
                                         if s != "truncation" and p != REFERENCE[1] else [])
            for (rs, rp), r_tab in refs:
                if r_tab is None or r_tab[0] != idx:
                    continue
                comparisons.append(_compare(domain, s, p, f"{rs}/{rp}", x, r_tab[1], config, rng, n_resamples))
    n_prefixes = max((c.n_prefixes for c in curves), default=1) * max(len(config.corpora), 1)
    return PoliciesResult(config=config, provenance=provenance, sanity=tuple(sanity_records), curves=tuple(curves),
                          suppression=tuple(suppression), comparisons=tuple(comparisons), skipped=skipped,
                          seconds=seconds, cost=_cost(timing, n_prefixes), prediction=dict(prediction or {}),
                          notes=tuple(notes))


def _compare(domain, s, p, ref_label, x, ref_x, config, rng, n_resamples) -> ExponentComparison:
    with np.errstate(divide="ignore", invalid="ignore"):
        level = tuple(map(_finite_or_none, x.mean(0) / ref_x.mean(0)))
    try:
        r = bootstrap_exponent_ratio(x, ref_x, config.budgets_tokens, rng, n_resamples=n_resamples)
    except ValueError as exc:
        return ExponentComparison(domain, s, p, ref_label, None, None, f"no fit: {exc}", level)
    verdict = "steeper" if r.ratio_ci[0] > 1 else "shallower" if r.ratio_ci[1] < 1 else "indistinguishable"
    return ExponentComparison(domain, s, p, ref_label, r.ratio, tuple(r.ratio_ci), verdict, level)


def run_profile_prediction(rows, config: PoliciesConfig, rng, domain, n_resamples=1000):
    """Overlay from this run's own measurement: the calculator's sliding-window bound
    (``wzbounds.bounds.distortion_at_window``) from the PowerLaw envelope fitted to this run's
    ``domain`` truncation/sliding curve. Returns ``(Prediction | None, reason)``."""
    from wzbounds.bounds import distortion_at_window

    tables, _ = _tables(rows)
    key = (domain,) + REFERENCE
    if key not in tables:
        return None, f"no truncation/sliding curve for {domain} in this run"
    try:
        prof = bootstrap_power_law(tables[key][1], np.asarray(config.budgets_tokens, float), rng,
                                   n_resamples=n_resamples).to_profile(
            "kl_nats", {"source": f"wzbounds policies run, {domain} truncation/sliding"})
        res = distortion_at_window(np.asarray(config.budgets_tokens), prof)
    except ValueError as exc:
        return None, f"could not fit this run's truncation profile: {exc}"
    return Prediction(label=f"this run's own {domain} truncation/sliding fit through the calculator "
                            f"(α={prof.alpha:.2f}, C={prof.C:.3g} envelope)", source="this run",
                      budgets_tokens=config.budgets_tokens,
                      kl_nats=tuple(np.asarray(res.distortion_bound, dtype=float).tolist())), None


def profile_prediction(profile, name, budgets) -> Prediction:
    """The calculator's sliding-window prediction ``U(k)`` (KL nats) from a KL sensitivity profile."""
    scale = 1.0 if profile.divergence == "kl_nats" else math.log(2.0)
    values = np.asarray(profile.upper(np.asarray(budgets, dtype=float)), dtype=float) * scale
    return Prediction(label=f"calculator: {name} upper envelope", source=str(name), budgets_tokens=tuple(budgets),
                      kl_nats=tuple(values.tolist()))


def same_model_builtin(file_sha256, budgets):
    """A built-in KL profile measured on the model file with this sha256, as a Prediction, or None."""
    from wzbounds.profiles import builtin_profiles, load_profile

    if not file_sha256:
        return None
    for name in builtin_profiles():
        prof = load_profile(name)
        prov = getattr(prof, "provenance", None) or {}
        if prov.get("file_sha256") == file_sha256 and prof.divergence in ("kl_nats", "kl_bits"):
            return profile_prediction(prof, name, budgets)
    return None


def plot(result: PoliciesResult, path) -> Path | None:
    """KL vs budget, log-log: one panel per (domain, semantics), one line per policy, the
    calculator's prediction dashed. Returns the path, or None without matplotlib."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return None
    domains = sorted({c.domain for c in result.curves})
    sems = [s for s in ("truncation", "prefill", "streaming") if any(c.semantics == s for c in result.curves)]
    fig = Figure(figsize=(4.2 * len(sems), 3.6 * len(domains)))
    axes = fig.subplots(len(domains), len(sems), squeeze=False, sharey=True)
    policies = sorted({c.policy for c in result.curves})
    colors = {p: f"C{i % 10}" for i, p in enumerate(policies)}
    styles = {p: "o-" if i < 10 else "s--" for i, p in enumerate(policies)}
    budgets = result.config.budgets_tokens
    for i, d in enumerate(domains):
        for j, s in enumerate(sems):
            ax = axes[i][j]
            for c in result.curves:
                if c.domain == d and c.semantics == s:
                    lab = c.policy + (f" (α={c.alpha:.2f})" if c.alpha is not None else "")
                    ax.loglog(c.budgets_tokens, np.maximum(c.mean_kl_nats, 1e-12), styles[c.policy],
                              color=colors[c.policy], label=lab, ms=3)
            pred = result.prediction.get(d)
            if pred:
                ax.loglog(pred.budgets_tokens, pred.kl_nats, "k--", lw=1, label=pred.label[:40])
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
    """``report.md``: untrusted warnings first, config, degradation tables, suppression ratios vs
    the paper's ~100x, exponents vs the suffix-only exponent, cost, and a plain verdict on summaries."""
    cfg, prov = result.config, result.provenance
    out = [f"# Cache-policy degradation — {prov.model.model_id}", ""]
    warnings = [w for s in result.sanity for w in s.warnings]
    if warnings:
        out += ["> **UNTRUSTED RUN — every number below may be meaningless.**", ">"] + [f"> - {w}" for w in warnings] + [""]
    out += [f"Prefixes of {cfg.prefix_tokens} tokens: {_counts(result)}; budgets k = {list(cfg.budgets_tokens)} "
            f"(tokens seen, query included); truncation positions: {cfg.position_mode}; tokenizer: "
            f"{prov.model.tokenizer_source} ({prov.model.tokenizer_class}). KL(p‖p̃) in nats, mean over prefixes; "
            f"α = fitted exponent of mean KL ∝ k^-α with 95% prefix-bootstrap CI.", ""]
    for d in sorted({c.domain for c in result.curves}):
        out.append(f"## {d}")
        for s in ("truncation", "prefill", "streaming"):
            t = degradation_table(result, d, s)
            if t:
                out += [f"### {s}", "", t]
        sup = [x for x in result.suppression if x.domain == d]
        if sup:
            out += ["### Recency vs random (KL(random) / KL(recency) at equal budget, 95% prefix-bootstrap CI; "
                    "the paper reports ~100×)", ""]
            for x in sup:
                out.append(f"- {x.semantics}, random/{x.denominator}: " + ", ".join(
                    f"k={k}: {_fmt(r)}× [{_fmt(lo)}, {_fmt(hi)}]"
                    for k, r, lo, hi in zip(x.budgets_tokens, x.ratio, x.ci_low, x.ci_high)))
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
    if result.cost:
        out += ["## Cost per prefix (forward-token equivalents) against each semantics' floor", "",
                "| semantics | tokens | floor | ratio |", "|---|---|---|---|"]
        out += [f"| {c.semantics} | {c.tokens_per_prefix:.0f} | {c.floor_per_prefix:.0f} | {c.ratio:.2f} |"
                for c in result.cost] + [""]
    if result.skipped:
        out += ["## Not measured", ""] + [f"- {k}: {v}" for k, v in result.skipped.items()] + [""]
    for d, pred in sorted(result.prediction.items()):
        out += [f"Calculator overlay ({d}): {pred.label}.", ""]
    for n in result.notes:
        out.append(f"- {n}")
    out += ["", f"Theorems: {', '.join(result.theorem_ids)}. Seconds per semantics: "
            + ", ".join(f"{k} {v:.1f}" for k, v in result.seconds.items())]
    path = Path(path)
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return path
