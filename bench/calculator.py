"""Benchmark: 10**6 target distortions through ``window_for_epsilon`` (sliding scheme, a
PowerLaw with a lower envelope, so achievability and converse windows are both computed and
every boundary is exact). Prints one JSON object; best of ``--repeats`` runs.

    python bench/calculator.py [--n 1000000] [--repeats 5] [--eps-min 1e-4] [--eps-max 1e-1]

Windows above ~1e12 tokens (eps below ~1e-5 here) cannot be decided in float64 and go
through the longdouble/mpmath tiers, which costs more: try ``--eps-min 1e-6``.
"""
from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np

from wzbounds import PowerLaw, window_for_epsilon
from wzbounds import _inversion


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10 ** 6)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--eps-min", type=float, default=1e-4)
    parser.add_argument("--eps-max", type=float, default=1e-1)
    args = parser.parse_args(argv)
    profile = PowerLaw(alpha=0.44, C=1.0, c=0.5, divergence="tv")
    eps = np.geomspace(args.eps_min, args.eps_max, args.n)
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        result = window_for_epsilon(eps, profile)
        times.append(time.perf_counter() - start)
    # how many targets needed the longdouble / mpmath tiers (the rest were decided in float64)
    _, unsafe = _inversion._float_tier(eps, profile.upper_envelope, profile.w0, np.float64)
    best = min(times)
    out = {"benchmark": "window_for_epsilon sliding PowerLaw(alpha=0.44, C=1, c=0.5), "
                        f"eps geomspace({args.eps_min:g}, {args.eps_max:g})",
           "n": args.n, "seconds": best, "seconds_median": float(np.median(times)), "repeats": args.repeats,
           "throughput_per_s": args.n / best,
           "float64_undecided_upper": int(unsafe.sum()),
           "min_window_tokens": int(np.min(result.window_tokens)),
           "max_window_tokens": int(np.max(result.window_tokens)),
           "python": platform.python_version(), "numpy": np.__version__, "machine": platform.machine()}
    print(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
