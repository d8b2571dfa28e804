"""From per-prefix rows to the validation result: fits, verdict, exponent ratio, KL vs TV².

All statistics come from :mod:`wzbounds.fitting` (numpy/scipy only); this module only arranges
the measured rows into per-prefix tables and records the answers as JSON-able dicts.

Metric names: ``"<run>/<metric>"`` with run a position mode (``preserve``, ``reindex``) or
``sink`` (sink-plus-recent), and metric ``tv``, ``kl`` (nats, unsmoothed) or ``kl_mu=<μ>``
(nats, against the smoothed truncated law). Windows above half the prefix length are *boundary*
windows (the truncated run then keeps most of the prefix, and the curve bends by construction);
they are reported but excluded from fits unless ``include_boundary``.

Windows whose mean lies within :data:`FLOOR_FACTOR` of the run's numerical floor (the divergence
rounding alone makes, :class:`FloorRecord`) are flagged ``at_floor`` and excluded from fits too,
whatever ``include_boundary`` says: there the curve shows the dtype, not the model.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from wzbounds import fitting

from .records import Record
from .truncation import SMOOTHING_GRID

__all__ = ["metric_tables", "analyse", "boundary_windows", "floor_record", "PRIMARY_METRIC", "FLOOR_FACTOR",
           "Analysis", "FitRecord", "FloorRecord", "WindowCurve", "VerdictRecord", "ExtrapolationRecord",
           "RatioRecord", "SlopeRecord"]

#: The metric the verdict and the shipped profile use (TV in the first position mode).
PRIMARY_METRIC = "tv"
#: A window whose mean divergence is below this many times the floor is left out of the fits: an
#: order of magnitude above the floor, rounding moves a mean by at most ~10% (issue 17's rule).
FLOOR_FACTOR = 10.0


@dataclass(frozen=True)
class FloorRecord(Record):
    """The run's numerical floor: the divergences between two computations of the same reference
    laws (``method``, see :mod:`.truncation`), per metric (``tv``, ``tv2``, ``kl``, ``kl_mu=<μ>``),
    mean and max over the prefixes that carry it and their reference positions. Windows whose
    mean lies below ``factor`` × ``mean`` are left out of the fits."""

    method: str
    n_prefixes: int
    mean: dict[str, float]
    max: dict[str, float]
    factor: float = FLOOR_FACTOR


@dataclass(frozen=True)
class ExponentialFit(Record):
    rho: float
    C: float
    log_rmse: float


@dataclass(frozen=True)
class FitRecord(Record):
    """Power-law fit of one metric's mean curve with its prefix-bootstrap CIs, and the
    exponential fit beside it."""

    alpha: float
    alpha_ci: tuple[float, float]
    C: float
    C_ci: tuple[float, float]
    C_envelope: float
    log_rmse_power: float
    exponential: ExponentialFit
    windows_tokens: tuple[int, ...]
    n_prefixes: int
    confidence_level: float
    n_resamples: int


@dataclass(frozen=True)
class WindowCurve(Record):
    """Mean over prefixes per window with its percentile-bootstrap CI; boundary windows flagged."""

    windows_tokens: tuple[int, ...]
    mean: tuple[float, ...]
    ci_low: tuple[float, ...]
    ci_high: tuple[float, ...]
    boundary: tuple[bool, ...]
    used_in_fit: tuple[bool, ...]
    #: mean below FLOOR_FACTOR x the numerical floor (empty in results written before 0.2)
    at_floor: tuple[bool, ...] = ()


@dataclass(frozen=True)
class VerdictRecord(Record):
    """``wzbounds.fitting.classify_decay`` on the primary metric's mean curve."""

    label: str
    explanation: str
    metric: str
    alpha: float
    alpha_ci: tuple[float, float]
    log_rmse_power: float
    log_rmse_exponential: float
    in_sample_ratio: float | None
    extrapolation_ratio: float | None
    factor: float


@dataclass(frozen=True)
class ExtrapolationRecord(Record):
    split_window_tokens: float
    n_train: int
    n_test: int
    log_rmse_power_out: float
    log_rmse_exponential_out: float
    ratio: float | None


@dataclass(frozen=True)
class RatioRecord(Record):
    """Paired-bootstrap ratio of two fitted exponents (α_KL/α_TV), or the reason it failed."""

    ratio: float | None = None
    ratio_ci: tuple[float, float] | None = None
    alpha_num: float | None = None
    alpha_num_ci: tuple[float, float] | None = None
    alpha_den: float | None = None
    alpha_den_ci: tuple[float, float] | None = None
    error: str | None = None


@dataclass(frozen=True)
class SlopeRecord(Record):
    """Through-origin regression of KL on TV², or the reason it failed."""

    slope: float | None = None
    r_squared: float | None = None
    n_points: int | None = None
    error: str | None = None


