"""Does a policy profile's budget hold on text it was not measured on?

Given the calibration profiles (``wzbounds policies`` on one corpus) and an evaluation run (``wzbounds
policies`` on held-out text, measuring exactly the budgets the profiles chose), report for each
(policy, target eps) the budget, the kvpress ratio and the mean KL reached on the held-out text
with its percentile prefix-bootstrap CI: met (mean <= eps) or missed.

    python -m wzbounds.empirical.policies.calibration budgets --profiles DIR --context T \
        --eps 0.02,0.05,0.1,0.2 [--out F.json]
        prints the comma list of the chosen budgets (the evaluation run's --budgets) and writes them as JSON
    python -m wzbounds.empirical.policies.calibration table --profiles DIR --run RUN --context T \
        --eps ... [--out F.json]
        prints the table (markdown) and writes it as JSON

The profiles and the run must measure the same model file; the table says which corpora.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..records import Record, load_record, save_record

__all__ = ["ChosenBudget", "BudgetTable", "CalibrationRow", "Calibration", "load_profiles", "chosen_budgets",
           "budget_table", "calibrate", "markdown", "main"]

#: Semantics whose budget kvpress applies (post-prefill eviction).
SEMANTICS = "prefill"


@dataclass(frozen=True)
class ChosenBudget(Record):
    """The budget a profile chooses for one (policy, eps) at the table's context length."""

    policy: str
    eps_nats: float
    budget_tokens: int
    compression_ratio: float
    profile_bound_nats: float
    power_law_budget_tokens: int | None


@dataclass(frozen=True)
class BudgetTable(Record):
    """``budgets --out``: every (policy, eps) budget at ``context_tokens``, and the targets refused."""

    KIND = "wzbounds.budget-table"
    SCHEMA_VERSION = 1

    context_tokens: int
    rows: tuple[ChosenBudget, ...]
    unanswered: tuple[str, ...] = ()


@dataclass(frozen=True)
class CalibrationRow(Record):
    """One (policy, eps): the profile's budget and ratio, and what the held-out text reached."""

    policy: str
    eps_nats: float
    budget_tokens: int
    compression_ratio: float
    profile_bound_nats: float
    reached_mean_kl_nats: float
    reached_ci_nats: tuple[float, float]
    reached_over_eps: float
    positions_above_eps: float  # fraction of the held-out positions whose own KL exceeds eps
    n_prefixes: int
    met: bool  # the mean reached is <= eps
    met_with_ci: bool  # the upper end of its CI is <= eps


@dataclass(frozen=True)
class Calibration(Record):
    KIND = "wzbounds.calibration"
    SCHEMA_VERSION = 1

    context_tokens: int
    model_file_sha256: str | None
    profile_corpus: str
    eval_corpus: str
    confidence_level: float
    n_resamples: int
    seed: int
    rows: tuple[CalibrationRow, ...]
    unanswered: tuple[str, ...] = ()  # "<policy> at eps <e>: why" (outside the curve's measured range)

    @property
    def worst_reached_over_eps(self) -> float:
        return max(r.reached_over_eps for r in self.rows)


def load_profiles(directory, corpus=None) -> dict:
    """``{policy label: PolicyProfile}`` of the post-prefill KL (nats) profiles in ``directory``: the
    table's targets and reached means are KL, so the TV profiles written beside them are left out."""
    from wzbounds.profiles import PolicyProfile, load_profile

    out = {}
    for path in sorted(Path(directory).glob("*.json")):
        prof = load_profile(path)
        if isinstance(prof, PolicyProfile) and prof.semantics == SEMANTICS and prof.divergence == "kl_nats":
            if prof.policy in out:
                raise ValueError(f"`--profiles` {directory} holds two {SEMANTICS} profiles of {prof.policy!r}")
            out[prof.policy] = prof
    if not out:
        raise ValueError(f"`--profiles` {directory} holds no {SEMANTICS} policy profiles")
    return out


def chosen_budgets(profiles: dict, eps_list, context_tokens) -> tuple[dict, dict]:
    """``({(policy, eps): BudgetResult}, {(policy, eps): why not})`` at ``context_tokens``: a target
    outside a curve's measured range has no budget (the calculator refuses it) and is listed."""
    from wzbounds.budget import budget_for_epsilon

    chosen, refused = {}, {}
    for pol, prof in profiles.items():
        curve = prof.curve(context_tokens)
        for e in map(float, eps_list):
            if not float(curve.values[-1]) <= e <= float(curve.values[0]):
                refused[(pol, e)] = (f"outside the measured range [{curve.values[-1]:.4g}, {curve.values[0]:.4g}] "
                                     f"(budgets {curve.budgets_tokens[0]}..{curve.budgets_tokens[-1]})")
                continue
            chosen[(pol, e)] = budget_for_epsilon(e, prof, context_tokens=context_tokens)
    return chosen, refused


def budget_table(chosen: dict, refused: dict, context_tokens: int) -> BudgetTable:
    """:class:`BudgetTable` of :func:`chosen_budgets`' answer."""
    rows = tuple(ChosenBudget(p, e, int(r.budget_tokens), float(r.compression_ratio), float(r.distortion_bound),
                              None if r.power_law_budget_tokens is None else int(r.power_law_budget_tokens))
                 for (p, e), r in chosen.items())
    return BudgetTable(int(context_tokens), rows, tuple(f"{p} at eps {e:g}: {why}" for (p, e), why in refused.items()))


