"""Benchmark of ``cache_rate_distortion`` (issue 12) and the numbers/figure of its README section.

Benchmark (default): a 64 x 8 x 8 law — an 8-symbol, 4-state HMM with a 2-token past, the last
token as query — solved for 20 targets D = D0·k/21 (k = 1..20, D0 = I(X;S|Q)) to ``--tol-bits``
(1e-6), median of ``--repeats`` (3) runs; one untimed run at tol 1e-9 with more restarts measures
how far the timed answer is from a tighter one. Prints one JSON object.

    python bench/cache_rd.py [--repeats 3] [--tol-bits 1e-6] [--blas-threads 1]
    python bench/cache_rd.py --figure docs/cache_rd.png     # the HMM / Santa Fe comparison + table JSON

The solver is many small matrix products: multi-threaded OpenBLAS on busy cores slows it ~10x, so
the BLAS thread count is set (default 1) before numpy is imported and reported.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time


def _parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tol-bits", type=float, default=1e-6)
    parser.add_argument("--blas-threads", default="1", help="OPENBLAS_NUM_THREADS ('' keeps the environment's)")
    parser.add_argument("--figure", default=None, help="write the comparison figure here instead of benchmarking")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


ARGS = _parse(sys.argv[1:] if __name__ == "__main__" else [])
if ARGS.blas_threads:
    os.environ["OPENBLAS_NUM_THREADS"] = ARGS.blas_threads

import mpmath  # noqa: E402
import numpy as np  # noqa: E402

from wzbounds.caches.theory import window_for_epsilon_by_class  # noqa: E402
from wzbounds.sources import HMM, SantaFe  # noqa: E402
from wzbounds.wz import (cache_rate_distortion, hmm_cache_law, santa_fe_cache_curve, santa_fe_cache_law,  # noqa: E402
                         window_comparison)


def bench_law():
    """The 64 x 8 x 8 benchmark law (seeded, sticky 4-state HMM on 8 symbols, 2-token past)."""
    rng = np.random.default_rng(12)
    transition = 0.75 * np.eye(4) + 0.25 * rng.dirichlet(np.ones(4), size=4)
    emission = rng.dirichlet(np.full(8, 0.4), size=4)
    return hmm_cache_law(HMM(transition, emission), 2)


def benchmark(args) -> dict:
    law = bench_law()
    d0 = cache_rate_distortion(law.p_sqx, 0.0, rng=np.random.default_rng(0), n_betas=2,
                               refine_steps=0).zero_rate_distortion_bits
    targets = d0 * np.arange(1, 21) / 21
    times, cpu, results = [], [], []
    load = os.getloadavg()
    for i in range(args.repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        results.append(cache_rate_distortion(law.p_sqx, targets, rng=np.random.default_rng(args.seed + i),
                                             tol_bits=args.tol_bits))
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    tight = cache_rate_distortion(law.p_sqx, targets, rng=np.random.default_rng(99), tol_bits=1e-9, n_restarts=6,
                                  max_iter=5000)
    best = np.minimum.reduce([r.rate_bits for r in results + [tight]])
    out = {"benchmark": "cache_rate_distortion, 64x8x8 HMM law (8 symbols, 4 states, 2-token past, query = last "
                        "token), 20 targets D0*k/21", "shape": list(law.p_sqx.shape),
           "n_sufficient_pasts": results[0].n_sufficient_pasts, "tol_bits": args.tol_bits,
           "seconds_median": float(np.median(times)), "seconds": times, "repeats": args.repeats,
           # process CPU time: what the wall time would be on an idle core (the solver is single-threaded
           # with OPENBLAS_NUM_THREADS=1), so it is comparable across loads
           "cpu_seconds_median": float(np.median(cpu)), "cpu_seconds": cpu,
           "goal_seconds": 10.0, "zero_rate_distortion_bits": d0,
           "converged_all_repeats": all(r.converged for r in results),
           "max_gap_bits": float(max(np.max(r.gap_bits) for r in results)),
           "max_nobin_gap_bits": float(max(np.max(r.nobin_gap_bits) for r in results)),
           "max_rate_minus_best_found_bits": float(max(np.max(r.rate_bits - best) for r in results)),
           "tight_run": {"tol_bits": 1e-9, "n_restarts": 6, "max_gap_bits": float(np.max(tight.gap_bits)),
                         "converged": tight.converged},
           "max_rate_spread_between_repeats_bits": float(np.ptp([r.rate_bits for r in results], axis=0).max()),
           "descents_per_run": [r.n_descents for r in results],
           "rate_bits": results[0].rate_bits.round(6).tolist(),
           "lower_bound_bits": results[0].lower_bound_bits.round(6).tolist(),
           "loadavg_before": load, "loadavg_after": os.getloadavg(), "cpu_count": os.cpu_count(),
           "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS"),
           "python": platform.python_version(), "numpy": np.__version__, "machine": platform.machine()}
    print(json.dumps(out, indent=2))
    return out


# --------------------------------------------------------------------------- README figure and table
def readme_hmm():
    """Sticky binary HMM (2 states, stay 0.95, emission accuracy 0.85), 6-token past."""
    return HMM([[0.95, 0.05], [0.05, 0.95]], [[0.85, 0.15], [0.15, 0.85]])


def zipf_entropy_bits(beta):
    """H(K) of Zipf(β) in bits: log2 ζ(β) − β ζ'(β) / (ζ(β) ln 2)."""
    z, dz = mpmath.zeta(beta), mpmath.zeta(beta, derivative=1)
    return float(mpmath.log(z, 2) - beta * dz / (z * mpmath.log(2)))


