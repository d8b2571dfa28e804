"""Fitting decay laws to truncation-sensitivity curves.

A sensitivity curve is a table ``values[j] = delta(windows[j])`` (one divergence unit, e.g.
mean KL in nats at each window, in tokens). This module answers three questions about it,
with numpy/scipy only so that it works on any table (measured, simulated or exact):

* **Which law?** :func:`fit_power_law` (``delta ~ C w^-alpha``) and :func:`fit_exponential`
  (``delta ~ C rho^w``) fit by least squares on the log scale; :func:`extrapolation_test` fits
  both on the small windows and scores them on the large ones (the paper's "a power law
  improves on an exponential fit by an order of magnitude in extrapolation");
  :func:`classify_decay` turns that into a verdict with a stated rule.
* **How sure?** :func:`bootstrap_power_law` resamples prefixes (rows of a per-prefix table)
  and refits the mean curve, giving confidence intervals for ``alpha`` and ``C``;
  :func:`bootstrap_exponent_ratio` does the same, paired, for a ratio of exponents
  (``alpha_KL / alpha_TV``).
* **Locally quadratic?** :func:`through_origin_regression` fits ``y = kappa x`` (KL against
  TV^2) and reports the uncentred R^2.

All logarithms are natural; a ``log_rmse`` is the root-mean-square residual of ``log values``
(dimensionless: 0.1 means the fit is off by about 10 % on average).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.special import ndtr, ndtri

from ._validation import choice, positive_int, real_array, real_scalar

__all__ = [
    "PowerLawFit",
    "ExponentialFit",
    "ExtrapolationResult",
    "PowerLawBootstrap",
    "ExponentRatioBootstrap",
    "DecayVerdict",
    "ThroughOriginFit",
    "fit_power_law",
    "fit_exponential",
    "extrapolation_test",
    "bootstrap_power_law",
    "bootstrap_exponent_ratio",
    "classify_decay",
    "through_origin_regression",
    "LOG_RMSE_RESOLUTION",
    "CI_METHODS",
]

#: Log-RMSEs below this are treated as this value when two are divided: float64 log residuals
#: of an exact curve are ~1e-15 * |log v|, so smaller differences carry no information, and
#: the ratio stays finite (never a silent inf).
LOG_RMSE_RESOLUTION = 1e-12

#: Bootstrap confidence-interval methods: percentile, and bias-corrected and accelerated.
CI_METHODS = ("percentile", "bca")


# ----------------------------------------------------------------------------- results


@dataclass(frozen=True)
class PowerLawFit:
    """Least-squares fit of ``log values = log C - alpha log windows``.

    ``alpha`` (dimensionless exponent), ``C`` (same unit as ``values``; the value at w = 1),
    ``log_rmse`` (RMS residual of ``log values``), ``n_points``; inputs echoed: ``windows``
    (tokens, shape (n,)), ``values`` (shape (n,)), ``floor`` (None unless requested).
    """

    alpha: float
    C: float
    log_rmse: float
    n_points: int
    windows: np.ndarray = field(repr=False)
    values: np.ndarray = field(repr=False)
    floor: float | None = None

    def predict(self, w) -> np.ndarray:
        """``C * w^-alpha`` at windows ``w`` (tokens, any shape)."""
        return self.C * np.asarray(w, dtype=np.float64) ** (-self.alpha)


@dataclass(frozen=True)
class ExponentialFit:
    """Least-squares fit of ``log values = log C + w log rho`` (``rho`` per token).

    ``rho`` may exceed 1 if the curve grows; ``C`` is the extrapolated value at w = 0.
    Other fields as in :class:`PowerLawFit`.
    """

    rho: float
    C: float
    log_rmse: float
    n_points: int
    windows: np.ndarray = field(repr=False)
    values: np.ndarray = field(repr=False)
    floor: float | None = None

    def predict(self, w) -> np.ndarray:
        """``C * rho^w`` at windows ``w`` (tokens, any shape)."""
        return self.C * self.rho ** np.asarray(w, dtype=np.float64)


@dataclass(frozen=True)
class ExtrapolationResult:
    """Both laws fitted on ``windows <= split_window`` and scored on ``windows > split_window``.

    ``log_rmse_power_out`` / ``log_rmse_exponential_out``: RMS log residual on the held-out
    (larger) windows. ``ratio = log_rmse_exponential_out / log_rmse_power_out`` (each floored at
    :data:`LOG_RMSE_RESOLUTION`): > 1 means the power law extrapolates better, 10 means "by an
    order of magnitude". ``power_fit`` / ``exponential_fit`` are the training fits (their
    ``log_rmse`` is in-sample on the training windows).
    """

    split_window: float
    n_train: int
    n_test: int
    power_fit: PowerLawFit
    exponential_fit: ExponentialFit
    log_rmse_power_out: float
    log_rmse_exponential_out: float
    ratio: float
    windows: np.ndarray = field(repr=False)
    values: np.ndarray = field(repr=False)


@dataclass(frozen=True)
class PowerLawBootstrap:
    """Prefix bootstrap of a power-law fit to the mean sensitivity curve.

    Point estimates ``alpha``, ``C`` come from :func:`fit_power_law` on the mean curve of all
    prefixes (``fit``); ``alpha_ci``, ``C_ci`` are (low, high) intervals at
    ``confidence_level`` by ``method``; ``bootstrap_alpha``, ``bootstrap_C`` (shape
    (n_resamples,)) are the raw distributions (as in ``scipy.stats.BootstrapResult``).
    ``mean_curve`` (shape (n_windows,)) is the measured mean; ``mean_curve_ci`` (shape
    (2, n_windows)) its pointwise percentile interval over the same resamples.
    ``C_envelope`` is the constant :meth:`to_profile` uses by default (see there).
    Inputs echoed: ``windows`` (tokens), ``per_prefix_values`` (n_prefixes, n_windows).
    """

    alpha: float
    alpha_ci: tuple[float, float]
    C: float
    C_ci: tuple[float, float]
    C_envelope: float
    confidence_level: float
    n_resamples: int
    method: str
    n_prefixes: int
    fit: PowerLawFit
    mean_curve: np.ndarray = field(repr=False)
    mean_curve_ci: np.ndarray = field(repr=False)
    bootstrap_alpha: np.ndarray = field(repr=False)
    bootstrap_C: np.ndarray = field(repr=False)
    windows: np.ndarray = field(repr=False)
    per_prefix_values: np.ndarray = field(repr=False)

    def to_profile(self, divergence: str, provenance: dict | None = None, *, constant: str = "envelope"):
        """Return a :class:`wzbounds.profiles.PowerLaw` upper envelope ``C' w^-alpha``.

        ``divergence``: the unit the per-prefix values were measured in (``kl_nats``,
        ``kl_bits`` or ``tv``). ``provenance``: extra entries merged into the profile's
        provenance (the fit's own numbers are always recorded).

        Which constant (``constant``):

        * ``"envelope"`` (default): ``C' = C_envelope = max_j hi_j * w_j^alpha``, where ``hi_j``
          is the upper end of the bootstrap interval of the mean curve at window ``w_j``.
          It is the smallest C for which ``C w^-alpha`` (at the point estimate alpha) lies on or
          above the upper confidence limit of the measured mean at every fitted window. A
          profile is used as an *upper* envelope (``delta(w) <= U(w)`` for w >= w0, see
          ``proofs/CONVENTIONS.md``) and the calculator's achievability window grows with
          C, so the least-squares C - which by construction sits *below* about half of the
          measured points - would understate the window; widening alpha and C to the ends of
          their CIs instead would compound two strongly anti-correlated uncertainties and give
          a needlessly loose bound. The envelope is empirical: it holds at the measured windows
          and beyond them only as far as the power law does.
        * ``"fitted"``: the least-squares ``C`` (a central estimate, not an envelope).

        ``w0`` is the smallest fitted window (rounded up to an integer): nothing was measured
        below it. ``alpha_ci`` is passed on. ``C_ci`` (an interval for the *fitted* C) is passed
        on only with ``constant="fitted"``: the profile's window interval is taken over the box
        ``alpha_ci x C_ci``, and the fitted C's interval lies below the envelope constant, so with
        ``"envelope"`` it would give windows not containing the profile's own window. The
        envelope profile therefore carries ``C_ci=None`` (its window interval reflects alpha's
        uncertainty only) and records the fitted ``C_ci`` in its provenance.
        """
        from .profiles import PowerLaw  # the profile module depends on nothing here

        choice("constant", constant, ("envelope", "fitted"))
        c_used = self.C_envelope if constant == "envelope" else self.C
        record = self._profile_record(constant, provenance)
        if not self.alpha > 0:
            raise ValueError(
                f"the fitted exponent alpha = {self.alpha:.4g} is not positive: the measured curve "
                "does not decay, so it has no power-law envelope"
            )
        # a CI reaching alpha <= 0 cannot bound a window, and a percentile CI can miss its own
        # estimate (skewed bootstrap): keep such a CI on record, not in the profile
        lo, hi = self.alpha_ci
        alpha_ci = self.alpha_ci if 0 < lo <= self.alpha <= hi else None
        if alpha_ci is None:
            record["alpha_ci_fitted"] = list(self.alpha_ci)
            record["alpha_ci_note"] = (
                "the alpha CI reaches 0 (no decay not excluded): no window CI"
                if lo <= 0
                else "the percentile CI does not contain the estimate: no window CI"
            )
        return PowerLaw(
            alpha=self.alpha,
            C=c_used,
            c=None,
            w0=int(np.ceil(self.windows[0])),
            divergence=divergence,
            alpha_ci=alpha_ci,
            C_ci=self.C_ci if constant == "fitted" else None,
            provenance=record,
        )

    def to_tabulated_profile(self, divergence: str, provenance: dict | None = None):
        """Return a :class:`wzbounds.profiles.Tabulated` upper envelope read off the measured curve.

        Its values are the upper ends of the pointwise bootstrap intervals of the mean curve
        (``mean_curve_ci[1]``), made non-increasing by :meth:`Tabulated.envelope`; between the
        fitted windows it interpolates log-log, and beyond the last one it continues from the
        last value with the fitted exponent ``alpha`` (``tail_alpha``; through the last two points
        if ``alpha`` is not positive) — both the ``tabulated-envelope`` assumption. Unlike the
        power-law envelope of :meth:`to_profile`, whose constant one bulging window can set, it
        is as tight as the measurement at every window, so a target the measurement reaches is
        answered inside the measured range. It carries the fit's numbers in its provenance.
        """
        from .profiles import Tabulated

        return Tabulated.envelope(
            self.windows,
            self.mean_curve_ci[1],
            divergence=divergence,
            extrapolate="power_law",
            tail_alpha=self.alpha if self.alpha > 0 else None,
            provenance={
                "alpha_fitted": self.alpha,
                "alpha_ci_fitted": list(self.alpha_ci),
                **self._profile_record("upper-ci-curve", provenance),
            },
        )

    def _profile_record(self, constant: str, provenance: dict | None) -> dict:
        """What every profile built from this fit records: the fit's numbers, then ``provenance``."""
        record = {
            "method": "wzbounds.fitting.bootstrap_power_law",
            "constant": constant,
            "C_fitted": self.C,
            "C_envelope": self.C_envelope,
            "C_ci_fitted": list(self.C_ci),
            "log_rmse": self.fit.log_rmse,
            "ci_method": self.method,
            "confidence_level": self.confidence_level,
            "n_resamples": self.n_resamples,
            "n_prefixes": self.n_prefixes,
            "windows_tokens": [float(w) for w in self.windows],
        }
        record.update(provenance or {})
        return record


@dataclass(frozen=True)
class ExponentRatioBootstrap:
    """Paired prefix bootstrap of ``ratio = alpha_num / alpha_den``.

    Both exponents are refitted on the *same* resampled prefixes, so the interval accounts
    for their correlation. ``bootstrap_*`` are the raw distributions (shape (n_resamples,)).
    The ratio interval is meaningful only when ``alpha_den_ci`` excludes 0.
    """

    ratio: float
    ratio_ci: tuple[float, float]
    alpha_num: float
    alpha_num_ci: tuple[float, float]
    alpha_den: float
    alpha_den_ci: tuple[float, float]
    confidence_level: float
    n_resamples: int
    method: str
    n_prefixes: int
    bootstrap_ratio: np.ndarray = field(repr=False)
    bootstrap_alpha_num: np.ndarray = field(repr=False)
    bootstrap_alpha_den: np.ndarray = field(repr=False)
    windows_num: np.ndarray = field(repr=False)
    windows_den: np.ndarray = field(repr=False)


@dataclass(frozen=True)
class DecayVerdict:
    """Outcome of :func:`classify_decay`; ``explanation`` is one plain sentence with the numbers.

    ``label`` is ``"polynomial"``, ``"geometric"`` or ``"inconclusive"``. ``in_sample_ratio``
    and ``extrapolation_ratio`` are exponential-over-power log-RMSE ratios (> 1 favours the
    power law). ``alpha_ci`` / ``bootstrap`` are None unless per-prefix values were given.
    """

    label: str
    explanation: str
    log_rmse_power: float
    log_rmse_exponential: float
    in_sample_ratio: float
    extrapolation_ratio: float | None
    alpha: float
    alpha_ci: tuple[float, float] | None
    rho: float
    factor: float
    split_window: float | None
    power_fit: PowerLawFit
    exponential_fit: ExponentialFit
    extrapolation: ExtrapolationResult | None
    bootstrap: PowerLawBootstrap | None = field(repr=False)
    windows: np.ndarray = field(repr=False)
    values: np.ndarray = field(repr=False)


@dataclass(frozen=True)
class ThroughOriginFit:
    """Least squares ``y ~ slope * x`` with no intercept (e.g. KL against TV^2: ``slope`` is kappa).

    ``r_squared`` is the uncentred coefficient ``1 - sum (y - slope x)^2 / sum y^2`` (the right
    R^2 for a model without intercept). ``assumption`` names the empirical claim it tests.
    """

    slope: float
    r_squared: float
    n_points: int
    x: np.ndarray = field(repr=False)
    y: np.ndarray = field(repr=False)
    assumption: str = "locally-quadratic"


# ----------------------------------------------------------------------------- validation


def _windows_iv(windows, name="windows", min_points=2) -> np.ndarray:
    w = real_array(name, windows, low=0.0)
    if w.ndim != 1 or w.size < min_points:
        raise ValueError(
            f"`{name}` must be a 1-D array of at least {min_points} windows (tokens > 0), got shape {w.shape}"
        )
    if np.any(np.diff(w) <= 0):
        raise ValueError(f"`{name}` must be strictly increasing")
    return w


def _log_values_iv(values, n, floor, name="values") -> tuple[np.ndarray, np.ndarray, float | None]:
    """Return (echoed values, their logs, floor); logs need positive finite values."""
    try:
        v = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"`{name}` must be real numbers, got {values!r}") from exc
    if v.shape != (n,):
        raise ValueError(f"`{name}` must have shape ({n},) like `windows`, got {v.shape}")
    if floor is None:
        if not np.all(np.isfinite(v) & (v > 0)):
            raise ValueError(
                f"`{name}` must be positive and finite (the fit is on the log scale); "
                "drop windows whose value is 0, or pass `floor=` to replace values "
                "below it by it"
            )
        return v, np.log(v), None
    floor = real_scalar("floor", floor, low=0.0)
    if not np.all(np.isfinite(v) & (v >= 0)):
        raise ValueError(f"`{name}` must be finite and >= 0 when `floor` is given")
    return v, np.log(np.maximum(v, floor)), floor


