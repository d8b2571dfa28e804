"""``wzbounds policies`` writes calculator profiles (tiny random model): one PolicyProfile per
(corpus, semantics, policy) and divergence (KL nats, TV) over every context length, with its
provenance; rows written before TV was recorded give the KL profiles only, unchanged; the calibration
table reads a held-out run at the budgets the profiles chose."""
from __future__ import annotations

import hashlib
import json
import shutil

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
    assert names == sorted(f"natural-{s}-{p}{suffix}.json" for s in ("prefill", "truncation")
                           for p in ("sliding", "sink_4", "h2o") for suffix in ("", "-tv"))
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


def test_tv_profiles_bound_the_rows_tv(run):
    """Each TV profile is in "tv" on the KL profile's budgets; its curve lies in (0, 1] and above the
    rows' mean TV at every measured length; the rows' TV is paired with their KL (Pinsker)."""
    out, _ = run
    for s in ("prefill", "truncation"):
        for pol, label in (("sliding", "sliding"), ("sink_4", "sink(4)"), ("h2o", "h2o")):
            tv = load_profile(out / "profiles" / f"natural-{s}-{pol}-tv.json")
            kl = load_profile(out / "profiles" / f"natural-{s}-{pol}.json")
            assert isinstance(tv, PolicyProfile) and (tv.divergence, kl.divergence) == ("tv", "kl_nats")
            assert (tv.policy, tv.semantics, tv.context_tokens) == (kl.policy, s, (48, 64))
            assert tv.budgets_tokens == kl.budgets_tokens and tv.values != kl.values
            for T, values in zip(tv.context_tokens, tv.values, strict=True):
                rows = [r for r in _rows(out / f"T{T}" / "rows.jsonl") if r.get("semantics") == s
                        and r.get("policy") == label]
                assert len(rows) == 4 and all(len(r["tv"]) == len(r["kl_nats"]) for r in rows)
                mean = np.mean([r["tv"] for r in rows], axis=0)
                assert np.all((np.asarray(values) > 0) & (np.asarray(values) <= 1))
                assert np.all(np.asarray(values) >= mean * (1 - 1e-12))  # upper CI end of the mean
                # Pinsker row by row, then Jensen: mean TV <= sqrt(mean KL / 2)
                assert np.all(mean <= np.sqrt(np.mean([r["kl_nats"] for r in rows], axis=0) / 2) + 1e-12)


def test_window_answers_a_tv_profile(run, capsys):
    """`wzbounds window --profile <tv profile> --eps E --context T` gives a budget whose curve value
    is at most E, in tv."""
    out, _ = run
    path = out / "profiles" / "natural-prefill-sliding-tv.json"
    curve = load_profile(path).curve(64)
    eps = float(np.sqrt(curve.values[0] * curve.values[-1]))  # inside the measured range
    capsys.readouterr()
    assert main(["window", "--profile", str(path), "--eps", repr(eps), "--context", "64", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    (r,) = doc["budgets"]
    (k,), (bound,) = r["budget_tokens"], r["distortion_bound"]
    assert r["divergence"] == "tv" and r["context_status"] == "measured"
    assert curve.budgets_tokens[0] <= k <= curve.budgets_tokens[-1] and 0 < bound <= eps


def test_rows_without_tv_give_the_same_kl_profiles_only(run, tmp_path, capsys):
    """A run whose rows predate TV (no ``tv`` field, as the kept runs in docs/runs/) still loads and
    gives exactly the KL profiles it gave before, silently, and no TV profile; a run where only one
    length lacks TV gets no TV profiles either, with a note."""
    from wzbounds.empirical.policies.run import PolicyRow

    out, argv = run
    old = tmp_path / "old"
    shutil.copytree(out, old)
    for T in (48, 64):
        path = old / f"T{T}" / "rows.jsonl"
        lines = [json.loads(line) for line in path.read_text().splitlines()]
        for d in lines:
            d.pop("tv", None)
        path.write_text("".join(json.dumps(d) + "\n" for d in lines))
        row = PolicyRow.from_dict(next(d for d in lines if "kl_nats" in d and d.get("skipped") is None))
        assert row.tv == () and row.kl_nats
    shutil.rmtree(old / "profiles")
    capsys.readouterr()
    assert main([*argv[:argv.index("--out") + 1], str(old), "--summarize-only"]) == 0
    assert "profile" not in capsys.readouterr().err  # silently: no note about TV
    kl = sorted(p.name for p in (out / "profiles").glob("*.json") if not p.name.endswith("-tv.json"))
    assert sorted(p.name for p in (old / "profiles").glob("*.json")) == kl
    for name in kl:  # byte for byte: KL bootstraps draw from the generator before TV's
        assert (old / "profiles" / name).read_text() == (out / "profiles" / name).read_text()
    mixed = tmp_path / "mixed"
    shutil.copytree(out, mixed)
    shutil.copy(old / "T48" / "rows.jsonl", mixed / "T48" / "rows.jsonl")
    shutil.rmtree(mixed / "profiles")
    assert main([*argv[:argv.index("--out") + 1], str(mixed), "--summarize-only"]) == 0
    assert "no natural/prefill/h2o tv profile" in capsys.readouterr().err
    assert sorted(p.name for p in (mixed / "profiles").glob("*.json")) == kl


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
