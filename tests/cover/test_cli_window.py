"""``wzbounds window``: in-process via main(argv), plus one real subprocess call."""
import json
import subprocess
import sys

import pytest

from wzbounds.cli import main
from wzbounds.bounds import window_for_epsilon
from wzbounds.profiles import DEFAULT_POWER_LAW_PROFILE, DEFAULT_PROFILE, PowerLaw, default_power_law_profile, default_profile, save_profile


def run(argv, capsys):
    rc = main(["window", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_default_profile_table(capsys):
    rc, out, err = run([], capsys)
    assert rc == 0 and err == ""
    assert f"built-in default {DEFAULT_PROFILE!r}" in out and "measured by wzbounds validate" in out
    expected = window_for_epsilon(0.1, default_profile()).window_tokens
    assert f" {expected} " in out  # the CLI prints the calculator's exact window at the default eps
    # the default answer is read off the measured curve, not extrapolated past it
    assert expected <= default_profile().windows[-1] and "past the measured range" not in out


def test_illustrative_paper_profile_says_so(capsys):
    rc, out, _ = run(["--profile", "paper-qwen2.5-0.5b-natural-tv", "--eps", "0.01"], capsys)
    assert rc == 0 and "illustrative" in out
    assert "35112" in out  # ceil(0.01^(-1/0.44)) for the paper TV profile (C = 1)


def test_json_with_converse_and_memory(capsys):
    rc, out, _ = run(["--eps", "1e-2,1e-3", "--eps", "1e-4", "--alpha", "0.5", "--C", "2", "--c", "1",
                      "--layers", "30", "--kv-heads", "3", "--head-dim", "64", "--json"], capsys)
    assert rc == 0
    d = json.loads(out)
    assert d["eps"] == [1e-2, 1e-3, 1e-4]
    assert d["window_tokens"] == [40000, 4000000, 400000000]
    assert d["converse_window_tokens"] == [10000, 1000000, 100000000]
    assert d["peak_memory_bytes"][0] == 40000 * 2 * 30 * 3 * 64 * 2
    assert "achievability_sliding" in d["theorem_ids"] and "converse_suffix" in d["theorem_ids"]
    assert d["profile_source"] == "command-line power law"


def test_astronomical_window_json_is_exact_int(capsys):
    rc, out, _ = run(["--eps", "1e-6", "--alpha", "0.05", "--C", "1", "--json"], capsys)
    w = json.loads(out)["window_tokens"][0]
    assert rc == 0 and isinstance(w, int) and len(str(w)) == 120


def test_profile_file_scheme_and_model_config(tmp_path, capsys):
    path = save_profile(PowerLaw(0.5, 1.0, divergence="kl_bits"), tmp_path / "p.json")
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"num_hidden_layers": 30, "num_attention_heads": 9, "num_key_value_heads": 3,
                               "hidden_size": 576, "torch_dtype": "bfloat16"}))
    rc, out, _ = run(["--profile", str(path), "--eps", "0.01", "--scheme", "block", "--model-config", str(cfg),
                      "--json"], capsys)
    d = json.loads(out)
    assert rc == 0 and d["scheme"] == "block" and d["peak_memory_tokens"] == [19999]
    assert d["memory_spec"]["bytes_per_token"] == 2 * 30 * 3 * 64 * 2 and d["memory"] == [19999]
    rc, out, _ = run(["--alpha", "0.5", "--C", "1", "--eps", "0.01", "--scheme", "sink", "--sinks", "4"], capsys)
    assert rc == 0 and "10004" in out and "4 sinks" in out


@pytest.mark.parametrize("argv, needle", [
    (["--eps", "-1"], "eps"), (["--eps", "abc"], "eps"), (["--eps", "nan"], "eps"),
    (["--alpha", "0.5"], "--C"), (["--alpha", "-1", "--C", "1"], "alpha"),
    (["--alpha", "1", "--C", "1", "--c", "2"], "`c`"), (["--profile", "nope"], "profile"),
    (["--profile", DEFAULT_PROFILE, "--alpha", "1", "--C", "1"], "not both"),
    (["--divergence", "kl_nats"], "divergence"), (["--sinks", "3"], "sinks"),
    (["--layers", "3"], "--layers"), (["--model-config", "/no/such/config.json"], "config"),
])
def test_bad_input_one_line_exit_2(argv, needle, capsys):
    rc, out, err = run(argv, capsys)
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and needle in err and "Traceback" not in err