def _per_prefix_iv(per_prefix_values, n_windows, name) -> np.ndarray:
    x = real_array(name, per_prefix_values, low=0.0, low_open=False)
    if x.ndim != 2 or x.shape[1] != n_windows or x.shape[0] < 2:
        raise ValueError(
            f"`{name}` must have shape (n_prefixes >= 2, {n_windows}) (one column per window), got {x.shape}"
        )
    if np.any(x.sum(axis=0) <= 0):
        raise ValueError(f"`{name}` must have a positive value at every window (a zero mean curve has no logarithm)")
    return x


def _bootstrap_iv(rng, n_resamples, confidence_level, method):
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"`rng` must be a numpy.random.Generator, got {type(rng).__name__}")
    n_resamples = positive_int("n_resamples", n_resamples, minimum=2)
    confidence_level = real_scalar("confidence_level", confidence_level, low=0.0, high=1.0, high_open=True)
    choice("method", method, CI_METHODS)
    return n_resamples, confidence_level


# ----------------------------------------------------------------------------- least squares


def _line_fit(x, Y):
    """Closed-form least squares of each row of ``Y`` (shape (..., n)) on ``x`` (shape (n,)).

    Returns (slope, intercept, rmse), each of shape ``Y.shape[:-1]``.
    """
    xc = x - x.mean()
    slope = (Y @ xc) / (xc @ xc)
    intercept = Y.mean(axis=-1) - slope * x.mean()
    resid = Y - (intercept[..., None] + slope[..., None] * x)
    return slope, intercept, np.sqrt(np.mean(resid**2, axis=-1))


