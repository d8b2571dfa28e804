"""Every code example in README.md and docs/ runs, and its printed output is compared.

- ```` ```pycon ```` blocks are doctests: the blocks of one file share a namespace, in order, as a
  reader would type them (ELLIPSIS and NORMALIZE_WHITESPACE only).
- ```` ```console ```` blocks are shell sessions: each ``$ wzbounds ...`` line runs the CLI (in a
  temporary folder, ``COLUMNS=80``) and its output must equal the lines below it (``...`` matches
  anything, as in doctest).
- ```` ```python ```` blocks are executed in the file's namespace and must not raise.
- ```` ```bash ```` blocks are commands shown, not run: installs, and measurements that take a model
  and minutes to hours (their results are the runs kept in docs/runs/, checked by
  test_docs_quotes.py). Each line must start with one of ``SHOWN_ONLY``, so that no other example can
  hide there.
"""
from __future__ import annotations

import doctest
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
SKIP_DIRS = {"_build", "runs", "_screenshots"}

#: first words of commands that are shown but not run (see the module docstring)
SHOWN_ONLY = ("pip install", "pip download", "python3 -m venv", ". .venv/bin/activate", "wzbounds validate",
              "wzbounds policies", "wzbounds merge", "torchrun", "python bench/", "OPENBLAS_NUM_THREADS=1 python bench/",
              "python -m pytest", "WZBOUNDS_PROFILE=", "sphinx-build", "bash .ci/", "python -m build",
              "python -m wzbounds.empirical.models", "wzbounds window --profile runs/", "git ", "pre-commit", "ruff",
              "mypy")

#: shown exactly so in the fresh-machine commands, and run by the console examples
SHOWN_EXACT = {"wzbounds window"}

FENCE = re.compile(r"^(?P<indent>[ ]{0,3})(?P<fence>`{3,})(?P<info>[^`\n]*)\n(?P<body>.*?)^(?P=indent)(?P=fence)[ ]*$",
                   re.M | re.S)


def doc_files():
    files = [ROOT / "README.md"]
    for path in sorted(DOCS.rglob("*.md")):
        if not SKIP_DIRS & set(path.relative_to(DOCS).parts):
            files.append(path)
    return files


def blocks(path: Path, language: str):
    """(line number, body) of each fenced block of ``language`` in ``path``."""
    text = path.read_text()
    for m in FENCE.finditer(text):
        info = m["info"].strip()
        lang = info[1:-1] if info.startswith("{") else info.split()[0] if info else ""
        if info.startswith("{code-block}") or info.startswith("{code}"):
            lang = info.split("}", 1)[1].strip()
        if lang == language:
            yield text.count("\n", 0, m.start()) + 1, m["body"]


def _rel(path):
    return str(path.relative_to(ROOT))


def count_examples() -> dict:
    """How many examples of each kind the docs hold (reported by .ci/docs)."""
    out = {"pycon examples": 0, "console commands": 0, "python blocks": 0}
    for path in doc_files():
        parser = doctest.DocTestParser()
        for _, body in blocks(path, "pycon"):
            out["pycon examples"] += len(parser.get_examples(body))
        for _, body in blocks(path, "console"):
            out["console commands"] += sum(line.startswith("$ ") for line in body.splitlines())
        out["python blocks"] += sum(1 for _ in blocks(path, "python"))
    return out


FILES_WITH_CODE = [p for p in doc_files() if any(True for lang in ("pycon", "python") for _ in blocks(p, lang))]


@pytest.mark.parametrize("path", FILES_WITH_CODE, ids=_rel)
def test_python_examples(path, tmp_path, monkeypatch):
    """The file's pycon and python blocks, in document order, in one namespace."""
    _reader_folder(tmp_path)
    monkeypatch.chdir(tmp_path)  # an example that writes files writes them here
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    globs = {"__name__": "__docs__"}
    items = sorted([(line, "pycon", body) for line, body in blocks(path, "pycon")]
                   + [(line, "python", body) for line, body in blocks(path, "python")])
    parser = doctest.DocTestParser()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    failures = []
    for line, kind, body in items:
        name = f"{_rel(path)}:{line}"
        if kind == "python":
            try:
                exec(compile(body, name, "exec"), globs)
            except Exception as exc:  # report every failing block of the file, not only the first
                failures.append(f"{name}: {type(exc).__name__}: {exc}")
            continue
        test = parser.get_doctest(body, globs, name, str(path), line)
        out = []
        result = runner.run(test, out=out.append, clear_globs=False)
        globs.update(test.globs)  # DocTest runs in a copy: carry the names to the next block
        if result.failed:
            failures.append("".join(out))
    assert not failures, "\n".join(failures)


def _reader_folder(tmp_path):
    """A folder where ``docs/runs/...`` resolves as in a checkout, while files written land in tmp."""
    (tmp_path / "docs").symlink_to(DOCS, target_is_directory=True)


CONSOLE = [(p, line, body) for p in doc_files() for line, body in blocks(p, "console")]


def _sessions(body):
    """(command, expected output) of each ``$ `` line of a console block."""
    out, command, expected = [], None, []
    for line in body.splitlines():
        if line.startswith("$ "):
            if command is not None:
                out.append((command, "\n".join(expected)))
            command, expected = line[2:], []
        elif command is not None:
            expected.append(line)
    if command is not None:
        out.append((command, "\n".join(expected)))
    return out


@pytest.mark.parametrize("path, line, body", CONSOLE, ids=[f"{_rel(p)}:{n}" for p, n, _ in CONSOLE])
def test_console_examples(path, line, body, tmp_path):
    _reader_folder(tmp_path)
    for command, expected in _sessions(body):
        argv = shlex.split(command)
        assert argv[0] == "wzbounds", f"{_rel(path)}:{line}: console examples run wzbounds only, got {command!r}"
        env = {**os.environ, "COLUMNS": "80", "OPENBLAS_NUM_THREADS": "1"}
        proc = subprocess.run([sys.executable, "-m", "wzbounds.cli", *argv[1:]], capture_output=True, text=True,
                              cwd=tmp_path, env=env, timeout=300)
        got = "\n".join(x.rstrip() for x in (proc.stdout + proc.stderr).rstrip("\n").splitlines())
        want = "\n".join(x.rstrip() for x in expected.rstrip("\n").splitlines())
        checker = doctest.OutputChecker()
        assert checker.check_output(want + "\n", got + "\n", doctest.ELLIPSIS), (
            f"{_rel(path)}:{line}: `{command}` printed\n{got}\n--- the docs say\n{want}")


@pytest.mark.parametrize("path", doc_files(), ids=_rel)
def test_shown_only_commands_are_installs_or_measurements(path):
    """A ```bash block is not executed, so it may hold only the commands listed in SHOWN_ONLY."""
    for line, body in blocks(path, "bash"):
        joined = re.sub(r"\\\n\s*", " ", body)
        for cmd in filter(None, (c.strip() for c in re.split(r"\n|&&", joined))):
            if cmd.startswith("#") or cmd in SHOWN_EXACT:
                continue
            assert cmd.startswith(SHOWN_ONLY), (
                f"{_rel(path)}:{line}: `{cmd}` is in a bash block (not run); make it a console or pycon example")


def test_examples_exist():
    """The harness finds the examples (a parser bug would otherwise pass vacuously)."""
    counts = count_examples()
    assert counts["pycon examples"] >= 20 and counts["console commands"] >= 3, counts


if __name__ == "__main__":  # used by .ci/docs to report the count
    print(", ".join(f"{v} {k}" for k, v in count_examples().items()))
