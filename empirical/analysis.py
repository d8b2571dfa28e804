"""From per-prefix rows to the validation result: fits, verdict, exponent ratio, KL vs TV².

All statistics come from :mod:`wzbounds.fitting` (numpy/scipy only); this module only arranges
the measured rows into per-prefix tables and records the answers as JSON-able dicts.

Metric names: ``"<run>/<metric>"`` with run a position mode (``preserve``, ``reindex``) or
``sink`` (sink-plus-recent), and metric ``tv``, ``kl`` (nats, unsmoothed) or ``kl_mu=<μ>``
(nats, against the smoothed truncated law). Windows above half the prefix length are *boundary*
windows (the truncated run then keeps most of the prefix, and the curve bends by construction);
they are reported but excluded from fits unless ``include_boundary``.
"""
from __future__ import annotations

import math

import numpy as np

from wzbounds import fitting

from .truncation import SMOOTHING_GRID

__all__ = ["metric_tables", "analyse", "boundary_windows", "PRIMARY_METRIC"]

#: The metric the verdict and the shipped profile use (TV in the first position mode).
PRIMARY_METRIC = "tv"


def boundary_windows(windows, prefix_tokens) -> np.ndarray:
    """Bool mask: windows above half the prefix length (boundary artifact)."""
    return np.asarray(windows) > prefix_tokens / 2


def _mu_name(mu) -> str:
    return f"kl_mu={mu:g}"


def metric_tables(rows, kinds) -> dict:
    """``{"<kind>/<metric>": array (n_prefixes, n_windows)}`` from rows (sorted by key)."""
    rows = sorted(rows, key=lambda r: r["key"])
    out = {}
    for kind in kinds:
        out[f"{kind}/tv"] = np.array([r["tv"][kind] for r in rows], dtype=np.float64)
        out[f"{kind}/kl"] = np.array([r["kl_nats"][kind] for r in rows], dtype=np.float64)
        sm = np.array([r["kl_smoothed_nats"][kind] for r in rows], dtype=np.float64)  # (n, mu, W)
        for j, mu in enumerate(SMOOTHING_GRID):
            out[f"{kind}/{_mu_name(mu)}"] = sm[:, j, :]
    return out


def _window_ci(x, rng, n_resamples, level):
    """Percentile bootstrap interval of the mean over prefixes, per window: (2, W)."""
    n = x.shape[0]
    if n < 2:
        return np.vstack([x.mean(0), x.mean(0)])
    idx = rng.integers(0, n, size=(n_resamples, n))
    means = x[idx].mean(axis=1)
    a = (1 - level) / 2
    return np.quantile(means, [a, 1 - a], axis=0)


def _fit_record(boot, w, per_prefix) -> dict:
    expo = fitting.fit_exponential(w, per_prefix.mean(0))
    return {"alpha": boot.alpha, "alpha_ci": list(boot.alpha_ci), "C": boot.C, "C_ci": list(boot.C_ci),
            "C_envelope": boot.C_envelope, "log_rmse_power": boot.fit.log_rmse,
            "exponential": {"rho": expo.rho, "C": expo.C, "log_rmse": expo.log_rmse},
            "windows_tokens": [int(v) for v in w], "n_prefixes": int(per_prefix.shape[0]),
            "confidence_level": boot.confidence_level, "n_resamples": boot.n_resamples}


def _finite(x):
    """float(x), or None for NaN/inf (JSON has no NaN)."""
    x = float(x)
    return x if math.isfinite(x) else None