def _fit_power_law_iv(windows, values, floor):
    w = _windows_iv(windows)
    v, logv, floor = _log_values_iv(values, w.size, floor)
    return w, v, logv, floor


def fit_power_law(windows, values, *, floor=None) -> PowerLawFit:
    """Fit ``values ~ C * windows^-alpha`` by least squares of ``log values`` on ``log windows``.

    Parameters
    ----------
    windows : array (n,), n >= 2, strictly increasing, tokens > 0.
    values : array (n,), positive and finite (any divergence unit; ``C`` inherits it).
    floor : float > 0, optional. Only if given: values below ``floor`` (zeros included) are
        replaced by ``floor`` before taking logs. Off by default because a floored point biases
        the exponent; prefer dropping the windows where the curve has hit 0.
    """
    w, v, logv, floor = _fit_power_law_iv(windows, values, floor)
    slope, intercept, rmse = _line_fit(np.log(w), logv)
    return PowerLawFit(
        alpha=float(-slope),
        C=float(np.exp(intercept)),
        log_rmse=float(rmse),
        n_points=int(w.size),
        windows=w,
        values=v,
        floor=floor,
    )


def fit_exponential(windows, values, *, floor=None) -> ExponentialFit:
    """Fit ``values ~ C * rho^windows`` by least squares of ``log values`` on ``windows``.

    Same inputs as :func:`fit_power_law`.
    """
    w, v, logv, floor = _fit_power_law_iv(windows, values, floor)
    slope, intercept, rmse = _line_fit(w, logv)
    return ExponentialFit(
        rho=float(np.exp(slope)),
        C=float(np.exp(intercept)),
        log_rmse=float(rmse),
        n_points=int(w.size),
        windows=w,
        values=v,
        floor=floor,
    )


