"""``wzbounds simulate``: sliding window vs selective cache vs M-bit summary on a Santa Fe path."""
from __future__ import annotations

import json

import numpy as np


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "simulate", help="simulate suffix-only, selective and summary caches on the Santa Fe source",
        description="Run the three cache kinds as streaming policies on sampled Santa Fe(beta) paths and "
                    "compare measured excess log-loss (bits/step, t-interval over replicates) with the exact "
                    "theorems (proofs/santa_fe.md, selective_cache.md, summary_cache.md).")
    p.add_argument("--beta", type=float, default=1.5, help="Zipf exponent, > 1 (default 1.5)")
    p.add_argument("--n", type=int, default=100_000, help="measured steps per replicate (default 100000)")
    p.add_argument("--memories", type=int, nargs="+", default=[4, 16, 64, 256, 1024],
                   help="memory grid: tokens for KV caches, bits for the summary")
    p.add_argument("--replicates", type=int, default=8, help="independent paths (default 8)")
    p.add_argument("--burn-in", type=int, default=None,
                   help="unmeasured steps before measuring (default: the largest memory)")
    p.add_argument("--confidence", type=float, default=0.95, help="confidence level of the intervals")
    p.add_argument("--seed", type=int, default=0, help="seed of numpy.random.default_rng")
    p.add_argument("--plot", default=None, metavar="FILE", help="save a log-log figure (needs matplotlib)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..caches import asymptotic_constants, simulate
    from ..sources.santa_fe import SantaFe

    source = SantaFe(args.beta)
    result = simulate(source, args.memories, args.n, np.random.default_rng(args.seed),
                      replicates=args.replicates, burn_in=args.burn_in, confidence_level=args.confidence)
    consts = asymptotic_constants(source)
    if args.plot:
        from ..caches.plot import plot_simulation

        plot_simulation(result, source, args.plot)
    if args.json:
        print(json.dumps({**result.to_dict(), "seed": args.seed, "asymptotics": vars(consts)}, indent=2))
        return 0
    print(f"Santa Fe(beta={result.beta:g}), {result.replicates} replicates x {result.n_steps} measured steps "
          f"after {result.burn_in} burn-in; excess log-loss in bits/step, {result.confidence_level:.0%} CI")
    print(f"{'policy':<10} {'memory':>8} {'unit':<6} {'measured':>9} {'CI':>21} {'expected':>9} "
          f"{'stationary':>10}  theorem")
    for p in result.points:
        print(f"{p.policy:<10} {p.memory:>8} {p.memory_unit:<6} {p.mean_excess_bits:>9.5f} "
              f"[{p.ci_low_bits:>9.5f},{p.ci_high_bits:>9.5f}] {p.expected_cold_start_bits:>9.5f} "
              f"{p.stationary_bits:>10.5f}  {p.theorem_id}")
    print("exponents (distortion ~ memory^-a): fitted [CI] / exact curve at these memories / asymptotic")
    for f in result.fits:
        print(f"  {f.policy:<10} {f.fitted_exponent:.4f} [{f.exponent_ci[0]:.4f}, {f.exponent_ci[1]:.4f}]"
              f" / {f.theory_fit_exponent:.4f} / {f.asymptotic_exponent:.4f}")
    print(f"constants: suffix I_w ~ {consts.suffix_constant:.5g} w^-{consts.suffix_exponent:.4g}; "
          f"selective/summary ~ {consts.selective_constant:.5g} m^-{consts.selective_exponent:.4g}; "
          f"w(eps)/m(eps) ~ {consts.ratio_constant:.5g}/eps")
    if args.plot:
        print(f"plot written to {args.plot}")
    return 0
