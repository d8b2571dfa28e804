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
from wzbounds.empirical.pipeline import (ValidateConfig, load_result, merge_runs,  # noqa: E402
                                         read_rows, run_validate)
from wzbounds.profiles import PowerLaw, Tabulated, load_profile  # noqa: E402

pytestmark = pytest.mark.empirical
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
    out, result = done
    doc = json.loads((out / "result.json").read_text())
    assert doc["kind"] == "wzbounds.validate" and doc["schema_version"] == 2
    assert load_result(out / "result.json") == result  # typed, validated whole, round-trips
    fit = result.fits["preserve/tv"]
    assert fit.alpha_ci[0] <= fit.alpha <= fit.alpha_ci[1]
    assert 32 not in fit.windows_tokens  # boundary window (> T/2) excluded from fits
    assert result.per_window["preserve/tv"].boundary[-1] is True
    assert result.verdict.label in ("polynomial", "geometric", "inconclusive")
    prov = result.provenance
    assert prov.corpora[0].sha256 and prov.package_version and prov.model.device == "cpu" and prov.seed == 0
    assert prov.forward_tokens > 0 and prov.model.tokenizer_source == "byte"
    assert set(result.kl_vs_tv2["preserve"]) == {"kl", "kl_mu=0.0001", "kl_mu=0.01", "kl_mu=0.1", "kl_mu=0.3"}
    profile = load_profile(out / "profile.json")
    assert isinstance(profile, PowerLaw) and profile.divergence == "tv"
    assert profile.alpha == pytest.approx(fit.alpha)
    tabulated = load_profile(out / "profile_tabulated.json")  # the measured upper curve, interpolated
    assert isinstance(tabulated, Tabulated) and tabulated.divergence == "tv"
    assert tabulated.windows == tuple(int(w) for w in fit.windows_tokens)
    assert tabulated.provenance["file_sha256"] == profile.provenance["file_sha256"]
    second = load_profile(out / "profile_tv2.json")  # E[TV^2] envelope for the locally-quadratic conversion
    assert second.divergence == "tv2" and second.alpha == pytest.approx(result.fits["preserve/tv2"].alpha)
    for name in ("report.md", "tv_decay.png", "sink_kl.png", "kl_vs_tv2.png"):
        assert (out / name).stat().st_size > 0
    assert "Verdict" in (out / "report.md").read_text()
    assert len(read_rows(out)) == 5


def test_result_that_does_not_parse_names_file_and_field(done, tmp_path):
    doc = json.loads((done[0] / "result.json").read_text())
    doc["fits"]["preserve/tv"]["alpha_ci"] = [0.1, "x"]
    bad = tmp_path / "result.json"
    bad.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=r"result.json: field `fits\['preserve/tv'\].alpha_ci\[1\]`"):
        load_result(bad)
    doc = json.loads((done[0] / "result.json").read_text())
    del doc["sanity"]
    bad.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="field `sanity`: missing"):
        load_result(bad)


def test_byte_tokenizer_passes_the_tokenizer_checks(done):
    """A byte tokenizer is exact (round trip) and gives one character per ASCII token, which is
    what a 257-piece vocabulary should give: no tokenizer warning."""
    t = done[1].sanity.tokenizer
    assert t.round_trip_failures == 0 and t.characters_per_token == pytest.approx(1.0, abs=0.05)
    assert t.warnings == () and done[1].sanity.perplexity > 1


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
    assert [r.key for r in rows] == list(range(5))
    before = {r.key: r for r in read_rows(done[0])}
    for r in rows:  # resumed rows equal the uninterrupted run's
        np.testing.assert_allclose(r.tv["preserve"], before[r.key].tv["preserve"], atol=1e-6)
    assert a.fits["preserve/tv"].alpha == pytest.approx(done[1].fits["preserve/tv"].alpha, abs=1e-6)


def test_row_of_the_wrong_shape_is_remeasured(lm, done, tmp_path, capsys):
    import shutil

    out = tmp_path / "shape"
    shutil.copytree(done[0], out)
    part = out / "rows" / "part-main.jsonl"
    lines = part.read_text().splitlines(keepends=True)
    part.write_text("".join(lines[:1]) + '{"key": 1, "foo": "bar"}\n' + "".join(lines[2:]))
    a = run_validate(CFG, out, loaded=lm, show_progress=False)
    assert "treated as torn" in capsys.readouterr().err
    assert a.provenance.n_prefixes_measured == 5 and [r.key for r in read_rows(out, warn=lambda m: None)] == list(range(5))


