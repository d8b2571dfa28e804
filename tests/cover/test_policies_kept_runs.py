"""Every policies run kept in ``docs/runs/`` is what today's analysis makes of its own rows.

The docs quote ``policies.json`` (budget exponents, mean KL, recency-over-random ratios); the rows
in ``rows.jsonl`` are the measurement. Re-summarising the rows with the current code must give the
same point estimates, so a change to the fits or the ratios cannot leave a kept run, and the
numbers quoted from it, silently stale. The bootstrap CIs depend on the resampling stream (the CLI
draws its overlay from it first) and are left to the kept file; the point estimates do not.
"""
import math
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from wzbounds.empirical.policies.report import load_result, summarize
from wzbounds.empirical.policies.run import read_rows

pytestmark = pytest.mark.empirical
RUNS = Path(__file__).resolve().parents[2] / "docs" / "runs"
KEPT = sorted(p.parent for p in RUNS.rglob("policies.json"))


def _same(a, b):
    # one float64 computation on the same rows, run again: equal to rounding (the fits solve a
    # least-squares problem, whose last bits may differ across BLAS builds)
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def test_there_are_kept_policies_runs():
    assert len(KEPT) >= 5, KEPT  # the SmolLM2 budget runs and Gemma 3's, at least


@pytest.mark.parametrize("run", KEPT, ids=lambda p: str(p.relative_to(RUNS)))
def test_kept_policies_json_is_the_analysis_of_its_rows(run):
    kept = load_result(run / "policies.json")
    rows, timing = read_rows(run)
    assert rows, f"{run} keeps no rows"
    again = summarize(rows, timing, kept.config, kept.provenance, kept.sanity, np.random.default_rng(0),
                      n_resamples=20)  # CIs are not compared: few resamples suffice
    key = lambda c: (c.domain, c.semantics, c.policy)  # noqa: E731
    assert sorted(map(key, again.curves)) == sorted(map(key, kept.curves))
    fresh = {key(c): c for c in again.curves}
    for c in kept.curves:
        n = fresh[key(c)]
        assert n.n_prefixes == c.n_prefixes and n.budgets_tokens == c.budgets_tokens
        assert all(_same(x, y) for x, y in zip(n.mean_kl_nats, c.mean_kl_nats, strict=True)), key(c)
        assert _same(n.alpha, c.alpha) and _same(n.C_nats, c.C_nats), key(c)
    skey = lambda s: (s.domain, s.semantics, s.numerator, s.denominator)  # noqa: E731
    assert sorted(map(skey, again.suppression)) == sorted(map(skey, kept.suppression))
    fresh_s = {skey(s): s for s in again.suppression}
    for s in kept.suppression:
        assert all(_same(x, y) for x, y in zip(fresh_s[skey(s)].ratio, s.ratio, strict=True)), skey(s)
    assert again.seconds == pytest.approx(kept.seconds, rel=1e-12)  # sums of the same timing rows