def calibrate(profiles: dict, run_dir, eps_list, context_tokens, *, seed=0, n_resamples=2000,
              confidence_level=0.95) -> Calibration:
    """The calibration table (see the module docstring); ``seed`` seeds the bootstrap."""
    from ..provenance import CorpusProvenance, ModelProvenance
    from .report import _tables
    from .run import PoliciesConfig, read_rows

    run_dir = Path(run_dir)
    cfg = load_record(PoliciesConfig, run_dir / "config.json")
    if cfg.prefix_tokens != context_tokens:
        raise ValueError(f"`--run` {run_dir} measured T = {cfg.prefix_tokens}, not --context {context_tokens}")
    model = load_record(ModelProvenance, run_dir / "model.json")
    corpus = load_record(CorpusProvenance, run_dir / f"corpus_{cfg.corpora[0]}.json")
    prof_sha = {p.provenance.get("file_sha256") for p in profiles.values()}
    if prof_sha != {model.file_sha256}:
        raise ValueError(f"`--run` {run_dir} measured model {model.file_sha256}, the profiles "
                         f"{sorted(map(str, prof_sha))}")
    rows, _ = read_rows(run_dir)
    tables, _ = _tables(rows)
    rng = np.random.default_rng(seed)
    tail = (1 - confidence_level) / 2
    out = []
    chosen, refused = chosen_budgets(profiles, eps_list, context_tokens)
    for (pol, e), res in chosen.items():
        key = (cfg.corpora[0], SEMANTICS, pol)
        if key not in tables:
            raise ValueError(f"`--run` {run_dir} has no {SEMANTICS} rows of {pol!r}")
        if res.budget_tokens not in cfg.budgets_tokens:
            raise ValueError(f"`--run` {run_dir} did not measure budget {res.budget_tokens} ({pol}, eps {e:g}): "
                             "rerun it with the `budgets` list")
        x = tables[key][1][:, cfg.budgets_tokens.index(res.budget_tokens)]
        boot = x[rng.integers(0, x.size, size=(n_resamples, x.size))].mean(axis=1)
        lo, hi = np.quantile(boot, [tail, 1 - tail])
        mean = float(x.mean())
        out.append(CalibrationRow(pol, e, int(res.budget_tokens), float(res.compression_ratio),
                                  float(res.distortion_bound), mean, (float(lo), float(hi)), mean / e,
                                  float(np.mean(x > e)), int(x.size),
                                  mean <= e, float(hi) <= e))
    description = next(iter(profiles.values())).provenance.get("corpus", "?")
    return Calibration(context_tokens, model.file_sha256, description, corpus.description, confidence_level,
                       n_resamples, seed, tuple(out),
                       tuple(f"{p} at eps {e:g}: {why}" for (p, e), why in refused.items()))


def markdown(cal: Calibration) -> str:
    """The table: target eps, budget, ratio, reached mean KL [CI], met or missed."""
    level = f"{100 * cal.confidence_level:g}%"
    lines = [f"| policy | target ε (nats) | budget k | kvpress ratio | reached mean KL [{level} CI] "
             "| reached / ε | positions above ε | |", "|---|---|---|---|---|---|---|---|"]
    for r in cal.rows:
        verdict = ("met" if r.met_with_ci else "met (CI reaches above ε)") if r.met else "**missed**"
        lines.append(f"| {r.policy} | {r.eps_nats:g} | {r.budget_tokens} | {r.compression_ratio:.4f} | "
                     f"{r.reached_mean_kl_nats:.4f} [{r.reached_ci_nats[0]:.4f}, {r.reached_ci_nats[1]:.4f}] | "
                     f"{r.reached_over_eps:.2f} | {r.positions_above_eps:.0%} | {verdict} |")
    if cal.unanswered:
        lines += ["", "No budget (the calculator refuses the target):"] + [f"- {u}" for u in cal.unanswered]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    from wzbounds.cli import OneLineParser

    parser = OneLineParser(prog="python -m wzbounds.empirical.policies.calibration",
                           description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    for name in ("budgets", "table"):
        p = sub.add_parser(name)
        p.add_argument("--profiles", required=True, help="folder of policy profiles (wzbounds policies --out/profiles)")
        p.add_argument("--context", type=int, required=True, help="context length T")
        p.add_argument("--eps", required=True, help="comma list of targets (nats)")
        p.add_argument("--out", help="write the table as JSON here")
        if name == "table":
            p.add_argument("--run", required=True, help="the evaluation run (wzbounds policies --out)")
            p.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        eps = [float(x) for x in args.eps.split(",")]
        profiles = load_profiles(args.profiles)
        if args.what == "budgets":
            chosen, refused = chosen_budgets(profiles, eps, args.context)
            for (p, e), why in refused.items():
                print(f"no budget for {p} at eps {e:g}: {why}", file=sys.stderr)
            if args.out:
                save_record(budget_table(chosen, refused, args.context), args.out)
            print(",".join(str(k) for k in sorted({int(r.budget_tokens) for r in chosen.values()})))
            return 0
        cal = calibrate(profiles, args.run, eps, args.context, seed=args.seed)
    except ValueError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    if args.out:
        save_record(cal, args.out)
    print(markdown(cal), end="")
    print(f"\nworst reached/target: {cal.worst_reached_over_eps:.2f}; missed: "
          f"{sum(not r.met for r in cal.rows)} of {len(cal.rows)}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