@dataclass(frozen=True)
class Analysis(Record):
    """What the analysis of measured rows finds (embedded in the validate result)."""

    primary_metric: str
    fits: dict[str, FitRecord]
    fit_errors: dict[str, str]
    per_window: dict[str, WindowCurve]
    verdict: VerdictRecord
    extrapolation: ExtrapolationRecord | None
    exponent_ratio: dict[str, RatioRecord]
    kl_vs_tv2: dict[str, dict[str, SlopeRecord]]


def boundary_windows(windows, prefix_tokens) -> np.ndarray:
    """Bool mask: windows above half the prefix length (boundary artifact)."""
    return np.asarray(windows) > prefix_tokens / 2


def _mu_name(mu) -> str:
    return f"kl_mu={mu:g}"


def metric_tables(rows, kinds) -> dict:
    """``{"<kind>/<metric>": array (n_prefixes, n_windows)}`` from rows (:class:`.pipeline.TruncationRow`,
    sorted by key). ``tv2`` is TV² per prefix, whose mean is the second-moment envelope E[TV²] that
    the locally-quadratic KL conversion needs (E KL ≤ κ·E[TV²], not κ·(E TV)²)."""
    rows = sorted(rows, key=lambda r: r.key)
    out = {}
    for kind in kinds:
        out[f"{kind}/tv"] = np.array([r.tv[kind] for r in rows], dtype=np.float64)
        out[f"{kind}/tv2"] = out[f"{kind}/tv"] ** 2
        out[f"{kind}/kl"] = np.array([r.kl_nats[kind] for r in rows], dtype=np.float64)
        sm = np.array([r.kl_smoothed_nats[kind] for r in rows], dtype=np.float64)  # (n, mu, W)
        for j, mu in enumerate(SMOOTHING_GRID):
            out[f"{kind}/{_mu_name(mu)}"] = sm[:, j, :]
    return out


def floor_record(rows, factor=FLOOR_FACTOR) -> FloorRecord | None:
    """The floor of the rows that measured one (:class:`.pipeline.TruncationRow` ``floor_*``), or
    None when none did (rows written before the floor existed)."""
    rows = [r for r in rows if r.floor_tv is not None]
    if not rows:
        return None
    methods = sorted({r.floor_method for r in rows})
    tv = np.concatenate([r.floor_tv for r in rows])
    values = {"tv": tv, "tv2": tv ** 2, "kl": np.concatenate([r.floor_kl_nats for r in rows])}
    sm = np.concatenate([np.asarray(r.floor_kl_smoothed_nats, dtype=np.float64) for r in rows], axis=1)
    values.update({_mu_name(mu): sm[j] for j, mu in enumerate(SMOOTHING_GRID)})
    return FloorRecord(method="+".join(methods), n_prefixes=len(rows),
                       mean={k: float(v.mean()) for k, v in values.items()},
                       max={k: float(v.max()) for k, v in values.items()}, factor=float(factor))


def _window_ci(x, rng, n_resamples, level):
    """Percentile bootstrap interval of the mean over prefixes, per window: (2, W)."""
    n = x.shape[0]
    if n < 2:
        return np.vstack([x.mean(0), x.mean(0)])
    idx = rng.integers(0, n, size=(n_resamples, n))
    means = x[idx].mean(axis=1)
    a = (1 - level) / 2
    return np.quantile(means, [a, 1 - a], axis=0)


def _fit_record(boot, w, per_prefix) -> FitRecord:
    expo = fitting.fit_exponential(w, per_prefix.mean(0))
    return FitRecord(alpha=boot.alpha, alpha_ci=tuple(boot.alpha_ci), C=boot.C, C_ci=tuple(boot.C_ci),
                     C_envelope=boot.C_envelope, log_rmse_power=boot.fit.log_rmse,
                     exponential=ExponentialFit(expo.rho, expo.C, expo.log_rmse),
                     windows_tokens=tuple(int(v) for v in w), n_prefixes=int(per_prefix.shape[0]),
                     confidence_level=boot.confidence_level, n_resamples=boot.n_resamples)


def _finite(x):
    """float(x), or None for NaN/inf (JSON has no NaN)."""
    x = float(x)
    return x if math.isfinite(x) else None