def _rmse_ratio(num, den) -> float:
    return float(max(num, LOG_RMSE_RESOLUTION) / max(den, LOG_RMSE_RESOLUTION))


# ----------------------------------------------------------------------------- extrapolation


def _extrapolation_test_iv(windows, values, split_window):
    w = _windows_iv(windows, min_points=3)
    v, _, _ = _log_values_iv(values, w.size, None)
    split = real_scalar("split_window", split_window, low=0.0)
    n_train = int(np.sum(w <= split))
    if n_train < 2 or n_train == w.size:
        raise ValueError(
            f"`split_window` must leave at least 2 windows <= it and 1 above it; "
            f"windows span [{w[0]:g}, {w[-1]:g}], got {split:g}"
        )
    return w, v, split, n_train


def extrapolation_test(windows, values, split_window) -> ExtrapolationResult:
    """Fit both laws on ``windows <= split_window``; score them on the larger windows.

    Parameters
    ----------
    windows : array (n,), n >= 3, strictly increasing, tokens > 0.
    values : array (n,), positive and finite.
    split_window : tokens; at least 2 windows must be <= it and at least 1 above it.
    """
    w, v, split, n_train = _extrapolation_test_iv(windows, values, split_window)
    power = fit_power_law(w[:n_train], v[:n_train])
    expo = fit_exponential(w[:n_train], v[:n_train])
    logv_test = np.log(v[n_train:])
    rmse_p = float(np.sqrt(np.mean((np.log(power.predict(w[n_train:])) - logv_test) ** 2)))
    # log of C rho^w computed as log C + w log rho: rho^w underflows long before its log does
    log_pred_e = np.log(expo.C) + w[n_train:] * np.log(expo.rho)
    rmse_e = float(np.sqrt(np.mean((log_pred_e - logv_test) ** 2)))
    return ExtrapolationResult(
        split_window=split,
        n_train=n_train,
        n_test=int(w.size - n_train),
        power_fit=power,
        exponential_fit=expo,
        log_rmse_power_out=rmse_p,
        log_rmse_exponential_out=rmse_e,
        ratio=_rmse_ratio(rmse_e, rmse_p),
        windows=w,
        values=v,
    )


