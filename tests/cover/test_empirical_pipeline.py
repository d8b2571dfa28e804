"""The validate pipeline end to end on a tiny random model: outputs, resume, shard + merge,
bad input, sanity figures, and the CLI."""
import json
import re

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from wzbounds.cli import main  # noqa: E402
from wzbounds.empirical.models import save_tiny_random_model, tiny_random_model  # noqa: E402
from wzbounds.empirical.pipeline import ValidateConfig, merge_runs, read_rows, run_validate  # noqa: E402
from wzbounds.empirical.results import JsonlStore, RESULT_KEYS, validate_result  # noqa: E402
from wzbounds.profiles import PowerLaw, load_profile  # noqa: E402

torch.set_num_threads(1)
CFG = ValidateConfig(model="tiny", domain="natural", n_prefixes=5, prefix_tokens=48,
                     windows=(1, 2, 4, 8, 16, 24, 32), sink_tokens=2, perplexity_tokens=16, n_resamples=40)


@pytest.fixture(scope="module")
def lm():
    return tiny_random_model(0)


@pytest.fixture(scope="module")
def done(lm, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    return out, run_validate(CFG, out, loaded=lm, show_progress=False)


def test_outputs_and_schema(done):
    out, analysis = done
    doc = json.loads((out / "result.json").read_text())
    validate_result(doc)
    assert set(RESULT_KEYS) <= set(doc)
    fit = doc["fits"]["preserve/tv"]
    assert fit["alpha_ci"][0] <= fit["alpha"] <= fit["alpha_ci"][1]
    assert 32 not in fit["windows_tokens"]  # boundary window (> T/2) excluded from fits
    assert doc["per_window"]["preserve/tv"]["boundary"][-1] is True
    assert doc["verdict"]["label"] in ("polynomial", "geometric", "inconclusive")
    for key in ("model_id", "corpus_sha256", "package_version", "device", "dtype", "seed", "wall_s", "forward_tokens"):
        assert key in doc["provenance"]
    assert set(doc["kl_vs_tv2"]["preserve"]) == {"kl", "kl_mu=0.0001", "kl_mu=0.01", "kl_mu=0.1", "kl_mu=0.3"}
    profile = load_profile(out / "profile.json")
    assert isinstance(profile, PowerLaw) and profile.divergence == "tv"
    assert profile.alpha == pytest.approx(fit["alpha"])
    for name in ("report.md", "tv_decay.png", "sink_kl.png", "kl_vs_tv2.png"):
        assert (out / name).stat().st_size > 0
    assert "Verdict" in (out / "report.md").read_text()
    assert len(read_rows(out)) == 5


def test_sanity_warns_on_implausible_tokenizer(done):
    """A byte tokenizer gives ~1 character per token: the run records a loud warning."""
    s = json.loads((done[0] / "result.json").read_text())["sanity"]
    assert s["characters_per_token"] == pytest.approx(1.0, abs=0.05)  # ASCII-heavy prose, 1 byte per char
    assert any("characters per token" in w for w in s["warnings"])
    assert s["perplexity"] > 1


def test_resume_after_kill_measures_only_missing(lm, done, tmp_path):
    out = tmp_path / "resume"
    import shutil

    shutil.copytree(done[0], out)
    part = out / "rows" / "part-main.jsonl"
    lines = part.read_text().splitlines(keepends=True)
    part.write_text("".join(lines[:2]) + lines[2][:30])  # killed while writing the third row
    (out / "result.json").unlink()
    a = run_validate(CFG, out, loaded=lm, show_progress=False)
    rows = read_rows(out)
    assert [r["key"] for r in rows] == list(range(5))
    before = {r["key"]: r for r in JsonlStore(done[0] / "rows" / "part-main.jsonl").rows()}
    for r in rows:  # resumed rows equal the uninterrupted run's
        np.testing.assert_allclose(r["tv"]["preserve"], before[r["key"]]["tv"]["preserve"], atol=1e-6)
    assert a.result["fits"]["preserve/tv"]["alpha"] == pytest.approx(
        json.loads((done[0] / "result.json").read_text())["fits"]["preserve/tv"]["alpha"], abs=1e-6)


def test_rerun_skips_everything(lm, done):
    mtime = (done[0] / "result.json").stat().st_mtime_ns
    a = run_validate(CFG, done[0], loaded=lm, show_progress=False)
    assert not a.recomputed and (done[0] / "result.json").stat().st_mtime_ns == mtime


def test_different_settings_refused(lm, done):
    from dataclasses import replace

    with pytest.raises(Exception, match="different settings"):
        run_validate(replace(CFG, prefix_tokens=40, windows=(1, 2)), done[0], loaded=lm, show_progress=False)


def test_shards_then_merge_equal_single_run(lm, done, tmp_path):
    dirs = [tmp_path / f"s{i}" for i in range(2)]
    for i, d in enumerate(dirs):
        run_validate(CFG, d, shard=(i, 2), loaded=lm, show_progress=False)
        assert not (d / "result.json").exists()
    merged = merge_runs(dirs, tmp_path / "merged")
    single = json.loads((done[0] / "result.json").read_text())
    assert merged.result["fits"]["preserve/tv"]["alpha"] == pytest.approx(single["fits"]["preserve/tv"]["alpha"],
                                                                           abs=1e-6)  # same rows, same seed
    assert (tmp_path / "merged" / "profile.json").exists()


def test_cli_end_to_end_and_bad_inputs(tmp_path, capsys, monkeypatch):
    model = save_tiny_random_model(tmp_path / "model")
    out = tmp_path / "out"
    args = ["validate", "--model", str(model), "--domain", "code", "--prefixes", "3", "--prefix-len", "40",
            "--windows", "1,2,4,8,16", "--positions", "preserve", "--bootstrap", "30", "--no-progress",
            "--threads", "1", "--out", str(out)]
    assert main(args) == 0
    assert "alpha" in capsys.readouterr().out
    # a rerun of a finished run needs no model: everything comes from the saved stages
    from wzbounds.empirical import models

    with monkeypatch.context() as mp:
        mp.setattr(models, "load_model", lambda *a, **k: pytest.fail("model loaded on a finished rerun"))
        assert main(args) == 0
    assert main(["merge", str(out)]) == 0
    # bad inputs: one line on stderr, exit status 2, no traceback
    bad = [
        (["--model", str(tmp_path / "nope")], "not found"),
        (["--gguf", str(tmp_path / "x.gguf")], "GGUF file not found"),
        (["--model", str(model), "--windows", "1,40"], r"\[1, 39\]"),
        (["--model", str(model), "--text", str(tmp_path / "model" / "config.json"), "--prefix-len", "4000",
          "--windows", "1,2"], "4000 tokens"),
    ]
    for k, (extra, msg) in enumerate(bad):
        base = ["validate", "--prefixes", "2", "--prefix-len", "40", "--windows", "1,2", "--no-progress",
                "--out", str(tmp_path / f"bad{k}")]
        capsys.readouterr()
        assert main(base + extra) == 2
        err = capsys.readouterr().err
        last = err.strip().splitlines()[-1]
        assert "Traceback" not in err and last.startswith("wzbounds validate: error:")
        assert re.search(msg, last), err


def test_pickle_checkpoint_refused(tmp_path):
    from wzbounds.empirical.models import UserError, load_model

    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "pytorch_model.bin").write_bytes(b"\x80\x04")
    with pytest.raises(UserError, match="allow-pickle"):
        load_model(str(tmp_path))


