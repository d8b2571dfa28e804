"""Shared input validation: every public function validates in a ``_<name>_iv`` step
that calls these helpers, so bad input always raises ``ValueError`` naming the
parameter and its valid range (never ``assert``, never a silent NaN)."""

from __future__ import annotations

import math
from contextlib import contextmanager
from numbers import Real

import numpy as np


def real_scalar(name: str, value, *, low=None, high=None, low_open=True, high_open=False) -> float:
    """Return ``value`` as a finite float inside the stated interval, else raise ``ValueError``."""
    # numpy's integer and floating scalars are registered as numbers.Real
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ValueError(f"`{name}` must be a real number, got {value!r}")
    try:
        x = float(value)
    except OverflowError:  # an int beyond float range, e.g. from a JSON file
        raise ValueError(
            f"`{name}` must be finite, got an integer of {len(str(abs(math.trunc(value))))} digits"
        ) from None
    if not math.isfinite(x):
        raise ValueError(f"`{name}` must be finite, got {value!r}")
    _check_range(name, x, low, high, low_open, high_open)
    return x


def real_array(name: str, value, *, low=None, high=None, low_open=True, high_open=False) -> np.ndarray:
    """Return ``value`` as a float64 array of finite entries inside the interval.

    Only numbers are accepted, as by ``real_scalar``: strings ("0.5"), booleans and None are
    refused naming ``name`` (numpy would convert the first two silently, and None to NaN)."""
    if isinstance(value, (list, tuple)) and _holds_bool(value):  # numpy would make True 1.0
        raise ValueError(f"`{name}` must be real numbers, got {value!r}")
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as exc:  # ragged nesting
        raise ValueError(f"`{name}` must be real numbers, got {value!r}") from exc
    if arr.dtype == object:  # Python ints beyond int64 (JSON), Fractions, or something else
        items = arr.ravel()
        if not all(
            isinstance(v, (Real, np.floating, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in items
        ):
            raise ValueError(f"`{name}` must be real numbers, got {value!r}")
        try:
            arr = np.array([float(v) for v in items], dtype=np.float64).reshape(arr.shape)
        except OverflowError:  # an int beyond float range, e.g. from a JSON file
            raise ValueError(f"`{name}` must be finite (no NaN/inf, no integer beyond float range)") from None
    elif arr.dtype.kind not in "iuf":
        raise ValueError(f"`{name}` must be real numbers, got {value!r}")
    arr = arr.astype(np.float64)
    if arr.size and not np.all(np.isfinite(arr)):
        raise ValueError(f"`{name}` must be finite (no NaN/inf)")
    if arr.size:
        _check_range(name, arr, low, high, low_open, high_open)
    return arr


def _holds_bool(seq) -> bool:
    return any(isinstance(v, (bool, np.bool_)) or (isinstance(v, (list, tuple)) and _holds_bool(v)) for v in seq)


def positive_int(name: str, value, *, minimum: int = 1) -> int:
    """Return ``value`` as a Python int >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        if isinstance(value, (float, np.floating)) and float(value).is_integer():
            value = int(value)
        else:
            raise ValueError(f"`{name}` must be an integer >= {minimum}, got {value!r}")
    if int(value) < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}, got {value!r}")
    return int(value)


def choice(name: str, value, options) -> str:
    """Return ``value`` if it is one of ``options``."""
    if value not in options:
        raise ValueError(f"`{name}` must be one of {sorted(options)}, got {value!r}")
    return value


def _check_range(name, x, low, high, low_open, high_open):
    bad = np.zeros(np.shape(x), dtype=bool)
    if low is not None:
        bad |= (x <= low) if low_open else (x < low)
    if high is not None:
        bad |= (x >= high) if high_open else (x > high)
    if np.any(bad):
        lo = "(" if low_open else "["
        hi = ")" if high_open or high is None else "]"
        interval = f"{lo}{'-inf' if low is None else low}, {'inf' if high is None else high}{hi}"
        shown = x if np.ndim(x) == 0 else np.asarray(x)[bad][:3]
        raise ValueError(f"`{name}` must lie in {interval}, got {shown}")


@contextmanager
def parameters_as_options(names: dict):
    """Re-raise a ``ValueError`` from the block with each library parameter name (`n_steps`) replaced by
    the command-line option the user typed (`--n`), so a CLI error names what the user can change.
    Relies on the convention above: messages quote parameter names in backticks."""
    try:
        yield
    except ValueError as exc:
        message = str(exc)
        for param, option in names.items():
            message = message.replace(f"`{param}`", f"`{option}`")
        if message == str(exc):
            raise
        raise ValueError(message) from exc
