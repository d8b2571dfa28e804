"""Every run kept in ``docs/runs/`` is what today's analysis makes of its own rows.

The docs and the built-in profiles quote ``result.json`` (validate: α with its CI, the verdict, the
floor) and ``policies.json`` (budget exponents, mean KL, recency-over-random ratios); the rows are
the measurement. Re-analysing the rows with the current code must give the same numbers, so a
change to the fits cannot leave a kept run, and every number quoted from it, silently stale.

validate seeds its bootstrap from the run's config, so its whole analysis, CIs included, is
recomputed. policies' CLI draws its calculator overlay from the bootstrap stream before the CIs,
so there the point estimates are compared and the CIs are left to the kept file.
"""
import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from wzbounds.empirical.analysis import Analysis, analyse, floor_record
from wzbounds.empirical.pipeline import _plan, load_result
from wzbounds.empirical.pipeline import read_rows as validate_rows
from wzbounds.empirical.policies.report import load_result as load_policies
from wzbounds.empirical.policies.report import summarize
from wzbounds.empirical.policies.run import read_rows as policies_rows

pytestmark = pytest.mark.empirical
RUNS = Path(__file__).resolve().parents[2] / "docs" / "runs"
VALIDATE = sorted(p.parent for p in RUNS.rglob("result.json"))
POLICIES = sorted(p.parent for p in RUNS.rglob("policies.json"))


def _close(a, b, where="") -> None:
    """``a`` equals ``b`` field by field, floats to rounding: one float64 computation on the same
    rows, run again (least-squares fits may differ in their last bits across numpy/BLAS builds)."""
    if dataclasses.is_dataclass(a):
        a, b = dataclasses.asdict(a), dataclasses.asdict(b)
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for k in a:
            _close(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _close(x, y, f"{where}.{i}")
    elif isinstance(a, float) and isinstance(b, float):
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12) or (math.isnan(a) and math.isnan(b)), (where, a, b)
    else:
        assert a == b, (where, a, b)


def test_there_are_kept_runs():
    assert len(VALIDATE) >= 8 and len(POLICIES) >= 5, (VALIDATE, POLICIES)


@pytest.mark.parametrize("run", VALIDATE, ids=lambda p: str(p.relative_to(RUNS)))
def test_kept_result_json_is_the_analysis_of_its_rows(run):
    kept = load_result(run / "result.json")
    cfg = kept.config
    plan = _plan(cfg, kept.measurement.positions)
    rows = validate_rows(run, plan)
    assert len(rows) == kept.provenance.n_prefixes_measured
    floor = floor_record(rows)
    again, _ = analyse(rows, plan, np.random.default_rng(cfg.seed + 1), n_resamples=cfg.n_resamples,
                       confidence_level=cfg.confidence_level, include_boundary=cfg.include_boundary, floor=floor)
    for f in dataclasses.fields(Analysis):
        _close(getattr(again, f.name), getattr(kept, f.name), f.name)
    _close(floor, kept.measurement.floor, "measurement.floor")


@pytest.mark.parametrize("run", POLICIES, ids=lambda p: str(p.relative_to(RUNS)))
def test_kept_policies_json_is_the_analysis_of_its_rows(run):
    kept = load_policies(run / "policies.json")
    rows, timing = policies_rows(run)
    assert rows, f"{run} keeps no rows"
    again = summarize(rows, timing, kept.config, kept.provenance, kept.sanity, np.random.default_rng(0),
                      n_resamples=20)  # CIs are not compared: few resamples suffice
    point = {"mean_kl_ci_nats": None, "alpha_ci": None}  # the bootstrap's fields, left out
    curves = lambda res: {(c.domain, c.semantics, c.policy): {k: v for k, v in dataclasses.asdict(c).items()  # noqa: E731
                                                              if k not in point} for c in res.curves}
    _close(curves(again), curves(kept), "curves")
    ratios = lambda res: {(s.domain, s.semantics, s.numerator, s.denominator): s.ratio  # noqa: E731
                          for s in res.suppression}
    _close(ratios(again), ratios(kept), "suppression")
    _close(again.seconds, kept.seconds, "seconds")  # sums of the same timing rows
