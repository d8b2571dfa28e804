"""Plots (matplotlib figures, no pyplot: nothing process-wide is touched) and ``report.md`` for a
validation result.

* ``tv_decay.png`` — log–log mean TV vs window with its bootstrap CI and both fits (power law,
  exponential); boundary windows drawn hollow;
* ``sink_kl.png`` — sink-plus-recent KL vs window with its power fit and the slope 2·α_TV guide;
* ``kl_vs_tv2.png`` — every (prefix, window) point, KL against TV², with the through-origin fit.

Every file is written atomically, report.md in UTF-8 whatever the locale.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from wzbounds._fileio import atomic_path, atomic_write

__all__ = ["write_report", "markdown_report"]


def _save(fig, path) -> None:
    """Save ``fig`` to ``path`` whole or not at all."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120)


def _fmt_ci(ci) -> str:
    return "n/a" if not ci else f"[{ci[0]:.3g}, {ci[1]:.3g}]"


def _plot_tv(result, path):
    from matplotlib.figure import Figure

    name = result.primary_metric
    pw, fit = result.per_window[name], result.fits[name]
    w = np.asarray(pw.windows_tokens, float)
    m, lo, hi = (np.asarray(v) for v in (pw.mean, pw.ci_low, pw.ci_high))
    edge = np.asarray(pw.boundary, bool)
    fig = Figure(figsize=(5.5, 4))
    ax = fig.subplots()
    ax.fill_between(w, lo, hi, alpha=0.25, label="95% CI of the mean")
    ax.plot(w[~edge], m[~edge], "o", label=f"mean {name}")
    if edge.any():
        ax.plot(w[edge], m[edge], "o", mfc="none", label="boundary (w > T/2, not fitted)")
    grid = np.geomspace(w.min(), w.max(), 200)
    ax.plot(grid, fit.C * grid ** -fit.alpha,
            label=f"power: α={fit.alpha:.3f} {_fmt_ci(fit.alpha_ci)}, logRMSE {fit.log_rmse_power:.3f}")
    ex = fit.exponential
    ax.plot(grid, ex.C * ex.rho ** grid, "--", label=f"exponential: ρ={ex.rho:.4f}, logRMSE {ex.log_rmse:.3f}")
    ax.set(xscale="log", yscale="log", xlabel="window w (tokens)", ylabel="TV(p, p_w)",
           title=f"truncation sensitivity — {result.verdict.label}")
    ax.legend(fontsize=7)
    fig.tight_layout()
    _save(fig, path)


def _plot_sink(result, path):
    from matplotlib.figure import Figure

    if "sink/kl" not in result.per_window:
        return False
    fig = Figure(figsize=(5.5, 4))
    ax = fig.subplots()
    for name, style in (("sink/kl", "o"), ("sink/tv", "s")):
        pw = result.per_window[name]
        w = np.asarray(pw.windows_tokens, float)
        ax.errorbar(w, pw.mean, yerr=[np.subtract(pw.mean, pw.ci_low), np.subtract(pw.ci_high, pw.mean)],
                    fmt=style, ms=4, label=name)
        fit = result.fits.get(name)
        if fit:
            g = np.geomspace(w.min(), w.max(), 100)
            ax.plot(g, fit.C * g ** -fit.alpha, label=f"{name}: α={fit.alpha:.3f} {_fmt_ci(fit.alpha_ci)}")
    ax.set(xscale="log", yscale="log", xlabel="recent window w (tokens) after the sinks", ylabel="divergence",
           title=f"sink-plus-recent (s = {result.config.sink_tokens})")
    ax.legend(fontsize=7)
    fig.tight_layout()
    _save(fig, path)
    return True