def figure(args) -> dict:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(args.seed)
    hmm = readme_hmm()
    law = hmm_cache_law(hmm, 6)
    start = time.perf_counter()
    windows = window_comparison(law, rng=rng, windows=np.arange(1, 7))
    curve_D = np.geomspace(2e-4, 1.0, 40) * windows.cache.zero_rate_distortion_bits
    curve = cache_rate_distortion(law.p_sqx, curve_D, rng=rng)
    hmm_seconds = time.perf_counter() - start

    beta, keys = 2.0, 6
    source = SantaFe(beta)
    sf_law = santa_fe_cache_law(source, keys)
    eps = np.array([0.5, 0.3, 0.2, 0.15, 0.1])
    start = time.perf_counter()
    sf = cache_rate_distortion(sf_law.p_sqx, eps - sf_law.floor_bits, rng=rng)
    sf_seconds = time.perf_counter() - start
    h_key = zipf_entropy_bits(beta)
    suffix = [window_for_epsilon_by_class(e, source, "suffix").memory for e in eps]
    summary = [window_for_epsilon_by_class(e, source, "summary").memory for e in eps]
    sf_eps_grid = np.geomspace(sf_law.floor_bits * 1.02, 0.6, 400)
    sf_curve = santa_fe_cache_curve(source, keys, sf_eps_grid - sf_law.floor_bits)
    sf_window_bits = [h_key * window_for_epsilon_by_class(e, source, "suffix").memory for e in sf_eps_grid]

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    total = curve_D + law.floor_bits
    left.plot(total, curve.rate_bits, "C0-", label="least cache R_cache (upper bound, solver)")
    left.plot(total, curve.rate_without_side_info_bits, "C0--", label="one-shot, no binning R_nobin")
    left.plot(total, curve.lower_bound_bits, "C0:", label="certified lower bound")
    left.plot(windows.total_distortion_bits, windows.window_entropy_bits, "C3o-", label="window: H(cached tokens)")
    left.plot(windows.total_distortion_bits, windows.window_raw_bits, "C3s:", label="window: (w-1) log2 V")
    for w, d, b in zip(windows.window_tokens, windows.total_distortion_bits, windows.window_entropy_bits):
        left.annotate(f"w={w}", (d, b), textcoords="offset points", xytext=(4, 4), fontsize=8)
    left.set_xscale("log")
    left.set_xlabel("distortion against the infinite past, I_w (bits/token)")
    left.set_ylabel("cache bits")
    left.set_title("sticky 2-state HMM, 6-token past, query = last token")
    left.legend(fontsize=7)
    right.plot(sf_eps_grid, sf_curve, "C0-", label=f"least cache (exact knapsack, {keys} keys)")
    right.plot(eps, sf.rate_bits, "C0o", label="solver on the truncated law")
    right.plot(sf_eps_grid, [window_for_epsilon_by_class(e, source, "summary").memory for e in sf_eps_grid], "C2",
               drawstyle="steps-mid", label="summary: integer bits M(eps)")
    right.plot(sf_eps_grid, sf_window_bits, "C3-", label="window: w(eps) H(K) bits (keys only)")
    right.set_xscale("log")
    right.set_yscale("log")
    right.set_xlabel("distortion eps (bits/token)")
    right.set_ylabel("bits")
    right.set_title(f"Santa Fe, beta = {beta:g}")
    right.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(args.figure, dpi=120)

    out = {"hmm": {"source": repr(hmm) + " A=[[.95,.05],[.05,.95]] E=[[.85,.15],[.15,.85]]", "n_past": 6,
                   "floor_bits": law.floor_bits, "floor_error_bits": law.floor_error_bits, "seconds": hmm_seconds,
                   "rows": [{"window_tokens": int(w), "cached_tokens": int(c), "distortion_total_bits": float(d),
                             "window_entropy_bits": float(h), "window_raw_bits": float(raw),
                             "window_rate_bits": float(wr), "cache_rate_bits": float(r),
                             "cache_rate_without_side_info_bits": float(nb), "cache_lower_bound_bits": float(lb),
                             "gap_bits": float(g)}
                            for w, c, d, h, raw, wr, r, nb, lb, g in zip(
                                windows.window_tokens, windows.cached_tokens, windows.total_distortion_bits,
                                windows.window_entropy_bits, windows.window_raw_bits, windows.window_rate_bits,
                                windows.cache.rate_bits, windows.cache.rate_without_side_info_bits,
                                windows.cache.lower_bound_bits, windows.cache.gap_bits)]},
           "santa_fe": {"beta": beta, "n_keys": keys, "floor_bits": sf_law.floor_bits, "key_entropy_bits": h_key,
                        "seconds": sf_seconds,
                        "rows": [{"eps_bits": float(e), "cache_rate_bits": float(r),
                                  "exact_rate_bits": float(santa_fe_cache_curve(source, keys, e - sf_law.floor_bits)),
                                  "summary_bits": int(m), "window_tokens": int(w),
                                  "window_bits_at_least": float(w * h_key), "lower_bound_bits": float(lb)}
                                 for e, r, m, w, lb in zip(eps, sf.rate_bits, summary, suffix, sf.lower_bound_bits)]},
           "figure": args.figure}
    print(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    figure(ARGS) if ARGS.figure else benchmark(ARGS)