def analyse(rows, plan_info: dict, rng, *, n_resamples=1000, confidence_level=0.95,
            include_boundary=False) -> tuple[dict, dict]:
    """Summarise measured rows.

    ``plan_info``: ``{"prefix_tokens", "windows", "modes", "sink_tokens", "sink_windows"}``.
    Returns ``(summary, boots)``: ``summary`` is JSON-able (keys ``fits``, ``fit_errors``,
    ``per_window``, ``verdict``, ``extrapolation``, ``exponent_ratio``, ``kl_vs_tv2``);
    ``boots`` maps metric names to :class:`wzbounds.fitting.PowerLawBootstrap` objects.
    """
    if len(rows) < 2:
        raise ValueError(f"need at least 2 measured prefixes to fit, got {len(rows)}")
    T = int(plan_info["prefix_tokens"])
    modes = list(plan_info["modes"])
    kinds = modes + (["sink"] if plan_info["sink_windows"] else [])
    win = {k: np.asarray(plan_info["windows"] if k != "sink" else plan_info["sink_windows"]) for k in kinds}
    tables = metric_tables(rows, kinds)
    fits, errors, per_window, boots = {}, {}, {}, {}
    for name, x in tables.items():
        kind = name.split("/")[0]
        w = win[kind]
        edge = boundary_windows(w, T)
        use = np.ones_like(edge) if include_boundary else ~edge
        ci = _window_ci(x, rng, n_resamples, confidence_level)
        per_window[name] = {"windows_tokens": w.tolist(), "mean": x.mean(0).tolist(),
                            "ci_low": ci[0].tolist(), "ci_high": ci[1].tolist(),
                            "boundary": edge.tolist(), "used_in_fit": use.tolist()}
        try:
            boot = fitting.bootstrap_power_law(x[:, use], w[use], rng, n_resamples, confidence_level)
            fits[name] = _fit_record(boot, w[use], x[:, use])
            boots[name] = boot
        except ValueError as exc:
            errors[name] = str(exc)
    primary = f"{modes[0]}/{PRIMARY_METRIC}"
    if primary not in fits:
        raise ValueError(f"the primary metric {primary} could not be fitted: {errors.get(primary)}")
    w_p = np.asarray(fits[primary]["windows_tokens"])
    x_p = tables[primary][:, ~boundary_windows(win[modes[0]], T) | include_boundary]
    # the label depends on the mean curve only; alpha's CI is the primary fit's bootstrap above
    verdict = fitting.classify_decay(w_p, x_p.mean(0))
    ex = verdict.extrapolation
    summary = {
        "primary_metric": primary,
        "fits": fits,
        "fit_errors": errors,
        "per_window": per_window,
        "verdict": {"label": verdict.label, "explanation": verdict.explanation,
                    "metric": primary, "alpha": verdict.alpha,
                    "alpha_ci": fits[primary]["alpha_ci"],
                    "log_rmse_power": verdict.log_rmse_power,
                    "log_rmse_exponential": verdict.log_rmse_exponential,
                    "in_sample_ratio": _finite(verdict.in_sample_ratio),
                    "extrapolation_ratio": _finite(verdict.extrapolation_ratio)
                    if verdict.extrapolation_ratio is not None else None,
                    "factor": verdict.factor},
        "extrapolation": None if ex is None else {
            "split_window_tokens": ex.split_window, "n_train": ex.n_train, "n_test": ex.n_test,
            "log_rmse_power_out": ex.log_rmse_power_out,
            "log_rmse_exponential_out": ex.log_rmse_exponential_out, "ratio": _finite(ex.ratio)},
        "exponent_ratio": _exponent_ratios(tables, win, T, modes, rng, n_resamples, confidence_level,
                                           include_boundary),
        "kl_vs_tv2": _kl_vs_tv2(tables, win, T, kinds, include_boundary),
    }
    return summary, boots


def _exponent_ratios(tables, win, T, modes, rng, n_resamples, level, include_boundary):
    """α_KL(sink) / α_TV: against the sink run's own TV and against the sliding TV (paired)."""
    if "sink/kl" not in tables:
        return {}
    out = {}
    ws = win["sink"]
    use_s = ~boundary_windows(ws, T) | include_boundary
    wm = win[modes[0]]
    use_m = ~boundary_windows(wm, T) | include_boundary
    pairs = {"sink_kl/sink_tv": (tables["sink/tv"][:, use_s], ws[use_s]),
             f"sink_kl/{modes[0]}_tv": (tables[f"{modes[0]}/tv"][:, use_m], wm[use_m])}
    for name, (den, wd) in pairs.items():
        try:
            r = fitting.bootstrap_exponent_ratio(tables["sink/kl"][:, use_s], den, ws[use_s], rng,
                                                 n_resamples, level, windows_den=wd)
        except ValueError as exc:
            out[name] = {"error": str(exc)}
            continue
        out[name] = {"ratio": r.ratio, "ratio_ci": list(r.ratio_ci), "alpha_num": r.alpha_num,
                     "alpha_num_ci": list(r.alpha_num_ci), "alpha_den": r.alpha_den,
                     "alpha_den_ci": list(r.alpha_den_ci)}
    return out


def _kl_vs_tv2(tables, win, T, kinds, include_boundary):
    """Through-origin regression of KL on TV² over all (prefix, fitted window) points, per μ."""
    out = {}
    for kind in kinds:
        use = ~boundary_windows(win[kind], T) | include_boundary
        tv2 = tables[f"{kind}/tv"][:, use].ravel() ** 2
        out[kind] = {}
        for metric in ["kl"] + [_mu_name(mu) for mu in SMOOTHING_GRID]:
            try:
                fit = fitting.through_origin_regression(tv2, tables[f"{kind}/{metric}"][:, use].ravel())
                out[kind][metric] = {"slope": fit.slope, "r_squared": fit.r_squared, "n_points": fit.n_points}
            except ValueError as exc:
                out[kind][metric] = {"error": str(exc)}
    return out