def _plot_kl_tv2(result, rows, path):
    from matplotlib.figure import Figure

    from .analysis import boundary_windows

    kind = result.primary_metric.split("/")[0]
    T = result.config.prefix_tokens
    use = ~boundary_windows(result.measurement.windows, T)
    tv = np.array([r.tv[kind] for r in rows])[:, use].ravel()
    kl = np.array([r.kl_nats[kind] for r in rows])[:, use].ravel()
    fig = Figure(figsize=(5.5, 4))
    ax = fig.subplots()
    ax.plot(tv ** 2, kl, ".", ms=3, alpha=0.5, label=f"{kind}: (prefix, window) points")
    reg = result.kl_vs_tv2.get(kind, {}).get("kl")
    if reg is not None and reg.slope is not None:
        g = np.linspace(0, (tv ** 2).max(), 50)
        ax.plot(g, reg.slope * g, label=f"KL = {reg.slope:.3g}·TV², R² = {reg.r_squared:.3f}")
    ax.set(xlabel="TV²", ylabel="KL(p ‖ p_w) (nats)", title="locally quadratic? KL vs TV²")
    ax.legend(fontsize=7)
    fig.tight_layout()
    _save(fig, path)


def _protocol_line(m) -> str:
    if m.protocol == "fixed-end":
        return ("Protocol **fixed-end**: window w compares the next-token law at the prefix's last token "
                "with the law on its last w tokens (the T − w oldest tokens dropped).")
    return (f"Protocol **fixed-start** (s = {m.start_tokens}): window w compares the law at token s + w − 1 on "
            "its full context (s + w tokens) with the law on x_s..x_(s+w−1) (the s oldest tokens dropped).")


def _positions_line(p) -> str:
    if not p.vacuous:
        return f"Position modes measured: {', '.join(p.measured_modes)} ({p.reason})."
    return (f"Position ablation: {p.reason}, so re-encoding a contiguous suffix in '{p.requested_modes[1]}' "
            f"equals '{p.requested_modes[0]}' by construction; measured on prefix {p.evidence_prefix} only: "
            f"max |ΔTV| = {p.max_abs_tv_diff:.2g}, max |ΔKL| = {p.max_abs_kl_diff_nats:.2g} nats (float rounding). "
            f"Sink-plus-recent, where the sink-to-window gap changes, is measured in {', '.join(p.sink_modes)}.")


def _floor_lines(result) -> list:
    """The numerical floor and the windows it takes out of the fits."""
    f, dtype = result.measurement.floor, result.provenance.model.dtype
    if f is None:
        return ["Numerical floor: not measured (rows written before wzbounds 0.2).", ""]
    method = {"shift": "the full run again with positions shifted by one",
              "decode": "each reference decoded alone over the cached past (a lower estimate)"}.get(f.method, f.method)
    lines = [f"Numerical floor ({dtype}; reference laws computed a second way: {method}; {f.n_prefixes} prefixes): "
             f"mean TV {f.mean['tv']:.3g} (max {f.max['tv']:.3g}), mean KL {f.mean['kl']:.3g} nats "
             f"(max {f.max['kl']:.3g}). Windows whose mean lies below {f.factor:g}x the floor are left out of the fits."]
    flagged = {name: [w for w, low in zip(c.windows_tokens, c.at_floor) if low]
               for name, c in result.per_window.items() if name.endswith(("/tv", "/kl"))}
    flagged = {k: v for k, v in flagged.items() if v}
    lines.append("Left out at the floor: " + ("; ".join(f"{k}: w = {', '.join(map(str, v))}"
                                                      for k, v in flagged.items()) if flagged else "none") + ".")
    return lines + [""]


