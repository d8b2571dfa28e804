"""The CLI registers `validate` and `merge` without importing torch (so `wzbounds window` works on a
core-only install), and parses windows."""
import subprocess
import sys

import pytest

from wzbounds.empirical.cli import parse_windows


def test_cli_import_does_not_import_torch():
    code = ("import sys, wzbounds.cli as c; p = c.build_parser(); "
            "p.parse_args(['validate', '--model', 'x', '--out', 'd']); p.parse_args(['merge', 'd']); "
            "print('torch' in sys.modules, 'transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False"]


@pytest.mark.parametrize("text, expected", [("1,2,4", (1, 2, 4)), ("1:5:2,8", (1, 3, 5, 8)), ("log:7", ("log", 7))])
def test_parse_windows(text, expected):
    assert parse_windows(text) == expected


@pytest.mark.parametrize("text", ["a,b", "", "log:x"])
def test_parse_windows_rejects(text):
    with pytest.raises(ValueError, match="windows"):
        parse_windows(text)


@pytest.mark.parametrize("command", ["validate", "policies"])
def test_missing_text_is_refused_before_any_model_loads(command, tmp_path):
    """A `--text` path naming no file is one line naming `--text`, found before the (here equally
    missing) model would be loaded, and nothing is left on disk."""
    argv = [command, "--model", str(tmp_path / "no-model"), "--text", str(tmp_path / "none" / "*.txt"),
            "--out", str(tmp_path / "out")]
    proc = subprocess.run([sys.executable, "-m", "wzbounds.cli", *argv], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "`--text`" in proc.stderr and "no text found" in proc.stderr and "no-model" not in proc.stderr
    assert not (tmp_path / "out").exists()