# ----------------------------------------------------------------------------- bootstrap


def _resample_weights(n_prefixes, n_resamples, rng) -> np.ndarray:
    """Resample prefixes with replacement; return weights (n_resamples, n_prefixes) summing to 1.

    Weights (counts / n) turn every resample's mean curve into one matrix product.
    """
    idx = rng.integers(0, n_prefixes, size=(n_resamples, n_prefixes))
    rows = np.repeat(np.arange(n_resamples), n_prefixes)
    counts = np.bincount(rows * n_prefixes + idx.ravel(), minlength=n_resamples * n_prefixes)
    return counts.reshape(n_resamples, n_prefixes) / n_prefixes


def _log_mean_curves(per_prefix, weights, name) -> np.ndarray:
    means = weights @ per_prefix
    if np.any(means <= 0):
        raise ValueError(
            f"`{name}`: a bootstrap resample has a zero mean at some window (too few "
            "prefixes with a positive value there); drop that window or add prefixes"
        )
    return np.log(means)


def _jackknife_log_means(per_prefix) -> np.ndarray:
    """Log mean curves leaving out each prefix in turn, shape (n_prefixes, n_windows)."""
    n = per_prefix.shape[0]
    loo = (per_prefix.sum(axis=0) - per_prefix) / (n - 1)
    # a zero leave-one-out mean has no log; clip to the smallest positive float so the
    # jackknife (used only for the BCa acceleration) stays finite
    return np.log(np.maximum(loo, np.finfo(np.float64).tiny))


def _interval(dist, theta_hat, jackknife, confidence_level, method) -> tuple[float, float]:
    """Two-sided bootstrap interval of ``dist`` (shape (B,)) at ``confidence_level``.

    ``percentile``: the (1 - cl)/2 and (1 + cl)/2 quantiles. ``bca``: Efron's bias-corrected
    and accelerated quantiles (bias from the share of ``dist`` below ``theta_hat``, acceleration
    from the jackknife values, as in ``scipy.stats.bootstrap``).
    """
    tail = (1.0 - confidence_level) / 2.0
    probs = np.array([tail, 1.0 - tail])
    if method == "bca":
        share = (np.mean(dist < theta_hat) + np.mean(dist <= theta_hat)) / 2.0
        z0 = ndtri(share)
        if not np.isfinite(z0):
            raise ValueError(
                "`method`='bca' is undefined here: the point estimate lies outside the "
                "bootstrap distribution; use method='percentile'"
            )
        d = jackknife.mean() - jackknife
        denom = 6.0 * np.sum(d**2) ** 1.5
        accel = np.sum(d**3) / denom if denom > 0 else 0.0
        z = ndtri(probs)
        probs = ndtr(z0 + (z0 + z) / (1.0 - accel * (z0 + z)))
    low, high = np.quantile(dist, probs)
    return float(low), float(high)