def markdown_report(result) -> str:
    """The human-readable report of a :class:`.pipeline.ValidateResult`; failed sanity checks first."""
    v, prov, cfg, m = result.verdict, result.provenance, result.config, result.measurement
    corpus = prov.corpora[0]
    lines = [f"# wzbounds validate — {prov.model.model_id}", ""]
    if result.sanity.warnings:
        lines += ["> **UNTRUSTED RUN — every number below may be meaningless.**", ">"]
        lines += [f"> - {w}" for w in result.sanity.warnings] + [""]
    lines += [f"**Verdict: {v.label}.** {v.explanation}", "",
              f"Corpus: {corpus.description} (sha256 `{corpus.sha256[:16]}…`), "
              f"{prov.n_prefixes_measured} prefixes of {cfg.prefix_tokens} tokens, seed {cfg.seed}; "
              f"device {prov.model.device}, dtype {prov.model.dtype}; tokenizer: {prov.model.tokenizer_source} "
              f"({prov.model.tokenizer_class}); {prov.forward_tokens} forward tokens.", "",
              _protocol_line(m), "", _positions_line(m.positions), "", *_floor_lines(result),
              "## Fits (bootstrap over prefixes)", "",
              "| metric | α | α CI | C | log-RMSE power | log-RMSE exponential |", "|---|---|---|---|---|---|"]
    for name, f in result.fits.items():
        lines.append(f"| {name} | {f.alpha:.4f} | {_fmt_ci(f.alpha_ci)} | {f.C:.4g} | "
                     f"{f.log_rmse_power:.4f} | {f.exponential.log_rmse:.4f} |")
    ex = result.extrapolation
    if ex:
        ratio = "n/a" if ex.ratio is None else f"{ex.ratio:.3g}"
        lines += ["", f"Extrapolation (fit w ≤ {ex.split_window_tokens:g}, score above): log-RMSE power "
                      f"{ex.log_rmse_power_out:.4f}, exponential {ex.log_rmse_exponential_out:.4f}, ratio {ratio}."]
    if result.exponent_ratio:
        lines += ["", "## Sink-plus-recent: α_KL / α_TV (expected 2 if KL ≈ κ·TV²)", ""]
        for name, r in result.exponent_ratio.items():
            lines.append(f"- {name}: " + (r.error if r.error else f"{r.ratio:.3f} {_fmt_ci(r.ratio_ci)}"))
    lines += ["", "## KL vs TV² (through origin)", "", "| run | metric | slope κ | R² |", "|---|---|---|---|"]
    for kind, d in result.kl_vs_tv2.items():
        for metric, r in d.items():
            if r.slope is not None:
                lines.append(f"| {kind} | {metric} | {r.slope:.4g} | {r.r_squared:.4f} |")
    s, t = result.sanity, result.sanity.tokenizer
    ppl = "n/a" if s.perplexity is None else f"{s.perplexity:.4g}"
    lines += ["", "## Sanity", "", f"- perplexity on the prefixes: {ppl} ({s.perplexity_tokens} tokens)",
              f"- characters per token: {s.characters_per_token:.3g} (at least {t.min_characters_per_token:.2f} "
              f"expected for {t.vocab_size} pieces)",
              f"- words held whole by the vocabulary but split: {t.n_words_split_although_whole} of "
              f"{t.n_words_whole_in_vocab} ({t.split_fraction:.1%})",
              f"- round trip decode(encode(text)) = text: {t.round_trip_documents - t.round_trip_failures} of "
              f"{t.round_trip_documents} documents"]
    lines += [f"- **WARNING:** {w}" for w in s.warnings]
    lines += ["", "Plots: `tv_decay.png`, `sink_kl.png`, `kl_vs_tv2.png`. Raw rows: `rows/`.", ""]
    return "\n".join(lines)


def write_report(result, rows, out) -> list:
    """Write the plots and report.md into ``out``; returns the plot paths."""
    out = Path(out)
    plots = [out / "tv_decay.png"]
    _plot_tv(result, plots[0])
    if _plot_sink(result, out / "sink_kl.png"):
        plots.append(out / "sink_kl.png")
    if rows:
        _plot_kl_tv2(result, rows, out / "kl_vs_tv2.png")
        plots.append(out / "kl_vs_tv2.png")
    atomic_write(out / "report.md", markdown_report(result))  # UTF-8 whatever the locale
    return plots
