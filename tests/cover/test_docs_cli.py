"""The CLI reference pages equal ``wzbounds COMMAND --help``: the docs build prints them with the
function tested here, and every command has its page."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
_spec = importlib.util.spec_from_file_location("clihelp", DOCS / "_ext" / "clihelp.py")
clihelp = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(clihelp)

COMMANDS = [c for c in clihelp.commands() if c is not None]


def test_every_command_is_documented():
    assert {"window", "simulate", "validate", "merge", "policies"} <= set(COMMANDS)
    index = (DOCS / "cli" / "index.md").read_text()
    for command in COMMANDS:
        page = DOCS / "cli" / f"{command}.md"
        assert f"```{{wzbounds-help}} {command}\n```" in page.read_text(), page
        assert f"\n{command}\n" in index, f"docs/cli/index.md does not list {command}"


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_page_text_equals_help(command):
    argv = [] if command is None else [command]
    env = {**os.environ, "COLUMNS": clihelp.COLUMNS}
    proc = subprocess.run([sys.executable, "-m", "wzbounds.cli", *argv, "--help"], capture_output=True, text=True,
                          env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert clihelp.help_text(command) == proc.stdout