def _bootstrap_power_law_iv(per_prefix_values, windows, rng, n_resamples, confidence_level, method):
    w = _windows_iv(windows)
    x = _per_prefix_iv(per_prefix_values, w.size, "per_prefix_values")
    n_resamples, confidence_level = _bootstrap_iv(rng, n_resamples, confidence_level, method)
    return x, w, n_resamples, confidence_level


def bootstrap_power_law(
    per_prefix_values, windows, rng, n_resamples=1000, confidence_level=0.95, *, method="percentile"
) -> PowerLawBootstrap:
    """Prefix-bootstrap confidence intervals for a power law fitted to the mean curve.

    Each resample draws ``n_prefixes`` rows of ``per_prefix_values`` with replacement, averages
    them into a mean curve and fits ``log mean = log C - alpha log w``. All resamples are done
    at once: one (n_resamples, n_prefixes) weight matrix times the table gives every mean curve,
    and the closed-form least-squares slope of every row is one matrix-vector product.

    Parameters
    ----------
    per_prefix_values : array (n_prefixes >= 2, n_windows), finite, >= 0; row i is the
        sensitivity measured on prefix i at each window. The mean over prefixes must be positive
        at every window (also in every resample).
    windows : array (n_windows,), n_windows >= 2, strictly increasing, tokens > 0.
    rng : numpy.random.Generator.
    n_resamples : int >= 2.
    confidence_level : float in (0, 1).
    method : ``"percentile"`` (default) or ``"bca"``.
    """
    x, w, n_resamples, confidence_level = _bootstrap_power_law_iv(
        per_prefix_values, windows, rng, n_resamples, confidence_level, method
    )
    logw = np.log(w)
    mean_curve = x.mean(axis=0)
    fit = fit_power_law(w, mean_curve)
    weights = _resample_weights(x.shape[0], n_resamples, rng)
    log_means = _log_mean_curves(x, weights, "per_prefix_values")
    slope, intercept, _ = _line_fit(logw, log_means)
    boot_alpha, boot_logC = -slope, intercept
    jack_alpha = jack_logC = None
    if method == "bca":
        j_slope, j_intercept, _ = _line_fit(logw, _jackknife_log_means(x))
        jack_alpha, jack_logC = -j_slope, j_intercept
    alpha_ci = _interval(boot_alpha, fit.alpha, jack_alpha, confidence_level, method)
    # C = exp(log C) is monotone, so intervals of log C map to intervals of C
    logC_ci = _interval(boot_logC, np.log(fit.C), jack_logC, confidence_level, method)
    tail = (1.0 - confidence_level) / 2.0
    mean_curve_ci = np.exp(np.quantile(log_means, [tail, 1.0 - tail], axis=0))
    c_envelope = float(np.max(mean_curve_ci[1] * w**fit.alpha))
    return PowerLawBootstrap(
        alpha=fit.alpha,
        alpha_ci=alpha_ci,
        C=fit.C,
        C_ci=(float(np.exp(logC_ci[0])), float(np.exp(logC_ci[1]))),
        C_envelope=c_envelope,
        confidence_level=confidence_level,
        n_resamples=n_resamples,
        method=method,
        n_prefixes=int(x.shape[0]),
        fit=fit,
        mean_curve=mean_curve,
        mean_curve_ci=mean_curve_ci,
        bootstrap_alpha=boot_alpha,
        bootstrap_C=np.exp(boot_logC),
        windows=w,
        per_prefix_values=x,
    )


def _bootstrap_exponent_ratio_iv(
    per_prefix_num, per_prefix_den, windows, windows_den, rng, n_resamples, confidence_level, method
):
    w_num = _windows_iv(windows)
    w_den = w_num if windows_den is None else _windows_iv(windows_den, name="windows_den")
    num = _per_prefix_iv(per_prefix_num, w_num.size, "per_prefix_num")
    den = _per_prefix_iv(per_prefix_den, w_den.size, "per_prefix_den")
    if num.shape[0] != den.shape[0]:
        raise ValueError(
            f"`per_prefix_den` must have one row per prefix of `per_prefix_num` (paired), "
            f"got {den.shape[0]} rows vs {num.shape[0]}"
        )
    n_resamples, confidence_level = _bootstrap_iv(rng, n_resamples, confidence_level, method)
    return num, den, w_num, w_den, n_resamples, confidence_level


