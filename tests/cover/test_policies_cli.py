"""`wzbounds policies` as a user runs it: the shared option vocabulary (own corpus with --text, old
spellings as hidden aliases), typed results validated whole on load, resume, refusal of another
configuration or model, --summarize-only, and honest overlays."""
import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from wzbounds.cli import main  # noqa: E402
from wzbounds.empirical.models import save_tiny_random_model  # noqa: E402
from wzbounds.empirical.policies.report import load_result  # noqa: E402

pytestmark = pytest.mark.empirical


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("pol")
    model = save_tiny_random_model(root / "model")
    text = root / "text"
    text.mkdir()
    from pydoc_data.topics import topics

    for i, k in enumerate(sorted(topics)[:12]):
        (text / f"{i}.txt").write_text(topics[k])
    return root, model, text


def argv(model, text, out, *extra):
    return ["policies", "--model", str(model), "--text", str(text), "--prefixes", "3", "--prefix-len", "24",
            "--budgets", "2,4,8", "--policies", "sliding,random,lastq", "--bootstrap", "50", "--batch-size", "2",
            "--threads", "1", "--no-progress", "--out", str(out), *extra]


@pytest.fixture(scope="module")
def measured(setup):
    root, model, text = setup
    out = root / "run"
    assert main(argv(model, text, out)) == 0
    return out


def test_own_corpus_typed_result_resume_and_summarize(setup, measured, capsys):
    root, model, text = setup
    out = measured
    args = argv(model, text, out)
    res = load_result(out / "policies.json")  # validated whole
    assert res.config.corpora == ("text",) and res.config.text == (str(text),)
    assert res.config.budgets_tokens == (2, 4, 8) and {c.policy for c in res.curves} == {"sliding", "random", "lastq"}
    assert res.provenance.corpora[0].sha256 and res.provenance.model.model_id == str(model)
    assert any(s.semantics == "truncation" and s.denominator == "sliding" for s in res.suppression)
    sup = next(s for s in res.suppression if s.semantics == "truncation")
    assert all(lo <= r <= hi for r, lo, hi in zip(sup.ratio, sup.ci_low, sup.ci_high))
    assert len(res.sanity) == 1 and res.sanity[0].tokenizer.round_trip_documents > 0
    # no built-in profile was measured on this model: the overlay is this run's own fit, labelled so
    assert "this run's own text truncation/sliding fit" in res.prediction["text"].label
    report = (out / "report.md").read_text()
    assert "Budget exponents vs references" in report and "own truncation/sliding fit" in report
    n_rows = len((out / "rows.jsonl").read_text().splitlines())
    assert main(args) == 0  # resumes: nothing new measured
    assert len((out / "rows.jsonl").read_text().splitlines()) == n_rows
    capsys.readouterr()
    assert main(args[:-2] + ["--seed", "1", "--out", str(out)]) == 2  # another configuration: refused
    assert "different configuration" in capsys.readouterr().err
    (out / "policies.json").unlink()
    assert main(args + ["--summarize-only"]) == 0  # re-summarise stored rows without the model
    assert load_result(out / "policies.json").curves == res.curves


def test_old_spellings_remain_as_hidden_aliases(setup):
    import subprocess
    import sys

    root, model, _ = setup
    out = root / "old"
    assert main(["policies", "--model", str(model), "--domains", "natural", "--n-prefixes", "2", "--prefix-tokens",
                 "20", "--position-mode", "preserve", "--n-resamples", "30", "--budgets", "2,4",
                 "--policies", "sliding,random", "--semantics", "truncation", "--threads", "1", "--no-progress",
                 "--out", str(out)]) == 0
    res = load_result(out / "policies.json")
    assert res.config.corpora == ("natural",) and res.config.n_prefixes == 2 and res.config.prefix_tokens == 20
    help_text = subprocess.run([sys.executable, "-m", "wzbounds.cli", "policies", "--help"], capture_output=True,
                               text=True).stdout
    assert "--prefixes" in help_text and "--n-prefixes" not in help_text and "--domains" not in help_text


def test_policies_json_that_does_not_parse_names_the_field(measured, tmp_path):
    doc = json.loads((measured / "policies.json").read_text())
    doc["curves"][0]["mean_kl_nats"][0] = "x"
    (tmp_path / "p.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=r"p.json: field `curves\[0\].mean_kl_nats\[0\]`"):
        load_result(tmp_path / "p.json")


def test_rows_of_another_model_are_refused(setup, capsys):
    root, model, text = setup
    other = save_tiny_random_model(root / "model2", seed=1)
    out = root / "mix"
    assert main(argv(model, text, out, "--semantics", "truncation")) == 0
    capsys.readouterr()
    assert main(argv(other, text, out, "--semantics", "truncation")) == 2
    assert "another model" in capsys.readouterr().err


def test_summary_of_one_measured_prefix_says_why_it_has_no_profiles(setup, capsys):
    """Summarising a run with one prefix measured so far (``--summarize-only`` while it runs): a
    profile needs a bootstrap over prefixes, so each missing profile is one note in the run's own
    terms (prefixes), not in the fit's (windows), and no profile is written."""
    root, model, text = setup
    out = root / "partial"
    args = argv(model, text, out, "--semantics", "truncation", "--batch-size", "1")
    args[args.index("--prefixes") + 1] = "2"
    assert main(args) == 0
    rows = out / "rows.jsonl"
    # keep prefix 0's rows ("text/0/...") and its batch's timing ("text/batch0/timing")
    rows.write_text("".join(line + "\n" for line in rows.read_text().splitlines()
                            if json.loads(line)["key"].split("/")[1] in ("0", "batch0")))
    for old in (out / "profiles").glob("*.json"):
        old.unlink()
    capsys.readouterr()
    assert main(args + ["--summarize-only"]) == 0
    err = capsys.readouterr().err
    assert err.count("needs at least 2 measured prefixes, the run has 1") == 6  # 3 policies x (KL, TV)
    assert "column per window" not in err
    assert not list((out / "profiles").glob("*.json"))
