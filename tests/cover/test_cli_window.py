"""``wzbounds window``: in-process via main(argv), plus one real subprocess call."""
import json
import subprocess
import sys

import pytest

from wzbounds.cli import main
from wzbounds.bounds import window_for_epsilon
from wzbounds.profiles import DEFAULT_PROFILE, PowerLaw, default_profile, save_profile


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
    assert d["memory"]["bytes_per_token"] == 2 * 30 * 3 * 64 * 2
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
