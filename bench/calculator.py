"""Benchmark: ``window_for_epsilon`` over many targets, per scheme and profile kind.

Each case times the full calculator call (``window_for_epsilon(eps, profile, scheme)``: the
exact smallest size, the converse window where the profile has a lower envelope, memory and
the distortion bound) on ``--n`` targets ``eps = geomspace(--eps-min, --eps-max, n)``, and
prints one JSON object per case with the amortised microseconds per target (best of
``--repeats``)::

    python bench/calculator.py                       # every scheme x every profile, n = 1e5
    python bench/calculator.py --scheme block-average --profile tabulated --n 1000
    python bench/calculator.py --out bench/calculator_results.json   # also write the table

``--profile`` names a kind (``power_law``, ``exponential``, ``log_power_law``, ``tabulated``)
or ``builtin:<name>`` (``wzbounds.profiles.builtin_profiles()``); ``all`` runs the kinds and
the built-in tabulated profile. The same script runs against an older checkout (``PYTHONPATH``)
for a before/after comparison: it uses only the public calculator API.
"""
from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np

from wzbounds import window_for_epsilon
from wzbounds.profiles import Exponential, LogPowerLaw, PowerLaw, Tabulated, load_profile

SCHEMES = ("sliding", "sink", "block", "block-average")
KINDS = ("power_law", "exponential", "log_power_law", "tabulated", "builtin:smollm2-135m-natural-tabulated",
         "builtin:smollm2-135m-natural")


def make_profile(name: str):
    """The benchmark's profile of each kind (fixed parameters, so runs compare)."""
    if name.startswith("builtin:"):
        return load_profile(name.split(":", 1)[1])
    if name == "power_law":  # with a lower envelope: the converse window is computed too
        return PowerLaw(alpha=0.44, C=1.0, c=0.5, divergence="tv")
    if name == "exponential":
        return Exponential(rho=0.999, C=1.0, c=0.5, divergence="tv")
    if name == "log_power_law":
        return LogPowerLaw(alpha=0.5, C=1.0, D=0.5, divergence="kl_nats")
    if name == "tabulated":  # 40 measured-looking points (a bent power law), two-point extrapolation
        w = np.unique(np.geomspace(1, 4096, 40).astype(np.int64))
        v = 0.8 * w ** -0.35 * (1 + 0.3 / np.sqrt(w))
        return Tabulated(w, v, divergence="tv")
    raise ValueError(f"unknown profile {name!r}")


def run_case(scheme: str, profile_name: str, n: int, eps_min: float, eps_max: float, repeats: int) -> dict:
    profile = make_profile(profile_name)
    eps = np.geomspace(eps_min, eps_max, n)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = window_for_epsilon(eps, profile, scheme)
        times.append(time.perf_counter() - start)
    best = min(times)
    sizes = np.asarray(result.window_tokens, dtype=object)
    return {"scheme": scheme, "profile": profile_name, "n": n, "eps_min": eps_min, "eps_max": eps_max,
            "seconds": best, "us_per_eps": best / n * 1e6, "repeats": repeats,
            "max_window_tokens": str(max(sizes.ravel()))}


def main(argv=None) -> list:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scheme", default="all", choices=SCHEMES + ("all",))
    parser.add_argument("--profile", default="all", help=f"one of {KINDS} or builtin:<name>, or all")
    parser.add_argument("--n", type=int, default=10 ** 5)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--eps-min", type=float, default=1e-12)
    parser.add_argument("--eps-max", type=float, default=0.5)
    parser.add_argument("--out", help="also write the list of cases (JSON) to this file")
    args = parser.parse_args(argv)
    schemes = SCHEMES if args.scheme == "all" else (args.scheme,)
    profiles = KINDS if args.profile == "all" else (args.profile,)
    rows = []
    for profile_name in profiles:
        for scheme in schemes:
            row = run_case(scheme, profile_name, args.n, args.eps_min, args.eps_max, args.repeats)
            print(json.dumps(row), flush=True)
            rows.append(row)
    if args.out:
        meta = {"python": platform.python_version(), "numpy": np.__version__, "machine": platform.machine()}
        with open(args.out, "w") as fh:
            json.dump({"meta": meta, "cases": rows}, fh, indent=1)
    return rows


if __name__ == "__main__":
    main()