def test_rerun_skips_everything(lm, done):
    mtime = (done[0] / "result.json").stat().st_mtime_ns
    run_validate(CFG, done[0], loaded=lm, show_progress=False)
    assert (done[0] / "result.json").stat().st_mtime_ns == mtime


def test_analysis_settings_reanalyse_stored_rows(lm, done, tmp_path):
    """--bootstrap, --confidence and --include-boundary change the analysis, never the rows: a rerun
    with other values re-analyses the stored rows (no measurement, nothing refused)."""
    import shutil
    from dataclasses import replace

    out = tmp_path / "reanalyse"
    shutil.copytree(done[0], out)
    rows_before = (out / "rows" / "part-main.jsonl").read_bytes()
    again = run_validate(replace(CFG, n_resamples=60, include_boundary=True), out, show_progress=False)
    assert (out / "rows" / "part-main.jsonl").read_bytes() == rows_before
    assert again.fits["preserve/tv"].n_resamples == 60 and 32 in again.fits["preserve/tv"].windows_tokens


def test_different_settings_refused(lm, done):
    from dataclasses import replace

    with pytest.raises(Exception, match="different settings"):
        run_validate(replace(CFG, prefix_tokens=40, windows=(1, 2)), done[0], loaded=lm, show_progress=False)


def test_position_ablation_on_a_rotary_model(done):
    """A RoPE model: reindex equals preserve by construction, so it is measured on the first prefix
    only (numerical evidence ~1e-7) and sink-plus-recent is measured in both modes."""
    p = done[1].measurement.positions
    assert p.relative_positions and p.measured_modes == ("preserve",) and p.sink_modes == ("preserve", "reindex")
    assert p.evidence_prefix == 0 and p.max_abs_tv_diff < 1e-5  # float32 rounding of shifted rotations
    assert "sink_reindex/tv" in done[1].fits and "reindex/tv" not in done[1].fits


def test_position_ablation_kept_for_absolute_positions(tmp_path):
    """GPT-2 style learned positions: both modes are measured on every prefix."""
    import transformers
    from dataclasses import replace

    from wzbounds.empirical.models import relative_positions

    gpt2 = transformers.GPT2LMHeadModel(transformers.GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=257,
                                                                n_positions=64)).eval()
    assert relative_positions(gpt2) == (False, "learned absolute position embeddings (transformer.wpe)")
    lm0 = tiny_random_model(0)
    lm_abs = replace(lm0, model=gpt2, provenance=replace(lm0.provenance, model_id="tiny-gpt2", model_class="GPT2LMHeadModel"))
    cfg = replace(CFG, n_prefixes=2, windows=(1, 2, 4, 8), sink_tokens=0)
    r = run_validate(cfg, tmp_path / "abs", loaded=lm_abs, show_progress=False)
    assert r.measurement.positions.measured_modes == ("preserve", "reindex") and "reindex/tv" in r.fits


def test_shards_then_merge_equal_single_run(lm, done, tmp_path):
    dirs = [tmp_path / f"s{i}" for i in range(2)]
    for i, d in enumerate(dirs):
        run_validate(CFG, d, shard=(i, 2), loaded=lm, show_progress=False)
        assert not (d / "result.json").exists()
    merged = merge_runs(dirs, tmp_path / "merged")
    assert merged.fits["preserve/tv"].alpha == pytest.approx(done[1].fits["preserve/tv"].alpha,
                                                             abs=1e-6)  # same rows, same seed
    assert (tmp_path / "merged" / "profile.json").exists()
    assert merged.measurement.positions.evidence_prefix == 0  # shard 0 measured the evidence


