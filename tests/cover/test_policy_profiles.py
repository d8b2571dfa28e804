"""``wzbounds policies`` writes calculator profiles (tiny random model): one PolicyProfile per
(corpus, semantics, policy) over every context length, with its provenance; the calibration table
reads a held-out run at the budgets the profiles chose."""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from wzbounds.cli import main  # noqa: E402
from wzbounds.empirical.models import tiny_random_model  # noqa: E402
from wzbounds.empirical.policies import calibration  # noqa: E402
from wzbounds.empirical.policies.profiles import weights_sha256  # noqa: E402
from wzbounds.profiles import PolicyProfile, load_profile  # noqa: E402

pytestmark = pytest.mark.empirical
POLICIES = "sliding,sink,h2o"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("policies") / "run"
    argv = ["policies", "--tiny-random-model", "--domain", "natural", "--prefix-len", "64,48", "--prefixes", "4",
            "--budgets", "4,8,16,32,56", "--semantics", "prefill,truncation", "--policies", POLICIES,
            "--bootstrap", "50", "--threads", "1", "--no-progress", "--out", str(out)]
    assert main(argv) == 0
    return out, argv


def _rows(path):
    return [json.loads(line) for line in path.read_text().splitlines() if not line.endswith('timing"}')]


def test_one_profile_per_semantics_and_policy_over_both_lengths(run):
    out, _ = run
    names = sorted(p.name for p in (out / "profiles").glob("*.json"))
    assert names == sorted(f"natural-{s}-{p}.json" for s in ("prefill", "truncation")
                           for p in ("sliding", "sink_4", "h2o"))
    prof = load_profile(out / "profiles" / "natural-prefill-sliding.json")
    assert isinstance(prof, PolicyProfile) and prof.context_tokens == (48, 64)
    # each length measures the budgets below it
    assert prof.budgets_tokens == ((4, 8, 16, 32), (4, 8, 16, 32, 56))
    for T, values in zip(prof.context_tokens, prof.values):
        rows = [r for r in _rows(out / f"T{T}" / "rows.jsonl") if r.get("semantics") == "prefill"
                and r.get("policy") == "sliding"]
        mean = np.mean([r["kl_nats"] for r in rows], axis=0)
        assert len(rows) == 4 and np.all(np.diff(values) <= 0)
        # the upper end of a bootstrap interval of the mean lies above the mean (made non-increasing)
        assert np.all(np.asarray(values) >= mean * (1 - 1e-12))


def test_provenance_names_model_corpus_policy_and_verdict(run):
    out, _ = run
    prov = load_profile(out / "profiles" / "natural-prefill-h2o.json").provenance
    assert prov["weights_sha256"] == weights_sha256(tiny_random_model(seed=0).model)
    assert prov["model_id"] == "tiny-random-llama(seed=0)" and prov["corpus"].startswith("natural")
    assert prov["semantics"] == "prefill" and prov["policy"] == "h2o"
    assert prov["policy_fingerprint"] == hashlib.sha256(prov["policy_spec"].encode()).hexdigest()
    assert prov["verdict"] in ("trusted", "untrusted") and prov["n_prefixes_per_context"] == [4, 4]


def test_summarize_only_rebuilds_the_same_profiles(run):
    out, argv = run
    before = {p.name: p.read_text() for p in (out / "profiles").glob("*.json")}
    assert main(argv + ["--summarize-only"]) == 0
    assert {p.name: p.read_text() for p in (out / "profiles").glob("*.json")} == before


def test_window_answers_the_written_profile(run, capsys):
    out, _ = run
    capsys.readouterr()
    assert main(["window", "--profile", str(out / "profiles" / "natural-prefill-sink_4.json"), "--eps",
                 "0.5", "--context", "56", "--json"]) in (0, 2)
    text = capsys.readouterr()
    if text.err:  # eps outside this tiny curve's range: the refusal names --eps
        assert "`--eps`" in text.err
    else:
        (r,) = json.loads(text.out)["budgets"]
        assert r["context_status"] == "interpolated" and r["contexts_used"] == [48, 64]


def test_calibration_reads_the_held_out_run_at_the_chosen_budgets(run, tmp_path):
    out, _ = run
    profiles = calibration.load_profiles(out / "profiles")
    curves = {p: prof.curve(64) for p, prof in profiles.items()}
    lo = max(float(c.values[-1]) for c in curves.values())
    hi = min(float(c.values[0]) for c in curves.values())
    eps = [float(np.sqrt(lo * hi)), float(lo ** 0.25 * hi ** 0.75)]  # inside every curve's range
    chosen, refused = calibration.chosen_budgets(profiles, eps, 64)
    assert not refused
    budgets = sorted({int(r.budget_tokens) for r in chosen.values()})
    held = tmp_path / "held"
    assert main(["policies", "--tiny-random-model", "--domain", "code", "--prefix-len", "64", "--prefixes", "4",
                 "--budgets", ",".join(map(str, budgets + ([63] if len(budgets) < 2 else []))), "--semantics",
                 "prefill", "--policies", POLICIES, "--bootstrap", "50", "--threads", "1", "--no-progress",
                 "--out", str(held)]) == 0
    cal = calibration.calibrate(profiles, held, eps, 64, seed=0, n_resamples=200)
    assert len(cal.rows) == len(profiles) * len(eps)
    rows = _rows(held / "rows.jsonl")
    for r in cal.rows:
        kl = [row["kl_nats"][row["budgets_tokens"].index(r.budget_tokens)] for row in rows
              if row.get("policy") == r.policy and row.get("semantics") == "prefill"]
        assert r.reached_mean_kl_nats == pytest.approx(np.mean(kl), rel=1e-12)
        assert r.met == (np.mean(kl) <= r.eps_nats)
        assert r.reached_ci_nats[0] <= r.reached_mean_kl_nats <= r.reached_ci_nats[1]
    assert "| policy | target ε" in calibration.markdown(cal)
