"""Generate docs/beyond_suffix.png and print the numbers behind it (GitHub issue 6).

Sliding window vs keep-latest-of-top-m selective cache vs M-bit summary on Santa Fe(β=1.5), measured
on sampled paths with a long burn-in so the selective/summary caches are close to their stationary
state. Usage: python bench/beyond_suffix_plot.py [--out docs/beyond_suffix.png] [--beta 1.5] [--seed 0]
"""
import argparse
import time

import numpy as np

from wzbounds.caches import asymptotic_constants, memory_ratio, simulate
from wzbounds.caches.plot import plot_simulation
from wzbounds.sources.santa_fe import SantaFe


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="docs/beyond_suffix.png")
    parser.add_argument("--beta", type=float, default=1.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--burn-in", type=int, default=1_000_000)
    args = parser.parse_args()
    source = SantaFe(args.beta)
    memories = [2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
    start = time.perf_counter()
    result = simulate(source, memories, args.n, np.random.default_rng(args.seed), replicates=8,
                      burn_in=args.burn_in)
    elapsed = time.perf_counter() - start
    plot_simulation(result, source, args.out)
    print(f"beta={args.beta} n={args.n} burn_in={args.burn_in} replicates=8 seed={args.seed} "
          f"({elapsed:.1f} s)")
    for p in result.points:
        print(f"{p.policy:<10} {p.memory:>5} {p.memory_unit:<6} measured {p.mean_excess_bits:.5f} "
              f"[{p.ci_low_bits:.5f}, {p.ci_high_bits:.5f}] expected {p.expected_cold_start_bits:.5f} "
              f"stationary {p.stationary_bits:.5f}")
    for f in result.fits:
        print(f"exponent {f.policy:<10} fitted {f.fitted_exponent:.4f} CI [{f.exponent_ci[0]:.4f}, "
              f"{f.exponent_ci[1]:.4f}] exact-curve {f.theory_fit_exponent:.4f} asymptotic {f.asymptotic_exponent:.4f}")
    c = asymptotic_constants(source)
    print(f"constants: A={c.suffix_constant:.6g} a={c.suffix_exponent:.6g} B={c.selective_constant:.6g} "
          f"b={c.selective_exponent:.6g} K={c.ratio_constant:.6g}")
    for eps in (1e-1, 1e-2, 1e-3):
        r = memory_ratio(eps, source)
        print(f"eps={eps:g}: suffix window {r.suffix_window_tokens} tokens, selective {r.selective_memory_tokens} "
              f"tokens, summary {r.summary_memory_bits} bits, ratio {r.ratio:.2f} "
              f"(asymptotic {r.asymptotic_ratio:.2f})")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
