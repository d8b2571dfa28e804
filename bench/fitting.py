"""Benchmark: prefix bootstrap of a power law, 200 prefixes x 12 windows x 2000 resamples.

Prints one JSON object: median and min wall time (seconds) over repeats for each CI method.
Run: python bench/fitting.py [--repeats N]
"""
import argparse
import json
import platform
import time

import numpy as np

from wzbounds.fitting import bootstrap_power_law


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    n_prefixes, n_windows, n_resamples = 200, 12, 2000
    windows = 2.0 ** np.arange(n_windows)
    table = 2.0 * windows ** -0.6 * np.exp(0.5 * rng.standard_normal((n_prefixes, n_windows)))
    out = {"benchmark": "bootstrap_power_law", "n_prefixes": n_prefixes, "n_windows": n_windows,
           "n_resamples": n_resamples, "repeats": args.repeats, "numpy": np.__version__,
           "python": platform.python_version(), "seconds": {}}
    for method in ("percentile", "bca"):
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            bootstrap_power_law(table, windows, rng, n_resamples, method=method)
            times.append(time.perf_counter() - start)
        out["seconds"][method] = {"median": float(np.median(times)), "min": float(np.min(times))}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