def analyse(rows, plan, rng, *, n_resamples=1000, confidence_level=0.95,
            include_boundary=False, floor: FloorRecord | None = None) -> tuple[Analysis, dict]:
    """Summarise measured rows of a :class:`.truncation.TruncationPlan`.

    ``floor``: the run's numerical floor (:func:`floor_record`); windows near it are flagged and
    left out of every fit. Returns ``(analysis, boots)``: ``boots`` maps metric names to
    :class:`wzbounds.fitting.PowerLawBootstrap` objects (for the profiles).
    """
    if len(rows) < 2:
        raise ValueError(f"need at least 2 measured prefixes to fit, got {len(rows)}")
    T = int(plan.prefix_tokens)
    modes = list(plan.modes)
    kinds = plan.kinds
    win = {k: np.asarray(plan.windows_of(k)) for k in kinds}
    tables = metric_tables(rows, kinds)
    fits, errors, per_window, boots = {}, {}, {}, {}
    usable = {}  # per metric: windows in the fits (not boundary unless asked, never at the floor)
    for name, x in tables.items():
        kind, metric = name.split("/", 1)
        w = win[kind]
        edge = boundary_windows(w, T)
        low = (x.mean(0) < floor.factor * floor.mean[metric]) if floor is not None else np.zeros_like(edge)
        use = (np.ones_like(edge) if include_boundary else ~edge) & ~low
        usable[name] = use
        ci = _window_ci(x, rng, n_resamples, confidence_level)
        per_window[name] = WindowCurve(tuple(w.tolist()), tuple(x.mean(0).tolist()), tuple(ci[0].tolist()),
                                       tuple(ci[1].tolist()), tuple(edge.tolist()), tuple(bool(u) for u in use),
                                       tuple(bool(v) for v in low) if floor is not None else ())
        try:
            boot = fitting.bootstrap_power_law(x[:, use], w[use], rng, n_resamples, confidence_level)
            fits[name] = _fit_record(boot, w[use], x[:, use])
            boots[name] = boot
        except ValueError as exc:
            n_low = int(low.sum())
            errors[name] = str(exc) + (f" ({n_low} of {len(w)} windows lie within {floor.factor:g}x of the "
                                       f"numerical floor {floor.mean[metric]:.3g} and are left out)" if n_low else "")
    primary = f"{modes[0]}/{PRIMARY_METRIC}"
    if primary not in fits:
        raise ValueError(f"the primary metric {primary} could not be fitted: {errors.get(primary)}")
    w_p = np.asarray(fits[primary].windows_tokens)
    x_p = tables[primary][:, usable[primary]]
    # the label depends on the mean curve only; alpha's CI is the primary fit's bootstrap above
    verdict = fitting.classify_decay(w_p, x_p.mean(0))
    ex = verdict.extrapolation
    summary = Analysis(
        primary_metric=primary, fits=fits, fit_errors=errors, per_window=per_window,
        verdict=VerdictRecord(
            label=verdict.label, explanation=verdict.explanation, metric=primary, alpha=verdict.alpha,
            alpha_ci=fits[primary].alpha_ci, log_rmse_power=verdict.log_rmse_power,
            log_rmse_exponential=verdict.log_rmse_exponential, in_sample_ratio=_finite(verdict.in_sample_ratio),
            extrapolation_ratio=None if verdict.extrapolation_ratio is None else _finite(verdict.extrapolation_ratio),
            factor=verdict.factor),
        extrapolation=None if ex is None else ExtrapolationRecord(
            split_window_tokens=float(ex.split_window), n_train=ex.n_train, n_test=ex.n_test,
            log_rmse_power_out=ex.log_rmse_power_out, log_rmse_exponential_out=ex.log_rmse_exponential_out,
            ratio=_finite(ex.ratio)),
        exponent_ratio=_exponent_ratios(tables, win, modes, rng, n_resamples, confidence_level, usable),
        kl_vs_tv2=_kl_vs_tv2(tables, win, kinds, usable))
    return summary, boots


def _exponent_ratios(tables, win, modes, rng, n_resamples, level, usable):
    """α_KL(sink) / α_TV: against the sink run's own TV and against the sliding TV (paired)."""
    if "sink/kl" not in tables:
        return {}
    out = {}
    ws = win["sink"]
    # windows usable in both the numerator's and the denominator's fits
    use_s = usable["sink/kl"] & usable["sink/tv"]
    wm = win[modes[0]]
    use_m = usable[f"{modes[0]}/tv"]
    pairs = {"sink_kl/sink_tv": (tables["sink/tv"][:, use_s], ws[use_s]),
             f"sink_kl/{modes[0]}_tv": (tables[f"{modes[0]}/tv"][:, use_m], wm[use_m])}
    for name, (den, wd) in pairs.items():
        try:
            r = fitting.bootstrap_exponent_ratio(tables["sink/kl"][:, use_s], den, ws[use_s], rng,
                                                 n_resamples, level, windows_den=wd)
        except ValueError as exc:
            out[name] = RatioRecord(error=str(exc))
            continue
        out[name] = RatioRecord(r.ratio, tuple(r.ratio_ci), r.alpha_num, tuple(r.alpha_num_ci), r.alpha_den,
                                tuple(r.alpha_den_ci))
    return out


def _kl_vs_tv2(tables, win, kinds, usable):
    """Through-origin regression of KL on TV² over all (prefix, fitted window) points, per μ."""
    out = {}
    for kind in kinds:
        use = usable[f"{kind}/tv"]
        tv2 = tables[f"{kind}/tv"][:, use].ravel() ** 2
        out[kind] = {}
        for metric in ["kl"] + [_mu_name(mu) for mu in SMOOTHING_GRID]:
            try:
                fit = fitting.through_origin_regression(tv2, tables[f"{kind}/{metric}"][:, use].ravel())
                out[kind][metric] = SlopeRecord(fit.slope, fit.r_squared, fit.n_points)
            except ValueError as exc:
                out[kind][metric] = SlopeRecord(error=str(exc))
    return out