def bootstrap_exponent_ratio(
    per_prefix_num,
    per_prefix_den,
    windows,
    rng,
    n_resamples=1000,
    confidence_level=0.95,
    *,
    windows_den=None,
    method="percentile",
) -> ExponentRatioBootstrap:
    """Paired prefix bootstrap of ``alpha_num / alpha_den`` (e.g. ``alpha_KL / alpha_TV``).

    Parameters
    ----------
    per_prefix_num : array (n_prefixes, n_windows) for the numerator exponent.
    per_prefix_den : array (n_prefixes, n_windows_den) for the denominator; row i must be the
        same prefix as row i of ``per_prefix_num`` (the resample indices are shared).
    windows : array (n_windows,) tokens, for ``per_prefix_num`` (and for ``per_prefix_den``
        unless ``windows_den`` is given).
    rng, n_resamples, confidence_level, method : as in :func:`bootstrap_power_law`.
    windows_den : array (n_windows_den,), optional.

    Raises ``ValueError`` if the denominator's point estimate is not positive (a curve that does
    not decay has no meaningful exponent ratio).
    """
    num, den, w_num, w_den, n_resamples, confidence_level = _bootstrap_exponent_ratio_iv(
        per_prefix_num, per_prefix_den, windows, windows_den, rng, n_resamples, confidence_level, method
    )
    alpha_num = fit_power_law(w_num, num.mean(axis=0)).alpha
    alpha_den = fit_power_law(w_den, den.mean(axis=0)).alpha
    if alpha_den <= 0:
        raise ValueError(
            f"`per_prefix_den`: its mean curve does not decay (alpha = {alpha_den:.3g}), so "
            "the exponent ratio is undefined"
        )
    weights = _resample_weights(num.shape[0], n_resamples, rng)
    boot_num = -_line_fit(np.log(w_num), _log_mean_curves(num, weights, "per_prefix_num"))[0]
    boot_den = -_line_fit(np.log(w_den), _log_mean_curves(den, weights, "per_prefix_den"))[0]
    if np.any(boot_den == 0):
        raise ValueError("`per_prefix_den`: a resample's exponent is exactly 0, so the ratio is undefined")
    boot_ratio = boot_num / boot_den
    jack: dict[str, np.ndarray | None] = {"num": None, "den": None, "ratio": None}
    if method == "bca":
        jack_num = -_line_fit(np.log(w_num), _jackknife_log_means(num))[0]
        jack_den = -_line_fit(np.log(w_den), _jackknife_log_means(den))[0]
        jack = {"num": jack_num, "den": jack_den, "ratio": jack_num / jack_den}
    ratio = alpha_num / alpha_den
    return ExponentRatioBootstrap(
        ratio=float(ratio),
        ratio_ci=_interval(boot_ratio, ratio, jack["ratio"], confidence_level, method),
        alpha_num=float(alpha_num),
        alpha_num_ci=_interval(boot_num, alpha_num, jack["num"], confidence_level, method),
        alpha_den=float(alpha_den),
        alpha_den_ci=_interval(boot_den, alpha_den, jack["den"], confidence_level, method),
        confidence_level=confidence_level,
        n_resamples=n_resamples,
        method=method,
        n_prefixes=int(num.shape[0]),
        bootstrap_ratio=boot_ratio,
        bootstrap_alpha_num=boot_num,
        bootstrap_alpha_den=boot_den,
        windows_num=w_num,
        windows_den=w_den,
    )


# ----------------------------------------------------------------------------- verdict


