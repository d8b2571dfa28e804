"""The budget tutorial's numbers are the kept runs': the budgets the kept SmolLM2 profiles choose, the
calibration tables recomputed from the held-out runs' raw rows, and the tables the page shows."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest.importorskip("torch")  # the run records import the measurement package

from wzbounds.empirical.policies import calibration  # noqa: E402
from wzbounds.empirical.records import load_record  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
RUNS = ROOT / "docs" / "runs"
PROFILES = RUNS / "smollm2-135m-budget-natural" / "profiles"
EPS = [0.02, 0.05, 0.1, 0.2]
HELD_OUT = ["smollm2-135m-budget-inaugural", "smollm2-135m-budget-natural-seed1"]
PAGE = ROOT / "docs" / "tutorials" / "budget.md"


def test_kept_budget_table_is_what_the_profiles_choose():
    kept = load_record(calibration.BudgetTable, RUNS / "smollm2-135m-budget-natural" / "budgets.json")
    chosen, refused = calibration.chosen_budgets(calibration.load_profiles(PROFILES), EPS, 2048)
    assert kept == calibration.budget_table(chosen, refused, 2048)


@pytest.mark.parametrize("run", HELD_OUT)
def test_kept_calibration_is_recomputed_from_the_raw_rows(run):
    kept = load_record(calibration.Calibration, RUNS / run / "calibration.json")
    again = calibration.calibrate(calibration.load_profiles(PROFILES), RUNS / run, EPS, 2048, seed=kept.seed,
                                  n_resamples=kept.n_resamples)
    assert again == kept


@pytest.mark.parametrize("run", HELD_OUT)
def test_the_page_shows_the_kept_table(run):
    kept = load_record(calibration.Calibration, RUNS / run / "calibration.json")
    text = PAGE.read_text()
    block = re.search(rf"<!-- calibration {run} -->\n(.*?)<!-- end -->", text, re.S)
    assert block is not None, f"no table of {run} on the page"
    assert block.group(1).strip() == calibration.markdown(kept).strip()


def test_the_page_quotes_the_profile_run_wall_times():
    import json

    m = re.search(r"it took (\d+) s at T = 2048 and (\d+) s at T = 1024", PAGE.read_text())
    assert m is not None
    for text, T in zip(m.groups(), (2048, 1024)):
        prov = json.loads((RUNS / "smollm2-135m-budget-natural" / f"T{T}" / "policies.json").read_text())["provenance"]
        assert text == f"{prov['wall_s']:.0f}"
