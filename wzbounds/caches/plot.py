"""Plot a simulation: distortion against memory for the three cache kinds, with the theorems."""

from __future__ import annotations

import numpy as np

from . import theory

_STYLE = {"sliding": ("C0", "o"), "selective": ("C1", "s"), "summary": ("C2", "^")}


def plot_simulation(result, source, path) -> None:
    """Save a log-log figure to ``path``: measured means with CIs (markers), the exact cold-start
    expectations (crosses) and each class's stationary minimum (lines). Needs matplotlib."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    mems = sorted({p.memory for p in result.points})
    grid = np.unique(np.round(np.geomspace(1, max(mems) * 2, 60)).astype(int))
    for name, (color, marker) in _STYLE.items():
        pts = [p for p in result.points if p.policy == name]
        if not pts:
            continue
        cls = pts[0].policy_class
        if name != "summary":  # the summary line coincides with the selective one (same theorem value)
            line = [theory.min_distortion(int(m), source, cls).distortion_kl_bits for m in grid]
            label = (
                "selective = summary minimum (selective_cache, summary_cache)"
                if cls == "selective"
                else f"suffix minimum ({theory.THEOREM_IDS[cls]})"
            )
            ax.plot(grid, line, color=color, lw=1.2, label=label)
        m = np.array([p.memory for p in pts], dtype=float)
        mean = np.array([p.mean_excess_bits for p in pts])
        err = np.array(
            [[p.mean_excess_bits - p.ci_low_bits for p in pts], [p.ci_high_bits - p.mean_excess_bits for p in pts]]
        )
        shift = {"sliding": 1.0, "selective": 0.94, "summary": 1.06}[name]  # keep overlapping markers apart
        ax.errorbar(
            m * shift,
            mean,
            yerr=err,
            fmt=marker,
            color=color,
            ms=4,
            capsize=2,
            label=f"{name} ({pts[0].memory_unit}), measured",
        )
        ax.plot(m * shift, [p.expected_cold_start_bits for p in pts], "x", color="k", ms=4)
    ax.plot([], [], "x", color="k", label="exact expectation of the run (cold start)")
    consts = theory.asymptotic_constants(source)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("memory (tokens for KV caches, bits for the summary)")
    ax.set_ylabel("excess log-loss (bits / step)")
    ax.set_title(
        f"Santa Fe(β={result.beta:g}): suffix ~ w^-{consts.suffix_exponent:.3g}, "
        f"selective/summary ~ m^-{consts.selective_exponent:.3g}",
        fontsize=9,
    )
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