def _classify_decay_iv(windows, values, split_window, per_prefix_values, rng, factor):
    w = _windows_iv(windows)
    _log_values_iv(values, w.size, None)
    factor = real_scalar("factor", factor, low=1.0)
    if split_window is None and w.size >= 3:
        # default: train on the smaller half, test on the larger half
        split_window = float(w[(w.size + 1) // 2 - 1]) if w.size >= 4 else float(w[1])
    if per_prefix_values is not None and not isinstance(rng, np.random.Generator):
        raise ValueError("`rng` must be a numpy.random.Generator when `per_prefix_values` is given")
    return w, split_window, factor


def classify_decay(
    windows,
    values,
    *,
    split_window=None,
    per_prefix_values=None,
    rng=None,
    factor=2.0,
    n_resamples=1000,
    confidence_level=0.95,
) -> DecayVerdict:
    """Say whether a sensitivity curve decays polynomially, geometrically, or can't tell.

    Decision rule. Let ``r_in = log_rmse_exponential / log_rmse_power`` on all windows and
    ``r_out`` the :func:`extrapolation_test` ratio (fit on ``windows <= split_window``, score on
    the rest; each log-RMSE floored at :data:`LOG_RMSE_RESOLUTION`). Then the label is

    * ``"polynomial"`` if ``r_in >= factor`` and ``r_out >= factor``;
    * ``"geometric"`` if ``r_in <= 1/factor`` and ``r_out <= 1/factor``;
    * ``"inconclusive"`` otherwise (including when there are only 2 windows, so no
      extrapolation test is possible and both laws fit exactly).

    Requiring both in-sample and out-of-sample agreement guards against a curve that one law
    fits well on a narrow range but that bends away from it beyond.

    Parameters
    ----------
    windows : array (n,), strictly increasing, tokens > 0.
    values : array (n,), positive and finite (usually the mean over prefixes).
    split_window : tokens, optional; default: the median window (the smaller half trains)
        for n >= 4, the second window for n = 3.
    per_prefix_values : array (n_prefixes, n), optional; if given, :func:`bootstrap_power_law`
        adds a confidence interval for alpha (needs ``rng``). It does not change the label.
    rng : numpy.random.Generator, needed with ``per_prefix_values``.
    factor : float > 1, how much better a law must fit to win (default 2).
    n_resamples, confidence_level : passed to :func:`bootstrap_power_law`.
    """
    w, split_window, factor = _classify_decay_iv(windows, values, split_window, per_prefix_values, rng, factor)
    power = fit_power_law(w, values)
    expo = fit_exponential(w, values)
    r_in = _rmse_ratio(expo.log_rmse, power.log_rmse)
    extrap = None if split_window is None else extrapolation_test(w, values, split_window)
    boot = None
    if per_prefix_values is not None:
        boot = bootstrap_power_law(per_prefix_values, w, rng, n_resamples, confidence_level)
    if extrap is not None and r_in >= factor and extrap.ratio >= factor:
        label = "polynomial"
    elif extrap is not None and r_in <= 1 / factor and extrap.ratio <= 1 / factor:
        label = "geometric"
    else:
        label = "inconclusive"
    return DecayVerdict(
        label=label,
        explanation=_explain(label, power, expo, r_in, extrap, boot, factor),
        log_rmse_power=power.log_rmse,
        log_rmse_exponential=expo.log_rmse,
        in_sample_ratio=r_in,
        extrapolation_ratio=None if extrap is None else extrap.ratio,
        alpha=power.alpha,
        alpha_ci=None if boot is None else boot.alpha_ci,
        rho=expo.rho,
        factor=factor,
        split_window=None if extrap is None else extrap.split_window,
        power_fit=power,
        exponential_fit=expo,
        extrapolation=extrap,
        bootstrap=boot,
        windows=w,
        values=power.values,
    )


def _times(r) -> str:
    return f"{r:.3g}x better" if r >= 1 else f"{1 / r:.3g}x worse"


def _explain(label, power, expo, r_in, extrap, boot, factor) -> str:
    head = {"polynomial": "Polynomial decay", "geometric": "Geometric decay", "inconclusive": "Inconclusive"}[label]
    text = (
        f"{head}: a power law C w^-alpha with alpha = {power.alpha:.3g}"
        + (
            ""
            if boot is None
            else f" ({100 * boot.confidence_level:g}% bootstrap CI [{boot.alpha_ci[0]:.3g}, {boot.alpha_ci[1]:.3g}])"
        )
        + f" fits with log-RMSE {power.log_rmse:.3g} against {expo.log_rmse:.3g} for an exponential "
        f"C rho^w with rho = {expo.rho:.4g} ({_times(r_in)}) over {power.n_points} windows"
    )
    if extrap is None:
        text += "; too few windows for an extrapolation test"
    else:
        text += (
            f"; fitted on w <= {extrap.split_window:g} and extrapolated to the {extrap.n_test} larger "
            f"windows, the power law's log-RMSE is {extrap.log_rmse_power_out:.3g} against "
            f"{extrap.log_rmse_exponential_out:.3g} ({_times(extrap.ratio)})"
        )
    return text + f" (a law wins if it is at least {factor:g}x better both ways)."


# ----------------------------------------------------------------------------- KL vs TV^2


def _through_origin_regression_iv(x, y):
    x = real_array("x", x)
    y = real_array("y", y)
    if x.ndim != 1 or x.size < 2:
        raise ValueError(f"`x` must be a 1-D array of at least 2 points, got shape {x.shape}")
    if y.shape != x.shape:
        raise ValueError(f"`y` must have the shape of `x` {x.shape}, got {y.shape}")
    if not np.any(x != 0):
        raise ValueError("`x` must not be all zeros (the slope is undefined)")
    if not np.any(y != 0):
        raise ValueError("`y` must not be all zeros (R^2 is undefined)")
    return x, y


def through_origin_regression(x, y) -> ThroughOriginFit:
    """Least-squares line through the origin ``y ~ slope * x`` and its uncentred R^2.

    For the locally-quadratic check pass ``x = TV^2`` and ``y = KL`` (shape (n,) each, per
    position or per prefix); ``slope`` estimates kappa in ``KL ~ kappa TV^2`` (Pinsker gives
    kappa >= 2 in nats) and ``r_squared`` near 1 says the relation is close to proportional.
    """
    x, y = _through_origin_regression_iv(x, y)
    slope = float(x @ y / (x @ x))
    r2 = float(1.0 - np.sum((y - slope * x) ** 2) / np.sum(y**2))
    return ThroughOriginFit(slope=slope, r_squared=r2, n_points=int(x.size), x=x, y=y)