def test_block_markov_rate_prints_both_regimes(capsys):
    """--scheme block-markov-rate: the unconditional regime (gamma >= alpha_TV) with its block, and
    the forward-decay + regularity regime (gamma >= 2 alpha_TV), with a block once its hypotheses
    are given; eps is a KL target in nats."""
    rc, out, err = run(["--scheme", "block-markov-rate", "--eps", "0.1", "--vocab-size", "49152"], capsys)
    assert rc == 0 and err == ""
    beta = default_power_law_profile().alpha
    assert f"built-in default {DEFAULT_POWER_LAW_PROFILE!r}" in out  # the rate needs an exponent: the run's fit
    assert f"regime unconditional: gamma >= {beta:.4g}" in out
    assert f"regime forward-decay+regularity: gamma >= {2 * beta:.4g}" in out and "--regularity" in out
    assert "kl_nats" in out and "V = 49152" in out
    rc, out, _ = run(["--scheme", "block-markov-rate", "--alpha", "0.4", "--C", "1.5", "--c", "0.3",
                      "--divergence", "tv", "--eps", "0.05", "--vocab-size", "1000", "--forward-decay", "almost-sure",
                      "--regularity", "1e-3", "--json"], capsys)
    d = json.loads(out)
    from wzbounds import block_markov_rate
    expected = block_markov_rate(PowerLaw(0.4, 1.5, c=0.3, divergence="tv"), eps=0.05, vocab_size=1000)
    assert rc == 0 and [r["regime"] for r in d["regimes"]] == ["unconditional", "forward-decay+regularity"]
    assert d["regimes"][0]["block_tokens"] == [expected.block_tokens] and d["gamma_converse"] == 0.8
    assert d["regimes"][1]["gamma"] == 0.8 and d["regimes"][1]["block_tokens"][0] > 0


def test_untrusted_profile_is_refused_unless_allowed(tmp_path, capsys):
    """A profile its measurement marked untrusted: one line with the reason and exit 2; with
    --allow-untrusted-profile a warning line and the table."""
    path = save_profile(PowerLaw(0.4, 1.0, divergence="tv",
                                 provenance={"trusted": False, "untrusted_reasons": ["words split into pieces"]}),
                        tmp_path / "bad-tokenizer.json")
    rc, out, err = run(["--profile", str(path)], capsys)
    assert rc == 2 and out == "" and err.count("\n") == 1
    assert "untrusted" in err and "words split into pieces" in err and "--allow-untrusted-profile" in err
    rc, out, err = run(["--profile", str(path), "--allow-untrusted-profile"], capsys)
    assert rc == 0 and "warning" in err and err.count("\n") == 1 and "window" in out


@pytest.mark.parametrize("content, needle", [
    (b'{"schema_version": 1, "kind": "power_law", "alph', "not valid JSON"), (b"\xff\xd8\xff\x00binary", "UTF-8"),
    (b'{"schema_version": 1, "kind": "power_law", "divergence": "tv", "alpha": 1, "C": 1, '
     b'"provenance": {"windows_tokens": "many"}}', "provenance.windows_tokens"),
    (b'{"schema_version": 1, "kind": "power_law", "alpha": 1, "C": 1}', "divergence"),
    (b'{"schema_version": 1, "kind": "power_law", "divergence": "tv", "C": 1}', "alpha"),
])
def test_bad_profile_file_one_line(tmp_path, capsys, content, needle):
    """window --profile on a truncated, binary or mistyped file: exit 2, one line naming file and field."""
    path = tmp_path / "p.json"
    path.write_bytes(content)
    rc, out, err = run(["--profile", str(path)], capsys)
    assert rc == 2 and out == "" and err.count("\n") == 1 and str(path) in err and needle in err


@pytest.mark.parametrize("config, needle", [
    ({"num_hidden_layers": 2, "num_attention_heads": 0, "hidden_size": 8}, "num_attention_heads"),
    ({"num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 0, "hidden_size": 8},
     "num_key_value_heads"),
    ({"num_hidden_layers": 2, "num_attention_heads": 3, "hidden_size": 8}, "hidden_size"),
    ([1, 2, 3], "JSON object"),
])
def test_bad_model_config_one_line(tmp_path, capsys, config, needle):
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps(config))
    rc, out, err = run(["--alpha", "0.5", "--C", "1", "--model-config", str(cfg)], capsys)
    assert rc == 2 and err.count("\n") == 1 and needle in err


def test_huge_w0_and_tiny_alpha(capsys):
    """--w0 10**30 is answered exactly; --alpha 1e-6 is refused in one line naming eps."""
    rc, out, _ = run(["--alpha", "0.5", "--C", "1", "--w0", str(10 ** 30), "--json"], capsys)
    assert rc == 0 and json.loads(out)["window_tokens"] == [10 ** 30]
    rc, out, err = run(["--alpha", "1e-6", "--C", "1", "--eps", "0.5"], capsys)
    assert rc == 2 and err.count("\n") == 1 and "eps" in err


def test_subprocess_entry_point():
    proc = subprocess.run([sys.executable, "-m", "wzbounds.cli", "window", "--eps", "1e-3", "--json"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    d = json.loads(proc.stdout)
    expected = window_for_epsilon(1e-3, default_profile()).window_tokens
    assert d["window_tokens"] == [expected] and d["divergence"] == "tv"


def test_missing_optional_dependency_is_one_line(monkeypatch, capsys, tmp_path):
    """A command whose extra is not installed says which extra to install, exit 2, no traceback."""
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ModuleNotFoundError
    rc = main(["simulate", "--beta", "1.5", "--n", "2000", "--memories", "4", "--replicates", "2",
               "--plot", str(tmp_path / "x.png")])
    err = capsys.readouterr().err
    assert rc == 2 and "wzbounds[plot]" in err and "Traceback" not in err


def test_closed_pipe_ends_quietly():
    """A reader that goes away (``| head``) ends the command with 141 and nothing on stderr, not a
    one-line 'Broken pipe' error or a traceback."""
    proc = subprocess.Popen([sys.executable, "-m", "wzbounds.cli", "window", "--eps", ",".join(["0.1"] * 2000)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # before the command writes anything
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 141 and err == b""
