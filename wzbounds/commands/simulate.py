"""``wzbounds simulate``: sliding window vs selective cache vs M-bit summary on a Santa Fe path."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from .._validation import parameters_as_options, positive_int

#: Library parameter -> the option that sets it (error messages name the option).
OPTIONS = {
    "beta": "--beta",
    "memories": "--memories",
    "n_steps": "--n",
    "replicates": "--replicates",
    "burn_in": "--burn-in",
    "confidence_level": "--confidence",
}

#: File name used when ``--plot`` is an existing directory.
PLOT_NAME = "simulate.png"


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "simulate",
        help="simulate suffix-only, selective and summary caches on the Santa Fe source",
        description="Run the three cache kinds as streaming policies on sampled Santa Fe(beta) paths and "
        "compare measured excess log-loss (bits/step, t-interval over replicates) with the exact "
        "theorems (proofs/santa_fe.md, selective_cache.md, summary_cache.md).",
    )
    p.add_argument("--beta", type=float, default=1.5, help="Zipf exponent, in (1, 50] (default 1.5)")
    p.add_argument("--n", type=int, default=100_000, help="measured steps per replicate (default 100000)")
    p.add_argument(
        "--memories",
        type=int,
        nargs="+",
        default=[4, 16, 64, 256, 1024],
        help="memory grid: tokens for KV caches, bits for the summary",
    )
    p.add_argument("--replicates", type=int, default=8, help="independent paths (default 8)")
    p.add_argument(
        "--burn-in", type=int, default=None, help="unmeasured steps before measuring (default: the largest memory)"
    )
    p.add_argument("--confidence", type=float, default=0.95, help="confidence level of the intervals")
    p.add_argument("--seed", type=int, default=0, help="seed of numpy.random.default_rng (>= 0)")
    p.add_argument(
        "--plot",
        default=None,
        metavar="FILE",
        help=f"save a log-log figure (needs matplotlib); no suffix: .png is added; a directory: {PLOT_NAME} inside it",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


def _plot_path(text: str) -> Path:
    """Where ``--plot`` writes: a directory gets PLOT_NAME inside it, a name without suffix gets
    .png (what matplotlib would silently do); an unknown suffix is an error before simulating."""
    from matplotlib.backend_bases import FigureCanvasBase

    if not text.strip():
        raise ValueError("`--plot` must be a file or directory name, got ''")
    path = Path(text)
    if path.is_dir():
        return path / PLOT_NAME
    if not path.suffix:
        return path.with_name(path.name + ".png")
    formats = FigureCanvasBase.get_supported_filetypes()
    if path.suffix[1:].lower() not in formats:
        raise ValueError(f"`--plot` must end in one of {', '.join('.' + f for f in sorted(formats))}, got {text!r}")
    return path


def run(args) -> int:
    from ..caches import asymptotic_constants, simulate
    from ..sources.santa_fe import SantaFe

    seed = positive_int("--seed", args.seed, minimum=0)
    plot = None if args.plot is None else _plot_path(args.plot)
    with parameters_as_options(OPTIONS):
        source = SantaFe(args.beta)
        result = simulate(
            source,
            args.memories,
            args.n,
            np.random.default_rng(seed),
            replicates=args.replicates,
            burn_in=args.burn_in,
            confidence_level=args.confidence,
        )
    consts = asymptotic_constants(source)
    # results first: a plot that cannot be written must not cost the user the numbers
    if args.json:
        print(json.dumps({**result.to_dict(), "seed": seed, "asymptotics": vars(consts)}, indent=2, allow_nan=False))
    else:
        print(_table(result, consts))
    if plot is not None:
        from ..caches.plot import plot_simulation

        try:
            plot_simulation(result, source, plot)
        except OSError as exc:
            from ..cli import UserError

            raise UserError(f"cannot write `--plot` {plot}: {exc.strerror or exc}") from exc
        # keep stdout pure JSON under --json
        print(f"plot written to {plot}", file=sys.stderr if args.json else sys.stdout)
    return 0


def _table(result, consts) -> str:
    lines = [
        f"Santa Fe(beta={result.beta:g}), {result.replicates} replicates x {result.n_steps} measured "
        f"steps after {result.burn_in} burn-in; excess log-loss in bits/step, {result.confidence_level:.0%} CI",
        f"{'policy':<10} {'memory':>8} {'unit':<6} {'measured':>9} {'CI':>21} {'expected':>9} "
        f"{'stationary':>10}  theorem",
    ]
    for p in result.points:
        lines.append(
            f"{p.policy:<10} {p.memory:>8} {p.memory_unit:<6} {p.mean_excess_bits:>9.5f} "
            f"[{p.ci_low_bits:>9.5f},{p.ci_high_bits:>9.5f}] {p.expected_cold_start_bits:>9.5f} "
            f"{p.stationary_bits:>10.5f}  {p.theorem_id}"
        )
    lines.append("exponents (distortion ~ memory^-a): fitted [CI] / exact curve at these memories / asymptotic")
    for f in result.fits:
        if f.fitted_exponent is None:
            lines.append(f"  {f.policy:<10} {f.note} / asymptotic {f.asymptotic_exponent:.4f}")
        else:
            lines.append(
                f"  {f.policy:<10} {f.fitted_exponent:.4f} [{f.exponent_ci[0]:.4f}, "
                f"{f.exponent_ci[1]:.4f}] / {f.theory_fit_exponent:.4f} / {f.asymptotic_exponent:.4f}"
            )
    lines.append(
        f"constants: suffix I_w ~ {consts.suffix_constant:.5g} w^-{consts.suffix_exponent:.4g}; "
        f"selective/summary ~ {consts.selective_constant:.5g} m^-{consts.selective_exponent:.4g}; "
        f"w(eps)/m(eps) ~ {consts.ratio_constant:.5g}/eps"
    )
    return "\n".join(lines)
