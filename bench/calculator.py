"""Benchmark: ``window_for_epsilon`` over many targets, per scheme and profile kind.

Each case times the full calculator call (``window_for_epsilon(eps, profile, scheme)``: the
exact smallest size, the converse window where the profile has a lower envelope, the windows at
the corners of a confidence box where the profile has one, memory and the distortion bound) on
``--n`` targets ``eps = geomspace(--eps-min, --eps-max, n)``, and prints one JSON object per case
with the amortised microseconds per target: CPU time of this process (``time.process_time``, so
other jobs on a shared machine count less), best of ``--repeats``, each repeat on a freshly
built profile (one-time caches are paid in every repeat)::

    python bench/calculator.py                       # every scheme x every profile, n = 1e5
    python bench/calculator.py --scheme block-average --profile tabulated --n 1000
    python bench/calculator.py --label after --out bench/calculator_results.json
    python bench/calculator.py --markdown bench/calculator_results.json > bench/calculator_results.md

``--profile`` names a kind (``power_law``, ``exponential``, ``log_power_law``, ``tabulated``)
or ``builtin:<name>`` (``wzbounds.profiles.builtin_profiles()``); ``all`` runs the kinds and
the two built-in smollm2 profiles. ``--scheme block-markov-rate`` times
``block_markov_rate(profile, eps=eps)`` instead (a PowerLaw in a KL unit: the "kl-envelope"
regime, whose block is the block-average block; the power-law profiles are read as KL in nats
for it); ``block-markov-rate:unconditional`` and ``block-markov-rate:forward-decay`` time the
regimes of a TV power law (``vocab_size`` 49152, SmolLM2's; forward decay almost surely with
``regularity`` 1e-6), whose blocks invert the smoothing bound or scale by 2C²/η first. ``--out`` merges the cases into a results file under ``--label`` (keyed by scheme and
profile), with the machine's load average. The same script runs against an older checkout
(``PYTHONPATH``) for a before/after comparison: it uses only the public calculator API.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import time

import numpy as np

from wzbounds import window_for_epsilon
from wzbounds.profiles import Exponential, LogPowerLaw, PowerLaw, Tabulated, load_profile

SCHEMES = ("sliding", "sink", "block", "block-average")
RATE = "block-markov-rate"
#: the block_markov_rate keywords of each timed regime (RATE: the kl-envelope regime)
RATE_REGIMES = {RATE: {}, f"{RATE}:unconditional": {"vocab_size": 49152},
                f"{RATE}:forward-decay": {"vocab_size": 49152, "forward_decay": True, "regularity": 1e-6}}
KINDS = ("power_law", "exponential", "log_power_law", "tabulated", "builtin:smollm2-135m-natural-tabulated",
         "builtin:smollm2-135m-natural")
SCHEMA_VERSION = 1


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


def _call(scheme: str, profile, eps):
    """One timed call; returns the sizes it found."""
    if scheme in RATE_REGIMES:
        from wzbounds.schemes import block_markov_rate
        if not isinstance(profile, PowerLaw):
            raise ValueError(f"{scheme} takes a PowerLaw profile")
        if scheme == RATE:
            profile = dataclasses.replace(profile, divergence="kl_nats", c=None, provenance=None)
        elif profile.divergence != "tv":
            raise ValueError(f"{scheme} takes a PowerLaw in 'tv'")
        return block_markov_rate(profile, eps=eps, **RATE_REGIMES[scheme]).block_tokens
    return window_for_epsilon(eps, profile, scheme).window_tokens


def run_case(scheme: str, profile_name: str, n: int, eps_min: float, eps_max: float, repeats: int) -> dict:
    eps = np.geomspace(eps_min, eps_max, n)
    times = []
    for _ in range(repeats):
        profile = make_profile(profile_name)  # fresh: its caches are built inside the timed call
        start = time.process_time()
        sizes = _call(scheme, profile, eps)
        times.append(time.process_time() - start)
    best = min(times)
    sizes = np.asarray(sizes, dtype=object)
    return {"scheme": scheme, "profile": profile_name, "n": n, "eps_min": eps_min, "eps_max": eps_max,
            "cpu_seconds": best, "us_per_eps": best / n * 1e6, "repeats": repeats,
            "max_window_tokens": str(max(sizes.ravel()))}


def merge(path: str, label: str, ref: str, rows: list) -> dict:
    """Merge ``rows`` into the results file at ``path`` under ``label`` (replacing the cases with
    the same scheme and profile)."""
    try:
        with open(path) as fh:
            data = json.load(fh)
    except FileNotFoundError:
        data = {}
    data["schema_version"] = SCHEMA_VERSION
    data["meta"] = {"python": platform.python_version(), "numpy": np.__version__, "machine": platform.machine(),
                    "cpus": os.cpu_count(), "timer": "time.process_time, best of repeats"}
    block = data.setdefault("runs", {}).setdefault(label, {"ref": ref, "cases": []})
    block["ref"] = ref
    keep = {(r["scheme"], r["profile"]) for r in rows}
    block["cases"] = [c for c in block["cases"] if (c["scheme"], c["profile"]) not in keep] + rows
    with open(path, "w") as fh:
        json.dump(data, fh, indent=1)
        fh.write("\n")
    return data


def markdown(path: str) -> str:
    """The before/after table of a results file, one row per scheme x profile."""
    with open(path) as fh:
        data = json.load(fh)
    runs = data["runs"]
    labels = list(runs)
    cells = {label: {(c["scheme"], c["profile"]): c for c in runs[label]["cases"]} for label in labels}
    keys = sorted({k for v in cells.values() for k in v},
                  key=lambda k: ((SCHEMES + tuple(RATE_REGIMES)).index(k[0]), KINDS.index(k[1]) if k[1] in KINDS else 99))
    head = "| scheme | profile | " + " | ".join(f"{lb} µs/ε (n; load)" for lb in labels) + " | max window |"
    lines = [head, "|" + "---|" * (3 + len(labels))]
    for key in keys:
        row = [key[0], key[1]]
        for label in labels:
            c = cells[label].get(key)
            row.append("—" if c is None else f"{c['us_per_eps']:.3g} ({c['n']}; {c.get('load', '?')})")
        last = next(cells[lb][key] for lb in reversed(labels) if key in cells[lb])
        w = last["max_window_tokens"]
        row.append(w if len(w) < 8 else f"{w[:3]}…e{len(w) - 1}")
        lines.append("| " + " | ".join(row) + " |")
    refs = "; ".join(f"{lb} = {runs[lb]['ref']}" for lb in labels)
    return "\n".join(lines) + f"\n\n{refs}\n"


def main(argv=None) -> list:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scheme", default="all", choices=(*SCHEMES, *RATE_REGIMES, "all"))
    parser.add_argument("--profile", default="all", help=f"one of {KINDS} or builtin:<name>, or all")
    parser.add_argument("--n", type=int, default=10 ** 5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--eps-min", type=float, default=1e-12)
    parser.add_argument("--eps-max", type=float, default=0.5)
    parser.add_argument("--out", help="merge the cases into this results file (JSON) under --label")
    parser.add_argument("--label", default="after")
    parser.add_argument("--ref", default="", help="what was measured (branch@commit), stored with --out")
    parser.add_argument("--markdown", metavar="RESULTS", help="print the table of a results file and exit")
    args = parser.parse_args(argv)
    if args.markdown:
        print(markdown(args.markdown), end="")
        return []
    schemes = SCHEMES if args.scheme == "all" else (args.scheme,)
    profiles = KINDS if args.profile == "all" else (args.profile,)
    rows = []
    for profile_name in profiles:
        for scheme in schemes:
            load = os.getloadavg()[0]
            row = run_case(scheme, profile_name, args.n, args.eps_min, args.eps_max, args.repeats)
            row["load"] = round(max(load, os.getloadavg()[0]), 1)  # 1-minute load average, the larger end
            print(json.dumps(row), flush=True)
            rows.append(row)
    if args.out:
        merge(args.out, args.label, args.ref, rows)
    return rows


if __name__ == "__main__":
    main()