def test_merge_refuses_shards_of_different_runs(lm, tmp_path):
    """A shard of another seed (other prefixes) is another run: merging it is refused and the
    target is left as it was."""
    from dataclasses import replace

    a, b = tmp_path / "a", tmp_path / "b"
    run_validate(CFG, a, shard=(0, 2), loaded=lm, show_progress=False)
    run_validate(replace(CFG, seed=7), b, shard=(1, 2), loaded=lm, show_progress=False)
    before = sorted(p.name for p in (a / "rows").iterdir())
    with pytest.raises(Exception, match="different runs.*seed"):
        merge_runs([a, b])
    assert sorted(p.name for p in (a / "rows").iterdir()) == before and not (a / "result.json").exists()


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
        (["--gguf", str(tmp_path / "x.gguf")], "--gguf.*no such file"),
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
    res = load_result(out / "result.json")
    assert res.config.protocol == "fixed-start" and res.measurement.start_tokens == 20
    assert max(res.config.windows) <= 20 and "fixed-start" in (out / "report.md").read_text()
    rows = read_rows(out)
    assert [r.protocol for r in rows] == ["fixed-start"] * 3 and {r.start_tokens for r in rows} == {20}
    part = out / "rows" / "part-main.jsonl"
    lines = part.read_text().splitlines(keepends=True)
    part.write_text("".join(lines[:1]) + lines[1][:20])  # killed while writing the second row
    (out / "result.json").unlink()
    assert main(args) == 0
    resumed = read_rows(out)
    assert [r.key for r in resumed] == [0, 1, 2]
    for a, b in zip(rows, resumed):  # same model file, same prefixes: the same numbers
        np.testing.assert_allclose(a.tv["preserve"], b.tv["preserve"], atol=1e-6)
    capsys.readouterr()
    other = [a if a != "fixed-start" else "fixed-end" for a in args]
    assert main(other) == 2
    assert "different settings" in capsys.readouterr().err


def test_every_run_states_its_numerical_floor(done):
    """The floor (references computed a second way) is in the rows, the result and the report; in
    float32 no window of a tiny model comes near it."""
    out, result = done
    floor = result.measurement.floor
    assert floor is not None and floor.method == "shift" and floor.n_prefixes == CFG.n_prefixes
    assert 0 < floor.mean["tv"] <= floor.max["tv"] < 1e-5  # float32: rounding-sized
    assert all(r.floor_tv is not None for r in read_rows(out))
    assert not any(result.per_window["preserve/tv"].at_floor)
    assert "Numerical floor (float32" in (out / "report.md").read_text()


def test_windows_near_the_floor_leave_the_fits(done):
    """A floor raised to the curve's middle takes every window whose mean lies below 10x of it out
    of the fits, and says so; the rest are fitted as before."""
    from dataclasses import replace

    from wzbounds.empirical.analysis import analyse, floor_record
    from wzbounds.empirical.pipeline import _plan

    out, result = done
    rows = read_rows(out)
    curve = np.asarray(result.per_window["preserve/tv"].mean)
    level = float(np.median(curve)) / 10  # windows with mean below the median reach the floor rule
    high = [replace(r, floor_tv=tuple(level for _ in r.floor_tv)) for r in rows]
    floor = floor_record(high)
    assert floor.mean["tv"] == pytest.approx(level)
    summary, _ = analyse(high, _plan(CFG, result.measurement.positions), np.random.default_rng(1),
                         n_resamples=40, floor=floor)
    low = np.asarray(summary.per_window["preserve/tv"].at_floor)
    np.testing.assert_array_equal(low, curve < 10 * level)
    assert low.any() and not low.all()
    fitted = set(summary.fits["preserve/tv"].windows_tokens)
    w = np.asarray(result.per_window["preserve/tv"].windows_tokens)
    assert fitted.isdisjoint(w[low].tolist())
    # windows the floor does not reach are fitted as they were without it
    assert fitted == set(result.fits["preserve/tv"].windows_tokens) - set(w[low].tolist())


def test_floor_on_the_first_prefixes_only(lm, tmp_path):
    """--floor-prefixes N: the floor (one more forward per prefix) on prefixes 0..N-1 only; the rest
    of each row and the fits are what a full-floor run measures."""
    from dataclasses import replace

    result = run_validate(replace(CFG, floor_prefixes=2), tmp_path, loaded=lm, show_progress=False)
    rows = read_rows(tmp_path)
    assert [r.key for r in rows if r.floor_tv is not None] == [0, 1]
    assert result.measurement.floor.n_prefixes == 2
    assert main(["validate", "--model", "x", "--prefixes", "3", "--floor-prefixes", "0", "--out",
                 str(tmp_path / "bad")]) == 2