def test_cli_fixed_start_runs_resumes_and_refuses_other_protocol(tmp_path, capsys):
    """`--protocol fixed-start` end to end: rows and result.json carry the protocol and s, a killed
    run resumes to the same rows, and the same DIR refuses the other protocol."""
    model = save_tiny_random_model(tmp_path / "model")
    out = tmp_path / "out"
    args = ["validate", "--model", str(model), "--domain", "natural", "--prefixes", "3", "--prefix-len", "40",
            "--windows", "log:6", "--protocol", "fixed-start", "--sinks", "2", "--bootstrap", "30",
            "--no-progress", "--threads", "1", "--out", str(out)]
    assert main(args) == 0
    doc = json.loads((out / "result.json").read_text())
    assert doc["config"]["protocol"] == "fixed-start" and doc["provenance"]["start_tokens"] == 20
    assert max(doc["config"]["windows"]) <= 20 and "fixed-start" in (out / "report.md").read_text()
    rows = read_rows(out)
    assert [r["protocol"] for r in rows] == ["fixed-start"] * 3 and {r["start_tokens"] for r in rows} == {20}
    part = out / "rows" / "part-main.jsonl"
    lines = part.read_text().splitlines(keepends=True)
    part.write_text("".join(lines[:1]) + lines[1][:20])  # killed while writing the second row
    (out / "result.json").unlink()
    assert main(args) == 0
    resumed = read_rows(out)
    assert [r["key"] for r in resumed] == [0, 1, 2]
    for a, b in zip(rows, resumed):  # same model file, same prefixes: the same numbers
        np.testing.assert_allclose(a["tv"]["preserve"], b["tv"]["preserve"], atol=1e-6)
    capsys.readouterr()
    other = [a if a != "fixed-start" else "fixed-end" for a in args]
    assert main(other) == 2
    assert "different settings" in capsys.readouterr().err
